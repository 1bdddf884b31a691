"""ramses-nfsmount, the 2.4 node root's NFS mounter (ramsesbuild/data/noderoot/nfsmount24.c),
compiled with the build machine's gcc into the root when a Linux 2.4 root is made.

klibc's own nfsmount cannot run on 2.4 (it calls socket(2), which i386 Linux has only since
4.3; 2.4 has socketcall(2)), and glibc programs cannot run there at all; this one uses nothing
but system calls. The flags make the same bytes from the same source and compiler (no build id,
no paths, stripped).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from ..errors import RootError, ToolMissing
from ..pkgdata import DATA

SOURCE = DATA / "noderoot" / "nfsmount24.c"
NAME = "sbin/ramses-nfsmount"  # in the root
FLAGS = ("-m32", "-Os", "-static", "-nostdlib", "-ffreestanding", "-fno-builtin", "-fno-pie", "-no-pie",
         "-fno-stack-protector", "-fno-asynchronous-unwind-tables", "-fcf-protection=none", "-s",
         "-Wl,--build-id=none", "-Wl,-z,noseparate-code", "-Wl,-e,_start")


def compile_into(tree: Path) -> Path:
    """Compile the helper to *tree*/sbin/ramses-nfsmount (written aside, then renamed)."""
    gcc = shutil.which("gcc")
    if gcc is None:
        raise ToolMissing("gcc is missing: apt-get install gcc (it compiles the Linux 2.4 node root's NFS mounter)")
    out = tree / NAME
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.ramses-tmp")
    r = subprocess.run([gcc, *FLAGS, "-o", str(tmp), str(SOURCE)], stdin=subprocess.DEVNULL,
                       capture_output=True, text=True, check=False, env={**os.environ, "LC_ALL": "C"})
    if r.returncode != 0:
        tmp.unlink(missing_ok=True)
        last = (r.stderr.strip().splitlines() or [f"exit status {r.returncode}"])[-1]
        raise RootError(f"compiling {SOURCE.name} with {gcc} -m32 failed: {last} (install gcc and binutils "
                        "with i386 support, as for the 2.4 kernel)")
    os.chmod(tmp, 0o755)
    os.replace(tmp, out)
    return out
