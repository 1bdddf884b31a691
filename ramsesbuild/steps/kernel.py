"""A profile's kernel: config-<profile>, compile-<profile>, modules-<profile>, and the group
kernel-<profile> (= compile + modules). The work is in ramsesbuild.kbuild.

The make variables a build depends on are one identity: the profile's arch, [kernel] make_vars, and the
build rules of families.toml (whose make variables are templates: ``{src}`` stands for the tree,
wherever it is). So the same identity decides when config and compile run again, keys the cached
base config and tells when 2.4 needs `make clean`, and none of them holds the tree's absolute
path: a build directory restored under another checkout path rebuilds nothing.
"""

from __future__ import annotations

import functools
import hashlib
import json
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from .. import family as _family
from ..fsutil import write_if_changed
from ..log import TaskLog
from ..paths import BuildPaths, ProfilePaths, rel
from ..settings import Profile, Settings
from ..state import ConfigStamp, KernelStamp, ModulesStamp, write_state
from .base import Check, Group, Identity, Stage, Stamp, Step, TaskName
from .source import generation

if TYPE_CHECKING:
    from ..kbuild import Tree


@functools.cache
def families_digest() -> str:
    """sha256 of the build rules in families.toml (comments, descriptions, tool packages and the
    progress estimate excluded); computed once per doit start, shared by config and compile."""
    from ..family import load_families

    rules = {f.name: f.identity() for f in load_families()}
    return hashlib.sha256(json.dumps(rules, sort_keys=True, default=list).encode()).hexdigest()


def make_tree(settings: Settings, pl: ProfilePaths, arch: str) -> Tree:
    """The profile's tree, built for *arch* (the profile's [profile.X] arch, else [kernel] arch)."""
    from .. import wrappers as _wrappers
    from ..kbuild import Tree

    fam, version = _family.detect(pl.src)
    return Tree(
        src=pl.src,
        obj=pl.obj,
        family=fam,
        version=version,
        arch=arch,
        jobs=settings.make_jobs(),
        shims=pl.shims,
        epoch=int((pl.src / "Makefile").stat().st_mtime),
        user_vars=tuple(sorted(settings.make_vars.items())),
        # Not in any identity: switching ccache/distcc on or off rebuilds nothing.
        wrapper=_wrappers.get(settings.wrapper) if settings.wrapper else None,
        distcc_hosts=settings.distcc_hosts,
    )


BUILD_IDENTITY_DOC = {"make_vars": "[kernel] make_vars", "arch": "[profile] arch (inherited from [kernel] arch)",
                      "families": "the build rules of families.toml"}


class _ProfileStep(Step):
    stage: Stage

    def __init__(self, settings: Settings, prof: Profile):
        self.settings = settings
        self.profile = prof
        self.pl = BuildPaths(settings).profile(prof.name)
        self.name = TaskName(self.stage, prof.name)

    def rel(self, path: Path | str) -> str:
        return rel(self.settings.root, path)

    def build_identity(self) -> dict[str, object]:
        """What every make command of this profile depends on (see the module docstring)."""
        return {"make_vars": self.settings.make_vars, "arch": self.profile.arch, "families": families_digest()}


class Configure(_ProfileStep):
    stage = Stage.CONFIG
    identity_doc: ClassVar[dict[str, str]] = {"base": "[profile] base", **BUILD_IDENTITY_DOC}

    def __init__(self, settings: Settings, prof: Profile):
        super().__init__(settings, prof)
        frags = ", ".join(f.name for f in prof.fragments) or "no fragments"
        self.doc = (f"{prof.name} .config: base {Path(prof.base).name!r} + {frags}; fails listing every requested "
                    "option that did not land")
        self.stamp = Stamp(self.pl.config_stamp, ConfigStamp)

    def inputs(self) -> list[Path]:
        base = [Path(self.profile.base)] if "/" in self.profile.base else []
        return [self.pl.tree.patched_stamp, *self.profile.fragments, *base]

    def identity(self) -> Identity:
        return {"base": self.rel(self.profile.base), **self.build_identity()}

    def targets(self) -> list[Path]:
        return [self.pl.config_stamp, self.pl.config]

    def checks(self) -> list[Check]:
        config = self.pl.obj / ".config"
        return [Check(f"{self.rel(config)} exists (the build directory was not deleted by hand)", config.is_file)]

    def run(self, log: TaskLog) -> None:
        from ..kbuild import configure, require_tools

        prof, pl = self.profile, self.pl
        tree = make_tree(self.settings, pl, self.profile.arch)
        require_tools(tree.family)
        # the base config is made again only for another tree, base or make variables
        key = json.dumps({"generation": generation(pl.tree), **self.identity()}, sort_keys=True)
        report = configure(tree, prof.base, prof.fragments, log, base_cache=pl.base_config, base_key=key)
        changed = write_if_changed(pl.config, tree.config.read_bytes())
        log.line(f"{pl.config}: {'updated' if changed else 'unchanged'}")
        write_state(pl.config_stamp, ConfigStamp(
            requests=report.requests, optional_misses=self.notes(report.optional_misses),
            redefinitions=self.notes(report.redefinitions), family=tree.family.name,
            fragments=tuple(self.rel(f) for f in prof.fragments), base=self.rel(prof.base)))

    def notes(self, lines: tuple[str, ...]) -> tuple[str, ...]:
        """kconfig's notes name fragments by their path: relative to the project root in a stamp."""
        root = f"{self.settings.root}/"
        return tuple(line.replace(root, "") for line in lines)

    def outputs(self) -> list[Path]:
        return [self.pl.config_stamp, self.pl.config]


class Compile(_ProfileStep):
    stage = Stage.COMPILE
    identity_doc: ClassVar[dict[str, str]] = BUILD_IDENTITY_DOC

    def __init__(self, settings: Settings, prof: Profile):
        super().__init__(settings, prof)
        pl = self.pl
        how = (f"make dep, bzImage, modules in {self.rel(pl.obj)}" if pl.in_tree
               else f"make O={self.rel(pl.obj)} bzImage modules")
        self.doc = f"compile the {prof.name} kernel and its modules ({how})"
        self.stamp = Stamp(pl.kernel_stamp, KernelStamp)

    def inputs(self) -> list[Path]:
        return [self.pl.config, self.pl.tree.patched_stamp]

    def identity(self) -> Identity:
        return self.build_identity()

    def targets(self) -> list[Path]:
        return [self.pl.kernel_stamp, self.pl.image]

    def run(self, log: TaskLog) -> None:
        from ..fsutil import sha256_file
        from ..kbuild import build, export_artifacts, require_tools

        pl = self.pl
        tree = make_tree(self.settings, pl, self.profile.arch)
        require_tools(tree.family)
        units = build(tree, log, last_units=_remembered_units(pl))
        out = export_artifacts(tree, pl.artifacts)
        write_state(pl.kernel_stamp, KernelStamp(
            version=str(tree.version), family=tree.family.name, units=units, image=self.rel(out["image"]),
            image_size=out["image"].stat().st_size, image_sha256=sha256_file(out["image"])))
        write_if_changed(pl.units, f"{units}\n".encode())

    def outputs(self) -> list[Path]:
        pl = self.pl
        return [pl.kernel_stamp, pl.artifacts / "bzImage", pl.artifacts / "System.map", pl.shims,
                *([pl.obj] if not pl.in_tree else [])]


def _remembered_units(pl: ProfilePaths) -> int | None:
    try:
        return int(pl.units.read_text())
    except (OSError, ValueError):
        return None


class Modules(_ProfileStep):
    stage = Stage.MODULES

    def __init__(self, settings: Settings, prof: Profile):
        super().__init__(settings, prof)
        self.doc = (f"modules_install the {prof.name} kernel into {self.rel(self.pl.staging)} (INSTALL_MOD_PATH; "
                    "never the host)")
        self.stamp = Stamp(self.pl.modules_stamp, ModulesStamp)

    def inputs(self) -> list[Path]:
        return [self.pl.kernel_stamp]

    def run(self, log: TaskLog) -> None:
        from ..kbuild import modules_install

        count = modules_install(make_tree(self.settings, self.pl, self.profile.arch), self.pl.staging, log)
        write_state(self.pl.modules_stamp, ModulesStamp(modules=count, staging=self.rel(self.pl.staging)))

    def outputs(self) -> list[Path]:
        return [self.pl.modules_stamp, self.pl.staging]


def kernel_group(settings: Settings, prof: Profile) -> Group:
    """kernel-<profile>: the profile's compiled kernel and staged modules (its .config first)."""
    pl = BuildPaths(settings).profile(prof.name)
    steps = [TaskName(s, prof.name) for s in (Stage.CONFIG, Stage.COMPILE, Stage.MODULES)]
    return Group(TaskName(Stage.KERNEL, prof.name),
                 f"the {prof.name} kernel with its modules staged ({', '.join(map(str, steps))}: "
                 f"{rel(settings.root, pl.artifacts)}, {rel(settings.root, pl.staging)})",
                 tuple(steps))
