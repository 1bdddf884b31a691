"""Reading the documentation as a user copies from it: the fenced blocks of a Markdown page
(docs/*.md, README.md), found by the heading they stand under. Tests that check a recipe read it
from its page through these, so a recipe cannot change without its test seeing it."""

from __future__ import annotations

import re
from pathlib import Path

from .support import REPO

DOCS = REPO / "docs"

_HEADING = re.compile(r"^(#{1,6}) +(.+?) *$")
_FENCE = re.compile(r"^```(\w*)[^\n]*\n(.*?)^```", re.S | re.M)


def section(page: Path, heading: str) -> str:
    """The text under the heading whose title starts with `heading` (without the #s), up to the
    next heading of the same or a higher level; fenced blocks are skipped when looking for
    headings (a `# comment` in a shell block is no heading)."""
    text = page.read_text()
    start, level = None, 0
    offset = 0
    in_fence = False
    for line in text.splitlines(keepends=True):
        if line.startswith("```"):
            in_fence = not in_fence
        m = None if in_fence else _HEADING.match(line.rstrip("\n"))
        if m and start is None and m.group(2).startswith(heading):
            start, level = offset + len(line), len(m.group(1))
        elif m and start is not None and len(m.group(1)) <= level:
            return text[start:offset]
        offset += len(line)
    if start is None:
        raise AssertionError(f"{page.relative_to(REPO)}: no heading starting with {heading!r}")
    return text[start:]


def fenced_blocks(page: Path, heading: str | None = None, lang: str | None = None) -> list[str]:
    """The fenced blocks of a page (or of one section of it), optionally only those of a language."""
    text = page.read_text() if heading is None else section(page, heading)
    return [body for info, body in _FENCE.findall(text) if lang is None or info == lang]


def fenced_block(page: Path, heading: str, lang: str) -> str:
    """The first ```lang block under the heading: the recipe a user copies from there."""
    blocks = fenced_blocks(page, heading, lang)
    assert blocks, f"{page.relative_to(REPO)}: no ```{lang} block under {heading!r}"
    return blocks[0]


def shell_lines(page: Path) -> list[str]:
    """The commands of a page's ```sh blocks, without comments."""
    lines = []
    for block in fenced_blocks(page, lang="sh"):
        for line in block.splitlines():
            line = line.split("  #")[0].strip()
            if line and not line.startswith("#"):
                lines.append(line)
    return lines


def pages() -> list[Path]:
    """README.md and every Markdown page under docs/."""
    return [REPO / "README.md", *sorted(DOCS.rglob("*.md"))]
