"""What the nodes load: netboot-image:<profile> wraps a profile's kernel (NBI/ELF via
ramsesbuild.nbi, or a raw copy) and installs it atomically into the tftpboot directory, keeping
the previous image as .old; with ``mba = true`` the 3Com MBA image of the NBI image
(``<output>-imggen``, ramsesbuild.imggen.make_mba_image) is made and installed next to it, both
built before either is installed.

Nothing stale is served: an image the settings no longer ask for (``mba = false`` after
``true``, another ``output``, a profile no longer netbooted) is retired: renamed to
``<name>.old``, which no boot file names. netboot-image:<profile> retires what it installed
before and no longer makes; netboot-retire retires what profiles that are no longer netbooted
left behind.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import ClassVar

from ..errors import InstallError
from ..fsutil import atomic_copy, sha256_file
from ..install import install
from ..log import TaskLog
from ..paths import BuildPaths, rel
from ..settings import Netboot, Profile, Settings
from ..state import ConfigStamp, DamagedState, KernelStamp, NetbootStamp, read_state, write_state
from ..vocabulary import mba_name
from .base import Identity, Kept, Stage, Stamp, Step, TaskName, digest


def _old(dest: Path) -> Path:
    return dest.with_name(dest.name + ".old")


def retire(dest: Path, log: TaskLog) -> bool:
    """Move an installed image the settings no longer ask for to dest.old (no boot file names
    that); False when there is none."""
    if not dest.is_file() or dest.is_symlink():
        return False
    try:
        os.replace(dest, _old(dest))
    except PermissionError as exc:
        raise InstallError(f"cannot retire {dest}: {exc.strerror}. Run with write access to the tftpboot "
                           "directory, or remove it by hand") from None
    log.line(f"retired {dest}: no profile makes it now; kept as {_old(dest).name}, which no boot file names")
    return True


def wanted(settings: Settings) -> set[str]:
    """Every file the settings install into the tftp root (relative to it): each netboot
    profile's image and, with mba = true, its 3Com MBA image."""
    names = set()
    for prof in settings.netboot_profiles:
        assert prof.netboot is not None
        image = prof.netboot.output_name(settings.version)
        names.add(image)
        if prof.netboot.mba:
            names.add(mba_name(image))
    return names


def stamp_files(st: NetbootStamp) -> list[str]:
    """The files (relative to the tftp root) a netboot stamp says were installed."""
    return [st.image, *([st.mba] if st.mba else [])]


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


@functools.cache
def first_stage_digest() -> str:
    """sha256 over our shipped first-stage blobs (by content, so a reinstall elsewhere is no change)."""
    import hashlib

    from ..pkgdata import DATA

    h = hashlib.sha256()
    for blob in sorted((DATA / "nbi").glob("*.bin")):
        h.update(blob.name.encode() + b"\0" + blob.read_bytes())
    return h.hexdigest()


@functools.cache
def mba_header_digest() -> str:
    """sha256 of our shipped NBI-loading MBA header (by content, like the first stage)."""
    from ..imggen import cleanroom

    return cleanroom.nbi_header_digest()


def wrap_mba(nbi: Path, out: Path, log: TaskLog) -> None:
    from ..imggen import make_mba_image

    result = make_mba_image(nbi, out)
    log.line(f"3Com MBA image {out} from {nbi} ({result.mode} mode: {result.detail})")


class NetbootImage(Step):
    identity_doc: ClassVar[dict[str, str]] = {
        "format": "[netboot] format", "append": "[netboot] append", "ip": "[netboot] ip",
        "rootdir": "[netboot] rootdir", "initrd": "[netboot] initrd", "layout": "[netboot] layout",
        "output": "[netboot] output", "first_stage": "our first-stage loader (a new ramsesbuild version)",
        "mba": "[netboot] mba, and our 3Com MBA header"}

    def __init__(self, settings: Settings, prof: Profile):
        assert prof.netboot is not None
        self.settings = settings
        self.profile = prof
        self.nb: Netboot = prof.netboot
        paths = BuildPaths(settings)
        self.pl = paths.profile(prof.name)
        self.name = TaskName(Stage.NETBOOT, prof.name)
        self.artifact, self.installed = paths.netboot_artifact(prof), paths.netboot_installed(prof)
        self.mba_artifact = self.artifact.with_name(mba_name(self.artifact.name))
        self.mba_installed = self.installed.with_name(mba_name(self.installed.name))
        self.stamp = Stamp(self.pl.netboot_stamp, NetbootStamp)
        self.clears_stamp = False  # run() reads what it installed before, then removes the stamp
        self.doc = (f"wrap the {prof.name} kernel as {self.nb.format} and install it as "
                    f"{rel(settings.root, self.installed)}"
                    + (f" (and the 3Com MBA image {self.mba_installed.name})" if self.nb.mba else ""))

    def inputs(self) -> list[Path]:
        nb = self.nb
        first = [nb.first32] if nb.format.wraps and nb.first32 else []  # ours: its digest is in the identity
        return [self.pl.image, self.pl.config_stamp] + ([nb.initrd] if nb.initrd else []) + first

    def identity(self) -> Identity:
        nb = self.nb
        return {"format": nb.format, "append": nb.append, "ip": nb.ip, "rootdir": nb.rootdir,
                "initrd": rel(self.settings.root, nb.initrd or ""), "layout": nb.layout,
                "output": self.installed.name, "first_stage": first_stage_digest() if nb.format.wraps else None,
                **({"mba": mba_header_digest()} if nb.mba else {})}

    def targets(self) -> list[Path]:
        return [self.installed, self.pl.netboot_stamp, *([self.mba_installed] if self.nb.mba else [])]

    def run(self, log: TaskLog) -> None:
        nb, pl, s = self.nb, self.pl, self.settings
        installed, mba_installed = self.installed, self.mba_installed
        before = _previous(pl.netboot_stamp)
        pl.netboot_stamp.unlink(missing_ok=True)  # a failure never leaves an old success behind
        previous = sha256_file(installed) if installed.is_file() else None
        mba_previous = sha256_file(mba_installed) if nb.mba and mba_installed.is_file() else None
        wrap(nb, pl.image, self.artifact, log)
        if nb.mba:
            wrap_mba(self.artifact, self.mba_artifact, log)
        install(self.artifact, installed, log)
        if nb.mba:
            install(self.mba_artifact, mba_installed, log)
        if before is not None:  # what it installed before and nothing makes now
            for name in set(stamp_files(before)) - wanted(s):
                retire(nb.tftpboot / name, log)
        kernel, config = read_state(pl.kernel_stamp, KernelStamp), read_state(pl.config_stamp, ConfigStamp)
        write_state(pl.netboot_stamp, NetbootStamp(
            profile=self.profile.name, image=rel(nb.tftpboot, installed), installed=rel(s.root, installed),
            artifact=rel(s.root, self.artifact), format=nb.format, layout=nb.layout if nb.format.wraps else None,
            size=installed.stat().st_size, sha256=sha256_file(installed), previous_sha256=previous,
            version=kernel.version if kernel else None, family=kernel.family if kernel else None,
            mba=rel(nb.tftpboot, mba_installed) if nb.mba else None,
            mba_sha256=sha256_file(mba_installed) if nb.mba else None, mba_previous_sha256=mba_previous,
            mba_size=mba_installed.stat().st_size if nb.mba else None,
            fragments=config.fragments if config else tuple(rel(s.root, f) for f in self.profile.fragments),
            base=rel(s.root, self.profile.base), identity=digest(self.identity()),
            kernel_sha256=kernel.image_sha256 if kernel else None,
        ))

    def outputs(self) -> list[Path]:
        return [self.artifact, self.mba_artifact, self.pl.netboot_stamp]

    def kept(self) -> Kept:
        return Kept((self.installed, self.mba_installed), "the installed netboot image")


def _previous(path: Path) -> NetbootStamp | None:
    try:
        return read_state(path, NetbootStamp)
    except DamagedState:
        return None  # its files are looked after by netboot-retire's next run


def netboot_doc(settings: Settings) -> str:
    """The netboot-image group's line in `doit list`."""
    names = ", ".join(p.name for p in settings.netboot_profiles) or "none"
    return f"wrap and install the netboot image of every netboot profile ({names})"


def installed_stamps(settings: Settings) -> dict[Path, NetbootStamp | DamagedState]:
    """Every netboot stamp in the build directory, the profiles' that are no longer netbooted
    (or gone from ramses.toml) too; what is wrong with a damaged one."""
    out: dict[Path, NetbootStamp | DamagedState] = {}
    for path in sorted(BuildPaths(settings).netboot_stamps()):
        try:
            stamp = read_state(path, NetbootStamp)
        except DamagedState as exc:
            out[path] = exc
            continue
        if stamp is not None:
            out[path] = stamp
    return out


class RetireImages(Step):
    """netboot-retire: images that profiles no longer netbooted left in the tftp root."""

    identity_doc: ClassVar[dict[str, str]] = {
        "wanted": "the images the settings install ([netboot] profiles, output, mba)", "tftpboot": "[paths] tftpboot"}

    def __init__(self, settings: Settings):
        self.settings = settings
        self.name = TaskName(Stage.RETIRE)
        self.doc = ("retire tftpboot images no netboot profile makes now (a profile no longer netbooted): "
                    "kept as <name>.old, which no boot file names")

    def identity(self) -> Identity:
        return {"wanted": sorted(wanted(self.settings)), "tftpboot": rel(self.settings.root, self.settings.tftpboot)}

    def run(self, log: TaskLog) -> None:
        s = self.settings
        keep, netbooted = wanted(s), {p.name for p in s.netboot_profiles}
        for path, st in installed_stamps(s).items():
            if isinstance(st, DamagedState):
                continue
            for name in set(stamp_files(st)) - keep:
                retire(s.tftpboot / name, log)
            if st.profile not in netbooted:
                path.unlink()
                log.line(f"removed {rel(s.root, path)}: profile {st.profile!r} is not netbooted now")
