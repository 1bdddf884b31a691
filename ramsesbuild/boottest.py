"""`ramsesbuild boot-test IMAGE`: boot a netboot image in qemu and report how far it got.

qemu gets user-mode networking (restricted: the guest reaches nothing but qemu's own DHCP and
TFTP server) with the image as the DHCP boot file, and a boot ROM:

* an NBI-capable iPXE ROM when one is available: ``--rom``, ``$RAMSES_IPXE_ROM`` or one built
  by ``ramsesbuild ipxe-rom`` (cached per machine);
* otherwise Debian's stock iPXE (package ipxe-qemu), which loads ELF and bzImage images but
  not NBI; an NBI image without an NBI ROM is refused before qemu starts.

The serial console is read for each stage, in order, and one line per stage is printed:

    rom-loaded      the ROM fetched the image over TFTP and recognised its format
    kernel-started  "Linux version ..."
    ip-configured   the kernel's IP-Config finished (from ip= or its own DHCP)
    root-mounted    "VFS: Mounted root (...)" (or an initramfs ran init)
    init-ran        the kernel handed over to init and did not panic (or --marker appeared)

The exit code is 0 only when the requested stage (--until, default init-ran) was reached
within --timeout seconds. qemu always runs in its own process group and is killed at the end.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from . import formats, ipxerom
from .errors import BootTestError

STAGES = ("rom-loaded", "kernel-started", "ip-configured", "root-mounted", "init-ran")
STOCK_ROM_DIR = Path("/usr/lib/ipxe/qemu")
PANIC_GRACE = 3.0  # seconds after init was started in which a panic still counts as "init failed"


@dataclass(frozen=True)
class Stage:
    name: str
    pattern: re.Pattern[str]


PATTERNS = [
    Stage("rom-loaded", re.compile(r"^.*: \d+ bytes \[(NBI|ELF|bzImage|Multiboot|PXE-NBP|script)\].*$", re.MULTILINE)),
    Stage("kernel-started", re.compile(r"^.*Linux version \d.*$", re.MULTILINE)),
    Stage("ip-configured", re.compile(r"^.*(IP-Config: Complete|IP-Config: Got \S+ answer|"
                                      r"IP-Config: Guessing netmask).*$", re.MULTILINE)),
    Stage("root-mounted", re.compile(r"^.*VFS: Mounted root \(.*$", re.MULTILINE)),
    Stage("init-ran", re.compile(r"^.*(Run \S+ as init process|Freeing unused kernel( image)? memory).*$",
                                 re.MULTILINE)),
]
FAILURE = re.compile(r"^.*(Kernel panic.*|VFS: Unable to mount root.*|VFS: Insert root floppy.*|"
                     r"VFS: Cannot open root device.*|"
                     r"No working init found.*|No init found.*|ramses-nbi: error.*|"
                     r"No bootable device.*|Could not boot.*|No such file.*\(https?://ipxe.org/\S+\)).*$", re.MULTILINE)

ANSI = re.compile(r"\x1b(\[[0-9;?]*[A-Za-z]|[A-Za-z])")  # terminal control from the BIOS serial mirror


@dataclass(frozen=True)
class Report:
    reached: dict[str, tuple[float, str]]  # stage -> (seconds, console line)
    failure: str | None  # the console line that ended the boot, if any
    output: str
    seconds: float

    def last(self) -> str | None:
        done = [s for s in STAGES if s in self.reached]
        return done[-1] if done else None


def image_format(data: bytes) -> str:
    """The image's kind as boot-test names it (ramsesbuild.formats); "unknown" for what iPXE
    does not load (a 3Com MBA image, anything else)."""
    kind = formats.sniff(data)
    return kind.label if kind.ipxe_loads else "unknown"


def scan(output: str, times: dict[str, float], now: float, marker: str | None) -> Report:
    """Which stages the console *output* shows (a later stage implies the earlier kernel ones)."""
    reached: dict[str, tuple[float, str]] = {}
    for stage in PATTERNS:
        m = stage.pattern.search(output)
        if stage.name == "init-ran" and marker:
            idx = output.find(marker)
            m = None
            if idx >= 0:
                line_start = output.rfind("\n", 0, idx) + 1
                line_end = output.find("\n", idx)
                reached[stage.name] = (times.setdefault(stage.name, now),
                                       output[line_start:line_end if line_end >= 0 else None].strip())
            continue
        if m:
            reached[stage.name] = (times.setdefault(stage.name, now), m.group(0).strip())
    if "init-ran" in reached and "root-mounted" not in reached:  # initramfs: no "Mounted root"
        reached["root-mounted"] = (reached["init-ran"][0], "(initramfs: init started from it)")
    fail = FAILURE.search(output)
    return Report(reached, fail.group(0).strip() if fail else None, output, now)


def find_rom(image_kind: str, nic: str | None, rom: Path | None) -> tuple[Path | None, str, str]:
    """(ROM file or None for qemu's stock one, NIC model, description)."""
    if rom is not None:
        if not rom.is_file():
            raise BootTestError(f"{rom}: no such boot ROM file")
        found = ipxerom.nic_for_rom(rom)
        if found is None:
            known = ", ".join(f"{n.rom_name} ({n.qemu_device})" for n in ipxerom.NICS.values())
            raise BootTestError(f"{rom}: not a PCI option ROM for a NIC this test can emulate; use one of {known}")
        if nic and nic != found.qemu_device:
            raise BootTestError(f"{rom} is a ROM for {found.qemu_device}, not for --nic {nic}")
        return rom, found.qemu_device, f"iPXE ROM {rom}"
    ipxerom.check_given_roms()
    roms = ipxerom.find_roms()
    wanted = [nic] if nic else ["rtl8139", "e1000"]
    for model in wanted:
        if model in roms:
            return roms[model], model, f"NBI-capable iPXE ROM {roms[model]}"
    if image_kind == "NBI":
        raise BootTestError(
            "this is an NBI image and no NBI-capable boot ROM was found"
            + (f" for --nic {nic}" if nic else "")
            + "; Debian's iPXE (ipxe-qemu) loads ELF and bzImage but not NBI: give --rom FILE, set "
              "RAMSES_IPXE_ROM, or build one with `ramsesbuild ipxe-rom IPXE-SOURCE.tar.xz`")
    model = nic or "rtl8139"
    stock = STOCK_ROM_DIR / f"efi-{model}.rom"
    if not stock.exists():
        raise BootTestError(f"{stock} missing: apt-get install ipxe-qemu (Debian's iPXE boot ROMs for qemu)")
    return None, model, f"Debian's iPXE ({stock.name}, no NBI)"


def run(image: Path, *, until: str, timeout: float, rom: Path | None, nic: str | None, memory: int,
        qemu: str, marker: str | None, log: Path | None, out=sys.stdout) -> int:
    if not image.is_file():
        raise BootTestError(f"{image}: no such image; build one with `doit netboot-image` or "
                            "`ramsesbuild mknbi-linux`")
    kind = image_format(image.read_bytes()[:0x400])
    if kind == "unknown":
        raise BootTestError(f"{image}: not an NBI, ELF or bzImage netboot image")
    if shutil.which(qemu) is None:
        raise BootTestError(f"{qemu} not found: apt-get install qemu-system-x86")
    rom_file, model, rom_desc = find_rom(kind, nic, rom)
    with tempfile.TemporaryDirectory(prefix="ramses-boot-test-") as tmp:
        tftp = Path(tmp)
        os.symlink(image.resolve(), tftp / image.name)
        device = f"{model},netdev=n0" + (f",romfile={rom_file}" if rom_file else "")
        cmd = [qemu, "-m", str(memory), "-nographic", "-no-reboot", "-monitor", "none", "-boot", "n",
               "-netdev", f"user,id=n0,restrict=on,tftp={tftp},bootfile={image.name}", "-device", device]
        print(f"boot-test: {image} ({kind}) through {rom_desc} on {model}, up to {timeout:.0f} s", file=out)
        report = _boot(cmd, until, timeout, marker)
    if log is not None:
        log.write_text(report.output)
    return _print_report(report, kind, rom_file, until, log, out)


def _boot(cmd: list[str], until: str, timeout: float, marker: str | None) -> Report:
    start = time.monotonic()
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            start_new_session=True)
    assert proc.stdout is not None
    os.set_blocking(proc.stdout.fileno(), False)
    buf = b""
    times: dict[str, float] = {}
    report = scan("", times, 0.0, marker)
    failed_at: float | None = None
    try:
        while True:
            now = time.monotonic() - start
            chunk = proc.stdout.read()
            if chunk:
                buf += chunk
            report = scan(console_text(buf), times, now, marker)
            if report.failure and failed_at is None:
                failed_at = now
            if _done(report, until, marker, now) or (failed_at is not None and now - failed_at > 1.0):
                break
            if proc.poll() is not None and not chunk:
                break
            if now > timeout:
                break
            if not chunk:
                time.sleep(0.05)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        proc.stdout.close()
    return report


def console_text(raw: bytes) -> str:
    """Serial bytes as plain lines: no carriage returns, no terminal escape sequences."""
    return ANSI.sub("", raw.decode("utf-8", "replace").replace("\r", ""))


def _done(report: Report, until: str, marker: str | None, now: float) -> bool:
    if until not in report.reached:
        return False
    if until != "init-ran" or marker:
        return True
    # init was started: it counts once it has not panicked for a moment
    return now - report.reached["init-ran"][0] >= PANIC_GRACE and report.failure is None


def reached_ok(report: Report, until: str) -> bool:
    if until not in report.reached:
        return False
    return not (until == "init-ran" and report.failure is not None)


NOTES = re.compile(r"^.*(ramses-nbi: warning: .*|ramses-nbi: error: .*)$", re.MULTILINE)


def _print_report(report: Report, kind: str, rom_file: Path | None, until: str, log: Path | None, out) -> int:
    for note in dict.fromkeys(m.group(1).strip() for m in NOTES.finditer(report.output)):
        print(f"  note: {note}", file=out)  # what our first stage said about the command line
    for stage in STAGES:
        if stage == "init-ran" and report.failure and stage in report.reached:
            print(f"  [!!] {stage:<15} init started but then: {report.failure}", file=out)
        elif stage in report.reached:
            t, line = report.reached[stage]
            print(f"  [ok] {stage:<15} {t:5.1f} s  {line[:110]}", file=out)
        elif any(later in report.reached for later in STAGES[STAGES.index(stage) + 1:]):
            print(f"  [  ] {stage:<15} not on the console (the boot went on without it)", file=out)
        else:
            print(f"  [--] {stage:<15} not reached", file=out)
    where = f" (serial console in {log})" if log else ""
    if reached_ok(report, until):
        print(f"boot-test: reached {until}{where}", file=out)
        return 0
    why = f"; console: {report.failure}" if report.failure else f" within {report.seconds:.0f} s"
    if kind == "NBI" and rom_file is None:
        why += "; the ROM cannot load NBI"
    if "[PXE-NBP]" in report.output:
        why += "; the ROM took the image for a PXE program (no NBI support in this ROM)"
    print(f"boot-test: did not reach {until} (last stage: {report.last() or 'none'}){why}{where}", file=out)
    return 1


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="ramsesbuild boot-test",
                                 description="Boot a netboot image in qemu (user networking, TFTP) and report "
                                             "how far it got, from the serial console.")
    ap.add_argument("image", type=Path, help="NBI, ELF or bzImage netboot image")
    ap.add_argument("--until", choices=STAGES, default="init-ran", help="stage that counts as success "
                    "(default %(default)s)")
    ap.add_argument("--timeout", type=float, default=120, help="seconds (default %(default)s)")
    ap.add_argument("--rom", type=Path, help="iPXE PCI option ROM to boot with (default: $RAMSES_IPXE_ROM, "
                    "the ipxe-rom cache, else Debian's iPXE for non-NBI images)")
    ap.add_argument("--nic", choices=sorted(ipxerom.NICS), help="qemu NIC (default: the ROM's; rtl8139 for "
                    "2.4 clients, e1000 for the modern client config)")
    ap.add_argument("--memory", type=int, default=128, help="guest RAM in MiB (default %(default)s)")
    ap.add_argument("--qemu", default="qemu-system-x86_64", help="qemu binary (default %(default)s)")
    ap.add_argument("--marker", help="text your init prints: init-ran is reached when it appears")
    ap.add_argument("--log", type=Path, help="write the whole serial console here")
    args = ap.parse_args(argv)
    return run(args.image, until=args.until, timeout=args.timeout, rom=args.rom, nic=args.nic, memory=args.memory,
               qemu=args.qemu, marker=args.marker, log=args.log)
