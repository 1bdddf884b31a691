"""What "reproducible" compares: sha256 of a project's client bzImage, every file the module
staging holds, and the installed netboot images (tftpboot/vmlinuz-*) (paths relative to the project)."""

from __future__ import annotations

from ramsesbuild.fsutil import sha256_file

from .support import Project


def image_digests(proj: Project, profiles: tuple[str, ...] = ("client",)) -> dict[str, str]:
    out = {}
    for profile in profiles:
        root = proj.dir / "build" / profile
        out[f"build/{profile}/artifacts/bzImage"] = sha256_file(root / "artifacts" / "bzImage")
        for f in sorted((root / "staging").rglob("*")):
            if f.is_file():
                out[str(f.relative_to(proj.dir))] = sha256_file(f)
    for f in sorted((proj.dir / "tftpboot").glob("vmlinuz-*")):
        if f.is_file() and not f.name.endswith(".old"):
            out[str(f.relative_to(proj.dir))] = sha256_file(f)
    return out


def differences(a: dict[str, str], b: dict[str, str]) -> list[str]:
    return [k for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)]
