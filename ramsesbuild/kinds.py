"""Kinds of values in a settings file: how a TOML value becomes a typed value, how messages
name a wrong one and how the reference describes it. A :class:`ramsesbuild.schema.Key` has one."""

from __future__ import annotations

import ipaddress
import json
import os
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import ClassVar, Generic, TypeVar

from .errors import RamsesError
from .sizes import parse_size, size_text
from .tomlload import Table, check_template, describe, suggest

T = TypeVar("T")
E = TypeVar("E", bound=StrEnum)


def _typed(raw: object, kind: type[T], what: str, t: Table, key: str) -> T:
    if isinstance(raw, bool) and kind is not bool:
        raise t.fail(f"{key} must be {what}, not {'true' if raw else 'false'}", key)
    if not isinstance(raw, kind):
        raise t.fail(f"{key} must be {what}, not {describe(raw)}", key)
    return raw


def _failing(t: Table, prefix: str, key: str) -> Callable[[str], RamsesError]:
    return lambda message: t.fail(prefix + message, key)


def toml_literal(value: object) -> str:
    """*value* as it would be written in a TOML file (for the reference)."""
    if value is None:
        return "(not set)"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | Path):
        return json.dumps(str(value))
    if isinstance(value, tuple | list):
        return "[" + ", ".join(toml_literal(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{k} = {toml_literal(v)}" for k, v in value.items()) + " }" if value else "{}"
    return str(value)


class Kind(Generic[T]):
    """How a TOML value becomes a typed value, and how messages and the reference name it."""

    what: ClassVar[str] = "a value"  # in messages: "<key> must be <what>"

    @property
    def type_doc(self) -> str:
        """The type, as the reference names it."""
        return self.what.removeprefix("a ").removeprefix("an ")

    def parse(self, raw: object, t: Table, key: str) -> T:
        raise NotImplementedError

    def choices(self) -> tuple[tuple[str, str], ...]:
        """The allowed values with a one-line doc each, for a closed vocabulary; else ()."""
        return ()

    def show(self, value: T) -> str:
        """*value* as the reference shows a default."""
        return toml_literal(value)

    def at_default(self, value: T, t: Table) -> T:
        """The default as read from *t* (a path default is relative to the file, like a value)."""
        return value


@dataclass(frozen=True)
class Text(Kind[str]):
    nonempty: bool = True
    what: ClassVar[str] = "a string"

    def parse(self, raw: object, t: Table, key: str) -> str:
        v = _typed(raw, str, self.what, t, key)
        if self.nonempty and not v:
            raise t.fail(f"{key} must not be empty", key)
        return v


@dataclass(frozen=True)
class Integer(Kind[int]):
    minimum: int | None = None
    what: ClassVar[str] = "an integer"

    @property
    def type_doc(self) -> str:
        return "integer" if self.minimum is None else f"integer >= {self.minimum}"

    def parse(self, raw: object, t: Table, key: str) -> int:
        v = _typed(raw, int, self.what, t, key)
        if self.minimum is not None and v < self.minimum:
            raise t.fail(f"{key} must be >= {self.minimum}, not {v}", key)
        return v


@dataclass(frozen=True)
class Flag(Kind[bool]):
    what: ClassVar[str] = "true or false"

    @property
    def type_doc(self) -> str:
        return "boolean"

    def parse(self, raw: object, t: Table, key: str) -> bool:
        return _typed(raw, bool, self.what, t, key)


@dataclass(frozen=True)
class Strings(Kind[tuple[str, ...]]):
    nonempty: bool = False
    empty_items: bool = False
    what: ClassVar[str] = "a list of strings"

    def parse(self, raw: object, t: Table, key: str) -> tuple[str, ...]:
        items = _typed(raw, list, self.what, t, key)
        out = []
        for x in items:
            if not isinstance(x, str) or not (x or self.empty_items):
                raise t.fail(f"{key} must be a list of non-empty strings; found {describe(x)}", key)
            out.append(x)
        if self.nonempty and not out:
            raise t.fail(f"{key} must not be empty", key)
        return tuple(out)


@dataclass(frozen=True)
class StrMap(Kind[dict[str, str]]):
    """A table of strings; with *fields*, each value is a str.format template of those."""

    fields: tuple[str, ...] | None = None
    what: ClassVar[str] = "a table of strings"

    @property
    def type_doc(self) -> str:
        if self.fields is None:
            return "table of strings"
        return "table of strings (placeholders: " + ", ".join("{" + f + "}" for f in self.fields) + ")"

    def parse(self, raw: object, t: Table, key: str) -> dict[str, str]:
        table = _typed(raw, dict, self.what, t, key)
        out = {}
        for k, x in table.items():
            if not isinstance(x, str):
                raise t.fail(f"{key}.{k} must be a string, not {describe(x)}", key)
            if self.fields is not None:
                check_template(x, self.fields, _failing(t, f"{key}.{k} = {x!r}: ", key))
            out[str(k)] = x
        return out


@dataclass(frozen=True)
class Choice(Kind[E]):
    """One value of a closed vocabulary (a StrEnum of :mod:`ramsesbuild.vocabulary`)."""

    enum: type[E]
    what: ClassVar[str] = "a string"

    @property
    def type_doc(self) -> str:
        return "string, one of the allowed values"

    def parse(self, raw: object, t: Table, key: str) -> E:
        v = Text().parse(raw, t, key)
        allowed = [m.value for m in self.enum]
        if v not in allowed:
            raise t.fail(f"{key} = {v!r} is not one of {', '.join(allowed)}{suggest(v, allowed)}", key)
        return self.enum(v)

    def choices(self) -> tuple[tuple[str, str], ...]:
        return tuple((m.value, str(getattr(m, "doc", ""))) for m in self.enum)


@dataclass(frozen=True)
class OneOf(Kind[str]):
    """One of the names a data file declares (e.g. the wrappers of wrappers.toml)."""

    names: Callable[[], Sequence[str]]
    source: str  # where the names are declared, for the reference
    what: ClassVar[str] = "a string"

    @property
    def type_doc(self) -> str:
        return f"string, a name from {self.source}"

    def parse(self, raw: object, t: Table, key: str) -> str:
        v = Text().parse(raw, t, key)
        allowed = list(self.names())
        if v not in allowed:
            raise t.fail(f"{key} = {v!r} is not one of {', '.join(allowed)}{suggest(v, allowed)}", key)
        return v

    def choices(self) -> tuple[tuple[str, str], ...]:
        return tuple((n, "") for n in self.names())


@dataclass(frozen=True)
class Template(Kind[str]):
    """A str.format template whose placeholders must all be in *fields*."""

    fields: tuple[str, ...]
    what: ClassVar[str] = "a string"

    @property
    def type_doc(self) -> str:
        return "string with placeholders " + ", ".join("{" + f + "}" for f in self.fields)

    def parse(self, raw: object, t: Table, key: str) -> str:
        v = Text().parse(raw, t, key)
        check_template(v, self.fields, lambda msg: t.fail(f"{key} = {v!r}: {msg}", key))
        return v


@dataclass(frozen=True)
class Size(Kind[int]):
    """A byte count: a positive integer, or a string such as "8G" or "500M" (binary units)."""

    what: ClassVar[str] = "a size"

    @property
    def type_doc(self) -> str:
        return 'size: bytes, or a string such as "8G", "500M"'

    def parse(self, raw: object, t: Table, key: str) -> int:
        if isinstance(raw, int) and not isinstance(raw, bool) and raw > 0:
            return raw
        n = parse_size(raw) if isinstance(raw, str) else None
        if n is None:
            raise t.fail(f"{key} must be a size such as 8G, 500M or a number of bytes, not {raw!r}", key)
        return n

    def show(self, value: int) -> str:
        return json.dumps(size_text(value))


def _resolve(t: Table, value: str) -> Path:
    p = Path(os.path.expanduser(value))
    return p if p.is_absolute() else t.doc.path.parent / p


@dataclass(frozen=True)
class PathKind(Kind[Path]):
    """A path; a relative one is relative to the directory holding the file (~ is expanded)."""

    what: ClassVar[str] = "a string"

    @property
    def type_doc(self) -> str:
        return "path (relative: to this file's directory)"

    def parse(self, raw: object, t: Table, key: str) -> Path:
        return _resolve(t, Text().parse(raw, t, key))

    def at_default(self, value: Path, t: Table) -> Path:
        return _resolve(t, str(value))


@dataclass(frozen=True)
class Paths(Kind[tuple[Path, ...]]):
    what: ClassVar[str] = "a list of strings"

    @property
    def type_doc(self) -> str:
        return "list of paths (relative: to this file's directory)"

    def parse(self, raw: object, t: Table, key: str) -> tuple[Path, ...]:
        return tuple(_resolve(t, p) for p in Strings().parse(raw, t, key))


@dataclass(frozen=True)
class IPv4(Kind[ipaddress.IPv4Address]):
    what: ClassVar[str] = "a string"

    @property
    def type_doc(self) -> str:
        return "IPv4 address"

    def parse(self, raw: object, t: Table, key: str) -> ipaddress.IPv4Address:
        v = Text().parse(raw, t, key)
        try:
            return ipaddress.IPv4Address(v)
        except ValueError:
            raise t.fail(f"{key} {v!r} is not an IPv4 address", key) from None


@dataclass(frozen=True)
class Opt(Kind[T | None]):
    """The inner kind, or not set (None)."""

    inner: Kind[T]

    @property
    def type_doc(self) -> str:
        return self.inner.type_doc

    def parse(self, raw: object, t: Table, key: str) -> T | None:
        return self.inner.parse(raw, t, key)

    def choices(self) -> tuple[tuple[str, str], ...]:
        return self.inner.choices()

    def show(self, value: T | None) -> str:
        return "(not set)" if value is None else self.inner.show(value)


TFTP_FILE_RE = re.compile(r"^[A-Za-z0-9._+-]+(/[A-Za-z0-9._+-]+)*$")


def is_tftp_file(name: str) -> bool:
    """A file name relative to the tftp root: letters, digits, . _ + - and /; no leading /, no .."""
    return bool(TFTP_FILE_RE.match(name)) and ".." not in name.split("/")


@dataclass(frozen=True)
class TftpFile(Kind[str]):
    """A file name relative to the tftp root (what DHCP hands a boot ROM)."""

    what: ClassVar[str] = "a string"

    @property
    def type_doc(self) -> str:
        return "file name relative to the tftp root"

    def parse(self, raw: object, t: Table, key: str) -> str:
        v = Text().parse(raw, t, key)
        if not is_tftp_file(v):
            raise t.fail(f"{key} = {v!r} must be a file name relative to the tftp root (letters, digits, "
                         ". _ + - and /; no leading /, no ..)", key)
        return v
