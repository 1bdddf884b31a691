"""doit tasks from download to built kernels: fetch, verify, unpack, patch, config-<profile>,
compile-<profile>, modules-<profile> and the group kernel-<profile> (= compile + modules).
Each task is a thin wrapper; the work is in the pipeline modules.

Up-to-date logic: every step writes a small JSON stamp (its target) that the next step lists
as file_dep, and the settings a step depends on go into its one ``config_changed`` dict.
A no-op run therefore only stats a handful of files and never calls make.
"""

from __future__ import annotations

import functools
import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from doit.tools import config_changed

from .. import family as _family
from ..fsutil import write_if_changed
from ..log import TaskLog
from ..paths import BuildPaths, ProfilePaths, TreePaths, rel
from ..settings import Profile, Settings
from ..state import (
    ConfigStamp,
    KernelStamp,
    ModulesStamp,
    PatchedStamp,
    UnpackedStamp,
    VerifiedStamp,
    read_state,
    write_state,
)
from .common import logged, remover, stamp_intact

if TYPE_CHECKING:
    from ..kbuild import Tree

Task = dict[str, Any]


def task_fetch(settings: Settings) -> Task:
    paths = BuildPaths(settings)
    src = settings.source
    targets = [paths.download(name) for name in src.files()]  # names only: nothing is read at doit start

    def body(log: TaskLog) -> None:
        from ..fetch import fetch_all

        fetch_all(src, settings.download_dir, log)

    what = src.tarball + (f" and {src.signature}" if src.signature else "")
    return {
        "basename": "fetch",
        "doc": f"download {what} (mirrors in order, resumable)",
        "actions": [logged(settings, "fetch", body)],
        "targets": targets,
        "uptodate": [config_changed({"tarball": src.tarball, "sha256": src.sha256, "signature": src.signature,
                                     "local": _local_identity(src.local_file()) if src.dpkg else None})],
        "clean": [remover(targets, "the verified download", "fetch")],
    }


def _local_identity(path: Path | None) -> str:
    """Size and mtime of a package-installed tarball: an apt upgrade re-fetches and re-verifies."""
    if path is None:
        return ""
    try:
        st = path.stat()
    except OSError:
        return "missing"
    return f"{st.st_size}:{st.st_mtime_ns}"


def task_verify(settings: Settings) -> Task:
    paths = BuildPaths(settings)
    src = settings.source
    tarball = paths.download(src.tarball)
    sig = paths.download(src.signature) if src.signature else None
    identity = paths.verified.with_name("verified-file.json")  # which file the record describes

    def body(log: TaskLog) -> None:
        from ..trust import file_identity
        from ..verify import verify_with_refetch

        before = file_identity(tarball)
        write_state(paths.verified, verify_with_refetch(src, tarball, sig, settings.download_dir, log))
        write_state(identity, before)

    def record_holds() -> bool:
        from ..trust import record_holds  # light: runs at every doit start

        return record_holds(paths.verified, identity, tarball, src)

    return {
        "basename": "verify",
        "doc": "check the pinned sha256 (or dpkg --verify) and the OpenPGP signature (private GNUPGHOME, "
               "pinned signers)",
        "actions": [logged(settings, "verify", body, stamps=(paths.verified, identity))],
        "file_dep": [tarball] + ([sig] if sig else []) + list(src.keys),
        "targets": [paths.verified],
        "uptodate": [config_changed({"sha256": src.sha256, "signers": list(src.signers),
                                     "unsigned": src.unsigned, "dpkg": src.dpkg}),
                     stamp_intact(paths.verified, VerifiedStamp, "verify"),
                     record_holds],  # a record that disagrees with the pin or the file is re-checked
        "clean": [remover([paths.verified, identity])],
    }


def task_unpack(settings: Settings) -> Iterator[Task]:
    paths = BuildPaths(settings)
    tarball = paths.download(settings.source.tarball)
    shared = paths.family.out_of_tree
    yield {"basename": "unpack", "name": None,
           "doc": "extract the verified tarball safely: " +
                  ("one source tree shared by every profile (build/source/src, O= builds)" if shared else
                   "one tree per profile (build/<profile>/src; this family builds in the tree)")}
    for tree in paths.trees():
        def body(log: TaskLog, tree: TreePaths = tree) -> None:
            from ..fsutil import unlink_file
            from ..patch import reset_state
            from ..state import DamagedState
            from ..unpack import tree_is_current, unpack
            from ..verify import unpack_anchor

            expect = unpack_anchor(settings.source)  # the pin or dpkg's record, never build/ state
            try:
                previous = read_state(tree.unpacked_stamp, UnpackedStamp)
            except DamagedState:
                previous = None
            unlink_file(tree.unpacked_stamp)  # a failure never leaves an old success behind
            if previous is not None and tree_is_current(previous, expect, tree.src):  # doit's records lost
                log.line(f"{tree.src}: already unpacked from these verified bytes ({previous.source}), "
                         "patched as its state says: kept (delete the tree to unpack it afresh)")
                write_state(tree.unpacked_stamp, previous)
                return
            reset_state(tree.state)
            top = unpack(tarball, tree.src, log, limits=settings.unpack_limits, expect=expect)
            fam, version = _family.detect(tree.src)
            _check_version(settings, version)
            # a new generation id makes every later step re-run on a fresh tree, even when the
            # tarball is the same (doit compares stamp contents)
            write_state(tree.unpacked_stamp, UnpackedStamp(top=top, version=str(version), family=fam.name,
                                                           sha256=settings.source.sha256,
                                                           generation=uuid.uuid4().hex,
                                                           source=f"{expect.algorithm}:{expect.digest}"))

        yield {
            "basename": "unpack",
            "name": tree.name,
            "actions": [logged(settings, f"unpack:{tree.name}", body)],  # the body handles its stamp
            "file_dep": [paths.verified],
            "targets": [tree.unpacked_stamp],
            "uptodate": [(tree.src / "Makefile").is_file(),  # the tree was deleted by hand
                         stamp_intact(tree.unpacked_stamp, UnpackedStamp, f"unpack:{tree.name}")],
            "clean": [remover([tree.src, tree.state])],
        }


def _check_version(settings: Settings, version: _family.TreeVersion) -> None:
    from ..errors import FamilyError

    if not version.matches(settings.version):
        raise FamilyError(
            f"{settings.source.tarball} contains Linux {version}, but ramses.toml says version "
            f"{settings.version!r}; fix [kernel] version or the [source] entry"
        )


def task_patch(settings: Settings) -> Iterator[Task]:
    from ..patch import series_files

    paths = BuildPaths(settings)
    pdir = settings.patch_dir()
    deps = series_files(pdir)
    yield {"basename": "patch", "name": None,
           "doc": f"apply {pdir.name}/series to each source tree (dry-run first, no fuzz)"
                  if deps else f"no patch series for {settings.version} ({pdir}/series does not exist)"}
    for tree in paths.trees():
        def body(log: TaskLog, tree: TreePaths = tree) -> None:
            from ..patch import apply_series, check_patch_layout

            check_patch_layout(settings.patches_dir, pdir, settings.version)
            applied = apply_series(tree.src, pdir, tree.state, log)
            write_state(tree.patched_stamp, PatchedStamp(series=rel(settings.root, pdir), generation=_generation(tree),
                                                         patches=tuple((a["name"], a["sha256"]) for a in applied)))

        yield {
            "basename": "patch",
            "name": tree.name,
            "actions": [logged(settings, f"patch:{tree.name}", body, stamps=(tree.patched_stamp,))],
            "file_dep": [tree.unpacked_stamp, *deps],
            "targets": [tree.patched_stamp],
            "uptodate": [config_changed({"series": rel(settings.root, pdir)}),
                         stamp_intact(tree.patched_stamp, PatchedStamp, f"patch:{tree.name}")],
            "clean": [remover([tree.patched_stamp])],
        }


def _generation(tree: TreePaths) -> str:
    unpacked = read_state(tree.unpacked_stamp, UnpackedStamp)
    return unpacked.generation if unpacked else ""


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
        # Not in any config_changed below: switching ccache/distcc on or off rebuilds nothing.
        wrapper=_wrappers.get(settings.wrapper) if settings.wrapper else None,
        distcc_hosts=settings.distcc_hosts,
    )


def task_config(settings: Settings, prof: Profile) -> Task:
    paths = BuildPaths(settings)
    pl = paths.profile(prof.name)
    base_dep = [Path(prof.base)] if "/" in prof.base else []

    def body(log: TaskLog) -> None:
        from ..kbuild import configure, require_tools

        tree = make_tree(settings, pl, prof.arch)
        require_tools(tree.family)
        key = json.dumps({"generation": _generation(pl.tree), "base": prof.base, "arch": prof.arch,
                          "make_vars": tree.make_vars(), "families": families_digest()}, sort_keys=True)
        report = configure(tree, prof.base, prof.fragments, log, base_cache=pl.base_config, base_key=key)
        changed = write_if_changed(pl.config, tree.config.read_bytes())
        log.line(f"{pl.config}: {'updated' if changed else 'unchanged'}")
        write_state(pl.config_stamp, ConfigStamp(
            requests=report.requests, optional_misses=report.optional_misses, redefinitions=report.redefinitions,
            family=tree.family.name, fragments=tuple(rel(settings.root, f) for f in prof.fragments),
            base=rel(settings.root, prof.base)))

    frags = ", ".join(f.name for f in prof.fragments) or "no fragments"
    return {
        "basename": f"config-{prof.name}",
        "doc": f"{prof.name} .config: base {Path(prof.base).name!r} + {frags}; fails listing every requested "
               "option that did not land",
        "actions": [logged(settings, f"config-{prof.name}", body, stamps=(pl.config_stamp,))],
        "file_dep": [pl.tree.patched_stamp, *prof.fragments, *base_dep],
        "targets": [pl.config_stamp, pl.config],
        "uptodate": [config_changed({"base": rel(settings.root, prof.base), "arch": prof.arch,
                                     "make_vars": settings.make_vars,
                                     "families": families_digest()}),
                     (pl.obj / ".config").is_file(),  # the build directory was deleted by hand
                     stamp_intact(pl.config_stamp, ConfigStamp, f"config-{prof.name}")],
        "clean": [remover([pl.config_stamp, pl.config])],
    }


@functools.cache
def families_digest() -> str:
    """sha256 of the build rules in families.toml (comments, descriptions, tool packages and the
    progress estimate excluded); computed once per doit start, shared by config and compile."""
    import hashlib

    from ..family import load_families

    rules = {f.name: f.identity() for f in load_families()}
    return hashlib.sha256(json.dumps(rules, sort_keys=True, default=list).encode()).hexdigest()


def task_compile(settings: Settings, prof: Profile) -> Task:
    pl = BuildPaths(settings).profile(prof.name)
    stamp = pl.kernel_stamp

    def body(log: TaskLog) -> None:
        from ..fsutil import sha256_file
        from ..kbuild import build, export_artifacts, require_tools

        tree = make_tree(settings, pl, prof.arch)
        require_tools(tree.family)
        units = build(tree, log, last_units=_remembered_units(pl))
        out = export_artifacts(tree, pl.artifacts)
        write_state(stamp, KernelStamp(version=str(tree.version), family=tree.family.name, units=units,
                                       image=rel(settings.root, out["image"]), image_size=out["image"].stat().st_size,
                                       image_sha256=sha256_file(out["image"])))
        _remember_units(pl, units)

    how = "make dep, bzImage, modules in its own tree" if pl.in_tree else "make O=build/<profile>/obj bzImage modules"
    obj = [pl.obj] if not pl.in_tree else []
    return {
        "basename": f"compile-{prof.name}",
        "doc": f"compile the {prof.name} kernel and its modules ({how})",
        "actions": [logged(settings, f"compile-{prof.name}", body, stamps=(stamp,))],
        "file_dep": [pl.config, pl.tree.patched_stamp],
        "targets": [stamp, pl.image],
        "uptodate": [config_changed({"make_vars": settings.make_vars, "arch": prof.arch,
                                     "families": families_digest()}),
                     stamp_intact(stamp, KernelStamp, f"compile-{prof.name}")],
        "clean": [remover([stamp, pl.artifacts / "bzImage", pl.artifacts / "System.map", pl.shims, *obj])],
    }


def _remembered_units(pl: ProfilePaths) -> int | None:
    try:
        return int(pl.units.read_text())
    except (OSError, ValueError):
        return None


def _remember_units(pl: ProfilePaths, units: int) -> None:
    write_if_changed(pl.units, f"{units}\n".encode())


def task_modules(settings: Settings, prof: Profile) -> Task:
    pl = BuildPaths(settings).profile(prof.name)
    stamp = pl.modules_stamp

    def body(log: TaskLog) -> None:
        from ..kbuild import modules_install

        count = modules_install(make_tree(settings, pl, prof.arch), pl.staging, log)
        write_state(stamp, ModulesStamp(modules=count, staging=rel(settings.root, pl.staging)))

    return {
        "basename": f"modules-{prof.name}",
        "doc": f"modules_install the {prof.name} kernel into {pl.staging} (INSTALL_MOD_PATH; never the host)",
        "actions": [logged(settings, f"modules-{prof.name}", body, stamps=(stamp,))],
        "file_dep": [pl.kernel_stamp],
        "targets": [stamp],
        "uptodate": [stamp_intact(stamp, ModulesStamp, f"modules-{prof.name}")],
        "clean": [remover([stamp, pl.staging])],
    }


def task_kernel(settings: Settings, prof: Profile) -> Task:
    return {
        "basename": f"kernel-{prof.name}",
        "doc": f"the {prof.name} kernel with its modules staged (compile-{prof.name} + modules-{prof.name}: "
               f"build/{prof.name}/artifacts, build/{prof.name}/staging)",
        "actions": None,
        "task_dep": [f"compile-{prof.name}", f"modules-{prof.name}"],
    }
