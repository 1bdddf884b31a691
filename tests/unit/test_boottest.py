"""`ramsesbuild boot-test`: stage detection from serial consoles, and its one-line errors.
(Real boots of pipeline-built images: tests/slow/test_boottest.py.)"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from ramsesbuild import boottest

from ..lib.support import REPO
from .test_ipxerom import fake_rom

K24_CONSOLE = """\
iPXE 2.0.0+ -- Open Source Network Boot Firmware -- https://ipxe.org
net0: 10.0.2.15/255.255.255.0 gw 10.0.2.2
tftp://10.0.2.2/vmlinuz-2.4.18-cluster... ok
vmlinuz-2.4.18-cluster : 1019392 bytes [NBI]
ramses-nbi: starting Linux
Linux version 2.4.18 (ramses@ramsesbuild) (gcc version 12.2.0) #1 Sun Nov 29 21:47:33 UTC 2026
IP-Config: Complete:
      device=eth0, addr=10.0.2.15, mask=255.255.255.0, gw=255.255.255.255,
Looking up port of RPC 100003/2 on 10.0.2.2
VFS: Mounted root (nfs filesystem).
Freeing unused kernel memory: 260k freed
"""


def test_stages_from_a_console():
    r = boottest.scan(K24_CONSOLE, {}, 1.0, None)
    assert list(r.reached) == list(boottest.STAGES)
    assert r.reached["rom-loaded"][1].endswith("[NBI]")
    assert r.reached["root-mounted"][1] == "VFS: Mounted root (nfs filesystem)."
    assert r.failure is None


def test_a_panic_is_the_failure_line():
    console = K24_CONSOLE.split("Looking up")[0] + "VFS: Unable to mount root fs via NFS, trying floppy.\n" \
        "Kernel panic: VFS: Unable to mount root fs on 02:00\n"
    r = boottest.scan(console, {}, 1.0, None)
    assert r.last() == "ip-configured"
    assert r.failure == "VFS: Unable to mount root fs via NFS, trying floppy."


def test_initramfs_counts_as_root_and_marker_as_init():
    console = "x : 5 bytes [ELF]\nLinux version 6.1.0\nRun /init as init process\n"
    assert boottest.scan(console, {}, 1.0, None).last() == "init-ran"
    assert "root-mounted" in boottest.scan(console, {}, 1.0, None).reached
    assert "init-ran" not in boottest.scan(console, {}, 1.0, "MY-INIT-OK").reached
    assert "init-ran" in boottest.scan(console + "MY-INIT-OK\n", {}, 1.0, "MY-INIT-OK").reached


def test_image_formats():
    assert boottest.image_format(b"\x36\x13\x03\x1b" + bytes(60)) == "NBI"
    assert boottest.image_format(b"\x7fELF" + bytes(60)) == "ELF"
    assert boottest.image_format(bytes(0x202) + b"HdrS" + bytes(10)) == "bzImage"
    assert boottest.image_format(b"hello") == "unknown"


def run_cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ramsesbuild.cli", "boot-test", *args], capture_output=True, check=False,
                          text=True, env={**os.environ, "PYTHONPATH": str(REPO), **env}, timeout=60)


@pytest.fixture
def no_roms(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "RAMSES_IPXE_ROM"}
    env["XDG_CACHE_HOME"] = str(tmp_path / "empty-cache")
    return env


def one_error_line(proc: subprocess.CompletedProcess) -> str:
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("ramsesbuild boot-test: error: ")
    return lines[0]


def test_nbi_image_without_nbi_rom_says_why(tmp_path, no_roms):
    image = tmp_path / "vmlinuz.nbi"
    image.write_bytes(b"\x36\x13\x03\x1b" + bytes(600))
    line = one_error_line(subprocess.run(
        [sys.executable, "-m", "ramsesbuild.cli", "boot-test", str(image)], capture_output=True, text=True, check=False,
        env={**no_roms, "PYTHONPATH": str(REPO)}, timeout=60))
    assert "NBI image" in line and "ipxe-qemu" in line and "ramsesbuild ipxe-rom" in line


def test_missing_qemu_names_the_package(tmp_path, no_roms):
    image = tmp_path / "linux.elf"
    image.write_bytes(b"\x7fELF" + bytes(600))
    line = one_error_line(run_cli(str(image), "--qemu", "qemu-system-nonexistent", env=no_roms))
    assert "qemu-system-nonexistent not found: apt-get install qemu-system-x86" in line


def test_missing_image_and_bad_rom(tmp_path, no_roms):
    assert "no such image" in one_error_line(run_cli(str(tmp_path / "nope"), env=no_roms))
    image = tmp_path / "linux.elf"
    image.write_bytes(b"\x7fELF" + bytes(600))
    (tmp_path / "junk.rom").write_bytes(b"junk")
    line = one_error_line(run_cli(str(image), "--rom", str(tmp_path / "junk.rom"), env=no_roms))
    assert "not a PCI option ROM" in line
    rtl = fake_rom(tmp_path / "rtl.rom", 0x10EC, 0x8139)
    assert "ROM for rtl8139, not for --nic e1000" in one_error_line(
        run_cli(str(image), "--rom", str(rtl), "--nic", "e1000", env=no_roms))


def test_console_text_drops_terminal_control():
    raw = b"ramses-nbi: starting Linux\r\n\x1bc\x1b[?7l\x1b[2JLinux version 6.1.192 (x)\r\n\x1b[0;1miPXE\x1b[0m"
    assert boottest.console_text(raw) == "ramses-nbi: starting Linux\nLinux version 6.1.192 (x)\niPXE"
