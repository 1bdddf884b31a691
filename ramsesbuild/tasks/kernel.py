"""doit tasks from download to built kernels: fetch, verify, unpack, patch, config-*,
kernel-*, modules-*. Each task is a thin wrapper; the work is in the pipeline modules.

Up-to-date logic: every step writes a small JSON stamp (its target) that the next step lists
as file_dep, and the settings a step depends on go into its one ``config_changed`` dict.
A no-op run therefore only stats a handful of files and never calls make.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from doit.tools import config_changed

from .. import family as _family
from ..fsutil import write_if_changed
from ..log import TaskLog
from ..patch import series_files
from ..settings import PROFILES, Settings
from .common import logged, write_stamp
from .layout import Layout, ProfileLayout


def task_fetch(settings: Settings) -> dict[str, Any]:
    from ..fetch import wanted_files

    lay = Layout(settings)
    src = settings.source
    targets = [lay.download(w.name) for w in wanted_files(src)]

    def body(log: TaskLog) -> None:
        from ..fetch import fetch_all

        fetch_all(src, settings.download_dir, log)

    return {
        "basename": "fetch",
        "doc": f"download {src.tarball}{' and ' + src.signature if src.signature else ''} (mirrors in order, resumable)",
        "actions": [logged(settings, "fetch", body)],
        "targets": targets,
        "uptodate": [config_changed({"tarball": src.tarball, "sha256": src.sha256, "signature": src.signature})],
        "clean": True,
    }


def task_verify(settings: Settings) -> dict[str, Any]:
    lay = Layout(settings)
    src = settings.source
    tarball = lay.download(src.tarball)
    sig = lay.download(src.signature) if src.signature else None

    def body(log: TaskLog) -> None:
        from ..verify import verify

        result = verify(src, tarball, sig, log)
        write_stamp(lay.verified, result.as_dict())

    return {
        "basename": "verify",
        "doc": "check the pinned sha256 and the OpenPGP signature (private GNUPGHOME, pinned signers)",
        "actions": [logged(settings, "verify", body, stamps=(lay.verified,))],
        "file_dep": [tarball] + ([sig] if sig else []) + list(src.keys),
        "targets": [lay.verified],
        "uptodate": [config_changed({"sha256": src.sha256, "signers": list(src.signers),
                                     "unsigned": src.unsigned})],
        "clean": True,
    }


def task_unpack(settings: Settings) -> Iterator[dict[str, Any]]:
    lay = Layout(settings)
    tarball = lay.download(settings.source.tarball)
    yield {"basename": "unpack", "name": None, "doc": "extract the verified tarball into build/<profile>/src (safely)"}
    for profile in PROFILES:
        pl = lay.profile(profile)

        def body(log: TaskLog, pl: ProfileLayout = pl) -> None:
            import shutil

            from ..patch import reset_state
            from ..unpack import unpack

            reset_state(pl.state)
            shutil.rmtree(pl.obj_modern, ignore_errors=True)
            top = unpack(tarball, pl.src, log)
            fam, version = _family.detect(pl.src)
            _check_version(settings, version)
            write_stamp(pl.stamp("unpacked"), {"top": top, "version": str(version), "family": fam.name,
                                               "sha256": settings.source.sha256})

        yield {
            "basename": "unpack",
            "name": profile,
            "actions": [logged(settings, f"unpack:{profile}", body, stamps=(pl.stamp("unpacked"),))],
            "file_dep": [lay.verified],
            "targets": [pl.stamp("unpacked")],
        }


def _check_version(settings: Settings, version: _family.TreeVersion) -> None:
    from ..errors import FamilyError

    if not version.matches(settings.version):
        raise FamilyError(
            f"{settings.source.tarball} contains Linux {version}, but ramses.toml says version "
            f"{settings.version!r}; fix [kernel] version or the [source] entry"
        )


def task_patch(settings: Settings) -> Iterator[dict[str, Any]]:
    lay = Layout(settings)
    pdir = settings.patches_dir
    deps = series_files(pdir)
    yield {"basename": "patch", "name": None, "doc": "apply patches/series to each tree (dry-run first, no fuzz)"}
    for profile in PROFILES:
        pl = lay.profile(profile)

        def body(log: TaskLog, pl: ProfileLayout = pl) -> None:
            from ..patch import apply_series

            applied = apply_series(pl.src, pdir, pl.state, log)
            write_stamp(pl.stamp("patched"), {"patches": [(a["name"], a["sha256"]) for a in applied]})

        yield {
            "basename": "patch",
            "name": profile,
            "actions": [logged(settings, f"patch:{profile}", body, stamps=(pl.stamp("patched"),))],
            "file_dep": [pl.stamp("unpacked")] + deps,
            "targets": [pl.stamp("patched")],
        }


def make_tree(settings: Settings, pl: ProfileLayout):
    from .. import wrappers as _wrappers
    from ..kbuild import Tree

    fam, version = _family.detect(pl.src)
    return Tree(
        src=pl.src,
        obj=pl.obj_modern if fam.out_of_tree else pl.src,
        family=fam,
        version=version,
        arch=settings.arch,
        jobs=settings.make_jobs(),
        shims=pl.shims,
        epoch=int((pl.src / "Makefile").stat().st_mtime),
        user_vars=tuple(sorted(settings.make_vars.items())),
        # Not in any config_changed below: switching ccache/distcc on or off rebuilds nothing.
        wrapper=_wrappers.get(settings.wrapper) if settings.wrapper else None,
        distcc_hosts=settings.distcc_hosts,
    )


def task_config(settings: Settings, profile: str) -> dict[str, Any]:
    lay = Layout(settings)
    pl = lay.profile(profile)
    prof = settings.profiles[profile]
    base_dep = [Path(prof.base)] if "/" in prof.base else []

    def body(log: TaskLog) -> None:
        from ..kbuild import configure

        tree = make_tree(settings, pl)
        report = configure(tree, prof.base, prof.fragments, log)
        changed = write_if_changed(pl.config, tree.config.read_bytes())
        log.line(f"{pl.config}: {'updated' if changed else 'unchanged'}")
        write_stamp(pl.stamp("config"), {"requests": report.requests, "optional_misses": list(report.optional_misses),
                                         "redefinitions": list(report.redefinitions), "family": tree.family.name})

    return {
        "basename": f"config-{profile}",
        "doc": f"{profile} .config: base {prof.base!r} + {', '.join(f.name for f in prof.fragments)}; "
               "fails listing every requested option that did not land",
        "actions": [logged(settings, f"config-{profile}", body, stamps=(pl.stamp("config"),))],
        "file_dep": [pl.stamp("patched"), *prof.fragments, *base_dep],
        "targets": [pl.stamp("config"), pl.config],
        "uptodate": [config_changed({"base": prof.base, "arch": settings.arch, "make_vars": settings.make_vars,
                                     "families": _families_digest()})],
        "clean": True,
    }


@functools.cache
def _families_digest() -> str:
    """sha256 of families.toml; read once per doit start, shared by the config and kernel tasks."""
    import hashlib
    from importlib import resources

    data = resources.files("ramsesbuild").joinpath("data/families.toml").read_bytes()
    return hashlib.sha256(data).hexdigest()


def task_kernel(settings: Settings, profile: str) -> dict[str, Any]:
    lay = Layout(settings)
    pl = lay.profile(profile)
    stamp = pl.stamp("kernel")

    def body(log: TaskLog) -> None:
        from ..fsutil import sha256_file
        from ..kbuild import build, export_artifacts

        tree = make_tree(settings, pl)
        units = build(tree, log, last_units=_remembered_units(pl))
        out = export_artifacts(tree, pl.artifacts)
        write_stamp(stamp, {"version": str(tree.version), "family": tree.family.name, "units": units,
                            "image_sha256": sha256_file(out["image"])})
        _remember_units(pl, units)

    fam_note = "2.4: make dep + bzImage modules in-tree; modern: O= bzImage modules"
    return {
        "basename": f"kernel-{profile}",
        "doc": f"build the {profile} kernel and modules ({fam_note})",
        "actions": [logged(settings, f"kernel-{profile}", body, stamps=(stamp,))],
        "file_dep": [pl.config, pl.stamp("patched")],
        "targets": [stamp, pl.image],
        "uptodate": [config_changed({"make_vars": settings.make_vars, "arch": settings.arch,
                                     "families": _families_digest()})],
        "clean": True,
    }


def _remembered_units(pl: ProfileLayout) -> int | None:
    try:
        return int((pl.state / "units").read_text())
    except (FileNotFoundError, ValueError):
        return None


def _remember_units(pl: ProfileLayout, units: int) -> None:
    write_if_changed(pl.state / "units", f"{units}\n".encode())


def task_modules(settings: Settings, profile: str) -> dict[str, Any]:
    lay = Layout(settings)
    pl = lay.profile(profile)
    stamp = pl.stamp("modules")

    def body(log: TaskLog) -> None:
        from ..kbuild import modules_install

        count = modules_install(make_tree(settings, pl), pl.staging, log)
        write_stamp(stamp, {"modules": count, "staging": str(pl.staging)})

    return {
        "basename": f"modules-{profile}",
        "doc": f"modules_install the {profile} kernel into {pl.staging} (INSTALL_MOD_PATH; never the host)",
        "actions": [logged(settings, f"modules-{profile}", body, stamps=(stamp,))],
        "file_dep": [pl.stamp("kernel")],
        "targets": [stamp],
        "clean": True,
    }
