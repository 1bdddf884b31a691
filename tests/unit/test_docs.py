"""The documentation site (mkdocs.yml, docs/) and README.md: the site builds with --strict, its
nav lists every page under docs/ and nothing else, every relative link in README.md and docs/
leads to a file (and heading) that exists, and the recipes are ones that work: every
`ramsesbuild init` line writes a project, every `ramsesbuild X` names a command, and each
kernel's apt-get line installs what that kernel's build needs."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
import unicodedata
from pathlib import Path

import pytest
import yaml

from ramsesbuild import scaffold
from ramsesbuild.commands import COMMANDS
from ramsesbuild.family import family_for_version

from ..lib.docs import DOCS, REPO, fenced_block, pages, shell_lines

# Debian's Essential packages, always installed: a recipe need not name them.
ESSENTIAL = {"bash", "coreutils", "gzip"}

LINK = re.compile(r"\]\(([^)\s]+)\)")
HEADING = re.compile(r"^#{1,6} +(.+?) *$", re.M)


def nav_files(node: object) -> list[str]:
    """Every page a mkdocs nav names, in order."""
    if isinstance(node, str):
        return [node]
    if isinstance(node, list):
        return [f for item in node for f in nav_files(item)]
    if isinstance(node, dict):
        return [f for value in node.values() for f in nav_files(value)]
    return []


def prose(text: str) -> str:
    """The text without fenced blocks and inline code, where links are only examples."""
    text = re.sub(r"^```.*?^```", "", text, flags=re.S | re.M)
    return re.sub(r"`[^`\n]*`", "", text)


def slug(title: str) -> str:
    """The anchor of a heading, as python-markdown's toc (mkdocs) and GitHub both make it for
    the headings used here: markup and punctuation dropped, lower case, spaces to hyphens."""
    text = re.sub(r"&\w+;", "", title.replace("`", "").replace("*", ""))
    text = unicodedata.normalize("NFKD", text)
    text = re.sub(r"[^\w\s-]", "", text).strip().lower()
    return re.sub(r"[-\s]+", "-", text)


def anchors(page: Path) -> set[str]:
    text = re.sub(r"^```.*?^```", "", page.read_text(), flags=re.S | re.M)
    return {slug(title) for title in HEADING.findall(text)}


def test_the_nav_lists_every_page_and_only_pages_that_exist():
    config = yaml.safe_load((REPO / "mkdocs.yml").read_text())
    listed = nav_files(config["nav"])
    on_disk = sorted(str(p.relative_to(DOCS)) for p in DOCS.rglob("*.md"))
    assert sorted(set(listed)) == sorted(listed), "a page is in the nav twice"
    missing = sorted(set(listed) - set(on_disk))
    assert missing == [], f"mkdocs.yml's nav names pages docs/ lacks: {missing}"
    unlisted = sorted(set(on_disk) - set(listed))
    assert unlisted == [], f"pages under docs/ missing from mkdocs.yml's nav: {unlisted}"


@pytest.mark.parametrize("page", pages(), ids=lambda p: str(p.relative_to(REPO)))
def test_every_relative_link_leads_to_a_file_and_heading(page):
    broken = []
    for target in LINK.findall(prose(page.read_text())):
        if re.match(r"[a-z]+:", target):
            continue  # https://, mailto:
        path, _, anchor = target.partition("#")
        dest = (page.parent / path).resolve() if path else page
        if not dest.exists():
            broken.append(f"{target}: no such file")
        elif anchor and dest.suffix == ".md" and anchor not in anchors(dest):
            broken.append(f"{target}: no heading with anchor #{anchor} in {dest.relative_to(REPO)}")
    assert broken == [], f"{page.relative_to(REPO)}: {broken}"


def test_the_site_builds_strictly(tmp_path):
    pytest.importorskip("mkdocs", reason="mkdocs is not installed (pip install mkdocs, part of ramsesbuild[test])")
    run = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict",
                          "--config-file", str(REPO / "mkdocs.yml"), "--site-dir", str(tmp_path / "site")],
                         capture_output=True, text=True, cwd=REPO)
    assert run.returncode == 0, run.stdout + run.stderr
    assert (tmp_path / "site" / "reference" / "ramses-toml" / "index.html").is_file()


def test_every_ramsesbuild_command_the_docs_name_exists():
    """In ```sh blocks and in inline code (`ramsesbuild status`)."""
    unknown = []
    for page in pages():
        lines = shell_lines(page) + re.findall(r"`(ramsesbuild [^`]+)`", page.read_text())
        unknown += [(str(page.relative_to(REPO)), cmd) for line in lines
                    for cmd in re.findall(r"(?:^|&& |\$ )ramsesbuild ([a-z][\w-]*)", line) if cmd not in COMMANDS]
    assert unknown == []


def test_every_init_line_in_the_docs_writes_a_project(tmp_path, capsys):
    inits = [line for p in pages() for line in shell_lines(p) if line.startswith("ramsesbuild init ")]
    assert len(inits) >= 4, inits
    for n, line in enumerate(inits):
        argv = shlex.split(line)[2:]
        argv[0] = str(tmp_path / f"{n}-{argv[0]}")
        assert scaffold.main(argv) == 0, line
        assert (Path(argv[0]) / "ramses.toml").is_file() and (Path(argv[0]) / "dodo.py").is_file()


@pytest.mark.parametrize("version, page, heading", [("2.4.18", "howto/linux-2.4.18.md", "Linux 2.4.18"),
                                                   ("6.1", "howto/debian-6.1.md", "Debian's linux-source-6.1")])
def test_each_kernels_recipe_installs_what_its_build_needs(version, page, heading):
    recipe = fenced_block(DOCS / page, heading, "sh")
    apt = next(line for line in recipe.splitlines() if line.startswith("apt-get install "))
    named = set(apt.split()[2:])
    kernel = scaffold.KERNELS[version]
    needed = set(scaffold.needed_packages(kernel)) | set(scaffold.LIBRARIES.get(family_for_version(version).name, ()))
    assert sorted(needed - ESSENTIAL - named) == [], apt
    assert f"ramsesbuild init mycluster --kernel {version}" in recipe
