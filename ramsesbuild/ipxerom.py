"""An NBI-capable iPXE boot ROM, built from an iPXE source tarball you have, cached per machine.

Debian's iPXE ROMs (package ipxe-qemu) load ELF and bzImage but not NBI: upstream keeps NBI
support behind ``IMAGE_NBI``. :func:`build_roms` builds PCI option ROMs for qemu's rtl8139 and
e1000 NICs with ``IMAGE_NBI`` and ``IMAGE_ELF`` (and no Ctrl-B banner wait) from an iPXE source
tarball (top directory ``ipxe/``), and caches them under

    $XDG_CACHE_HOME/ramsesbuild/ipxe/<tarball sha256>/<config key>/   (default ~/.cache/...)

so they are built once per machine (a few minutes on 2 cores); the cache depends only on the
tarball's bytes and on :data:`CONFIG`. Nothing of iPXE is shipped with ramsesbuild.

:func:`find_roms` answers "which ROM do I have for this NIC": ``$RAMSES_IPXE_ROM`` (one ROM or
several, separated by ``:``) first, then every cached build. Which NIC a ROM is for is read from
the ROM itself (its PCI data structure), not from its name.

    ramsesbuild ipxe-rom ipxe.tar.xz       # build (or find) the cached ROMs, print their paths
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import struct
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from .errors import BootTestError
from .fsutil import sha256_file

# config/local/general.h for the build (part of the cache key).
CONFIG = """\
/* ramsesbuild: NBI-capable iPXE ROM for boot tests */
#define IMAGE_NBI
#define IMAGE_ELF
#undef BANNER_TIMEOUT
#define BANNER_TIMEOUT 0
#undef ROM_BANNER_TIMEOUT
#define ROM_BANNER_TIMEOUT 0
"""
MAKE_VARS = ("NO_WERROR=1",)


@dataclass(frozen=True)
class Nic:
    qemu_device: str  # qemu -device model
    pci_id: tuple[int, int]  # vendor, device
    rom_name: str  # iPXE build target bin/<rom_name>
    kconfig: str  # the Linux driver for this NIC (2.4 and modern kernels alike)


NICS = {
    "rtl8139": Nic("rtl8139", (0x10EC, 0x8139), "10ec8139.rom", "CONFIG_8139TOO"),
    "e1000": Nic("e1000", (0x8086, 0x100E), "8086100e.rom", "CONFIG_E1000"),
}
BUILD_DEPS = {"make": "make", "gcc": "gcc", "perl": "perl", "ld": "binutils"}
MANIFEST = "build.json"
ENV_ROM = "RAMSES_IPXE_ROM"


def cache_root() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "ramsesbuild" / "ipxe"


def config_key() -> str:
    """Short hash of everything besides the tarball that decides the ROMs' bytes."""
    h = hashlib.sha256()
    for part in (CONFIG, *MAKE_VARS, *(n.rom_name for n in NICS.values())):
        h.update(part.encode() + b"\0")
    return h.hexdigest()[:12]


def cache_dir(tarball_sha256: str) -> Path:
    return cache_root() / tarball_sha256 / config_key()


def rom_pci_id(path: Path) -> tuple[int, int] | None:
    """(vendor, device) from a PCI option ROM's "PCIR" structure, or None if it is not one."""
    try:
        head = Path(path).read_bytes()[:0x10000]
    except OSError:
        return None
    if len(head) < 0x1C or head[:2] != b"\x55\xaa":
        return None
    pcir = struct.unpack_from("<H", head, 0x18)[0]
    if pcir + 8 > len(head) or head[pcir:pcir + 4] != b"PCIR":
        return None
    vendor, device = struct.unpack_from("<HH", head, pcir + 4)
    return vendor, device


def nic_for_rom(path: Path) -> Nic | None:
    pci = rom_pci_id(path)
    return next((n for n in NICS.values() if n.pci_id == pci), None)


def _cached_roms() -> list[Path]:
    root = cache_root()
    if not root.is_dir():
        return []
    return sorted(root.glob(f"*/{config_key()}/*.rom"), key=lambda p: p.stat().st_mtime, reverse=True)


def _given(env: Mapping[str, str] | None) -> list[Path]:
    value = (os.environ if env is None else env).get(ENV_ROM, "")
    return [Path(p) for p in value.split(os.pathsep) if p]


def find_roms(env: Mapping[str, str] | None = None) -> dict[str, Path]:
    """{qemu NIC model: ROM} from $RAMSES_IPXE_ROM first, then the cache."""
    found: dict[str, Path] = {}
    for path in [*_given(env), *_cached_roms()]:
        nic = nic_for_rom(path)
        if nic is not None and nic.qemu_device not in found:
            found[nic.qemu_device] = path
    return found


def check_given_roms(env: Mapping[str, str] | None = None) -> None:
    """$RAMSES_IPXE_ROM must name PCI option ROMs for a NIC we know: say so if not."""
    for p in _given(env):
        if not p.is_file():
            raise BootTestError(f"{ENV_ROM}: {p}: no such file; point it at an iPXE .rom file "
                                "(or unset it and run `ramsesbuild ipxe-rom IPXE-TARBALL`)")
        if nic_for_rom(p) is None:
            known = ", ".join(f"{n.rom_name} ({n.qemu_device})" for n in NICS.values())
            raise BootTestError(f"{ENV_ROM}: {p}: not a PCI option ROM for a NIC qemu emulates here; "
                                f"use one of {known}")


def _missing_build_tools() -> list[str]:
    missing = sorted({pkg for tool, pkg in BUILD_DEPS.items() if shutil.which(tool) is None})
    for header, pkg in (("/usr/include/lzma.h", "liblzma-dev"),):
        if not Path(header).exists():
            missing.append(pkg)
    return missing


def _extract(tarball: Path, dest: Path) -> Path:
    try:
        with tarfile.open(tarball) as tf:
            names = tf.getnames()
            if not any(n == "ipxe/src/Makefile" or n.endswith("/ipxe/src/Makefile") for n in names[:100000]):
                raise BootTestError(f"{tarball}: no ipxe/src/Makefile in it; give an iPXE source tarball "
                                    "(top directory ipxe/, e.g. `git archive --prefix=ipxe/ HEAD | xz`)")
    except (tarfile.TarError, OSError) as exc:
        raise BootTestError(f"{tarball}: cannot unpack: {exc}") from None
    # the pipeline's own safe unpacker (no tarfile extraction filter: Debian bookworm's Python
    # 3.11.2 has none, and a user-supplied tarball must not write outside dest)
    from .log import TaskLog
    from .unpack import unpack

    with TaskLog(dest / "unpack.log") as log:
        unpack(tarball, dest / "ipxe", log)
    return dest / "ipxe" / "src"


def build_roms(tarball: Path, jobs: int = 0, log: Path | None = None) -> Path:
    """The cache directory holding the ROMs for *tarball*, building them first if needed.

    Builds in a temporary directory beside the cache entry and renames the finished ROMs into
    place, so an interrupted build leaves nothing that looks complete.
    """
    tarball = Path(tarball)
    if not tarball.is_file():
        raise BootTestError(f"{tarball}: no such iPXE source tarball")
    sha = sha256_file(tarball)
    dest = cache_dir(sha)
    if all((dest / n.rom_name).is_file() for n in NICS.values()) and (dest / MANIFEST).is_file():
        return dest
    missing = _missing_build_tools()
    if missing:
        raise BootTestError(f"building iPXE needs {', '.join(missing)}: apt-get install {' '.join(missing)}")
    dest.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".build-", dir=dest.parent))
    try:
        src = _extract(tarball, work)
        (src / "config" / "local").mkdir(parents=True, exist_ok=True)
        (src / "config" / "local" / "general.h").write_text(CONFIG)
        targets = [f"bin/{n.rom_name}" for n in NICS.values()]
        cmd = ["make", "-C", str(src), f"-j{jobs or os.cpu_count() or 1}", *MAKE_VARS, *targets]
        log_path = log or work / "build.log"
        start = time.monotonic()
        with open(log_path, "w") as out:
            proc = subprocess.run(cmd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, check=False)
        seconds = time.monotonic() - start
        if proc.returncode != 0:
            tail = "\n".join(log_path.read_text(errors="replace").splitlines()[-15:])
            raise BootTestError(f"{tarball}: iPXE build failed (make exit {proc.returncode}); last lines of "
                                f"{log_path}:\n{tail}")
        out_dir = work / "out"
        out_dir.mkdir()
        for nic in NICS.values():
            shutil.copy2(src / "bin" / nic.rom_name, out_dir / nic.rom_name)
        (out_dir / "general.h").write_text(CONFIG)
        (out_dir / MANIFEST).write_text(json.dumps({
            "tarball": tarball.name, "tarball_sha256": sha, "config_key": config_key(),
            "make": " ".join(cmd[3:]), "build_seconds": round(seconds, 1),
            "roms": {n.rom_name: {"qemu_device": n.qemu_device, "sha256": sha256_file(out_dir / n.rom_name)}
                     for n in NICS.values()},
        }, indent=2, sort_keys=True) + "\n")
        try:
            os.rename(out_dir, dest)
        except OSError:
            if not (dest / MANIFEST).is_file():  # not a concurrent build that finished first
                raise
        return dest
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main(argv: list[str]) -> int:
    """`ramsesbuild ipxe-rom TARBALL`: build or find the cached NBI-capable ROMs."""
    ap = argparse.ArgumentParser(prog="ramsesbuild ipxe-rom",
                                 description="Build NBI-capable iPXE boot ROMs (rtl8139, e1000) from an iPXE "
                                             "source tarball, once per machine (cached).")
    ap.add_argument("tarball", type=Path, help="iPXE source tarball (top directory ipxe/)")
    ap.add_argument("--jobs", type=int, default=0, help="make -j (default: all cores)")
    args = ap.parse_args(argv)
    dest = cache_dir(sha256_file(args.tarball)) if args.tarball.is_file() else None
    if dest is None or not (dest / MANIFEST).is_file():
        print(f"building iPXE ROMs from {args.tarball} (a few minutes) ...", file=sys.stderr)
    dest = build_roms(args.tarball, args.jobs)
    for nic in NICS.values():
        print(f"{dest / nic.rom_name}  (qemu -device {nic.qemu_device},romfile=...)")
    return 0
