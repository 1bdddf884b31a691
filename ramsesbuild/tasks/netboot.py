"""netboot-image:<profile>: wrap a profile's kernel (NBI/ELF via ramsesbuild.nbi, or a raw copy)
and install it atomically into the tftpboot directory, keeping the previous image as .old.
`doit netboot-image` runs it for every profile that has a netboot image. With ``mba = true``
the 3Com MBA image of the NBI image (``<output>-imggen``, ramsesbuild.imggen.make_mba_image) is
made and installed next to it; both are built before either is installed."""

from __future__ import annotations

import contextlib
import functools
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from doit.tools import config_changed

from ..errors import InstallError
from ..fsutil import atomic_copy, sha256_file, temp_name
from ..imggen import mba_name
from ..log import TaskLog
from ..settings import Netboot, Profile, Settings
from .common import logged, read_stamp, rel, remover, write_stamp
from .layout import Layout


def install(artifact: Path, dest: Path, log: TaskLog) -> None:
    """Put *artifact* at *dest* atomically; the image being replaced becomes dest.old."""
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        if dest.exists():
            old = dest.with_name(dest.name + ".old")
            tmp_old = dest.with_name(temp_name(dest.name, "old"))
            with contextlib.suppress(FileNotFoundError):
                tmp_old.unlink()
            os.link(dest, tmp_old)
            os.replace(tmp_old, old)
            log.line(f"previous image kept as {old}")
        atomic_copy(artifact, dest)
    except PermissionError as exc:
        raise InstallError(
            f"cannot write {exc.filename or dest}: {exc.strerror}. Run with write access to the tftpboot "
            "directory or set [paths] tftpboot in ramses.toml"
        ) from None
    log.line(f"installed {dest}")


def wrap(nb: Netboot, kernel: Path, out: Path, log: TaskLog) -> None:
    if not nb.format.wraps:
        atomic_copy(kernel, out)
        log.line(f"raw copy of {kernel} (format = raw)")
        return
    from ..nbi import MknbiOptions, build_image

    opts = MknbiOptions(format=nb.format, append=nb.append, ip=nb.ip, rootdir=nb.rootdir, initrd=nb.initrd,
                        layout=nb.layout, first32=nb.first32)
    build_image(kernel, out, opts)
    log.line(f"{nb.format} image {out} from {kernel} ({opts})")


def first_stage_files(nb: Netboot) -> list[Path]:
    """The loader bytes an NBI/ELF image embeds: a new first stage must rebuild the image."""
    if not nb.format.wraps:
        return []
    if nb.first32:
        return [nb.first32]
    return []  # our own first stage: its content digest is in config_changed


@functools.cache
def first_stage_digest() -> str:
    """sha256 over our shipped first-stage blobs (by content, so a reinstall elsewhere is no change)."""
    import hashlib

    from ..pkgdata import DATA

    h = hashlib.sha256()
    for blob in sorted((DATA / "nbi").glob("*.bin")):
        h.update(blob.name.encode() + b"\0" + blob.read_bytes())
    return h.hexdigest()


def wrap_mba(nbi: Path, out: Path, log: TaskLog) -> None:
    from ..imggen import make_mba_image

    result = make_mba_image(nbi, out)
    log.line(f"3Com MBA image {out} from {nbi} ({result.mode} mode: {result.detail})")


@functools.cache
def mba_header_digest() -> str:
    """sha256 of our shipped NBI-loading MBA header (by content, like the first stage)."""
    import hashlib

    from ..pkgdata import PACKAGE

    return hashlib.sha256((PACKAGE / "imggen" / "_nbi_stub.py").read_bytes()).hexdigest()


def task_netboot_images(settings: Settings) -> Iterator[dict[str, Any]]:
    profiles = settings.netboot_profiles
    names = ", ".join(p.name for p in profiles) or "none"
    yield {"basename": "netboot-image", "name": None,
           "doc": f"wrap and install the netboot image of every netboot profile ({names})"}
    for prof in profiles:
        yield _task(settings, prof)


def _task(settings: Settings, prof: Profile) -> dict[str, Any]:
    lay = Layout(settings)
    pl = lay.profile(prof.name)
    nb = prof.netboot
    assert nb is not None
    artifact, installed = lay.netboot_artifact(prof), lay.netboot_installed(prof)
    mba_artifact, mba_installed = (artifact.with_name(mba_name(artifact.name)),
                                   installed.with_name(mba_name(installed.name)))
    stamp = pl.stamp("netboot")
    task = f"netboot-image:{prof.name}"

    def body(log: TaskLog) -> None:
        previous = sha256_file(installed) if installed.is_file() else None
        wrap(nb, pl.image, artifact, log)
        if nb.mba:
            wrap_mba(artifact, mba_artifact, log)
        install(artifact, installed, log)
        if nb.mba:
            install(mba_artifact, mba_installed, log)
        kernel = read_stamp(pl.stamp("kernel"))
        config = read_stamp(pl.stamp("config"))
        write_stamp(stamp, {
            "profile": prof.name, "image": rel(nb.tftpboot, installed), "installed": rel(settings.root, installed),
            "artifact": rel(settings.root, artifact),
            "format": nb.format, "layout": nb.layout if nb.format.wraps else None,
            "size": installed.stat().st_size, "sha256": sha256_file(installed), "previous_sha256": previous,
            "version": kernel.get("version"), "family": kernel.get("family"),
            "mba": rel(nb.tftpboot, mba_installed) if nb.mba else None,
            "mba_sha256": sha256_file(mba_installed) if nb.mba else None,
            "fragments": config.get("fragments", [rel(settings.root, f) for f in prof.fragments]),
            "base": rel(settings.root, prof.base),
        })

    return {
        "basename": "netboot-image",
        "name": prof.name,
        "doc": f"wrap the {prof.name} kernel as {nb.format} and install it as {installed}"
               + (f" (and the 3Com MBA image {mba_installed.name})" if nb.mba else ""),
        "actions": [logged(settings, task, body, stamps=(stamp,))],
        "file_dep": [pl.image, pl.stamp("config")] + ([nb.initrd] if nb.initrd else []) + first_stage_files(nb),
        "targets": [installed, stamp, *([mba_installed] if nb.mba else [])],
        "uptodate": [config_changed({"format": nb.format, "append": nb.append, "ip": nb.ip,
                                     "rootdir": nb.rootdir, "initrd": rel(settings.root, nb.initrd or ""),
                                     "layout": nb.layout, "output": installed.name,
                                     "first_stage": first_stage_digest() if nb.format.wraps else None,
                                     **({"mba": mba_header_digest()} if nb.mba else {})})],
        "clean": [remover([artifact, mba_artifact, stamp]),
                  remover([installed, mba_installed], "the installed netboot image", task)],
    }
