"""Programs the tests run, looked up in packages.txt (the one list that ./setup.sh installs):
a test whose program is missing skips, naming the program and the package that provides it.

    need("qemu-system-i386", "busybox")          # inside a test or fixture: skip unless all are there
    @needs("make", "gcc")                        # on a test, a class, or as a module's pytestmark
    need("/usr/lib/ipxe/qemu/efi-rtl8139.rom")   # a file (an absolute path listed in packages.txt)

Asking for a program that packages.txt does not list is an error: add it there (with its
package), so that ./setup.sh installs it and the skip message can name the package.
"""

from __future__ import annotations

import functools
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest

LIST = Path(__file__).resolve().parents[2] / "packages.txt"


@dataclass(frozen=True)
class Entry:
    package: str  # Debian package, or npm:NAME@VERSION
    commands: tuple[str, ...]  # programs on PATH, or absolute paths of files the package installs
    if_missing: bool = False  # PACKAGE? in the list: installed only when one of its commands is missing


@functools.cache
def entries() -> tuple[Entry, ...]:
    out = []
    for line in LIST.read_text().splitlines():
        words = line.split("#", 1)[0].split()
        if words:
            out.append(Entry(words[0].rstrip("?"), tuple(words[1:]), words[0].endswith("?")))
    return tuple(out)


@functools.cache
def provider(command: str) -> Entry:
    for entry in entries():
        if command in entry.commands:
            return entry
    raise LookupError(f"{command!r} is not in {LIST.name}: add it to the line of the package that provides it")


def present(command: str) -> bool:
    return Path(command).exists() if command.startswith("/") else shutil.which(command) is not None


def missing(*commands: str) -> str | None:
    """None when every command is on PATH (every file there), else the reason to skip (what and the package)."""
    absent = [c for c in dict.fromkeys(commands) if not present(c)]
    if not absent:
        return None
    packages = list(dict.fromkeys(provider(c).package for c in absent))
    debian = [p for p in packages if not p.startswith("npm:")]
    hints = ([f"apt-get install {' '.join(debian)}"] if debian else []) + \
        [f"npm install -g {p[4:]}" for p in packages if p.startswith("npm:")]
    return f"{', '.join(absent)} not installed ({'; '.join(hints)}; ./setup.sh installs everything)"


def need(*commands: str) -> None:
    why = missing(*commands)
    if why:
        pytest.skip(why)


def needs(*commands: str) -> pytest.MarkDecorator:
    why = missing(*commands)
    return pytest.mark.skipif(why is not None, reason=why or "")


# what a fake kernel's pipeline runs besides its family's tools (families.toml): the decompressor
FAKE_UNPACKER = {"k24": "bzip2", "modern": "xz"}


def need_pipeline_tools(family: str) -> None:
    """Skip unless what a real `doit` run on a (fake) tree of this family runs is installed: the
    family's tools (families.toml), the tarball's decompressor and patch."""
    from ramsesbuild.family import load_families

    fam = next(f for f in load_families() if f.name == family)
    need(*fam.tools, FAKE_UNPACKER[family], "patch")


@functools.cache
def _private_mounts() -> str | None:
    """Why a private mount namespace cannot be made here (None: it can)."""
    import os
    import subprocess

    if os.geteuid() != 0 or not shutil.which("unshare"):
        return "needs root and unshare(1) (util-linux) for a private mount namespace"
    r = subprocess.run(["unshare", "--mount", "--propagation", "private", "true"], capture_output=True, text=True,
                       check=False, timeout=30)
    if r.returncode != 0:
        return (f"a private mount namespace cannot be made here ({r.stderr.strip()}): / is not a mount "
                "point, as in a plain chroot (bind-mount the root onto itself first)")
    return None


def need_private_mounts() -> None:
    """Skip unless this test can mount a tmpfs (or bind) in a mount namespace of its own."""
    why = _private_mounts()
    if why:
        pytest.skip(why)
