"""families.toml, declared: how each generation of Linux is configured and built.

One table per family (its name is the table's); the family of a tree is the first whose
versions range holds the tree's VERSION.PATCHLEVEL. Read by :mod:`ramsesbuild.family` and
documented in docs/reference/families-toml.md by :mod:`ramsesbuild.docgen`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import ClassVar

from ..kinds import Flag, Integer, Kind, Strings, StrMap, Text
from ..schema import FileSchema, Key, Section, Shape, Sub
from ..tomlload import Table, describe
from ..vocabulary import NamedBase

MAKE_VAR_FIELDS = ("arch", "src")
ENV_FIELDS = ("epoch",)


@dataclass(frozen=True)
class Shim:
    """A program put first on make's PATH: prints *answer*, or (when *program* is set) runs the
    real *program* with *args* ({epoch} = SOURCE_DATE_EPOCH) before the caller's arguments."""

    answer: str = ""
    program: str = ""
    args: tuple[str, ...] = ()


class VersionRange(Kind[tuple[str, str]]):
    what: ClassVar[str] = "a list of strings"

    @property
    def type_doc(self) -> str:
        return 'two "MAJOR.MINOR" strings: [from, below] ("" = unbounded)'

    def parse(self, raw: object, t: Table, key: str) -> tuple[str, str]:
        v = Strings(empty_items=True).parse(raw, t, key)
        if len(v) != 2 or not all(re.fullmatch(r"(\d+\.\d+)?", x) for x in v):
            raise t.fail(f"{key} must be [\"MAJOR.MINOR\", \"MAJOR.MINOR\"] (\"\" = unbounded)", key)
        return (v[0], v[1])


class Bases(Kind[dict[str, str]]):
    """Named base -> "copy:<path in tree>" or "make:<target>"."""

    what: ClassVar[str] = "a table of strings"

    @property
    def type_doc(self) -> str:
        return 'table: named base -> "copy:<path in tree>" or "make:<target>"'

    def parse(self, raw: object, t: Table, key: str) -> dict[str, str]:
        bases = StrMap().parse(raw, t, key)
        names = [b.value for b in NamedBase]
        for name, recipe in bases.items():
            if name not in names:
                raise t.fail(f"{key}.{name}: {name!r} is not a named base ({', '.join(names)})", key)
            if not re.fullmatch(r"(copy|make):\S+", recipe):
                raise t.fail(f"{key}.{name} = {recipe!r} must be \"copy:<path in tree>\" or \"make:<target>\"", key)
        return bases

    def choices(self) -> tuple[tuple[str, str], ...]:
        return tuple((b.value, b.doc) for b in NamedBase)


class ShimTable(Section):
    TITLE = "shims.<program> = { ... }"
    DOC = "A shim that runs the real program."
    program = Key(Text(), "the real program (looked up on PATH without the shims)")
    args = Key(Strings(), "arguments put before the caller's ({epoch} = SOURCE_DATE_EPOCH)", ())


class Shims(Kind[dict[str, Shim]]):
    what: ClassVar[str] = "a table"

    @property
    def type_doc(self) -> str:
        return 'table: program -> "fixed answer" or { program = "...", args = [...] }'

    def parse(self, raw: object, t: Table, key: str) -> dict[str, Shim]:
        table = t.table(key)
        assert table is not None
        out = {}
        for name in table:
            value = table.raw(name)
            if isinstance(value, str):
                out[name] = Shim(answer=value)
                continue
            sub = table.table(name)
            if sub is None or not isinstance(value, dict):
                raise table.fail(f"{name} must be a string or a table {{ program, args }}, not {describe(value)}",
                                 name)
            ShimTable.check(sub)
            out[name] = Shim(program=sub.get(ShimTable.program), args=sub.get(ShimTable.args))
        return out


class FamilyTable(Section):
    TITLE = "[<family>]"
    DOC = "One kernel family: the rules for every tree whose version is in its range."
    description = Key(Text(), "one line for messages and the reference")
    versions = Key(VersionRange(), 'the versions it builds, as ["from", "below"] MAJOR.MINOR ("" = unbounded)')
    arches = Key(Strings(nonempty=True), "ARCH values it can build")
    out_of_tree = Key(Flag(), "true: build in a separate O= directory; false: inside the source tree")
    bases = Key(Bases(), "how each named base .config is produced")
    oldconfig = Key(Text(), "make target that resolves .config non-interactively after the fragments merge")
    oldconfig_stdin = Key(Text(nonempty=False), 'text repeated on stdin for oldconfig ("\\n": accept every '
                          "default)", "")
    dep = Key(Flag(), "run make dep before building (2.4)")
    dep_log_errors = Key(Strings(), "substrings that mark a failed make dep even though it exits 0", ())
    clean_on_vars_change = Key(Flag(), "make clean before a build whose make variables changed (2.4's "
                               "Rules.make does not track the flags of every object)", False)
    build_targets = Key(Strings(nonempty=True), 'make targets for the image and modules ("modules" only when '
                        "CONFIG_MODULES=y)")
    image = Key(Text(), "the built kernel image, relative to the build directory")
    forced = Key(Strings(), ".config lines the family always needs (merged before the user's fragments)", ())
    make_vars = Key(StrMap(MAKE_VAR_FIELDS), "make variables on every make command line ({arch}: [kernel] arch, "
                    "{src}: the absolute source tree)", {})
    env = Key(StrMap(ENV_FIELDS), "environment for every make ({epoch}: SOURCE_DATE_EPOCH of the tarball)", {})
    shims = Key(Shims(), "tiny programs first on make's PATH, for reproducible images: a fixed answer, or the "
                "real program with arguments", {})
    tools = Key(StrMap(), "programs the build needs -> the Debian package providing each (checked before make)",
                {})
    units_per_100_options = Key(Integer(minimum=0), "first-build estimate for make's progress bar: compiled "
                                "units per 100 options set in .config (0: no estimate)", 0)


class FamiliesToml(Section):
    TITLE = "families.toml"
    TABLES = (Sub("", FamilyTable, Shape.MAP, names_doc="the family's name"),)


FAMILIES_TOML = FileSchema(
    file="families.toml",
    page="families-toml.md",
    doc=("Kernel family rules, shipped as `ramsesbuild/data/families.toml`: everything that differs between "
         "Linux 2.4 and modern kernels, as data (ramsesbuild/kbuild.py only interprets it). The family of a "
         "tree is detected from VERSION/PATCHLEVEL/SUBLEVEL in its top-level Makefile: the first table whose "
         "versions range holds it."),
    root=FamiliesToml,
    declared_in="ramsesbuild/schemas/families.py",
)
