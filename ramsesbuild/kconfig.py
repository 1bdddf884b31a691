"""Kconfig fragments: parse (with per-family sections), merge onto a base .config, and
check after oldconfig that every requested value really landed, with file:line provenance."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from .errors import KconfigError
from .ksymbols import ASSIGNMENT as _SET
from .ksymbols import NOT_SET as _UNSET
from .ksymbols import Declared, value_problem
from .tomlload import decode_utf8

_FAMILY = re.compile(r"#@[ \t]*family[ \t]+(\S+)")
_OPTIONAL = re.compile(r"[ \t]+#@[ \t]*optional$")


@dataclass(frozen=True)
class Request:
    symbol: str
    value: str | None  # None means "must not be set"
    origin: str  # "path:line"
    optional: bool = False

    def as_line(self) -> str:
        return f"{self.symbol}={self.value}" if self.value is not None else f"# {self.symbol} is not set"


@dataclass(frozen=True)
class Miss:
    request: Request
    actual: str | None
    known: bool  # the symbol appears in the final .config at all
    defined: bool | None = None  # the symbol is defined in the tree's Kconfig files (None: not looked up)

    def describe(self) -> str:
        got = "it unset" if self.actual is None else f"{self.request.symbol}={self.actual}"
        if self.known:
            why = " (a dependency is not met, or oldconfig overrode it)" if self.request.value is not None else ""
        elif self.defined is False:
            why = " (no such symbol in this kernel: typo, or it belongs to another family?)"
        else:
            why = " (absent from .config: a menu or dependency it sits under is disabled)"
        return f"{self.request.origin}: {self.request.as_line()} requested, .config has {got}{why}"


def parse_fragment(path: Path, family: str) -> list[Request]:
    try:
        # split at newlines only, as the shell that reads .config does (2.4's Configure sources it)
        lines = decode_utf8(Path(path).read_bytes(), Path(path), KconfigError).split("\n")
    except FileNotFoundError:
        raise KconfigError(f"{path}: fragment file not found; fix [profile.*] fragments in ramses.toml") from None
    except OSError as exc:
        raise KconfigError(f"{path}: cannot read the fragment: {exc.strerror}") from None
    requests: list[Request] = []
    active = True
    for lineno, raw in enumerate(lines, 1):
        origin = f"{path}:{lineno}"
        line = raw.strip(" \t")
        if m := _FAMILY.fullmatch(line):
            active = m.group(1) in ("all", family)
            continue
        optional = bool(_OPTIONAL.search(line))
        line = _OPTIONAL.sub("", line)
        if m := _UNSET.fullmatch(line):
            req = Request(m.group(1), None, origin, optional)
        elif m := _SET.fullmatch(line):
            value = m.group(2).rstrip(" \t")
            problem = value_problem(m.group(1), value, None)
            if problem:
                raise KconfigError(f"{origin}: {m.group(1)}: {problem}")
            req = Request(m.group(1), None if value == "n" else value, origin, optional)
        elif not line or line.startswith("#"):
            continue
        else:
            raise KconfigError(f"{origin}: cannot parse {raw.strip()!r}; expected CONFIG_X=value or "
                               "'# CONFIG_X is not set'")
        if active:
            requests.append(req)
    return requests


def parse_forced(lines: tuple[str, ...], family: str) -> list[Request]:
    origin = f"ramsesbuild/data/families.toml [{family}] forced"
    out = []
    for line in lines:
        if m := _UNSET.fullmatch(line):
            out.append(Request(m.group(1), None, origin))
        elif (m := _SET.fullmatch(line)) and not value_problem(m.group(1), m.group(2), None):
            out.append(Request(m.group(1), None if m.group(2) == "n" else m.group(2), origin))
        else:
            raise KconfigError(f"{origin}: {line!r} is not a .config line")
    return out


def check_types(requests: list[Request], declared: dict[str, Declared]) -> None:
    """Each requested value against its symbol's type in this tree (before any make runs)."""
    for req in requests:
        if req.value is None:
            continue
        problem = value_problem(req.symbol, req.value, declared.get(req.symbol))
        if problem:
            raise KconfigError(f"{req.origin}: {req.as_line()}: {problem}")


def effective(requests: list[Request]) -> tuple[list[Request], list[str]]:
    """Last request per symbol wins; report each redefinition with both origins."""
    seen: dict[str, Request] = {}
    notes = []
    for req in requests:
        prev = seen.get(req.symbol)
        if prev is not None and prev.value != req.value:
            notes.append(f"{req.origin}: {req.as_line()} overrides {prev.as_line()} from {prev.origin}")
        seen[req.symbol] = req
    return list(seen.values()), notes


def read_config(text: str) -> dict[str, str | None]:
    """Symbol -> value (None for '# ... is not set'). Symbols absent from the file are absent."""
    values: dict[str, str | None] = {}
    for line in text.splitlines():
        if m := _SET.fullmatch(line):
            values[m.group(1)] = None if m.group(2) == "n" else m.group(2)
        elif m := _UNSET.fullmatch(line):
            values[m.group(1)] = None
    return values


def merge(base_text: str, requests: list[Request]) -> str:
    """Replace or append each requested symbol's line in a .config text."""
    wanted = {r.symbol: r for r in requests}
    out = []
    lines = base_text.split("\n")  # newlines only: a comment may hold a \r, as the shell sees it
    if lines and not lines[-1]:
        lines.pop()
    for line in lines:
        m = _SET.fullmatch(line) or _UNSET.fullmatch(line)
        if m and m.group(1) in wanted:
            out.append(wanted.pop(m.group(1)).as_line())
        else:
            out.append(line)
    if wanted:
        out.append("# ---- ramsesbuild fragments")
        out.extend(r.as_line() for r in wanted.values())
    return "\n".join(out) + "\n"


def check(requests: list[Request], final_text: str,
          defined: Callable[[str], bool] | None = None) -> tuple[list[Miss], list[Miss]]:
    """Return (required misses, optional misses). *defined* tells whether a symbol exists in
    the tree's Kconfig sources; it is only asked about misses absent from .config."""
    final = read_config(final_text)
    required: list[Miss] = []
    optional: list[Miss] = []
    for req in requests:
        actual = final.get(req.symbol)
        if actual == req.value:
            continue
        known = req.symbol in final
        miss = Miss(req, actual, known, None if known or defined is None else defined(req.symbol))
        (optional if req.optional else required).append(miss)
    return required, optional


def symbol_finder(src: Path) -> Callable[[str], bool]:
    """Look a symbol up in the tree's Kconfig (modern) or Config.in (2.4) files, lazily."""
    from .ksymbols import TreeSymbols, scan_tree

    cache: list[TreeSymbols] = []

    def defined(symbol: str) -> bool:
        if not cache:
            cache.append(scan_tree(Path(src)))
        return cache[0].defined(symbol)

    return defined


def failure_message(config_path: Path, misses: list[Miss]) -> str:
    lines = "\n".join("  " + m.describe() for m in misses)
    return (
        f"{len(misses)} requested kconfig option(s) did not land in {config_path}:\n{lines}\n"
        "Add the missing dependencies to the fragment, remove the request, or mark the line "
        "'#@ optional' if a miss is acceptable."
    )
