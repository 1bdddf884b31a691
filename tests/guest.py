"""Guest-side helpers for boot tests: a libc-free static i386 /init (needs only gcc and ld,
no multilib), a newc cpio writer (device nodes without root), and a qemu runner that reads
the serial console until a marker appears."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

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


def cpio_newc(entries: list[tuple[str, int, bytes, int]], out: Path) -> Path:
    """entries: (name, mode, data, rdev) with mode incl. file type bits. Writes a newc archive."""
    blob = bytearray()
    for ino, (name, mode, data, rdev) in enumerate(entries + [("TRAILER!!!", 0, b"", 0)], 1):
        nameb = name.encode() + b"\0"
        hdr = "070701" + "".join(f"{v:08X}" for v in (
            ino, mode, 0, 0, 1, 0, len(data), 0, 0, os.major(rdev), os.minor(rdev), len(nameb), 0))
        blob += hdr.encode() + nameb
        blob += b"\0" * (-len(blob) % 4) + data
        blob += b"\0" * (-len(blob) % 4)
    out.write_bytes(bytes(blob))
    return out


def initramfs(workdir: Path, marker: str) -> Path:
    init = build_init(workdir, marker).read_bytes()
    return cpio_newc([
        ("dev", 0o040755, b"", 0),
        ("dev/console", 0o020600, b"", os.makedev(5, 1)),
        ("init", 0o100755, init, 0),
    ], workdir / "initramfs.cpio")


@dataclass
class Boot:
    output: str
    seconds: float
    timed_out: bool


def run_qemu(args: list[str], until: str, timeout: float, log: Path) -> Boot:
    """Run qemu (serial on stdout) until *until* appears or qemu exits or the timeout hits."""
    qemu = shutil.which(args[0])
    if qemu is None:
        raise FileNotFoundError(f"{args[0]} is not installed (apt-get install qemu-system-x86)")
    start = time.monotonic()
    proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    os.set_blocking(proc.stdout.fileno(), False)
    out = bytearray()
    timed_out = False
    while True:
        chunk = proc.stdout.read()
        if chunk:
            out += chunk
            if until.encode() in out:
                break
        if proc.poll() is not None:
            out += proc.stdout.read() or b""
            break
        if time.monotonic() - start > timeout:
            timed_out = True
            break
        time.sleep(0.05)
    if proc.poll() is None:
        proc.kill()
        proc.wait()
    text = out.decode(errors="replace")
    log.write_text(text)
    return Boot(text, time.monotonic() - start, timed_out)


