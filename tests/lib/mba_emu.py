"""The emulated 3Com MBA hand-off: tests/imggen_emu/harness.S (our boot program playing the ROM's
part of the TCP/IP extended-image hand-off) + the "ROM's" BOOTP reply + an MBA image on one raw
disk, booted in qemu-system-i386 with SeaBIOS, reading the serial console.

What the harness does like the ROM: checks ExTx and +12 against INT 15h AH=88h, puts HeadSize
bytes at 1000:0000 and the rest at 0x110000 (INT 15h AH=87h), far-returns to 1000:0000 with
AX:BX = the BOOTP reply (placed where the test says), CX = 0, DX = 0, interrupts on; optionally
with A20 off. What it does not: BOOTP/DHCP and TFTP on a wire, the ROM's disengage, MBA 4.x's
PXE/UNDI layer.
"""

from __future__ import annotations

import shutil
import socket
import struct
from pathlib import Path

from ramsesbuild.imggen import assemble

from .guest import QemuResult, run_qemu

EMU = Path(__file__).resolve().parents[1] / "data" / "imggen_emu"
QEMU = "qemu-system-i386"
ORIGIN = 0x7C00
BOOTP_BYTES = 1536  # LBA 3-5 of the disk
ROM_SEG_OFFSET = 0x1F6  # rom_seg, rom_off, h_flags, img_sectors in the harness' first sector
A20_OFF = 1


def have_tools() -> str | None:
    """None if qemu and binutils are there, else why the test must skip."""
    if not shutil.which(QEMU):
        return f"{QEMU} not installed (apt-get install qemu-system-x86)"
    if not (assemble.have_binutils() and shutil.which("timeout")):
        return "GNU as/ld (binutils) and timeout (coreutils) are needed"
    return None


def bootp_reply(*, yiaddr: str, siaddr: str, router: str | None = None, netmask: str | None = None,
                hostname: str | None = None, root_path: str | None = None, extra: str | None = None) -> bytes:
    """A DHCPACK as a ROM keeps it: BOOTREPLY, chaddr, file name, RFC 1048 cookie and options."""
    pkt = bytearray(236)
    pkt[0:4] = bytes([2, 1, 6, 0])  # BOOTREPLY, Ethernet, hlen 6, hops 0
    pkt[4:8] = b"3COM"  # xid
    pkt[16:20] = socket.inet_aton(yiaddr)
    pkt[20:24] = socket.inet_aton(siaddr)
    pkt[28:34] = bytes.fromhex("00105a123456")  # a 3Com OUI
    pkt[108:108 + 29] = b"vmlinuz-2.4.18-cluster-imggen"  # file
    pkt += bytes([99, 130, 83, 99])
    opts = [(53, bytes([5])), (54, socket.inet_aton(siaddr))]
    for code, value in ((1, netmask), (3, router)):
        if value:
            opts.append((code, socket.inet_aton(value)))
    for code, text in ((12, hostname), (17, root_path), (129, extra)):
        if text:
            opts.append((code, text.encode()))
    for code, raw in opts:
        pkt += bytes([code, len(raw)]) + raw
    pkt += b"\xff"
    return bytes(pkt.ljust(300, b"\0"))


def disk(work: Path, image: Path, bootp: bytes, *, rom_seg: int = 0x0060, rom_off: int = 0,
         a20_off: bool = False) -> Path:
    """The raw disk: harness, BOOTP reply, then the MBA image."""
    harness = bytearray(assemble.assemble_flat(EMU / "harness.S", ORIGIN))
    img = image.read_bytes()
    sectors = -(-len(img) // 512)
    struct.pack_into("<HHHH", harness, ROM_SEG_OFFSET, rom_seg, rom_off, A20_OFF if a20_off else 0, sectors)
    assert len(bootp) <= BOOTP_BYTES
    out = work / f"{image.name}.disk"
    out.write_bytes(bytes(harness) + bootp.ljust(BOOTP_BYTES, b"\0") + img.ljust(sectors * 512, b"\0"))
    return out


def boot(work: Path, image: Path, bootp: bytes, marker: str, timeout: float, *, memory: int = 128,
         rom_seg: int = 0x0060, rom_off: int = 0, a20_off: bool = False, nic: list[str] | None = None,
         extra: list[str] | None = None, rest_of_line: bool = False) -> QemuResult:
    """Boot *image* through the emulated hand-off until *marker* (or qemu exits, or *timeout*);
    *rest_of_line*: see guest.run_qemu."""
    hd = disk(work, image, bootp, rom_seg=rom_seg, rom_off=rom_off, a20_off=a20_off)
    return run_qemu([QEMU, "-m", str(memory), "-nographic", "-no-reboot", "-monitor", "none",
                     *(nic or ["-nic", "none"]), "-drive", f"file={hd},format=raw,if=ide", "-boot", "c",
                     *(extra or [])], marker, timeout, log=work / f"{image.name}.serial.log",
                    rest_of_line=rest_of_line)
