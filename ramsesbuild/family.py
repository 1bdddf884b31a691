"""Kernel families (2.4 vs modern): detection from a tree's Makefile, rules from data."""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from .errors import FamilyError

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
class Shim:
    """A program put first on make's PATH: prints *answer*, or (when *program* is set) runs the
    real *program* with *args* ({epoch} = SOURCE_DATE_EPOCH) before the caller's arguments."""

    answer: str = ""
    program: str = ""
    args: tuple[str, ...] = ()


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


def load_families(path: Path | None = None) -> list[Family]:
    if path is None:
        data = resources.files("ramsesbuild").joinpath("data/families.toml").read_text()
    else:
        data = Path(path).read_text()
    return [_family(name, t) for name, t in tomllib.loads(data).items()]


def _family(name: str, t: dict[str, Any]) -> Family:
    return Family(
        name=name,
        description=t["description"],
        versions=tuple(t["versions"]),  # type: ignore[arg-type]
        arches=tuple(t["arches"]),
        out_of_tree=bool(t["out_of_tree"]),
        bases=dict(t["bases"]),
        oldconfig=t["oldconfig"],
        oldconfig_stdin=t.get("oldconfig_stdin", ""),
        dep=bool(t["dep"]),
        dep_log_errors=tuple(t.get("dep_log_errors", ())),
        clean_on_vars_change=bool(t.get("clean_on_vars_change", False)),
        build_targets=tuple(t["build_targets"]),
        image=t["image"],
        forced=tuple(t.get("forced", ())),
        make_vars=dict(t.get("make_vars", {})),
        env=dict(t.get("env", {})),
        shims={cmd: _shim(v) for cmd, v in t.get("shims", {}).items()},
    )


def _shim(value: str | dict[str, Any]) -> Shim:
    if isinstance(value, str):
        return Shim(answer=value)
    return Shim(program=value["program"], args=tuple(value.get("args", ())))


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
    raise FamilyError(
        f"{tree}: Linux {version} matches no kernel family in ramsesbuild/data/families.toml "
        "(2.4.x and >= 3.7 are supported); add a family table for it"
    )
