"""netboot-image: wrap the client kernel (NBI/ELF via ramsesbuild.nbi, or a raw copy) and
install it atomically into the tftpboot directory, keeping the previous image as .old.
With ``[netboot] mba = true`` the 3Com MBA image of the NBI image (``<output>-imggen``,
ramsesbuild.imggen.make_mba_image) is made and installed next to it."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Any

from doit.tools import config_changed

from ..errors import InstallError
from ..fsutil import atomic_copy
from ..imggen import mba_name
from ..log import TaskLog
from ..settings import Settings
from .common import logged
from .layout import Layout


def install(artifact: Path, dest: Path, log: TaskLog) -> None:
    """Put *artifact* at *dest* atomically; the image being replaced becomes dest.old."""
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        if dest.exists():
            old = dest.with_name(dest.name + ".old")
            tmp_old = dest.with_name(f".{dest.name}.old.tmp")
            with contextlib.suppress(FileNotFoundError):
                tmp_old.unlink()
            os.link(dest, tmp_old)
            os.replace(tmp_old, old)
            log.line(f"previous image kept as {old}")
        atomic_copy(artifact, dest)
    except PermissionError as exc:
        raise InstallError(
            f"cannot write {dest}: {exc.strerror}. Run with write access to the tftpboot directory "
            "or set [paths] tftpboot in ramses.toml"
        ) from None
    log.line(f"installed {dest}")


def wrap(settings: Settings, kernel: Path, out: Path, log: TaskLog) -> None:
    nb = settings.netboot
    if nb.format == "raw":
        atomic_copy(kernel, out)
        log.line(f"raw copy of {kernel} (format = raw)")
        return
    from ..nbi import MknbiOptions, build_image

    opts = MknbiOptions(format=nb.format, append=nb.append, ip=nb.ip, rootdir=nb.rootdir, initrd=nb.initrd,
                        layout=nb.layout, first32=nb.first32)
    build_image(kernel, out, opts)
    log.line(f"{nb.format} image {out} from {kernel} ({opts})")


def mba_paths(settings: Settings) -> tuple[Path, Path]:
    """Artifact and installed path of the 3Com MBA image (``[netboot] mba = true``)."""
    lay = Layout(settings)
    name = mba_name(settings.netboot.output_name(settings.version))
    return lay.netboot_artifact.with_name(name), settings.netboot.tftpboot / name


def wrap_mba(nbi: Path, out: Path, log: TaskLog) -> None:
    from ..imggen import make_mba_image

    result = make_mba_image(nbi, out)
    log.line(f"3Com MBA image {out} from {nbi} ({result.mode} mode: {result.detail})")


def first_stage_files(settings: Settings) -> list[Path]:
    """The loader bytes an NBI/ELF image embeds: a new first stage must rebuild the image."""
    nb = settings.netboot
    if nb.format == "raw":
        return []
    if nb.first32:
        return [nb.first32]
    from importlib import resources

    return sorted(Path(str(resources.files("ramsesbuild").joinpath("data/nbi"))).glob("*.bin"))


def mba_files(settings: Settings) -> list[Path]:
    """The shipped MBA header bytes: a new header must rebuild the MBA image."""
    if not settings.netboot.mba:
        return []
    from importlib import resources

    return [Path(str(resources.files("ramsesbuild").joinpath("imggen/_nbi_stub.py")))]


def task_netboot_image(settings: Settings) -> dict[str, Any]:
    lay = Layout(settings)
    kernel = lay.profile("client").image
    nb = settings.netboot

    mba_artifact, mba_installed = mba_paths(settings)

    def body(log: TaskLog) -> None:
        wrap(settings, kernel, lay.netboot_artifact, log)
        if nb.mba:
            wrap_mba(lay.netboot_artifact, mba_artifact, log)
        install(lay.netboot_artifact, lay.netboot_installed, log)
        if nb.mba:
            install(mba_artifact, mba_installed, log)

    mba_doc = f" (and the 3Com MBA image {mba_installed.name})" if nb.mba else ""
    return {
        "basename": "netboot-image",
        "doc": f"wrap the client kernel as {nb.format} and install it as {lay.netboot_installed}{mba_doc}",
        "actions": [logged(settings, "netboot-image", body)],
        "file_dep": [kernel] + ([nb.initrd] if nb.initrd else []) + first_stage_files(settings) + mba_files(settings),
        "targets": [lay.netboot_installed] + ([mba_installed] if nb.mba else []),
        "uptodate": [config_changed({"format": nb.format, "append": nb.append, "ip": nb.ip,
                                     "rootdir": nb.rootdir, "initrd": str(nb.initrd), "layout": nb.layout,
                                     **({"mba": True} if nb.mba else {})})],
        "clean": True,
    }
