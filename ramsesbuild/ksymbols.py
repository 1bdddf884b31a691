"""Kconfig values are data: the value syntax of each symbol type, and the types a tree declares.

Every value that reaches a ``.config`` (fragment lines, a full-.config base) is matched as a
whole against kconfig's syntax for its symbol's type before any make runs. That matters beyond
tidiness: 2.4's ``scripts/Configure`` takes its defaults by *sourcing* ``.config`` with the shell
(and re-evaluates string values with ``eval`` in ``define_string``), so a value such as
``"$(touch /tmp/owned)"`` would run on the build machine. Hence strings are stricter than
kconfig's own reader: printable ASCII without ``$``, ````` ``, ``"`` or ``\\`` (kconfig's ``\\"`` and
``\\\\`` escapes are recognised, so the string's end is found as kconfig finds it, and then
refused: through Configure's ``eval`` an escaped quote ends the string and runs what follows).

Types come from the tree's own Kconfig files (modern), Config.in files (2.4) or the test trees'
``Kconfig.fake``; a symbol the tree does not declare is checked against the union of the syntaxes
(the did-it-land check after oldconfig then reports it as unknown).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from .errors import KconfigError

# A whole .config line: CONFIG_X=value, or the "is not set" comment (any other comment is free).
SYMBOL = r"CONFIG_[A-Za-z0-9_]+"
ASSIGNMENT = re.compile(rf"({SYMBOL})=(.*)")
NOT_SET = re.compile(rf"# ({SYMBOL}) is not set")

_STRING_CHAR = r"[\x20\x21\x23\x25-\x5b\x5d-\x5f\x61-\x7e]"  # printable ASCII but " $ \ `
_REFUSED_IN_STRING = {"$": "$", "`": "` (backquote)", '"': '\\" (an escaped quote)', "\\": "\\ (a backslash)"}


@dataclass(frozen=True)
class ValueSyntax:
    """One kconfig type: the whole-string pattern of its values and how to say it to a user."""

    type: str
    pattern: re.Pattern[str]
    example: str


TYPES: dict[str, ValueSyntax] = {s.type: s for s in (
    ValueSyntax("bool", re.compile(r"[yn]"), "y or n"),
    ValueSyntax("tristate", re.compile(r"[ymn]"), "y, m or n"),
    ValueSyntax("int", re.compile(r"-?(?:0|[1-9][0-9]*)"), "a decimal number such as 4096 or -1, no leading zero"),
    ValueSyntax("hex", re.compile(r"(?:0[xX])?[0-9a-fA-F]+"), "a hex number such as 0x100000"),
    ValueSyntax("string", re.compile(rf'"{_STRING_CHAR}*"'),
                'a "string" of printable ASCII without $, `, " or \\'),
)}
_KCONFIG_STRING = re.compile(r'"(?:[^"\\]|\\.)*"')  # kconfig's own reader: \x stands for x


@dataclass(frozen=True)
class Declared:
    """A symbol's type(s) in a tree and the file declaring it (2.4 may declare per arch)."""

    types: frozenset[str]
    where: str


def value_problem(symbol: str, value: str, declared: Declared | None) -> str | None:
    """Why *value* cannot be *symbol*'s value (None: it can). Whole-string matching only."""
    if declared is not None:
        syntaxes = [TYPES[t] for t in sorted(declared.types)]
    else:
        syntaxes = list(TYPES.values())
    if any(s.pattern.fullmatch(value) for s in syntaxes):
        return None
    if value.startswith('"'):
        problem = _string_problem(value)
        if problem or not _KCONFIG_STRING.fullmatch(value):
            return problem or f"{value!r} is not a kconfig string (\"...\" with nothing after it)"
    if declared is None:
        return (f"{value!r} is not a kconfig value: give y, m, n, a decimal or 0x hex number, or a "
                f"\"string\" ({symbol} is not declared in this kernel's Kconfig files)")
    kinds = " or ".join(sorted(declared.types))
    says = "; ".join(TYPES[t].example for t in sorted(declared.types))
    return f"{symbol} is a {kinds} ({declared.where}): give {says}"


def _string_problem(value: str) -> str | None:
    """Why a kconfig-shaped string ("..." with kconfig's \\x escapes) is refused here."""
    if not _KCONFIG_STRING.fullmatch(value):
        return None
    body = value[1:-1]
    for i, ch in enumerate(body):
        if ch == "\\" and body[i + 1:i + 2] == '"':
            ch = '"'  # kconfig's escaped quote
        if ch in _REFUSED_IN_STRING:
            return (f"the string holds {_REFUSED_IN_STRING[ch]} at character {i + 1}, refused: 2.4's "
                    "scripts/Configure runs .config through the shell, where it could run commands; "
                    "strings are printable ASCII without $, `, \" or \\")
        if not 0x20 <= ord(ch) <= 0x7E:
            return (f"the string holds {ch!r} at character {i + 1}: strings are printable ASCII "
                    "(no control characters, no non-ASCII letters)")
    return None


def check_line(line: str, origin: str, declared: dict[str, Declared]) -> None:
    """A .config line of a base config: blank, a comment, or CONFIG_X=value (whole line)."""
    text = line.rstrip(" \t")
    if not text.strip(" \t") or text.startswith("#"):
        return  # the shell ends a comment at the newline only, as this split does
    m = ASSIGNMENT.fullmatch(text)
    if m is None:
        shown = text if text.isprintable() else repr(text)
        raise KconfigError(f"{origin}: {shown[:80]!s} is not a .config line (CONFIG_X=value, a # comment or "
                           "blank); a base config is data: fix or remove the line")
    problem = value_problem(m.group(1), m.group(2), declared.get(m.group(1)))
    if problem:
        raise KconfigError(f"{origin}: {m.group(1)}: {problem}")


def check_config_text(text: str, source: str, declared: dict[str, Declared]) -> None:
    """Every line of a full .config that is merged and then read by the family's config tool.
    Lines are split at newlines only, as the shell splits them."""
    for lineno, line in enumerate(text.split("\n"), 1):
        check_line(line, f"{source}:{lineno}", declared)


# ------------------------------------------------------------------ types declared by a tree

_KCONFIG_NAMES = ("Kconfig", "Config.in", "config.in")
# Each pattern runs over a whole file (re.M): one regex pass per file, not per line.
# modern Kconfig: `config FOO` / `menuconfig FOO` whose first non-blank line gives the type
_MODERN = re.compile(r"^[ \t]*(?:menu)?config[ \t]+([A-Za-z0-9_]+)[ \t]*\n(?:[ \t]*(?:#[^\n]*)?\n)*"
                     r"[ \t]*(bool|tristate|int|hex|string|def_bool|def_tristate)\b", re.M)
# 2.4 Config.in: `bool 'prompt' CONFIG_FOO`, `dep_tristate '...' CONFIG_FOO ...`, `define_int CONFIG_FOO 4`
_OLD = re.compile(r"^[ \t]*(dep_tristate|dep_mbool|dep_bool|dep_hex|define_bool|define_tristate|define_mbool|"
                  r"define_int|define_hex|define_string|bool|tristate|int|hex|string)"
                  rf"[ \t]+(?:'[^'\n]*'|\"[^\"\n]*\")?[ \t]*({SYMBOL})\b", re.M)
# 2.4's define_bool also carries m (`define_bool CONFIG_JBD $CONFIG_EXT3_FS`)
_OLD_TYPES = {"dep_tristate": "tristate", "dep_mbool": "bool", "dep_bool": "bool", "dep_hex": "hex",
              "define_bool": "tristate", "define_mbool": "bool", "define_tristate": "tristate",
              "define_int": "int", "define_hex": "hex", "define_string": "string"}
_OLD_CHOICE = re.compile(r"^[ \t]*choice\b[^\n]*", re.M)  # continuation lines joined first
# the test trees' Kconfig.fake: `CONFIG_FOO bool y ...`
_FAKE = re.compile(rf"^({SYMBOL})[ \t]+(bool|tristate|int|hex|string)\b", re.M)


def kconfig_files(src: Path) -> list[Path]:
    """The tree's Kconfig, Config.in and config.in files (any suffix), sorted."""
    found = []
    for dirpath, dirnames, filenames in os.walk(src):
        dirnames[:] = [d for d in dirnames if not d.startswith(".")]
        found += [Path(dirpath) / f for f in filenames if f.startswith(_KCONFIG_NAMES)]
    return sorted(found)


@dataclass(frozen=True)
class TreeSymbols:
    """What a kernel tree's Kconfig sources declare: symbol -> type(s), and the raw text for
    "is this symbol mentioned at all" (a symbol may be defined in ways the scan does not parse)."""

    declared: dict[str, Declared]
    text: str

    def defined(self, symbol: str) -> bool:
        if symbol in self.declared:
            return True
        bare = symbol.removeprefix("CONFIG_")
        return re.search(rf"^\s*(menu)?config\s+{bare}\b|\b{symbol}\b", self.text, re.M) is not None


def scan_tree(src: Path) -> TreeSymbols:
    types: dict[str, set[str]] = {}
    where: dict[str, str] = {}
    texts = []
    for path in kconfig_files(src):
        try:
            text = path.read_text(errors="replace")
        except OSError:
            continue
        texts.append(text)
        rel = str(path.relative_to(src))
        for symbol, kind in _declarations(text):
            types.setdefault(symbol, set()).add(kind)
            where.setdefault(symbol, rel)
    declared = {s: Declared(frozenset(t), where[s]) for s, t in types.items()}
    return TreeSymbols(declared, "\n".join(texts))


def _declarations(text: str) -> list[tuple[str, str]]:
    out = [(f"CONFIG_{m.group(1)}", m.group(2).removeprefix("def_")) for m in _MODERN.finditer(text)]
    if "CONFIG_" not in text:
        return out  # a modern Kconfig file: names without the prefix
    text = text.replace("\\\n", " ")  # 2.4's shell-style continuation lines
    out += [(m.group(2), _OLD_TYPES.get(m.group(1), m.group(1))) for m in _OLD.finditer(text)]
    out += [(s, "bool") for m in _OLD_CHOICE.finditer(text) for s in re.findall(SYMBOL, m.group(0))]
    out += [(m.group(1), m.group(2)) for m in _FAKE.finditer(text)]
    return out
