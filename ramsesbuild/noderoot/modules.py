"""The class kernel's modules in its root: build/<profile>/staging/lib/modules/<version> is
copied to <root>/lib/modules/<version> (aside, then renamed), without rebuilding the root."""

from __future__ import annotations

import shutil
from pathlib import Path

from ..fsutil import TEMP_MARK, replace_dir


def staged_versions(staging: Path) -> list[str]:
    d = staging / "lib" / "modules"
    return sorted(p.name for p in d.iterdir() if p.is_dir()) if d.is_dir() else []


def install(staging: Path, root: Path) -> list[str]:
    """Copy every staged module tree into *root*; remove trees of versions no longer staged
    that an earlier run installed (marked by .ramses-modules). Returns the versions installed."""
    versions = staged_versions(staging)
    target = root / "lib" / "modules"
    target.mkdir(parents=True, exist_ok=True)
    for v in versions:
        tmp = target / f".{v}{TEMP_MARK}"
        if tmp.exists():
            shutil.rmtree(tmp)
        shutil.copytree(staging / "lib" / "modules" / v, tmp, symlinks=True)
        for link in ("build", "source"):  # point into the build host's tree: meaningless on a node
            p = tmp / link
            if p.is_symlink():
                p.unlink()
        (tmp / ".ramses-modules").write_text("installed by ramsesbuild from the class kernel's staging\n")
        replace_dir(tmp, target / v)
    for old in target.iterdir():
        if old.name not in versions and (old / ".ramses-modules").exists():
            shutil.rmtree(old)
    return versions
