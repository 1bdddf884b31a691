"""`ramsesbuild boot-test`: stage detection from serial consoles, and its one-line errors.
(Real boots of pipeline-built images: tests/slow/test_boottest.py.)"""

from __future__ import annotations

import contextlib
import io
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ramsesbuild import boottest
from ramsesbuild.errors import BootTestError

from ..lib.support import REPO
from ..lib.tools import need, needs
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


@needs("qemu-system-x86_64")
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


@needs("qemu-system-x86_64")
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


# ------------------------------------------------------------------ issue 19/20: timeouts, --log, signals, stages

def in_process(capsys, *args: str) -> tuple[int, str, str]:
    """`ramsesbuild boot-test ARGS` through the real CLI entry, in this process (no interpreter start)."""
    from ramsesbuild.cli import main

    try:
        rc = main(["boot-test", *args])
    except SystemExit as exc:  # argparse's usage errors
        rc = int(exc.code or 0)
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    return rc, out, err


@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "-1", "0", "soon"])
def test_timeout_must_be_finite_and_positive(tmp_path, capsys, value):
    image = tmp_path / "linux.elf"
    image.write_bytes(b"\x7fELF" + bytes(600))
    rc, out, err = in_process(capsys, str(image), f"--timeout={value}")
    assert rc == 2 and out == "", out + err
    assert f"argument --timeout: {value!r} is not a number of seconds greater than 0" in err.splitlines()[-1]


def test_timeout_is_refused_by_the_api_too(tmp_path):
    with pytest.raises(BootTestError, match="greater than 0"):
        boottest.run(tmp_path / "x", until="init-ran", timeout=math.nan, rom=None, nic=None, memory=64,
                     qemu="qemu-system-x86_64", marker=None, log=None)


@pytest.mark.parametrize("where", ["/proc/version/boot.log", "/proc/boot.log", "DIR"])
def test_log_is_checked_before_qemu_starts(tmp_path, capsys, where):
    image = tmp_path / "linux.elf"
    image.write_bytes(b"\x7fELF" + bytes(600))
    log = str(tmp_path) if where == "DIR" else where
    qemu = tmp_path / "qemu-probe"  # leaves a trace if anything ever starts it
    qemu.write_text(f"#!/bin/sh\ntouch {tmp_path}/qemu-started\n")
    qemu.chmod(0o755)
    rom = fake_rom(tmp_path / "r.rom", 0x10EC, 0x8139)
    rc, out, err = in_process(capsys, str(image), "--log", log, "--qemu", str(qemu), "--rom", str(rom))
    assert rc == 1 and out == "" and len(err.splitlines()) == 1, out + err
    assert err.startswith(f"ramsesbuild boot-test: error: --log {log}: "), err
    assert not (tmp_path / "qemu-started").exists()


def test_a_console_without_mounted_root_reports_no_root_stage():
    """A 6.1 image without an initramfs whose root never mounted: init-ran's "Freeing unused" line
    is seen, root-mounted is not invented (it was '(initramfs: ...)' before)."""
    console = ("x : 5 bytes [NBI]\nLinux version 6.1.0 (ramses@ramsesbuild)\n"
               "IP-Config: No network devices available\nFreeing unused kernel image (initmem) memory: 500K\n")
    r = boottest.scan(console, {}, 1.0, None)
    assert "root-mounted" not in r.reached and "ip-configured" not in r.reached
    out = io.StringIO()
    rc = boottest._print_report(r, "NBI", None, "ip-configured", None, boottest.KernelFacts(), out)
    text = out.getvalue()
    assert rc == 1 and "initramfs" not in text
    assert "  [  ] root-mounted    not on the console" in text
    assert "the kernel found no network device: it has no driver for the emulated NIC" in text.splitlines()[-1]


def write_kconfig(path, *options):
    path.write_text("".join(f"{o}=y\n" for o in options) + "# CONFIG_8139TOO is not set\n")
    return path


def test_nic_and_console_come_from_the_kernel_config(tmp_path, monkeypatch):
    rtl = fake_rom(tmp_path / "rtl.rom", 0x10EC, 0x8139)
    e1000 = fake_rom(tmp_path / "e1000.rom", 0x8086, 0x100E)
    monkeypatch.setenv("RAMSES_IPXE_ROM", f"{rtl}:{e1000}")
    modern = write_kconfig(tmp_path / "modern.config", "CONFIG_E1000", "CONFIG_SERIAL_8250_CONSOLE")
    facts = boottest.KernelFacts(modern, boottest.read_kconfig(modern), "console=ttyS0 ip=rom", "NBI")
    assert facts.drivers() == ["e1000"] and facts.console_problem() is None
    assert boottest.find_rom("NBI", None, None, facts)[:2] == (e1000, "e1000")
    assert boottest.find_rom("NBI", None, None, boottest.KernelFacts())[1] == "rtl8139"  # unknown kernel: as before
    assert boottest.warnings_before_boot(facts, "e1000") == []
    [nic] = boottest.warnings_before_boot(facts, "rtl8139")  # --nic rtl8139 given anyway
    assert "no driver for the rtl8139 NIC (CONFIG_8139TOO is not set" in nic and "use --nic e1000" in nic
    quiet = boottest.KernelFacts(modern, facts.options, "ip=rom rootdir=rom", "NBI")
    assert "has no console=ttyS0: add it to [netboot] append" in quiet.console_problem()
    no_serial = write_kconfig(tmp_path / "k24.config", "CONFIG_8139TOO")
    facts24 = boottest.KernelFacts(no_serial, boottest.read_kconfig(no_serial), "console=ttyS0", "NBI")
    assert "has no serial console" in facts24.console_problem()
    assert "no console=ttyS0" in boottest.KernelFacts(kind="bzImage").console_problem()


# ------------------------------------------------------------------ real qemu: signals (slow)

def qemu_children(parent: int) -> list[int]:
    """Live (not zombie) processes whose parent is *parent* and whose name starts with qemu."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        comm, rest = stat[stat.index("(") + 1:stat.rindex(")")], stat[stat.rindex(")") + 2:].split()
        if comm.startswith("qemu") and int(rest[1]) == parent and rest[0] != "Z":
            found.append(int(entry))
    return found


def alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rindex(")") + 2] != "Z"


def wait_for(predicate, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()


@pytest.fixture
def hanging_boot(tmp_path):
    """A real boot-test whose qemu keeps running: Debian's iPXE loads a garbage ELF as a PXE
    program, which never prints anything. Yields (boot-test process, qemu pid)."""
    need("qemu-system-x86_64", "/usr/lib/ipxe/qemu/efi-rtl8139.rom")
    image = tmp_path / "hang.elf"
    image.write_bytes(b"\x7fELF" + bytes(2000))
    env = {k: v for k, v in os.environ.items() if k != "RAMSES_IPXE_ROM"}
    env.update(XDG_CACHE_HOME=str(tmp_path / "no-roms"), PYTHONPATH=str(REPO))
    proc = subprocess.Popen([sys.executable, "-m", "ramsesbuild.cli", "boot-test", str(image), "--timeout", "120",
                             "--log", str(tmp_path / "console.log")], cwd=tmp_path, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    qemu: list[int] = []
    assert wait_for(lambda: bool(qemu.extend(qemu_children(proc.pid)) or qemu), 30), "qemu never started"
    time.sleep(1.0)  # boot-test is in its loop, qemu in its BIOS or ROM
    yield proc, qemu[0]
    if proc.poll() is None:
        proc.kill()
    proc.communicate()
    with contextlib.suppress(ProcessLookupError):
        os.kill(qemu[0], signal.SIGKILL)


@pytest.mark.slow
@pytest.mark.parametrize("sig,code", [(signal.SIGTERM, 143), (signal.SIGHUP, 129), (signal.SIGINT, 130),
                                      (signal.SIGKILL, -9)], ids=["TERM", "HUP", "INT", "KILL"])
def test_qemu_never_outlives_boot_test(hanging_boot, tmp_path, sig, code):
    proc, qemu = hanging_boot
    os.kill(proc.pid, sig)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == code, out + err
    assert wait_for(lambda: not alive(qemu), 10), f"qemu {qemu} still running after boot-test ended by {sig.name}"
    if sig != signal.SIGKILL:
        assert "Traceback" not in err and err == "", err
        assert out.splitlines()[-1].startswith(f"boot-test: interrupted by {sig.name} after "), out
        assert out.splitlines()[-1].endswith(f"qemu stopped (serial console in {tmp_path / 'console.log'})")
        assert "iPXE" in (tmp_path / "console.log").read_text()  # the console so far is kept


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM], ids=["KILL", "TERM"])
def test_qemu_killed_from_outside_is_named(hanging_boot, sig):
    proc, qemu = hanging_boot
    os.kill(qemu, sig)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 1, out + err
    last = out.splitlines()[-1]
    assert last.startswith("boot-test: did not reach init-ran") and f"qemu exited (signal {int(sig)})" in last, out


def test_the_pipeline_knows_which_config_made_the_image(modern_project, monkeypatch, tmp_path):
    """boot-test finds the .config of the profile that installed the image (by its sha256), so the
    NIC is one the kernel has a driver for; an image the project did not install has none."""
    frag = modern_project.dir / "kconfigs" / "RamsesCluster.conf"
    frag.write_text(frag.read_text() + "#@ family all\nCONFIG_NET_VENDOR_INTEL=y\nCONFIG_E1000=y\n")
    modern_project.doit("netboot-image")
    image = modern_project.dir / "tftpboot" / "vmlinuz-6.1-cluster"
    facts, note = boottest.kernel_facts(image, "NBI", None, modern_project.settings_path)
    assert note is None and facts.config == modern_project.dir / "build" / "client" / "artifacts" / "config"
    assert facts.drivers() == ["e1000"] and facts.command_line.endswith("ramdisk_size=1024")
    assert "has no console=ttyS0: add it to [netboot] append" in facts.console_problem()
    monkeypatch.setenv("RAMSES_IPXE_ROM", f"{fake_rom(tmp_path / 'a.rom', 0x10EC, 0x8139)}:"
                                          f"{fake_rom(tmp_path / 'b.rom', 0x8086, 0x100E)}")
    assert boottest.find_rom("NBI", None, None, facts)[1] == "e1000"
    other = tmp_path / "other.nbi"
    other.write_bytes(image.read_bytes() + b"\0")
    assert boottest.kernel_facts(other, "NBI", None, modern_project.settings_path)[0].config is None
