"""What "reproducible" compares: sha256 of a project's client bzImage, every file the module
staging holds, and the netboot images the pipeline installed (paths relative to the project)."""

from __future__ import annotations

from ramsesbuild.fsutil import sha256_file
from ramsesbuild.tasks.common import read_stamp

from .support import Project


def image_digests(proj: Project, profiles: tuple[str, ...] = ("client",)) -> dict[str, str]:
    out = {}
    for profile in profiles:
        root = proj.dir / "build" / profile
        out[f"build/{profile}/artifacts/bzImage"] = sha256_file(root / "artifacts" / "bzImage")
        for f in sorted((root / "staging").rglob("*")):
            if f.is_file():
                out[str(f.relative_to(proj.dir))] = sha256_file(f)
    for profile in ("client", *profiles):  # the images the pipeline installed (other tests may add files)
        stamp = read_stamp(proj.dir / "build" / profile / "state" / "netboot.json")
        for name in (stamp.get("image"), stamp.get("mba")):
            if name:
                out[f"tftpboot/{name}"] = sha256_file(proj.dir / "tftpboot" / name)
    return out


def differences(a: dict[str, str], b: dict[str, str]) -> list[str]:
    return [k for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)]
