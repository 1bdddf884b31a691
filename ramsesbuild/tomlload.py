"""One strict reader for every TOML data file of the project (ramses.toml, nodes.toml,
families.toml, wrappers.toml).

The file is read as bytes first, so a bad byte is reported with its line. :class:`Table` is a
view on one table: it opens sub-tables, rejects keys and tables its schema does not declare
(:meth:`Table.check_keys`, with a "did you mean"), and reads typed values through the keys
declared in :mod:`ramsesbuild.schema` (:meth:`Table.get`). Every message names the file and
the line of the offending key.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from .errors import RamsesError

if TYPE_CHECKING:
    from .schema import Key

T = TypeVar("T")
# Only for locating a key's line in an error message: compiled on first use (re's own cache),
# not at every start of doit.
_KEY = r'(?:"(?:[^"\\]|\\.)*"|\'[^\']*\'|[A-Za-z0-9_-]+)'
_HEADER = rf"^\s*(\[\[?)\s*({_KEY}(?:\s*\.\s*{_KEY})*)\s*\]\]?\s*(?:#.*)?$"
_KEYLINE = rf"^\s*({_KEY}(?:\s*\.\s*{_KEY})*)\s*="
_BARE = r"[A-Za-z0-9_-]+"


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
    data: Mapping[str, object]
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
    except OSError as exc:
        raise error(f"{path}: cannot read it: {exc.strerror or exc}") from None
    return parse_document(path, raw, error)


def parse_document(path: Path, raw: bytes, error: type[RamsesError]) -> Document:
    """Decode and parse the bytes *raw* read from *path* (named in messages)."""
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


@dataclass(frozen=True)
class Table:
    """A view on one TOML table: its position in the file (for messages) and its values."""

    doc: Document
    path: tuple[str, ...]
    data: Mapping[str, object]
    locate: tuple[str, ...]  # table path as written in the file (for line lookup)
    index: int  # occurrence, for arrays of tables
    label: str | None = None  # how messages name the table, when not by its [path]

    @property
    def name(self) -> str:
        if not self.path:
            return "top level"
        parts = [p if re.fullmatch(_BARE, p) else f'"{p}"' for p in self.path]
        return f"[{'.'.join(parts)}]"

    def labelled(self, label: str) -> Table:
        """The same table, named *label* in messages (e.g. "node 'n1' ([[node]] #1):")."""
        return replace(self, label=label)

    def fail(self, message: str, key: str | None = None) -> RamsesError:
        title = self.label or (self.name if self.path else "")
        return self.doc.fail(f"{title} {message}" if title else message, self.locate, key, self.index)

    def has(self, key: str) -> bool:
        return key in self.data

    def raw(self, key: str) -> object:
        return self.data[key]

    def get(self, key: Key[T]) -> T:
        """The typed value of the declared *key* (its default when absent)."""
        return key.read(self)

    def keys(self) -> list[str]:
        return list(self.data)

    def __iter__(self) -> Iterator[str]:
        return iter(self.data)

    def empty(self, name: str) -> Table:
        """An empty [name] below this table, for a table the file leaves out."""
        return Table(self.doc, (*self.path, name), {}, (*self.locate, name), 0)

    def table(self, key: str, required: bool = False) -> Table | None:
        v = self.data.get(key)
        if v is None:
            if required:
                raise self.fail(f"needs a [{'.'.join((*self.path, key))}] table", None) if self.path else \
                    self.doc.fail(f"missing [{key}] table")
            return None
        if not isinstance(v, dict):
            raise self.fail(f"{key} must be a table, not {describe(v)}", key)
        return Table(self.doc, (*self.path, key), v, (*self.locate, key), 0)

    def subtables(self, key: str, required: bool = False) -> dict[str, Table]:
        """The tables under [key.*], e.g. [profile.server], [profile.client]."""
        outer = self.table(key, required)
        if outer is None:
            return {}
        out = {}
        for name, v in outer.data.items():
            if not isinstance(v, dict):
                raise outer.fail(f"{name} must be a table [{key}.{name}], not {describe(v)}", name)
            out[name] = Table(self.doc, (*self.path, key, name), v, (*self.locate, key, name), 0)
        return out

    def named_tables(self) -> dict[str, Table]:
        """Every entry of this table as a table of its own (families.toml, wrappers.toml)."""
        out = {}
        for name, v in self.data.items():
            if not isinstance(v, dict):
                raise self.fail(f"{name} must be a table [{name}], not {describe(v)}", name)
            out[name] = Table(self.doc, (*self.path, name), v, (*self.locate, name), 0)
        return out

    def array_of_tables(self, key: str) -> list[Table]:
        v = self.data.get(key)
        if v is None:
            return []
        if not isinstance(v, list) or not all(isinstance(x, dict) for x in v):
            raise self.fail(f"{key} must be written as [[{key}]] tables", key)
        return [Table(self.doc, (*self.path, key), x, (*self.locate, key), i) for i, x in enumerate(v)]

    def check_keys(self, keys: Collection[str], tables: Collection[str] = ()) -> None:
        """Reject every key and table that is not declared (typos), naming file:line and the
        closest declared name."""
        for key in self.data:
            if key in keys or key in tables:
                continue
            known = sorted({*keys, *tables})
            hint = suggest(key, known) or (f"; known keys: {', '.join(known)}" if known else "")
            raise self.fail(f"unknown {'table' if self._is_header(key) else 'key'} {key!r}{hint}", key)

    def _is_header(self, key: str) -> bool:
        """Is *key* written as a [table] header (not as key = {inline table})?"""
        if not isinstance(self.data.get(key), dict):
            return False
        line = self.doc.line_of(self.locate, key, self.index)
        return line is not None and self.doc.text.splitlines()[line - 1].lstrip().startswith("[")


def check_template(value: str, fields: Iterable[str], fail: Callable[[str], RamsesError]) -> None:
    """Raise fail(message) unless every {placeholder} of the str.format template *value* is in *fields*."""
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


def describe(v: object) -> str:
    """A TOML value as a message names it: 'the string 'x'', 'the number 3', 'a list'."""
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
