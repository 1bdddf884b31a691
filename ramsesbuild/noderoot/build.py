"""Build a node class's base root: mmdebstrap (Debian's tool: apt checks every package's
signature chain) into a directory beside the live root, finish it there, rename it into place.

A failed or interrupted build leaves the live root as it was (a full disk included): the new
tree only ever replaces the old one whole, by rename, once it is complete.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ..errors import RootError, RootSettingError, ToolMissing, os_error_message
from ..fsutil import TEMP_MARK, replace_dir
from .finish import finish
from .spec import RootKind, RootSpec

DIVERT_INIT = 'chroot "$1" dpkg-divert --quiet --local --rename --add /sbin/init'
DEBS_LIST = ".ramses-debs"  # an extract-only root has no dpkg status: the .deb names say what is in it
LIST_DEBS = f'cd "$1"/var/cache/apt/archives && ls *.deb > "$1"/{DEBS_LIST}'


def command(spec: RootSpec, target: Path) -> list[str]:
    """The mmdebstrap command line for *spec* (the same one `bench/noderoots.py` runs by hand)."""
    cmd = ["mmdebstrap", f"--architectures={spec.architecture}",
           f"--include={','.join(spec.package_list)}"]
    if spec.kind is RootKind.KLIBC:
        # unpacked only: no maintainer script needs to run
        cmd += ["--variant=extract", f"--extract-hook={LIST_DEBS}"]
    else:
        cmd += ["--variant=minbase", f"--customize-hook={DIVERT_INIT}"]
    return [*cmd, spec.suite, str(target), spec.mirror]


def environment(spec: RootSpec) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LC_", "LANG"))}
    return {**env, "SOURCE_DATE_EPOCH": str(spec.source_date_epoch), "LC_ALL": "C.UTF-8", "TZ": "UTC"}


_PACKAGE = re.compile(r"E: Unable to locate package (\S+)|E: Package '([^']+)' has no installation candidate|"
                      r"Couldn't find any package by (?:glob|regex) '([^']+)'")
# most telling first: the cause (name, connection, signature) before the symptom (fetch failed)
_SOURCE = [re.compile(p) for p in (r"(Could not resolve '[^']+')", r"(Temporary failure resolving '[^']+')",
                                   r"(Could not connect to \S+)", r"(Unable to connect to \S+)",
                                   r"(NO_PUBKEY \w+)", r"(The repository '[^']+' is not signed)",
                                   r"(The repository '[^']+' does not have a Release file)",
                                   r"(Failed to fetch \S+)")]


def explain(spec: RootSpec, output: str) -> tuple[str, str | None]:
    """One line for a failed mmdebstrap: the package or the package source it could not use, and
    the [profile.X.root] key to fix (None when no setting is at fault)."""
    source = spec.mirror
    m = _PACKAGE.search(output)
    if m:
        pkg = next(g for g in m.groups() if g)
        return (f"package {pkg!r} does not exist in {spec.suite} ({source}, {spec.architecture}); fix the "
                f"class {spec.name!r} package list", "packages")
    for pattern in _SOURCE:
        m = pattern.search(output)
        if m:
            return (f"cannot use the package source {source}: {m.group(1)}; check the mirror URL and the "
                    "network", "mirror")
    if "No space left on device" in output:
        return "no space left on the device; free space and run again (the old root is kept)", None
    errors = [line for line in output.splitlines() if line.startswith("E:")]
    return errors[-1] if errors else (output.strip().splitlines() or ["mmdebstrap failed"])[-1], None


@dataclass(frozen=True)
class Built:
    root: Path
    packages: dict[str, str]  # name -> version, from the tree's dpkg status


Runner = Callable[[list[str], dict[str, str], Callable[[str], None]], tuple[int, str]]


def run_logged(cmd: list[str], env: dict[str, str], log: Callable[[str], None]) -> tuple[int, str]:
    """Run *cmd*, every output line to *log*; returns (exit status, whole output). In its own
    process group, as make: on an interrupt it gets the signal and is waited for (it unmounts
    what it mounted in the new tree) before the run cleans up and ends (ramsesbuild.interrupt)."""
    from ..interrupt import own_group
    from ..lock import inherited

    lines = []
    proc = subprocess.Popen(cmd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, errors="replace", process_group=0,
                            pass_fds=inherited())  # an orphaned mmdebstrap keeps the project lock
    with own_group(proc):
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line)
            log(line.rstrip("\n"))
        status = proc.wait()
    return status, "".join(lines)


def mounts_below(tree: Path) -> list[Path]:
    """The mount points at or below *tree* (this process's /proc/self/mountinfo), deepest first."""
    top = os.path.realpath(tree)
    try:
        with open("/proc/self/mountinfo", encoding="utf-8", errors="surrogateescape") as fh:
            points = [re.sub(r"\\([0-7]{3})", lambda m: chr(int(m[1], 8)), line.split(" ")[4]) for line in fh]
    except OSError:
        return []
    return [Path(m) for m in sorted(points, key=len, reverse=True) if m == top or m.startswith(top + "/")]


def remove_tree(tree: Path) -> None:
    """Remove a half-built root. A killed mmdebstrap (root mode) leaves /proc, /sys, /dev/pts
    and /dev/shm mounted in it: those are unmounted first, and the tree is never removed across
    a mount that stays (RootError naming it)."""
    if not os.path.lexists(tree):
        return
    for point in mounts_below(tree):
        subprocess.run(["umount", "--lazy", str(point)], stdin=subprocess.DEVNULL, capture_output=True,
                       check=False, timeout=60)
    left = mounts_below(tree)
    if left:
        raise RootError(f"{left[-1]} is still mounted inside the half-built root {tree}; unmount it "
                        f"(umount -R {tree}) and run again")
    shutil.rmtree(tree)


def build(spec: RootSpec, dest: Path, log: Callable[[str], None] = lambda s: None,
          runner: Runner = run_logged) -> Built:
    """Build *spec*'s root and put it at *dest* (the old root stays until the new one is whole)."""
    if runner is run_logged and shutil.which("mmdebstrap") is None:
        raise ToolMissing("mmdebstrap is missing: apt-get install mmdebstrap arch-test (node roots)")
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.new{TEMP_MARK}")
    remove_tree(tmp)  # what an interrupted build left
    try:
        cmd = command(spec, tmp)
        log("$ " + " ".join(cmd))
        status, output = runner(cmd, environment(spec), log)
        if status != 0:
            why, key = explain(spec, output)
            message = f"root {spec.name!r}: mmdebstrap: {why}"
            raise RootSettingError(message, key) if key else RootError(message)
        packages = installed(tmp)
        finish(tmp, spec)
        replace_dir(tmp, dest)
    except OSError as exc:
        with contextlib.suppress(OSError, RootError):  # (a tree that stays is removed by the next run)
            remove_tree(tmp)
        raise RootError(f"root {spec.name!r}: {os_error_message(exc, 'building the root')} "
                        f"(the old root {dest} is kept)") from None
    except BaseException:
        with contextlib.suppress(OSError, RootError):
            remove_tree(tmp)
        raise
    return Built(dest, packages)


def installed(tree: Path) -> dict[str, str]:
    """Package versions in the tree (what the build's inputs resolved to), from dpkg's status or,
    for an extract-only root, from the .deb names the extract hook listed (then removed)."""
    status = tree / "var/lib/dpkg/status"
    out: dict[str, str] = {}
    debs = tree / DEBS_LIST
    if debs.exists():
        for name in debs.read_text().split():
            pkg, version, _arch = name.removesuffix(".deb").split("_")
            out[pkg] = version.replace("%3a", ":")
        debs.unlink()
    if status.exists():
        name = ""
        for line in status.read_text(errors="replace").splitlines():
            if line.startswith("Package: "):
                name = line[9:].strip()
            elif line.startswith("Version: ") and name:
                out[name] = line[9:].strip()
    return out
