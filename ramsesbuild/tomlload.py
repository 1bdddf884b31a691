"""One strict reader for every TOML data file of the project (ramses.toml, nodes.toml,
families.toml, wrappers.toml).

The file is read as bytes first, so a bad byte is reported with its line. Values are taken
from :class:`Table` views: each read names the key and the expected type, and
:meth:`Table.done` rejects every key that nobody read, with ``file:line`` and a "did you
mean" suggestion. Every message names the file and the line of the offending key.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from .errors import RamsesError

T = TypeVar("T")
_MISSING: Any = object()
# Only for locating a key's line in an error message: compiled on first use (re's own cache),
# not at every start of doit.
_KEY = r'(?:"(?:[^"\\]|\\.)*"|\'[^\']*\'|[A-Za-z0-9_-]+)'
_HEADER = rf"^\s*(\[\[?)\s*({_KEY}(?:\s*\.\s*{_KEY})*)\s*\]\]?\s*(?:#.*)?$"
_KEYLINE = rf"^\s*({_KEY}(?:\s*\.\s*{_KEY})*)\s*="


def _split_key(text: str) -> tuple[str, ...]:
    parts = []
    for m in re.finditer(_KEY, text):
        p = m.group(0)
        if p[0] in "\"'":
            p = p[1:-1]
        parts.append(p)
    return tuple(parts)


def suggest(word: str, choices: Iterable[str]) -> str:
    """' (did you mean "x"?)' for the closest choice, or ''."""
    import difflib  # only on the way to an error message

    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f' (did you mean "{close[0]}"?)' if close else ""


@dataclass(frozen=True)
class Document:
    """A parsed TOML file with its text, for locating keys by line."""

    path: Path
    text: str
    data: dict[str, Any]
    error: type[RamsesError]

    def root(self) -> Table:
        return Table(self, (), self.data, (), 0)

    def line_of(self, table: tuple[str, ...], key: str | None = None, index: int = 0) -> int | None:
        """1-based line of *key* in the *index*-th occurrence of [table] / [[table]]; else the
        line defining the table (header, dotted key or inline table); else None."""
        current: tuple[str, ...] = ()
        occurrence: dict[tuple[str, ...], int] = {}
        fallback: int | None = None
        for i, line in enumerate(self.text.splitlines(), 1):
            if h := re.match(_HEADER, line):
                current = _split_key(h.group(2))
                occurrence[current] = occurrence.get(current, -1) + 1
                if key is not None and current == (*table, key) and index == 0:
                    return i
                if current == table and occurrence[current] == index:
                    if key is None:
                        return i
                    fallback = fallback or i
                continue
            m = re.match(_KEYLINE, line)
            if not m:
                continue
            full = current + _split_key(m.group(1))
            in_table = occurrence.get(current, 0) == index or current != table[: len(current)]
            if key is not None and full[: len(table) + 1] == (*table, key) and in_table:
                return i
            if table and full == table[: len(full)] and fallback is None:
                fallback = i  # the table itself is written inline or as a dotted key here
        if fallback is None and key is not None and table:
            return self.line_of(table, None, index)
        return fallback

    def fail(self, message: str, table: tuple[str, ...] = (), key: str | None = None,
             index: int = 0) -> RamsesError:
        line = self.line_of(table, key, index) if (table or key) else None
        where = f"{self.path}:{line}" if line else f"{self.path}"
        return self.error(f"{where}: {message}")


def read_document(path: Path, error: type[RamsesError], missing_hint: str = "") -> Document:
    """Read *path* as bytes, decode as UTF-8 (bad bytes are reported with their line), parse."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise error(f"{path}: file not found{'; ' + missing_hint if missing_hint else ''}") from None
    except IsADirectoryError:
        raise error(f"{path}: is a directory, not a TOML file") from None
    except PermissionError:
        raise error(f"{path}: permission denied; make it readable") from None
    text = decode_utf8(raw, path, error)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        m = re.search(r"\(at line (\d+), column (\d+)\)", str(exc))
        msg = re.sub(r"\s*\(at line \d+, column \d+\)", "", str(exc))
        where = f"{path}:{m.group(1)}" if m else str(path)
        raise error(f"{where}: not valid TOML: {msg}") from None
    return Document(path, text, data, error)


def decode_utf8(raw: bytes, path: Path, error: type[RamsesError]) -> str:
    """Decode *raw* as UTF-8 or raise *error* naming path:line and the bad byte."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise error(f"{path}:{line}: byte 0x{raw[exc.start]:02x} is not UTF-8; save the file as UTF-8 "
                    "(plain ASCII is fine)") from None


@dataclass
class Table:
    """A view on one TOML table that remembers which keys were read."""

    doc: Document
    path: tuple[str, ...]
    data: dict[str, Any]
    locate: tuple[str, ...]  # table path as written in the file (for line lookup)
    index: int  # occurrence, for arrays of tables
    used: set[str] = field(default_factory=set)

    @property
    def name(self) -> str:
        if not self.path:
            return "top level"
        parts = [p if re.fullmatch(r"[A-Za-z0-9_-]+", p) else f'"{p}"' for p in self.path]
        return f"[{'.'.join(parts)}]"

    def fail(self, message: str, key: str | None = None) -> RamsesError:
        return self.doc.fail(f"{self.name} {message}" if self.path else message, self.locate, key, self.index)

    def has(self, key: str) -> bool:
        return key in self.data

    def _get(self, key: str, default: Any) -> Any:
        self.used.add(key)
        if key in self.data:
            return self.data[key]
        if default is _MISSING:
            raise self.fail(f"needs {key} = ...", None)
        return default

    def _typed(self, key: str, default: Any, kind: type | tuple[type, ...], what: str) -> Any:
        v = self._get(key, default)
        if v is default and default is not _MISSING:
            return v
        if isinstance(v, bool) and kind is not bool:
            raise self.fail(f"{key} must be {what}, not {'true' if v else 'false'}", key)
        if not isinstance(v, kind):
            raise self.fail(f"{key} must be {what}, not {_describe(v)}", key)
        return v

    def text(self, key: str, default: Any = _MISSING, choices: Iterable[str] | None = None,
            nonempty: bool = True) -> Any:
        v = self._typed(key, default, str, "a string")
        if v is default and default is not _MISSING:
            return v
        if nonempty and not v:
            raise self.fail(f"{key} must not be empty", key)
        if choices is not None:
            allowed = list(choices)
            if v not in allowed:
                raise self.fail(f"{key} = {v!r} is not one of {', '.join(allowed)}{suggest(v, allowed)}", key)
        return v

    def integer(self, key: str, default: Any = _MISSING, minimum: int | None = None) -> Any:
        v = self._typed(key, default, int, "an integer")
        if v is default and default is not _MISSING:
            return v
        if minimum is not None and v < minimum:
            raise self.fail(f"{key} must be >= {minimum}, not {v}", key)
        return v

    def flag(self, key: str, default: Any = _MISSING) -> Any:
        return self._typed(key, default, bool, "true or false")

    def strlist(self, key: str, default: Any = _MISSING, nonempty: bool = False,
                empty_items: bool = False) -> Any:
        v = self._typed(key, default, list, "a list of strings")
        if v is default and default is not _MISSING:
            return v
        for x in v:
            if not isinstance(x, str) or not (x or empty_items):
                raise self.fail(f"{key} must be a list of non-empty strings; found {_describe(x)}", key)
        if nonempty and not v:
            raise self.fail(f"{key} must not be empty", key)
        return list(v)

    def strmap(self, key: str, default: Any = _MISSING) -> Any:
        v = self._typed(key, default, dict, "a table of strings")
        if v is default and default is not _MISSING:
            return v
        for k, x in v.items():
            if not isinstance(x, str):
                raise self.fail(f"{key}.{k} must be a string, not {_describe(x)}", key)
        return dict(v)

    def template(self, key: str, default: Any, fields: Iterable[str]) -> Any:
        """A str.format template whose placeholders must all be in *fields*."""
        v = self.text(key, default)
        if v is None:
            return v
        check_template(v, fields, lambda msg: self.fail(f"{key} = {v!r}: {msg}", key))
        return v

    def table(self, key: str, required: bool = False) -> Table | None:
        self.used.add(key)
        v = self.data.get(key)
        if v is None:
            if required:
                raise self.fail(f"needs a [{'.'.join((*self.path, key))}] table", None) if self.path else \
                    self.doc.fail(f"missing [{key}] table")
            return None
        if not isinstance(v, dict):
            raise self.fail(f"{key} must be a table, not {_describe(v)}", key)
        return Table(self.doc, (*self.path, key), v, (*self.locate, key), 0)

    def subtables(self, key: str, required: bool = False) -> dict[str, Table]:
        """The tables under [key.*], e.g. [profile.server], [profile.client]."""
        outer = self.table(key, required)
        if outer is None:
            return {}
        out = {}
        for name, v in outer.data.items():
            outer.used.add(name)
            if not isinstance(v, dict):
                raise outer.fail(f"{name} must be a table [{key}.{name}], not {_describe(v)}", name)
            out[name] = Table(self.doc, (*self.path, key, name), v, (*self.locate, key, name), 0)
        return out

    def array_of_tables(self, key: str) -> list[Table]:
        self.used.add(key)
        v = self.data.get(key)
        if v is None:
            return []
        if not isinstance(v, list) or not all(isinstance(x, dict) for x in v):
            raise self.fail(f"{key} must be written as [[{key}]] tables", key)
        return [Table(self.doc, (*self.path, key), x, (*self.locate, key), i) for i, x in enumerate(v)]

    def done(self) -> None:
        """Reject keys nobody read (typos), naming file:line and the closest known key."""
        for key in self.data:
            if key not in self.used:
                known = sorted(self.used)
                hint = suggest(key, known) or (f"; known keys: {', '.join(known)}" if known else "")
                kind = "table" if isinstance(self.data[key], dict) else "key"
                raise self.fail(f"unknown {kind} {key!r}{hint}", key)

    def __iter__(self) -> Iterator[str]:
        return iter(self.data)


def check_template(value: str, fields: Iterable[str], fail: Any) -> None:
    allowed = list(fields)
    try:
        import string

        parsed = list(string.Formatter().parse(value))
    except ValueError as exc:
        raise fail(f"bad template ({exc}); write {{{{ and }}}} for literal braces") from None
    for _, name, spec, conv in parsed:
        if name is None:
            continue
        if name not in allowed:
            what = f"unknown placeholder {{{name}}}" if name else "empty placeholder {}"
            raise fail(f"{what}{suggest(name, allowed)}; allowed: "
                       f"{', '.join('{' + f + '}' for f in allowed) or 'none'}")
        if spec or conv:
            raise fail(f"placeholder {{{name}}} takes no format spec or conversion")


def _describe(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        return f"the string {v!r}"
    if isinstance(v, int | float):
        return f"the number {v}"
    if isinstance(v, list):
        return "a list"
    if isinstance(v, dict):
        return "a table"
    return type(v).__name__
