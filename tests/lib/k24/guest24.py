"""Guest side of the Linux 2.4 boot tests: the libc-free /init (tests/lib/k24/init.c), an ext2
initrd holding it, an NFS root directory holding it, and the markers it prints."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[2]
INIT_C = HERE / "init.c"
NFSBOOT = REPO / "tools" / "k24" / "nfsboot.py"



def real_tarball(purpose: str) -> Path:
    """The real linux-2.4.18 tarball from $RAMSES_K24_TARBALL; skip (CI) or fail (bad path)."""
    value = os.environ.get("RAMSES_K24_TARBALL")
    if not value:
        pytest.skip(f"set RAMSES_K24_TARBALL=/path/to/linux-2.4.18.tar.bz2 to {purpose} "
                    "(kernel.org is not reachable from CI; see docs/howto/linux-2.4.18.md)")
    path = Path(value)
    if not path.is_file():
        pytest.fail(f"RAMSES_K24_TARBALL={value}: no such file")
    return path


# What tests/lib/k24/init.c prints, in order, when everything works.
MARKERS_IN_ORDER = ["RAMSES-K24-INIT start", "RAMSES-K24-UNAME 2.4.18 i686", "RAMSES-K24-ROOT ",
                    "RAMSES-K24-FORK 42", "RAMSES-K24-FILE ok", "RAMSES-K24-DONE"]
DONE = "RAMSES-K24-DONE"


def build_init(workdir: Path) -> Path:
    """Compile tests/lib/k24/init.c to a static ELF32 i386 executable (no 32-bit libc needed)."""
    workdir.mkdir(parents=True, exist_ok=True)
    obj, out = workdir / "init.o", workdir / "init"
    subprocess.run(["gcc", "-m32", "-Os", "-Wall", "-Werror", "-ffreestanding", "-fno-pie", "-fno-stack-protector",
                    "-fno-asynchronous-unwind-tables", "-fcf-protection=none", "-nostdlib",
                    "-c", str(INIT_C), "-o", str(obj)], check=True)
    subprocess.run(["ld", "-m", "elf_i386", "-static", "-z", "noseparate-code", "-e", "_start",
                    "-o", str(out), str(obj)], check=True)
    return out


def populate_root(root: Path, init: Path) -> Path:
    """A root file system tree: /init, /dev/console (5,1), /proc. Device nodes need root."""
    (root / "dev").mkdir(parents=True, exist_ok=True)
    (root / "proc").mkdir(exist_ok=True)
    shutil.copy(init, root / "init")
    (root / "init").chmod(0o755)
    console = root / "dev" / "console"
    if not console.exists():
        subprocess.run(["mknod", "-m", "600", str(console), "c", "5", "1"], check=True)
    return root


def ext2_initrd(root: Path, out: Path, size_kb: int = 1024) -> Path:
    """An uncompressed ext2 revision-0 image of *root* (what a 2.4 kernel's initrd code and
    ext2 driver read without any optional feature)."""
    subprocess.run(["mke2fs", "-q", "-F", "-t", "ext2", "-r", "0", "-d", str(root), str(out), str(size_kb)],
                   check=True, capture_output=True)
    return out


def check_markers(output: str) -> list[str]:
    """Problems with the console output of one boot (empty list = the guest did everything)."""
    problems = []
    pos = 0
    for m in MARKERS_IN_ORDER:
        i = output.find(m, pos)
        if i < 0:
            problems.append(f"missing {m!r}")
        else:
            pos = i
    if "RAMSES-K24-FAIL" in output:
        problems.append("init reported: " + output[output.find("RAMSES-K24-FAIL"):].splitlines()[0])
    return problems
