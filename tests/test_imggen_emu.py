"""Slow: an MBA image made by `ramsesbuild imggen` boots a floppy payload in QEMU.

No 3Com ROM runs here. tests/imggen_emu/harness.S is our boot sector playing the ROM's part of
the TCP/IP extended-image hand-off (header at 1000:0000, the rest at 0x110000, far return to
1000:0000 with AX/BX pointing at a BOOTP reply). tests/imggen_emu/payload.S is a floppy boot
sector that probes the virtual drive A: through INT 13h and reports on COM1.

What a pass proves, for the clean-room header: entered the way the reference describes the ROM
entering it, it takes 2 KB of base memory, hooks INT 13h there, boots the payload's sector 0 at
0000:7C00 with DL=0, maps every CHS address of the 1.44 MB disk to the right 512 bytes at
0x110000 (checksum over all 2880 sectors, read track by track as Linux 2.4's bootsect does),
keeps working after 1000:0000 is overwritten, gives AH=04 outside the disk, AH=03 on a
write-protected disk (and writes through when --writable), reports 80x2x18 for AH=08, hands
out its copy of the BOOTP reply through AH=FAh and passes other drives to the BIOS.
What it does not prove: that a real MBA/BootWare ROM downloads and enters the image as the
harness does (no ROM, no TFTP), MBA 4.x / PXE-stack behaviour, or a real 2.4 kernel boot.
With RAMSES_IMGGEN=/path/to/imggen (v0.02) the same payload also runs under the original 3Com
header, which checks the harness against the header the ROM contract was read from.
"""

from __future__ import annotations

import os
import re
import shutil
import struct
import subprocess
from pathlib import Path

import pytest

from ramsesbuild import cli
from ramsesbuild.imggen import assemble

from . import mba_emu

pytestmark = pytest.mark.slow

EMU = Path(__file__).resolve().parent / "imggen_emu"
QEMU = "qemu-system-i386"
ORIGIN = 0x7C00
PROG_SECTORS = 3
WRITE_LBA = 2000


def pattern_disk(program: bytes) -> bytearray:
    """The payload floppy: the test program, then sector n starting with the word n."""
    assert len(program) == PROG_SECTORS * 512
    disk = bytearray(program)
    for n in range(PROG_SECTORS, 2880):
        disk += struct.pack("<H", n) + bytes((n * 7 + i) & 0xFF for i in range(510))
    return disk


def fletcher(disk: bytes) -> tuple[int, int]:
    s1 = s2 = 0
    for (w,) in struct.iter_unpack("<H", disk):
        s1 = (s1 + w) & 0xFFFF
        s2 = (s2 + s1) & 0xFFFF
    return s1, s2


def run_harness(tmp_path: Path, image: Path) -> tuple[int, str]:
    disk = mba_emu.disk(tmp_path, image, b"RAMSES-FAKE-BOOTP", rom_seg=0x0060, rom_off=0)
    proc = subprocess.run(
        ["timeout", "90", QEMU, "-m", "64", "-nographic", "-no-reboot", "-nic", "none",
         "-drive", f"file={disk},format=raw,if=ide", "-boot", "c",
         "-device", "isa-debug-exit,iobase=0xf4,iosize=0x04"],
        capture_output=True, stdin=subprocess.DEVNULL, timeout=120)
    return proc.returncode, proc.stdout.decode("latin-1").replace("\r", "")


REPORTS = {  # key: what the payload (or, for H, the harness) prints; searched anywhere, since
    "H": r"H:handoff BASEKB=(\w{4})",  # SeaBIOS may still be printing when the boot sector starts
    "P": r"P:(DL=\w\w BASEKB=\w{4} EQUIP=\w{4} I13=\w{4}:\w{4})",
    "G": r"G (C\w{4} D\w{4} B\w{4})",
    "Q": r"Q (C\w{4} .{16})",
    "S": r"S (\w{4}\.\w{4} F\w{4})",
}


def parse(log: str) -> dict[str, str]:
    """The payload's report: one entry per INT 13h test tag, plus the REPORTS keys."""
    out = {m[1]: m[2] for m in re.finditer(r"T (\w\w) (F\d A\w{4} W\w{4}\.\w{4}\.\w{4})", log)}
    for key, pattern in REPORTS.items():
        if m := re.search(pattern, log):
            out[key] = m[1]
    return out


@pytest.fixture(scope="module")
def tools():
    if not shutil.which(QEMU):
        pytest.skip(f"{QEMU} not installed (apt-get install qemu-system-x86)")
    if not (assemble.have_binutils() and shutil.which("timeout")):
        pytest.skip("GNU as/ld (binutils) and timeout (coreutils) are needed")


HEADERS = ["clean-room", "clean-room --writable", "original 3Com (RAMSES_IMGGEN)"]


@pytest.mark.parametrize("kind", HEADERS)
def test_mba_image_boots_floppy_payload(tools, tmp_path, kind):
    flags: list[str] = []
    if kind.startswith("original"):
        if not os.environ.get("RAMSES_IMGGEN"):
            pytest.skip("set RAMSES_IMGGEN=/path/to/imggen (v0.02) to run the original header too")
        flags = ["--imggen", os.environ["RAMSES_IMGGEN"]]
    elif "--writable" in kind:
        flags = ["--writable"]
    writable = "--writable" in flags
    disk = pattern_disk(assemble.assemble_flat(EMU / "payload.S", ORIGIN))
    payload = tmp_path / "floppy.img"
    payload.write_bytes(disk)
    image = tmp_path / "test.mba"
    assert cli.main(["imggen", "-a", *flags, str(payload), str(image)]) == 0

    rc, log = run_harness(tmp_path, image)
    r = parse(log)
    assert rc == 3 and "P:done" in log, f"no clean end (qemu rc {rc}):\n{log}"

    base = int(r["H"], 16)
    m = re.fullmatch(r"DL=(\w\w) BASEKB=(\w{4}) EQUIP=(\w{4}) I13=(\w{4}):(\w{4})", r["P"])
    assert m, log
    assert m[1] == "00"  # booted as drive A:
    assert int(m[2], 16) == base - 2  # 2 KB taken for the resident INT 13h handler
    assert int(m[3], 16) & 1  # equipment word: a floppy drive is installed
    assert int(m[4], 16) == (base - 2) * 64  # the handler lives in that memory

    assert r["RS"] == "F0 A0000 WFFFF.FFFF.FFFF"  # reset
    assert r["RA"] == "F0 A0001 W0012.FFFF.FFFF"  # C0 H1 S1 -> LBA 18
    assert r["RB"] == "F0 A0001 W0026.FFFF.FFFF"  # C1 H0 S3 -> LBA 38
    assert r["RC"] == "F0 A0003 W0003.0004.0005"  # 3 sectors in one call
    assert r["RL"] == "F0 A0001 W0B3F.FFFF.FFFF"  # the last sector, LBA 2879
    assert r["RH"] == "F0 A0001 W0060.FFFF.FFFF"  # into a buffer above 64 KB
    assert r["ES"].startswith("F1 A04")  # sector 19 does not exist
    assert r["EC"].startswith("F1 A04")  # neither does cylinder 80
    assert r["HD"] == "F0 A0001 W31FA.FFFF.FFFF"  # drive 80h goes to the BIOS: the harness' sector
    if writable:
        assert r["WR"] == "F0 A0001 WBEEF.BEEF.BEEF"
        assert r["RW"] == "F0 A0001 WBEEF.FFFF.FFFF"  # the write reached the RAM disk
        disk[WRITE_LBA * 512:(WRITE_LBA + 1) * 512] = b"\xef\xbe" * 256  # the buffer written
    else:
        assert r["WR"].startswith("F1 A03")  # write-protected
        assert r["RW"] == f"F0 A0001 W{WRITE_LBA:04X}.FFFF.FFFF"  # unchanged
    s1, s2 = fletcher(disk)
    assert r["S"] == f"{s1:04X}.{s2:04X} F0000", "whole-disk read back differs from the payload"
    assert r["Q"] == "C5043 RAMSES-FAKE-BOOT"  # AH=FAh: 'PC' and the copied BOOTP reply
    if not flags or writable:
        assert r["VF"] == "F0 A0001 WFFFF.FFFF.FFFF"
        assert r["G"] == "C4F12 D0101 B0004"  # 80 cylinders, 18 sectors, 2 heads, 1 drive, 1.44 MB
