"""Shared by the hardening tests (hostile values, links, integrity, damaged state, signals):
projects prepared once per session and copied per test, and what every case asserts about
the screen and about what is left behind.

A prepared project is a real project dir built through real `doit` with a file:// mirror, once
per session; each test gets a copy, which doit still finds up to date (it stores paths relative
to the project root), so a test runs only the steps it is about.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import subprocess
from pathlib import Path

from ramsesbuild.fsutil import TEMP_MARK, sha256_file

from .support import FAKE_KINDS, Project, make_fake_tarball, uncompressed


def screen(out: subprocess.CompletedProcess) -> str:
    """What the user saw; fails the test on any traceback."""
    text = out.stdout + out.stderr
    assert "Traceback" not in text and 'File "' not in text, text
    return text


def processes_with(name: str, value: str) -> list[tuple[int, str]]:
    """(pid, command name) of every process whose environment has name=value: what a test's run
    started, children included (the fake tools' log variables mark them)."""
    marker = f"{name}={value}".encode()
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            if marker in Path(f"/proc/{pid}/environ").read_bytes().split(b"\0"):
                found.append((int(pid), Path(f"/proc/{pid}/comm").read_text().strip()))
        except OSError:
            continue
    return found


def leftovers(*dirs: Path) -> list[Path]:
    found: list[Path] = []
    for d in dirs:
        if d.exists():
            found += list(d.rglob(f"*{TEMP_MARK}"))
    return found


def no_leftovers(p: Project) -> None:
    assert leftovers(p.dir / "build", p.dir / "tftpboot", p.dir / "downloads") == []


def _prepare(root: Path, signer, kind: str, *targets: str, **kw) -> Project:
    mirror = root / "mirror"
    mirror.mkdir(parents=True)
    tarball = make_fake_tarball(kind, mirror)
    _, _, name, version = FAKE_KINDS[kind]
    sig = name.rsplit(".", 1)[0] + ".sign"
    signer.sign(uncompressed(tarball), mirror / sig)
    proj = Project(dir=root / "project", mirror_url=f"file://{mirror}/", tarball=name, version=version,
                   sha256=sha256_file(tarball), signature=sig, signer=signer, **kw)
    proj.dir.mkdir()
    proj.setup()
    proj.doit(*targets)
    return proj


def copy_project(template: Project, dest: Path) -> Project:
    """A copy of *template* at *dest* (symlinks kept as links), up to date as the template is.
    The verify step's record of which file it verified (inode, ctime) is brought up to date for
    the copied tarball, as if the project had been built here (verify would otherwise re-hash it
    once, and tests count the reads)."""
    shutil.copytree(template.dir, dest, symlinks=True)
    p = dataclasses.replace(template, dir=dest)
    (dest / "make-calls.log").unlink(missing_ok=True)
    identity = dest / "build" / "state" / "verified-file.json"
    if identity.exists():
        from ramsesbuild.state import write_state
        from ramsesbuild.trust import file_identity

        write_state(identity, file_identity(dest / "downloads" / template.tarball))
    return p


_TEMPLATES: dict[tuple[str, ...], Project] = {}


def template(tmp_path_factory, signer, kind: str, *targets: str) -> Project:
    """A project of *kind* after `doit *targets`, built once per test session (per xdist worker)."""
    key = (kind, *targets)
    if key not in _TEMPLATES:
        _TEMPLATES[key] = _prepare(tmp_path_factory.mktemp(f"{kind}-template"), signer, kind, *targets)
    return _TEMPLATES[key]


def k24_copy(tmp_path_factory, signer, tmp_path: Path, *targets: str) -> Project:
    """A fresh copy of the fake 2.4 project after `doit *targets` (all of it: no targets)."""
    return copy_project(template(tmp_path_factory, signer, "k24", *targets), tmp_path / "project")


def tree_digest(path: Path) -> dict[str, str]:
    """Every file under *path* (links as their target) -> sha256: to show nothing changed."""
    out = {}
    for p in sorted(path.rglob("*")):
        if p.is_symlink():
            out[str(p.relative_to(path))] = "-> " + os.readlink(p)
        elif p.is_file():
            out[str(p.relative_to(path))] = sha256_file(p)
    return out
