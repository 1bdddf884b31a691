"""Helpers for the qemu boot tests of ramsesbuild.nbi: build the test loader, probe kernel and
init with binutils, make a cpio initramfs and a BOOTP reply, run qemu until a marker."""

from __future__ import annotations

import glob
import shutil
import socket
import struct
import subprocess
from pathlib import Path

from . import guest
from .guest import QemuResult, initramfs_with  # noqa: F401  (used by test_nbi_boot as lib.*)

HERE = Path(__file__).resolve().parents[1] / "data" / "nbi_boot"
FLAT_LD = "SECTIONS { . = 0; .text : { *(.text) } /DISCARD/ : { *(*) } }\n"


def run(cmd: list[str], cwd: Path | None = None) -> None:
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    if proc.returncode:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{proc.stdout}{proc.stderr}")


def assemble(src: Path, out: Path, *, defsyms: dict[str, int] | None = None, link: list[str],
             as_flags: tuple[str, ...] = ("--32",)) -> Path:
    obj = out.with_suffix(".o")
    syms = [a for k, v in (defsyms or {}).items() for a in ("--defsym", f"{k}={v}")]
    run(["as", *as_flags, *syms, "-o", str(obj), str(src)])
    run(["ld", *link, "-o", str(out), str(obj)])
    return out


def build_loader(work: Path) -> tuple[Path, Path]:
    """The multiboot test loader (ELF) and its real-mode trampoline (flat binary at 0x8000)."""
    loader = assemble(HERE / "loader.s", work / "loader.elf", link=["-m", "elf_i386", "-N", "-Ttext=0x04000000"])
    tramp = assemble(HERE / "tramp.s", work / "tramp.bin",
                     link=["-m", "elf_i386", "-Ttext=0x8000", "--oformat", "binary"])
    return loader, tramp


def build_probe(work: Path, proto: int = 0x0206, big: bool = True) -> Path:
    script = work / "flat.ld"
    script.write_text(FLAT_LD)
    return assemble(HERE / "probe-kernel.s", work / f"probe-{proto:04x}-{int(big)}.bin",
                    defsyms={"PROTO": proto, "BIG": int(big)},
                    link=["-m", "elf_i386", "-T", str(script), "--oformat", "binary"])


def build_init64(work: Path) -> Path:
    """A static x86_64 /init that prints a marker and powers off."""
    return assemble(HERE / "init64.s", work / "init", as_flags=("--64",),
                    link=["-m", "elf_x86_64", "-static", "-nostdlib", "-e", "_start"])


def bootp_reply(*, yiaddr: str, siaddr: str, router: str | None = None, netmask: str | None = None,
                hostname: str | None = None, root_path: str | None = None, extra: str | None = None,
                device: str | None = None) -> bytes:
    """A BOOTREPLY with the RFC 1048 cookie and the options the first stage reads."""
    pkt = bytearray(236)
    pkt[0:4] = bytes([2, 1, 6, 0])
    pkt[4:8] = b"RNBI"
    pkt[16:20] = socket.inet_aton(yiaddr)
    pkt[20:24] = socket.inet_aton(siaddr)
    pkt[28:34] = bytes.fromhex("525400123456")
    pkt += bytes([99, 130, 83, 99])
    opts = [(53, bytes([5]))]
    if netmask:
        opts.append((1, socket.inet_aton(netmask)))
    if router:
        opts.append((3, socket.inet_aton(router)))
    if hostname:
        opts.append((12, hostname.encode()))
    if root_path:
        opts.append((17, root_path.encode()))
    if extra:
        opts.append((129, extra.encode()))
    if device:
        opts.append((130, device.encode()))
    for code, value in opts:
        pkt += bytes([code, len(value)]) + value
    pkt += b"\xff"
    return bytes(pkt.ljust(300, b"\0"))


def qemu_binary() -> str | None:
    return shutil.which("qemu-system-x86_64")


def run_qemu(args: list[str], marker: str, timeout: float) -> QemuResult:
    """qemu-system-x86_64 with a serial console and no reboot, until *marker* or exit."""
    return guest.run_qemu([qemu_binary() or "qemu-system-x86_64", "-nographic", "-no-reboot", "-monitor", "none",
                           *args], marker, timeout)


def debian_kernel(work: Path) -> Path | None:
    """Extract boot/vmlinuz-* from Debian's current linux-image-amd64 (apt-get download), or None."""
    cached = sorted(glob.glob(str(work / "deb" / "boot" / "vmlinuz-*")))
    if cached:
        return Path(cached[-1])
    if shutil.which("apt-get") is None or shutil.which("apt-cache") is None:
        return None
    deps = subprocess.run(["apt-cache", "depends", "linux-image-amd64"], capture_output=True, text=True)
    names = [ln.split(":", 1)[1].strip() for ln in deps.stdout.splitlines() if ln.strip().startswith("Depends:")]
    pkg = next((n for n in names if n.startswith("linux-image-")), None)
    if pkg is None:
        return None
    deb_dir = work / "deb"
    deb_dir.mkdir(parents=True, exist_ok=True)
    got = subprocess.run(["apt-get", "download", pkg], cwd=deb_dir, capture_output=True, text=True)
    debs = sorted(deb_dir.glob("*.deb"))
    if got.returncode or not debs:
        return None
    tar = subprocess.run(f"dpkg-deb --fsys-tarfile {debs[-1]} | tar -x -C {deb_dir} --wildcards './boot/vmlinuz-*'",
                         shell=True, capture_output=True, text=True)
    cached = sorted(glob.glob(str(deb_dir / "boot" / "vmlinuz-*")))
    return Path(cached[-1]) if tar.returncode == 0 and cached else None


def as_words(data: bytes) -> list[int]:
    return list(struct.unpack(f"<{len(data) // 2}H", data[: len(data) // 2 * 2]))
