"""Apply the patches/ series to a source tree: dry-run first, no fuzz, idempotent.

A series may include ramsesbuild's own tested series for a version (package data
``data/patches/<version>/``) with the line ``#@ builtin <version>``: its patches are applied at
that place (named ``builtin:<file>``), the user's own patches before or after it.

State (which patches are applied, with their sha256 and an exact copy) lives outside the
tree in ``state_dir``. When the series changes, patches that are no longer wanted (or whose
content changed) are reversed from their stored copies, newest first, and the rest applied.

Patches never create or follow links out of the tree. GNU patch 2.7.3 or later is required:
it never follows a symlink in a path it writes and refuses to patch a symlink as a file; but a
git-style patch may *create* a symlink to anywhere (``new file mode 120000``). So the tree is
checked before the series and after each patch: a symlink that leads outside the tree is
refused, and the tree is removed (the next run unpacks it afresh from the verified tarball).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from dataclasses import dataclass, replace
from pathlib import Path

from .errors import PatchError
from .fsutil import atomic_copy, atomic_write_text, sha256_file
from .log import TaskLog
from .pkgdata import DATA
from .tomlload import decode_utf8

BUILTIN = DATA / "patches"  # ramsesbuild's tested series, one directory per kernel version

_OFFSET = re.compile(r"Hunk #\d+ succeeded at \d+ \(offset -?\d+ lines?\)")


@dataclass(frozen=True)
class SeriesEntry:
    name: str
    path: Path
    strip: int = 1
    builtin: bool = False  # from ramsesbuild's own series (#@ builtin), not the project's


def builtin_versions(root: Path = BUILTIN) -> list[str]:
    return sorted(d.name for d in root.iterdir() if (d / "series").is_file()) if root.is_dir() else []


def _builtin(series: Path, lineno: int, words: list[str], root: Path) -> list[SeriesEntry]:
    if len(words) != 2 or words[0] != "builtin":
        raise PatchError(f"{series}:{lineno}: unknown directive '#@ {' '.join(words)}' (the only one is "
                         "'#@ builtin <version>': ramsesbuild's tested series for that kernel version)")
    version = words[1]
    if version not in builtin_versions(root):
        known = ", ".join(builtin_versions(root)) or "none"
        raise PatchError(f"{series}:{lineno}: ramsesbuild has no built-in series for {version!r} (it has: {known})")
    return [replace(e, name=f"builtin:{e.name}", builtin=True) for e in read_series(root / version, root=None)]


def read_series(patches_dir: Path, root: Path | None = BUILTIN) -> list[SeriesEntry]:
    """Parse ``<dir>/series``: one patch file per line, optional ``-pN``, ``#`` comments, and
    ``#@ builtin <version>`` for the series of that version in *root* (None: not allowed)."""
    series = patches_dir / "series"
    if not series.exists():
        return []
    entries = []
    text = decode_utf8(series.read_bytes(), series, PatchError)
    for lineno, raw in enumerate(text.splitlines(), 1):
        if raw.strip().startswith("#@") and root is not None:
            entries += _builtin(series, lineno, raw.strip()[2:].split("#", 1)[0].split(), root)
            continue
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        name, *opts = line.split()
        strip = 1
        for opt in opts:
            if not re.fullmatch(r"-p\d", opt):
                raise PatchError(f"{series}:{lineno}: unknown option {opt!r} (only -pN is allowed)")
            strip = int(opt[2:])
        path = patches_dir / name
        if not path.is_file():
            raise PatchError(f"{series}:{lineno}: {name} is listed but {path} does not exist")
        entries.append(SeriesEntry(name, path, strip))
    return entries


def series_files(patches_dir: Path) -> list[Path]:
    """Files whose change must re-run the patch step (the series and every listed patch)."""
    series = patches_dir / "series"
    return ([series] if series.exists() else []) + [e.path for e in read_series(patches_dir)]


def check_patch_layout(patches_root: Path, series_dir: Path, version: str) -> None:
    """A series directly in patches/ would be applied to every kernel version: refuse it."""
    stray = patches_root / "series"
    if stray.exists() and series_dir.resolve() != patches_root.resolve():
        raise PatchError(
            f"{stray}: a series directly in {patches_root.name}/ is ambiguous (it would apply to every kernel "
            f"version); move it and its patches to {patches_root.name}/<version>/ (this run wants "
            f"{series_dir}), or set patches = \"{patches_root.name}\" in [source.\"{version}\"] of ramses.toml"
        )


def apply_series(tree: Path, patches_dir: Path, state_dir: Path, log: TaskLog) -> list[dict]:
    wanted = [(e, sha256_file(e.path)) for e in read_series(patches_dir)]
    applied = _load_state(state_dir)
    keep = 0
    while keep < len(applied) and keep < len(wanted) and applied[keep]["name"] == wanted[keep][0].name \
            and applied[keep]["sha256"] == wanted[keep][1]:
        keep += 1
    if len(applied) > keep or len(wanted) > keep:
        require_safe_patch()
        check_links(tree, None)
    for rec in reversed(applied[keep:]):
        _reverse(tree, state_dir, rec, log)
        check_links(tree, state_dir / "applied" / rec["copy"])
        (state_dir / "applied" / rec["copy"]).unlink()
        applied.pop()
        _save_state(state_dir, applied)
    for entry, digest in wanted[keep:]:
        _apply(tree, entry, log)
        check_links(tree, entry.path)
        copy = state_dir / "applied" / f"{len(applied):04d}-{entry.name}"
        atomic_copy(entry.path, copy)
        applied.append({"name": entry.name, "sha256": digest, "strip": entry.strip, "copy": copy.name})
        _save_state(state_dir, applied)
    log.line(f"{len(applied)} patches applied ({len(applied) - keep} new, {keep} kept)")
    return applied


def _patch(tree: Path, patch: Path, strip: int, reverse: bool, dry_run: bool) -> subprocess.CompletedProcess:
    cmd = ["patch", f"-p{strip}", "--fuzz=0", "--forward", "--batch", "--no-backup-if-mismatch",
           "--reject-file=-", "-i", str(patch), "-d", str(tree)]
    if reverse:
        cmd.insert(1, "--reverse")
        cmd.remove("--forward")
    if dry_run:
        cmd.insert(1, "--dry-run")
    try:
        return subprocess.run(cmd, capture_output=True, text=True)
    except FileNotFoundError:
        raise PatchError("GNU patch is not installed; apt-get install patch") from None


def _apply(tree: Path, entry: SeriesEntry, log: TaskLog) -> None:
    log.section(f"apply {entry.name}")
    trial = _patch(tree, entry.path, entry.strip, reverse=False, dry_run=True)
    log.write(trial.stdout + trial.stderr)
    if trial.returncode != 0:
        already = _patch(tree, entry.path, entry.strip, reverse=True, dry_run=True)
        if already.returncode == 0:
            log.line(f"{entry.name}: already applied to the tree; recording it")
            return
        raise PatchError(
            f"{entry.path} does not apply cleanly to {tree} (no fuzz allowed):\n"
            f"{_first_lines(trial.stdout + trial.stderr)}\n"
            "Refresh the patch against this kernel version, or drop it from patches/series."
        )
    for offset in _OFFSET.findall(trial.stdout):
        log.line(f"note: {entry.name}: {offset}")
    done = _patch(tree, entry.path, entry.strip, reverse=False, dry_run=False)
    log.write(done.stdout + done.stderr)
    if done.returncode != 0:  # the dry run passed, so this is an I/O problem
        raise PatchError(f"{entry.path}: patch failed after a clean dry run; see the log. Tree {tree} is now "
                         "inconsistent: delete it and run again")


def _reverse(tree: Path, state_dir: Path, rec: dict, log: TaskLog) -> None:
    copy = state_dir / "applied" / rec["copy"]
    log.section(f"reverse {rec['name']} (no longer in the series or changed)")
    trial = _patch(tree, copy, rec["strip"], reverse=True, dry_run=True)
    if trial.returncode != 0:
        raise PatchError(
            f"cannot reverse {rec['name']} (stored copy {copy}) in {tree}: the tree was changed by hand. "
            f"Delete {tree.parent} and run again to start from a fresh unpack."
        )
    done = _patch(tree, copy, rec["strip"], reverse=True, dry_run=False)
    log.write(done.stdout + done.stderr)


# ------------------------------------------------------------------ links

MIN_PATCH = (2, 7, 3)  # GNU patch stopped following symlinks in 2.7.3 (CVE-2015-1196, -1395)


def require_safe_patch() -> None:
    """GNU patch 2.7.3 or later: older versions (and other patch programs) follow symlinks."""
    try:
        out = subprocess.run(["patch", "--version"], capture_output=True, text=True).stdout
    except FileNotFoundError:
        raise PatchError("GNU patch is not installed; apt-get install patch") from None
    m = re.match(r"GNU patch (\d+)\.(\d+)(?:\.(\d+))?", out)
    version = tuple(int(x or 0) for x in m.groups()) if m else None
    if version is None or version < MIN_PATCH:
        found = out.splitlines()[0] if out.strip() else "an unknown patch program"
        raise PatchError(f"{shutil.which('patch')} is {found}; GNU patch 2.7.3 or later is needed (older "
                         "ones follow symlinks in the tree when they write): apt-get install patch")


def links_leaving(tree: Path) -> list[tuple[str, str]]:
    """Every symlink in *tree* that resolves outside it: (path relative to the tree, target)."""
    root = os.path.realpath(tree)
    found = []
    stack = [str(tree)]
    while stack:
        with os.scandir(stack.pop()) as entries:
            for e in entries:
                if e.is_symlink():
                    real = os.path.realpath(e.path)
                    if real != root and not real.startswith(root + os.sep):
                        found.append((os.path.relpath(e.path, tree), os.readlink(e.path)))
                elif e.is_dir(follow_symlinks=False):
                    stack.append(e.path)
    return sorted(found)


def check_links(tree: Path, patch: Path | None) -> None:
    """Refuse a tree holding a symlink that leads outside it; the tree is then removed (nothing
    can reach through it any more) and the next run unpacks it afresh."""
    bad = links_leaving(tree)
    if not bad:
        return
    shutil.rmtree(tree)
    links = ", ".join(f"{name} -> {target}" for name, target in bad[:5]) + (" ..." if len(bad) > 5 else "")
    if patch is not None:
        raise PatchError(f"{patch} creates the symlink {links}, which leads outside the tree {tree}: refused. The "
                         "tree was removed (the next run unpacks it afresh); fix the patch or drop it from the series")
    raise PatchError(f"{tree} holds the symlink {links}, which leads outside the tree (neither the checked tarball "
                     "nor a checked patch made it): refused. The tree was removed; the next run unpacks it afresh")


def _first_lines(text: str, n: int = 12) -> str:
    return "\n".join("    " + line for line in text.strip().splitlines()[:n])


def _state_file(state_dir: Path) -> Path:
    return state_dir / "patches.json"


def _load_state(state_dir: Path) -> list[dict]:
    try:
        return json.loads(_state_file(state_dir).read_text())
    except FileNotFoundError:
        return []


def _save_state(state_dir: Path, applied: list[dict]) -> None:
    atomic_write_text(_state_file(state_dir), json.dumps(applied, indent=1) + "\n")


def reset_state(state_dir: Path) -> None:
    """Forget applied patches (called when the tree is re-extracted)."""
    _state_file(state_dir).unlink(missing_ok=True)
    shutil.rmtree(state_dir / "applied", ignore_errors=True)
