"""Guest-side helpers shared by the boot tests: a libc-free static i386 /init (needs only gcc
and ld, no multilib), a newc cpio writer (device nodes without root), and a qemu runner that
reads the serial console until a marker appears."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO

INIT_C = r"""
/* Minimal i386 init: print a marker on the console, then reboot (qemu -no-reboot exits). */
static long sys3(long n, long a, long b, long c) {
    long r;
    __asm__ volatile ("int $0x80" : "=a"(r) : "a"(n), "b"(a), "c"(b), "d"(c) : "memory");
    return r;
}
static unsigned slen(const char *s) { unsigned n = 0; while (s[n]) n++; return n; }
static void say(const char *s) { sys3(4, 1, (long)s, slen(s)); }
void _start(void) {
    int fd = sys3(5, (long)"/dev/console", 2, 0);   /* open(O_RDWR) */
    if (fd >= 0) { sys3(63, fd, 0, 0); sys3(63, fd, 1, 0); sys3(63, fd, 2, 0); }  /* dup2 */
    say("\n@@MARKER@@\n");
    sys3(88, 0xfee1dead, 672274793, 0x01234567);    /* reboot(LINUX_REBOOT_CMD_RESTART) */
    for (;;) ;
}
"""


def build_init(workdir: Path, marker: str) -> Path:
    """Compile the libc-free init for i386 (ELF32, static, no dynamic loader)."""
    workdir.mkdir(parents=True, exist_ok=True)
    src, obj, out = workdir / "init.c", workdir / "init.o", workdir / "init"
    src.write_text(INIT_C.replace("@@MARKER@@", marker))
    subprocess.run(["gcc", "-m32", "-Os", "-ffreestanding", "-fno-pic", "-fno-stack-protector",
                    "-fcf-protection=none", "-fno-asynchronous-unwind-tables", "-c", "-o", str(obj), str(src)],
                   check=True)
    subprocess.run(["ld", "-m", "elf_i386", "-static", "-e", "_start", "-o", str(out), str(obj)], check=True)
    return out


def cpio_newc(entries: list[tuple[str, int, bytes, tuple[int, int]]]) -> bytes:
    """entries: (name, mode incl. file-type bits, data, (rdev major, minor)) -> a newc archive.
    Device nodes need no root: they are only bytes in the archive."""
    out = bytearray()
    for ino, (name, mode, data, (major, minor)) in enumerate([*entries, ("TRAILER!!!", 0, b"", (0, 0))], 1):
        raw = name.encode() + b"\0"
        fields = [ino, mode, 0, 0, 1, 0, len(data), 0, 0, major, minor, len(raw), 0]
        out += b"070701" + b"".join(f"{f:08x}".encode() for f in fields) + raw
        out += bytes(-len(out) % 4)
        out += data
        out += bytes(-len(out) % 4)
    return bytes(out + bytes(-len(out) % 512))


def initramfs_with(init: bytes) -> bytes:
    """An initramfs holding /dev/console and *init* as /init."""
    return cpio_newc([
        ("dev", 0o040755, b"", (0, 0)),
        ("dev/console", 0o020600, b"", (5, 1)),
        ("init", 0o100755, init, (0, 0)),
    ])


def initramfs(workdir: Path, marker: str) -> Path:
    """initramfs.cpio in *workdir* whose i386 /init prints *marker* and reboots."""
    out = workdir / "initramfs.cpio"
    out.write_bytes(initramfs_with(build_init(workdir, marker).read_bytes()))
    return out


def _after_marker(stream: IO[bytes], buf: bytes, marker: bytes, rest_of_line: bool, settle: float = 0.5) -> bytes:
    """What the guest prints within *settle* seconds after the marker (the marker's line once it
    ends, with *rest_of_line*)."""
    more = b""
    deadline = time.monotonic() + settle
    while time.monotonic() < deadline:
        if rest_of_line and b"\n" in (buf + more)[(buf + more).index(marker):]:
            break
        time.sleep(0.02)
        more += stream.read() or b""
    return more


@dataclass(frozen=True)
class QemuResult:
    output: str
    found: bool  # the marker appeared
    seconds: float


def run_qemu(args: list[str], marker: str, timeout: float, log: Path | None = None,
             rest_of_line: bool = False) -> QemuResult:
    """Run the qemu command *args* (serial console on stdout) under a hard timeout, until
    *marker* appears or qemu exits; the whole serial output is kept (and written to *log*).
    After the marker, the output is read for another half second (the lines after it, and time
    for what must not come); with *rest_of_line*, only until the marker's line ends (at most
    that half second), for a caller that reads nothing past that line."""
    if shutil.which(args[0]) is None:
        raise FileNotFoundError(f"{args[0]} is not installed (apt-get install qemu-system-x86)")
    cmd = ["timeout", "-k", "5", str(int(timeout) + 5), *args]
    start = time.monotonic()
    # Own session: killing the group reaches qemu too (killing `timeout` alone would orphan it).
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            start_new_session=True)
    assert proc.stdout is not None
    os.set_blocking(proc.stdout.fileno(), False)
    buf = b""
    found = False
    try:
        while time.monotonic() - start < timeout:
            chunk = proc.stdout.read()
            if chunk:
                buf += chunk
                if marker.encode() in buf:
                    found = True
                    buf += _after_marker(proc.stdout, buf, marker.encode(), rest_of_line)
                    break
            elif proc.poll() is not None:
                buf += proc.stdout.read() or b""
                found = marker.encode() in buf
                break
            else:
                time.sleep(0.05)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    text = buf.decode("utf-8", "replace")
    if log is not None:
        log.write_text(text)
    return QemuResult(text, found, time.monotonic() - start)
