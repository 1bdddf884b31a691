"""Kernel families (2.4 vs modern): detection from a tree's Makefile, rules from data."""

from __future__ import annotations

import dataclasses
import functools
import re
from dataclasses import dataclass
from pathlib import Path

from .errors import FamilyError
from .pkgdata import PACKAGE
from .schemas.families import FamiliesToml, FamilyTable, Shim
from .tomlload import Table, read_document

_MAKEFILE_VAR = re.compile(r"^(VERSION|PATCHLEVEL|SUBLEVEL|EXTRAVERSION)[ \t]*=[ \t]*(\S*)[ \t]*$", re.M)


@dataclass(frozen=True)
class TreeVersion:
    version: int
    patchlevel: int
    sublevel: int
    extraversion: str = ""

    def __str__(self) -> str:
        return f"{self.version}.{self.patchlevel}.{self.sublevel}{self.extraversion}"

    @property
    def major_minor(self) -> tuple[int, int]:
        return (self.version, self.patchlevel)

    def matches(self, spec: str) -> bool:
        """Does this tree satisfy a settings version such as "2.4.18" or "6.1" (a prefix)?"""
        try:
            want = tuple(int(x) for x in spec.split("."))
        except ValueError:
            return False
        return (self.version, self.patchlevel, self.sublevel)[: len(want)] == want


@dataclass(frozen=True)
class Family:
    name: str
    description: str
    versions: tuple[str, str]
    arches: tuple[str, ...]
    out_of_tree: bool
    bases: dict[str, str]
    oldconfig: str
    oldconfig_stdin: str
    dep: bool
    dep_log_errors: tuple[str, ...]
    clean_on_vars_change: bool
    build_targets: tuple[str, ...]
    image: str
    forced: tuple[str, ...]
    make_vars: dict[str, str]
    env: dict[str, str]
    shims: dict[str, Shim]
    tools: dict[str, str]  # program -> Debian package, checked before the family's make runs
    units_per_100_options: int = 0  # first-build progress estimate (0: none)

    # Fields that never change what make produces: editing them (or a comment in families.toml)
    # must not rebuild anything.
    NOT_IDENTITY = ("description", "tools", "units_per_100_options")

    def identity(self) -> dict[str, object]:
        """The rules that decide what the family's builds produce (the rebuild key)."""
        d = dataclasses.asdict(self)
        for key in self.NOT_IDENTITY:
            d.pop(key)
        return d

    def estimate_units(self, config_text: str) -> int | None:
        """Compiled units a first build of *config_text* will show, or None without an estimate."""
        if not self.units_per_100_options:
            return None
        options = len(re.findall(r"^CONFIG_\w+=[ym]$", config_text, re.M))
        return max(1, options * self.units_per_100_options // 100)

    def contains(self, v: TreeVersion) -> bool:
        lo, hi = (_mm(x) for x in self.versions)
        return (lo is None or v.major_minor >= lo) and (hi is None or v.major_minor < hi)

    def base_recipe(self, base: str) -> str:
        """'copy:<path>' / 'make:<target>' for a named base, or 'file:<path>' for a user file."""
        if base in self.bases:
            return self.bases[base]
        if "/" in base:
            return f"file:{base}"
        known = ", ".join(sorted(self.bases))
        raise FamilyError(
            f"base config {base!r} is not available for the {self.name} family (known: {known}); "
            "set [profile.*] base in ramses.toml to one of those or to a path to a full .config"
        )

    def resolved_make_vars(self, arch: str, src: Path) -> dict[str, str]:
        if arch not in self.arches:
            raise FamilyError(
                f"the {self.name} family builds ARCH {', '.join(self.arches)}, not {arch!r}; "
                "change [kernel] arch in ramses.toml"
            )
        return {k: v.format(arch=arch, src=src) for k, v in self.make_vars.items()}

    def resolved_env(self, epoch: int) -> dict[str, str]:
        return {k: v.format(epoch=epoch) for k, v in self.env.items()}


def _mm(text: str) -> tuple[int, int] | None:
    if not text:
        return None
    major, minor = text.split(".")
    return (int(major), int(minor))


FAMILIES_FILE = "data/families.toml"


@functools.cache
def _packaged_families() -> tuple[Family, ...]:
    return tuple(load_families(PACKAGE / FAMILIES_FILE))


def load_families(path: Path | None = None) -> list[Family]:
    """Read a families file strictly (unknown or missing keys name file:line)."""
    if path is None:
        return list(_packaged_families())
    top = read_document(Path(path), FamilyError).root()
    FamiliesToml.check_names(top)
    return [_family(name, FamilyTable.check(t)) for name, t in top.named_tables().items()]


def _family(name: str, t: Table) -> Family:
    k = FamilyTable
    return Family(
        name=name, description=t.get(k.description), versions=t.get(k.versions), arches=t.get(k.arches),
        out_of_tree=t.get(k.out_of_tree), bases=t.get(k.bases), oldconfig=t.get(k.oldconfig),
        oldconfig_stdin=t.get(k.oldconfig_stdin), dep=t.get(k.dep), dep_log_errors=t.get(k.dep_log_errors),
        clean_on_vars_change=t.get(k.clean_on_vars_change), build_targets=t.get(k.build_targets),
        image=t.get(k.image), forced=t.get(k.forced), make_vars=t.get(k.make_vars), env=t.get(k.env),
        shims=t.get(k.shims), tools=t.get(k.tools), units_per_100_options=t.get(k.units_per_100_options),
    )


def supported_range() -> str:
    """Human summary of the version ranges in families.toml, for messages."""
    parts = []
    for fam in _packaged_families():
        lo, hi = fam.versions
        parts.append(f"{fam.name}: {lo or 'any'} <= version < {hi}" if hi else f"{fam.name}: >= {lo}")
    return "; ".join(parts)


def _no_family(what: str) -> str:
    return (f"{what} matches no kernel family in ramsesbuild/data/families.toml ({supported_range()}); "
            "add a family table for it")


def read_tree_version(tree: Path) -> TreeVersion:
    makefile = Path(tree) / "Makefile"
    try:
        text = makefile.read_text(errors="replace")
    except FileNotFoundError:
        raise FamilyError(f"{makefile}: no top-level Makefile; is {tree} a kernel source tree?") from None
    found = dict(_MAKEFILE_VAR.findall(text[:4096]))
    try:
        return TreeVersion(
            int(found["VERSION"]), int(found["PATCHLEVEL"]), int(found.get("SUBLEVEL") or 0),
            found.get("EXTRAVERSION", ""),
        )
    except (KeyError, ValueError):
        raise FamilyError(
            f"{makefile}: cannot read VERSION/PATCHLEVEL/SUBLEVEL at its top; not a Linux kernel Makefile?"
        ) from None


def detect(tree: Path, families: list[Family] | None = None) -> tuple[Family, TreeVersion]:
    version = read_tree_version(tree)
    for fam in families if families is not None else load_families():
        if fam.contains(version):
            return fam, version
    raise FamilyError(f"{tree}: " + _no_family(f"Linux {version}"))


def family_for_version(spec: str, families: list[Family] | None = None) -> Family:
    """The family a settings version such as "2.4.18" or "6.1" belongs to (before any unpack)."""
    try:
        major, minor = (int(x) for x in spec.split(".")[:2])
    except ValueError:
        raise FamilyError(f"kernel version {spec!r} is not MAJOR.MINOR[.SUBLEVEL]; fix [kernel] version "
                          "in ramses.toml") from None
    version = TreeVersion(major, minor, 0)
    for fam in families if families is not None else load_families():
        if fam.contains(version):
            return fam
    raise FamilyError(_no_family(f"Linux {spec}"))
