"""How a settings file is declared: every key once, with its type, default, allowed values,
one-line doc and the version that introduced it.

A file's schema is a tree of :class:`Section` classes (one per kind of table). A section's
keys are its :class:`Key` class attributes, named by the attribute::

    class Kernel(Section):
        TITLE = "[kernel]"
        DOC = "What is built and how make runs."
        version = Key(Text(), "kernel version; selects [source.\"<version>\"]", hint='"2.4.18"')
        jobs = Key(Integer(minimum=0), "make -j; 0 = all cores", 0)

``table.get(Kernel.jobs)`` is then an ``int`` for mypy and at run time. The same declarations
drive the strict reader (unknown keys and tables, types, allowed values: :meth:`Section.check`),
inheritance between tables (:class:`Inherit`, read through :class:`Layers`) and the generated
reference (:mod:`ramsesbuild.docgen`). The files' schemas are in :mod:`ramsesbuild.schemas`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from enum import Enum, StrEnum
from typing import ClassVar, Generic, TypeVar

from .errors import RamsesError
from .kinds import Kind
from .tomlload import Table

T = TypeVar("T")


class Required(Enum):
    """The default of a key the file must set."""

    REQUIRED = "required"


REQUIRED = Required.REQUIRED


# ---------------------------------------------------------------- keys

class KeyBase:
    """What every key declares, whatever its type (for the checks and the reference)."""

    name: str
    doc: str
    since: str
    hint: str

    @property
    def required(self) -> bool:
        raise NotImplementedError

    @property
    def type_doc(self) -> str:
        raise NotImplementedError

    @property
    def default_doc(self) -> str:
        raise NotImplementedError

    @property
    def default_is_literal(self) -> bool:
        """Is default_doc a value as the file would write it (else prose)?"""
        raise NotImplementedError

    def choices(self) -> tuple[tuple[str, str], ...]:
        raise NotImplementedError

    def validate(self, t: Table) -> None:
        """Read the key from *t* and drop the value: raises on a bad one."""
        raise NotImplementedError


class Key(KeyBase, Generic[T]):
    """One key: its kind (type), doc, default (or REQUIRED) and since-version. *check* gives a
    domain rule on the typed value: a message (after the table's name) when it is broken.
    *hint* is what "needs <key> = <hint>" suggests when a required key is missing;
    *default_doc* describes a default that depends on other settings."""

    def __init__(self, kind: Kind[T], doc: str, default: T | Required = REQUIRED, *, since: str = "0.1",
                 hint: str = "...", default_doc: str | None = None,
                 check: Callable[[T], str | None] | None = None, name: str = "") -> None:
        self.kind = kind
        self.doc = doc
        self.default = default
        self.since = since
        self.hint = hint
        self._default_doc = default_doc
        self.check = check
        self.name = name

    def __set_name__(self, owner: type, name: str) -> None:
        if not self.name:
            self.name = name

    def __repr__(self) -> str:
        return f"Key({self.name!r})"

    @property
    def required(self) -> bool:
        return isinstance(self.default, Required)

    @property
    def type_doc(self) -> str:
        return self.kind.type_doc

    @property
    def default_doc(self) -> str:
        if self._default_doc is not None:
            return self._default_doc
        if isinstance(self.default, Required):
            return "(required)"
        return self.kind.show(self.default)

    @property
    def default_is_literal(self) -> bool:
        return self._default_doc is None and not isinstance(self.default, Required) and self.default is not None

    def choices(self) -> tuple[tuple[str, str], ...]:
        return self.kind.choices()

    def read(self, t: Table) -> T:
        if not t.has(self.name):
            if isinstance(self.default, Required):
                raise t.fail(f"needs {self.name} = {self.hint}")
            return self.kind.at_default(self.default, t)
        value = self.kind.parse(t.raw(self.name), t, self.name)
        if self.check is not None and (problem := self.check(value)):
            raise t.fail(problem, self.name)
        return value

    def validate(self, t: Table) -> None:
        self.read(t)


# ---------------------------------------------------------------- sections and files

class Shape(StrEnum):
    """How a sub-table appears in its parent."""

    ONE = "table"  # [name]
    MAP = "tables by name"  # [name.<any>] (or, with name "", every table of the parent)
    ARRAY = "array of tables"  # [[name]]


@dataclass(frozen=True)
class Sub:
    """A table that may appear inside a section (*name* "" with MAP: any name)."""

    name: str
    section: type[Section]
    shape: Shape = Shape.ONE
    required: bool = False
    names: Callable[[str], str | None] | None = None  # MAP: what is wrong with a name, or None
    names_doc: str = ""


@dataclass(frozen=True)
class Inherit:
    """The rule "this table's keys *keys* default to *parent*'s": a key the table does not set
    is read from the parent table (and errors point there)."""

    parent: type[Section]
    keys: tuple[KeyBase, ...]


class Section:
    """One kind of table. Subclasses declare Key attributes (in the order the reference lists
    them; a key is named by its attribute), and in upper case: TITLE such as
    "[profile.<name>]", a one-paragraph DOC, the TABLES it may hold and what it INHERITS."""

    TITLE: ClassVar[str] = ""
    DOC: ClassVar[str] = ""
    TABLES: ClassVar[tuple[Sub, ...]] = ()
    INHERITS: ClassVar[Inherit | None] = None

    @classmethod
    def own_keys(cls) -> tuple[KeyBase, ...]:
        return tuple(v for v in vars(cls).values() if isinstance(v, KeyBase))

    @classmethod
    def all_keys(cls) -> tuple[KeyBase, ...]:
        """Its own keys and the ones it inherits."""
        return cls.own_keys() + (cls.INHERITS.keys if cls.INHERITS else ())

    @classmethod
    def subtable(cls, name: str) -> Sub:
        return next(s for s in cls.TABLES if s.name == name)

    @classmethod
    def check_names(cls, t: Table) -> None:
        """Reject undeclared keys and tables in *t*."""
        if any(s.name == "" for s in cls.TABLES):  # a table of named tables: any name
            return
        t.check_keys([k.name for k in cls.all_keys()], [s.name for s in cls.TABLES])

    @classmethod
    def check_values(cls, t: Table) -> None:
        """Read every key *t* sets, so a bad value is an error even where another table overrides it."""
        for key in cls.all_keys():
            if t.has(key.name):
                key.validate(t)

    @classmethod
    def check(cls, t: Table) -> Table:
        """*t*, once its names and values are checked."""
        cls.check_names(t)
        cls.check_values(t)
        return t

    @classmethod
    def layers(cls, own: Table, parent: Table) -> Layers:
        """*own* (checked as this section) over *parent*, by this section's inheritance rule."""
        assert cls.INHERITS is not None, f"{cls.__name__} inherits nothing"
        cls.check(own)
        return Layers((own, parent))


@dataclass(frozen=True)
class Layers:
    """A table and the tables it inherits from, most specific first: a key is read from the
    first that sets it (so its errors name that table's line), else it takes its default."""

    tables: tuple[Table, ...]

    def source(self, key: KeyBase) -> Table:
        return next((t for t in self.tables if t.has(key.name)), self.tables[0])

    def get(self, key: Key[T]) -> T:
        return key.read(self.source(key))

    def sets(self, key: KeyBase) -> bool:
        return any(t.has(key.name) for t in self.tables)

    def fail(self, key: KeyBase, message: str) -> RamsesError:
        """*message* at the key's line in the table that sets it."""
        return self.source(key).fail(message, key.name if self.sets(key) else None)


@dataclass(frozen=True)
class FileSchema:
    """A settings file: its name, its reference page and its root section."""

    file: str  # e.g. "ramses.toml"
    page: str  # the reference page under docs/reference/
    doc: str  # the page's introduction (Markdown)
    root: type[Section]
    declared_in: str  # the module holding the declarations

    def walk(self) -> Iterator[tuple[tuple[str, ...], type[Section]]]:
        """Every section with a table path pattern ("<name>" for any name), parents first."""
        seen: set[type[Section]] = set()

        def visit(path: tuple[str, ...], section: type[Section]) -> Iterator[tuple[tuple[str, ...], type[Section]]]:
            if section in seen:
                return
            seen.add(section)
            yield path, section
            for sub in section.TABLES:
                step: tuple[str, ...] = (sub.name,) if sub.name else ()
                if sub.shape is Shape.MAP:
                    step += ("<name>",)
                yield from visit(path + step, sub.section)

        yield from visit((), self.root)

    def section_at(self, path: tuple[str, ...]) -> type[Section] | None:
        """The section a table at *path* (e.g. ("profile", "gateway", "netboot")) is read as."""
        section = self.root
        rest = list(path)
        while rest:
            sub = next((s for s in section.TABLES if s.name in (rest[0], "")), None)
            if sub is None:
                return None
            if sub.name:
                rest.pop(0)
            if sub.shape is Shape.MAP:
                if not rest:
                    return None
                rest.pop(0)
            section = sub.section
        return section
