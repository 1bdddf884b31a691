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

Only stages seen on the console are reported. The exit code is 0 only when the requested stage
(--until, default init-ran) was reached within --timeout seconds (finite and positive).

When the image was installed by a ramsesbuild project (the settings file is ./ramses.toml or
$RAMSES_CONFIG, or --settings), the kernel config that made it is known: the NIC is one the
kernel has a driver for, and a kernel that cannot print on the serial port (no serial console
in the config, or no console=ttyS0 on an NBI image's command line) is named before booting.

qemu never outlives boot-test: it runs in its own process group, which is killed at the end,
on Ctrl-C, SIGTERM and SIGHUP (exit 130, 143, 129, with the stages seen so far), and it dies
with boot-test when boot-test itself is killed (PR_SET_PDEATHSIG). --log is opened before qemu
starts and the whole console is written there, also after an interruption.
"""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TextIO

from . import ipxerom
from .errors import BootTestError, RamsesError

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
    # an initramfs is the root: the kernel runs its /init ("Run /init as init process", 3.x and later)
    Stage("root-mounted", re.compile(r"^.*(VFS: Mounted root \(|Run /init as init process).*$", re.MULTILINE)),
    # 2.4: "Freeing unused kernel memory"; 6.1: "Freeing unused kernel image (initmem) memory"
    Stage("init-ran", re.compile(r"^.*(Run \S+ as init process|"
                                 r"Freeing unused kernel( image)?( \(initmem\))? memory).*$", re.MULTILINE)),
]
FAILURE = re.compile(r"^.*(Kernel panic.*|VFS: Unable to mount root.*|VFS: Insert root floppy.*|"
                     r"VFS: Cannot open root device.*|"
                     r"No working init found.*|No init found.*|ramses-nbi: error.*|"
                     r"No bootable device.*|Could not boot.*|No such file.*\(https?://ipxe.org/\S+\)).*$", re.MULTILINE)

ANSI = re.compile(r"\x1b(\[[0-9;?]*[A-Za-z]|[A-Za-z])")  # terminal control from the BIOS serial mirror
QEMU_SIGNAL = re.compile(r"terminating on signal (\d+)")  # qemu's line when SIGTERM/SIGINT/SIGHUP ends it
# console lines that say why a later stage cannot come, shown with the result
HINTS = (
    (re.compile(r"IP-Config: No network devices available"),
     "the kernel found no network device: it has no driver for the emulated NIC (see --nic)"),
)
SIGNAL_EXIT = {signal.SIGINT: 130, signal.SIGTERM: 143, signal.SIGHUP: 129}
PR_SET_PDEATHSIG = 1


@dataclass(frozen=True)
class Report:
    reached: dict[str, tuple[float, str]]  # stage -> (seconds, console line)
    failure: str | None  # the console line that ended the boot, if any
    output: str
    seconds: float
    qemu_status: int | None = None  # qemu's exit status when it ended by itself (negative: killed by a signal)
    interrupted: int | None = None  # the signal that ended boot-test (SIGINT, SIGTERM, SIGHUP)

    def last(self) -> str | None:
        done = [s for s in STAGES if s in self.reached]
        return done[-1] if done else None


def image_format(data: bytes) -> str:
    if data[:4] == b"\x36\x13\x03\x1b":
        return "NBI"
    if data[:4] == b"\x7fELF":
        return "ELF"
    if len(data) > 0x206 and data[0x202:0x206] == b"HdrS":
        return "bzImage"
    if data.startswith(b"#!ipxe"):
        return "script"
    return "unknown"


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
    fail = FAILURE.search(output)
    return Report(reached, fail.group(0).strip() if fail else None, output, now)


@dataclass(frozen=True)
class KernelFacts:
    """What boot-test knows about the kernel inside an image before booting it."""

    config: Path | None = None  # the .config that made it (from the project that installed the image)
    options: frozenset[str] = frozenset()  # CONFIG_X set to y in it
    command_line: str | None = None  # an NBI image's command line
    kind: str = "unknown"

    def has(self, option: str) -> bool:
        return option in self.options

    def drivers(self) -> list[str]:
        """The qemu NIC models this kernel has a driver for (all of them when the config is unknown)."""
        if self.config is None:
            return list(ipxerom.NICS)
        return [model for model, nic in ipxerom.NICS.items() if self.has(nic.kconfig)]

    def console_problem(self) -> str | None:
        """Why the kernel will print nothing on the serial port, or None."""
        serial = self.has("CONFIG_SERIAL_8250_CONSOLE") or self.has("CONFIG_SERIAL_CONSOLE")
        if self.config is not None and not serial:
            return (f"its kernel config ({self.config}) has no serial console (CONFIG_SERIAL_8250_CONSOLE, 2.4: "
                    "CONFIG_SERIAL_CONSOLE): add it to the profile's fragment")
        if self.kind == "NBI" and self.command_line is not None and "console=ttyS" not in self.command_line:
            return (f"its command line ({self.command_line!r}) has no console=ttyS0: add it to [netboot] append "
                    "(or mknbi-linux --append)")
        if self.kind == "bzImage":
            return ("a plain bzImage gets no command line from this boot, so no console=ttyS0: wrap it with "
                    "`ramsesbuild mknbi-linux --append=console=ttyS0` (or mkelf-linux) to see the kernel")
        return None


def read_kconfig(path: Path) -> frozenset[str]:
    try:
        text = path.read_text(errors="replace")
    except OSError as exc:
        raise BootTestError(f"{path}: cannot read the kernel config: {exc.strerror}") from None
    return frozenset(line.split("=", 1)[0] for line in text.splitlines() if line.endswith("=y"))


def installed_by(image: Path, settings_path: Path) -> Path | None:
    """The kernel config of the profile whose netboot image *image* is (by sha256), in the project
    of *settings_path*; None when that project did not install it."""
    from . import settings as _settings
    from .fsutil import sha256_file
    from .paths import BuildPaths
    from .state import DamagedState, NetbootStamp, read_state

    s = _settings.load(settings_path)
    paths = BuildPaths(s)
    digest = sha256_file(image)
    for prof in s.netboot_profiles:
        pp = paths.profile(prof.name)
        try:
            stamp = read_state(pp.netboot_stamp, NetbootStamp)
        except DamagedState:
            continue  # a damaged record proves nothing: the config stays unknown
        if stamp is not None and digest in (stamp.sha256, stamp.mba_sha256) and pp.config.is_file():
            return pp.config
    return None


def kernel_facts(image: Path, kind: str, kconfig: Path | None, settings_path: Path | None,
                 settings_given: bool = True) -> tuple[KernelFacts, str | None]:
    """What is known about the image's kernel, and a note when an implicit ./ramses.toml could not
    be used (an explicit --settings that cannot be read is an error)."""
    note = None
    if kconfig is None and settings_path is not None and (settings_given or settings_path.is_file()):
        try:
            kconfig = installed_by(image, settings_path)
        except RamsesError as exc:
            if settings_given:
                raise
            note = f"the kernel config is unknown: {exc}"
    line = None
    if kind == "NBI":
        from .nbi.info import nbi_command_line

        line = nbi_command_line(image)
    return KernelFacts(kconfig, read_kconfig(kconfig) if kconfig else frozenset(), line, kind), note


def find_rom(image_kind: str, nic: str | None, rom: Path | None,
             facts: KernelFacts = KernelFacts()) -> tuple[Path | None, str, str]:
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
    wanted = [nic] if nic else (facts.drivers() or list(ipxerom.NICS))
    for model in wanted:
        if model in roms:
            return roms[model], model, f"NBI-capable iPXE ROM {roms[model]}"
    if image_kind == "NBI":
        raise BootTestError(
            "this is an NBI image and no NBI-capable boot ROM was found"
            + (f" for {' or '.join(wanted)}" if wanted != list(ipxerom.NICS) else "")
            + "; Debian's iPXE (ipxe-qemu) loads ELF and bzImage but not NBI: give --rom FILE, set "
              "RAMSES_IPXE_ROM, or build one with `ramsesbuild ipxe-rom IPXE-SOURCE.tar.xz`")
    model = wanted[0]
    stock = STOCK_ROM_DIR / f"efi-{model}.rom"
    if not stock.exists():
        raise BootTestError(f"{stock} missing: apt-get install ipxe-qemu (Debian's iPXE boot ROMs for qemu)")
    return None, model, f"Debian's iPXE ({stock.name}, no NBI)"


def warnings_before_boot(facts: KernelFacts, model: str) -> list[str]:
    out = []
    if facts.config is not None:
        nic = ipxerom.NICS[model]
        if not facts.has(nic.kconfig):
            have = [f"{m} ({n.kconfig})" for m, n in ipxerom.NICS.items() if facts.has(n.kconfig)]
            out.append(f"the kernel has no driver for the {model} NIC ({nic.kconfig} is not set in {facts.config}): "
                       + (f"use --nic {have[0].split()[0]}" if have else
                          f"it has none of {', '.join(n.kconfig for n in ipxerom.NICS.values())}")
                       + "; ip-configured cannot be reached")
    problem = facts.console_problem()
    if problem:
        out.append(f"the kernel will print nothing on the serial console: {problem}")
    return out


def positive_seconds(text: str) -> float:
    """argparse type of --timeout: a finite number of seconds greater than zero."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds greater than 0 (e.g. 120)")
    return value


@contextlib.contextmanager
def log_file(log: Path | None) -> Iterator[IO[str] | None]:
    """The --log file, opened (as a temporary name beside it) before anything boots; renamed into
    place when the block ends, whatever the result. An unwritable place is one line, before qemu."""
    if log is None:
        yield None
        return
    from .fsutil import atomic_writer

    if log.is_dir():
        raise BootTestError(f"--log {log}: is a directory; give a file name")
    with contextlib.ExitStack() as stack:
        try:
            fh = stack.enter_context(atomic_writer(log, "w", perms=0o644))
        except OSError as exc:
            raise BootTestError(f"--log {log}: cannot write there ({exc.strerror}); choose a writable place") from None
        yield fh


def run(image: Path, *, until: str, timeout: float, rom: Path | None, nic: str | None, memory: int,
        qemu: str, marker: str | None, log: Path | None, kconfig: Path | None = None,
        settings_path: Path | None = None, settings_given: bool = True, out: TextIO = sys.stdout) -> int:
    if not (math.isfinite(timeout) and timeout > 0):
        raise BootTestError(f"timeout {timeout!r}: give a number of seconds greater than 0")
    if not image.is_file():
        raise BootTestError(f"{image}: no such image; build one with `doit netboot-image` or "
                            "`ramsesbuild mknbi-linux`")
    kind = image_format(image.read_bytes()[:0x400])
    if kind == "unknown":
        raise BootTestError(f"{image}: not an NBI, ELF or bzImage netboot image")
    if shutil.which(qemu) is None:
        raise BootTestError(f"{qemu} not found: apt-get install qemu-system-x86")
    facts, note = kernel_facts(image, kind, kconfig, settings_path, settings_given)
    rom_file, model, rom_desc = find_rom(kind, nic, rom, facts)
    with log_file(log) as log_fh, tempfile.TemporaryDirectory(prefix="ramses-boot-test-") as tmp:
        tftp = Path(tmp)
        os.symlink(image.resolve(), tftp / image.name)
        device = f"{model},netdev=n0" + (f",romfile={rom_file}" if rom_file else "")
        cmd = [qemu, "-m", str(memory), "-nographic", "-no-reboot", "-monitor", "none", "-boot", "n",
               "-netdev", f"user,id=n0,restrict=on,tftp={tftp},bootfile={image.name}", "-device", device]
        print(f"boot-test: {image} ({kind}) through {rom_desc} on {model}, up to {timeout:g} s", file=out)
        if facts.config is not None:
            print(f"  kernel config: {facts.config}", file=out)
        if note:
            print(f"  note: {note}", file=out)
        warnings = warnings_before_boot(facts, model)
        for warning in warnings:
            print(f"  warning: {warning}", file=out)
        out.flush()
        report = _boot(cmd, until, timeout, marker)
        if log_fh is not None:
            log_fh.write(report.output)
    return _print_report(report, kind, rom_file, until, log, facts, out)


def _die_with_parent() -> Callable[[], None]:
    """preexec_fn: the child gets SIGKILL when boot-test dies, however it dies (Linux prctl)."""
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    parent = os.getpid()

    def preexec() -> None:
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        if os.getppid() != parent:  # boot-test died before prctl took effect
            os._exit(1)

    return preexec


@dataclass
class _Stop:
    """Set by a signal handler: the loop ends, qemu is killed, the report is still printed."""

    signum: int | None = None
    previous: dict[int, object] = field(default_factory=dict)

    def __enter__(self) -> _Stop:
        for sig in SIGNAL_EXIT:
            self.previous[sig] = signal.signal(sig, self._handle)
        return self

    def _handle(self, signum: int, _frame: object) -> None:
        self.signum = self.signum or signum

    def __exit__(self, *exc: object) -> None:
        for sig, handler in self.previous.items():
            signal.signal(sig, handler)  # type: ignore[arg-type]


def _boot(cmd: list[str], until: str, timeout: float, marker: str | None) -> Report:
    start = time.monotonic()
    with _Stop() as stop:
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                start_new_session=True, preexec_fn=_die_with_parent())
        assert proc.stdout is not None
        os.set_blocking(proc.stdout.fileno(), False)
        buf = b""
        times: dict[str, float] = {}
        report = scan("", times, 0.0, marker)
        failed_at: float | None = None
        status: int | None = None
        try:
            while stop.signum is None:
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
                    status = proc.returncode
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
    return Report(report.reached, report.failure, report.output, report.seconds, status, stop.signum)


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


def qemu_ended(report: Report) -> str | None:
    """How qemu ended when it ended by itself: 'qemu exited (signal N)' or with its status."""
    if report.qemu_status is None:
        return None
    if report.qemu_status < 0:
        return f"qemu exited (signal {-report.qemu_status})"
    m = QEMU_SIGNAL.search(report.output)
    if m:
        return f"qemu exited (signal {m.group(1)})"
    if report.qemu_status > 0:
        last = [line for line in report.output.splitlines() if line.strip()][-1:]
        return f"qemu exited with status {report.qemu_status}" + (f": {last[0].strip()}" if last else "")
    return "qemu exited"


def _why(report: Report, kind: str, rom_file: Path | None, facts: KernelFacts) -> str:
    ended = qemu_ended(report)
    if report.failure:
        why = f"; console: {report.failure}"
    elif ended:
        why = f"; {ended} after {report.seconds:.0f} s"
    else:
        why = f" within {report.seconds:.0f} s"
    if ended and report.failure:
        why += f"; {ended}"
    if kind == "NBI" and rom_file is None:
        why += "; the ROM cannot load NBI"
    if "[PXE-NBP]" in report.output:
        why += "; the ROM took the image for a PXE program (no NBI support in this ROM)"
    if "kernel-started" not in report.reached and "rom-loaded" in report.reached:
        problem = facts.console_problem()
        if problem:
            why += f"; the kernel prints nothing on the serial console: {problem}"
    for pattern, hint in HINTS:
        if pattern.search(report.output):
            why += f"; {hint}"
    return why


def _print_report(report: Report, kind: str, rom_file: Path | None, until: str, log: Path | None,
                  facts: KernelFacts, out: TextIO) -> int:
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
    if report.interrupted is not None:
        name = signal.Signals(report.interrupted).name
        print(f"boot-test: interrupted by {name} after {report.seconds:.0f} s (last stage: {report.last() or 'none'}); "
              f"qemu stopped{where}", file=out)
        return SIGNAL_EXIT.get(signal.Signals(report.interrupted), 128 + report.interrupted)
    if reached_ok(report, until):
        print(f"boot-test: reached {until}{where}", file=out)
        return 0
    why = _why(report, kind, rom_file, facts)
    print(f"boot-test: did not reach {until} (last stage: {report.last() or 'none'}){why}{where}", file=out)
    return 1


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="ramsesbuild boot-test",
                                 description="Boot a netboot image in qemu (user networking, TFTP) and report "
                                             "how far it got, from the serial console.")
    ap.add_argument("image", type=Path, help="NBI, ELF or bzImage netboot image")
    ap.add_argument("--until", choices=STAGES, default="init-ran", help="stage that counts as success "
                    "(default %(default)s)")
    ap.add_argument("--timeout", type=positive_seconds, default=120.0,
                    help="seconds, a finite number > 0 (default %(default)g)")
    ap.add_argument("--rom", type=Path, help="iPXE PCI option ROM to boot with (default: $RAMSES_IPXE_ROM, "
                    "the ipxe-rom cache, else Debian's iPXE for non-NBI images)")
    ap.add_argument("--nic", choices=sorted(ipxerom.NICS), help="qemu NIC (default: one the image's kernel "
                    "has a driver for, from its kernel config; else the ROM's)")
    ap.add_argument("--kernel-config", type=Path, help="the .config of the image's kernel (default: found "
                    "through the project that installed the image)")
    ap.add_argument("--settings", type=Path, help="the project's settings file (default: $RAMSES_CONFIG or "
                    "./ramses.toml when there is one)")
    ap.add_argument("--memory", type=int, default=128, help="guest RAM in MiB (default %(default)s)")
    ap.add_argument("--qemu", default="qemu-system-x86_64", help="qemu binary (default %(default)s)")
    ap.add_argument("--marker", help="text your init prints: init-ran is reached when it appears")
    ap.add_argument("--log", type=Path, help="write the whole serial console here (checked before booting)")
    args = ap.parse_args(argv)
    if args.settings is not None and not args.settings.is_file():
        raise BootTestError(f"--settings {args.settings}: no such file")
    settings_path = args.settings or Path(os.environ.get("RAMSES_CONFIG") or "ramses.toml")
    return run(args.image, until=args.until, timeout=args.timeout, rom=args.rom, nic=args.nic, memory=args.memory,
               qemu=args.qemu, marker=args.marker, log=args.log, kconfig=args.kernel_config,
               settings_path=settings_path, settings_given=args.settings is not None)
