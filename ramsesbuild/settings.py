"""ramses.toml: one settings file for the whole pipeline, loaded into frozen dataclasses.

Relative paths in the file are relative to the directory holding the file. The file used is
``$RAMSES_CONFIG`` if set, else ``ramses.toml`` in the current directory.
"""

from __future__ import annotations

import os
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import SettingsError

PROFILES = ("server", "client")
SHA256_RE = re.compile(r"^[0-9a-f]{64}$")
FPR_RE = re.compile(r"^[0-9A-F]{40}$")


@dataclass(frozen=True)
class Source:
    """Where a kernel tarball comes from and how it is checked."""

    version: str
    tarball: str
    mirrors: tuple[str, ...]
    sha256: str
    signature: str | None = None  # detached .sign over the *uncompressed* tar (kernel.org style)
    signature_sha256: str | None = None
    signers: tuple[str, ...] = ()  # pinned primary-key fingerprints, 40 hex upper case
    keys: tuple[Path, ...] = ()  # armored public keys imported into the private GNUPGHOME
    unsigned: str | None = None  # reason why no signature is checked (must be explicit)


@dataclass(frozen=True)
class Profile:
    """One kernel flavour (server or client), built in its own tree."""

    name: str
    base: str  # "defconfig", "tinyconfig", "allnoconfig" or a path to a full .config
    fragments: tuple[Path, ...]


@dataclass(frozen=True)
class Netboot:
    """How the client kernel is wrapped and where it is installed."""

    format: str  # "nbi", "elf" or "raw" (plain bzImage copy)
    output: str  # file name template; {version} is the kernel version
    append: str
    ip: str | None
    rootdir: str | None
    tftpboot: Path
    initrd: Path | None = None
    layout: str = "ramses"  # mknbi memory layout: ramses (modern kernels), 1.4.4 or 1.0
    first32: Path | None = None  # user-supplied first-stage loader replacing ours
    mba: bool = False  # also write <output>-imggen, the 3Com MBA image of the NBI image

    def output_name(self, version: str) -> str:
        return self.output.format(version=version)


@dataclass(frozen=True)
class Settings:
    path: Path  # the settings file itself
    root: Path  # its directory; relative paths are resolved against it
    version: str
    arch: str
    jobs: int
    build_dir: Path
    download_dir: Path
    patches_dir: Path
    nodes: Path  # node inventory (nodes.toml) for the boot-config/boot-tftp tasks
    source: Source
    profiles: dict[str, Profile]
    netboot: Netboot
    make_vars: dict[str, str] = field(default_factory=dict)  # extra user make variables

    @property
    def log_dir(self) -> Path:
        return self.build_dir / "logs"

    def profile_dir(self, profile: str) -> Path:
        return self.build_dir / profile

    def make_jobs(self) -> int:
        return self.jobs if self.jobs > 0 else (os.cpu_count() or 1)


def default_path() -> Path:
    return Path(os.environ.get("RAMSES_CONFIG", "ramses.toml")).resolve()


def load(path: Path | None = None) -> Settings:
    path = Path(path).resolve() if path else default_path()
    try:
        raw = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise SettingsError(
            f"{path}: settings file not found; copy ramses.toml from the project root "
            "or point RAMSES_CONFIG at yours"
        ) from None
    except tomllib.TOMLDecodeError as exc:
        raise SettingsError(f"{path}: not valid TOML: {exc}") from None
    return parse(raw, path)


def parse(raw: dict[str, Any], path: Path) -> Settings:
    root = path.parent
    r = _Reader(raw, path)
    kernel = r.table("kernel")
    version = r.str(kernel, "kernel", "version")
    paths = r.table("paths", required=False)
    sources = r.table("source")
    if version not in sources:
        known = ", ".join(sorted(sources)) or "none"
        raise SettingsError(
            f"{path}: [kernel] version = {version!r} but there is no [source.\"{version}\"] "
            f"table (known: {known}); add one with tarball, mirrors and sha256"
        )
    source = _source(r, version, sources[version], root)
    profiles_raw = r.table("profile")
    profiles = {name: _profile(r, name, profiles_raw.get(name), root) for name in PROFILES}
    jobs = kernel.get("jobs", 0)
    if not isinstance(jobs, int) or jobs < 0:
        raise SettingsError(f"{path}: [kernel] jobs must be an integer >= 0 (0 = all cores)")
    make_vars = kernel.get("make_vars", {})
    if not isinstance(make_vars, dict) or not all(isinstance(v, str) for v in make_vars.values()):
        raise SettingsError(f"{path}: [kernel] make_vars must be a table of strings")
    return Settings(
        path=path,
        root=root,
        version=version,
        arch=kernel.get("arch", "i386"),
        jobs=jobs,
        build_dir=_path(root, paths.get("build", "build")),
        download_dir=_path(root, paths.get("downloads", "downloads")),
        patches_dir=_path(root, paths.get("patches", "patches")),
        nodes=_path(root, paths.get("nodes", "nodes.toml")),
        source=source,
        profiles=profiles,
        netboot=_netboot(r, r.table("netboot"), root, paths),
        make_vars=dict(make_vars),
    )


def _path(root: Path, value: str) -> Path:
    p = Path(os.path.expanduser(value))
    return p if p.is_absolute() else (root / p)


def _source(r: "_Reader", version: str, t: Any, root: Path) -> Source:
    where = f'source."{version}"'
    if not isinstance(t, dict):
        raise SettingsError(f"{r.path}: [{where}] must be a table")
    sha = r.str(t, where, "sha256").lower()
    if not SHA256_RE.match(sha):
        raise SettingsError(f"{r.path}: [{where}] sha256 must be 64 hex digits, got {sha!r}")
    mirrors = tuple(r.strlist(t, where, "mirrors"))
    if not mirrors:
        raise SettingsError(f"{r.path}: [{where}] mirrors is empty; list at least one base URL")
    signature = t.get("signature")
    unsigned = t.get("unsigned")
    signers = tuple(s.replace(" ", "").upper() for s in r.strlist(t, where, "signers", required=False))
    for fpr in signers:
        if not FPR_RE.match(fpr):
            raise SettingsError(f"{r.path}: [{where}] signer {fpr!r} is not a 40-hex-digit fingerprint")
    keys = tuple(_path(root, k) for k in r.strlist(t, where, "keys", required=False))
    if signature:
        if not signers or not keys:
            raise SettingsError(
                f"{r.path}: [{where}] has signature = {signature!r} but no signers/keys; pin the "
                "signer fingerprints and list the armored public key files"
            )
    elif not unsigned:
        raise SettingsError(
            f"{r.path}: [{where}] has no signature; either add signature/signers/keys or set "
            "unsigned = \"<why this source needs no OpenPGP check>\" to accept sha256 only"
        )
    sig_sha = t.get("signature_sha256")
    if sig_sha is not None and not SHA256_RE.match(str(sig_sha).lower()):
        raise SettingsError(f"{r.path}: [{where}] signature_sha256 must be 64 hex digits")
    return Source(
        version=version,
        tarball=r.str(t, where, "tarball"),
        mirrors=mirrors,
        sha256=sha,
        signature=signature,
        signature_sha256=sig_sha.lower() if sig_sha else None,
        signers=signers,
        keys=keys,
        unsigned=unsigned,
    )


def _profile(r: "_Reader", name: str, t: Any, root: Path) -> Profile:
    if not isinstance(t, dict):
        raise SettingsError(f"{r.path}: missing [profile.{name}] table (base, fragments)")
    base = t.get("base", "defconfig")
    if base not in ("defconfig", "tinyconfig", "allnoconfig"):
        base = str(_path(root, base))
    return Profile(
        name=name,
        base=base,
        fragments=tuple(_path(root, f) for f in r.strlist(t, f"profile.{name}", "fragments")),
    )


def _netboot(r: "_Reader", t: dict[str, Any], root: Path, paths: dict[str, Any]) -> Netboot:
    fmt = t.get("format", "nbi")
    if fmt not in ("nbi", "elf", "raw"):
        raise SettingsError(f"{r.path}: [netboot] format must be nbi, elf or raw, got {fmt!r}")
    initrd = t.get("initrd")
    first32 = t.get("first32")
    layout = t.get("layout", "ramses")
    if layout not in ("ramses", "1.4.4", "1.0"):
        raise SettingsError(f"{r.path}: [netboot] layout must be ramses, 1.4.4 or 1.0, got {layout!r}")
    mba = t.get("mba", False)
    if not isinstance(mba, bool):
        raise SettingsError(f"{r.path}: [netboot] mba must be true or false, got {mba!r}")
    if mba and fmt != "nbi":
        raise SettingsError(f"{r.path}: [netboot] mba = true makes the 3Com MBA image from the NBI image, "
                            f"but format = {fmt!r}; set format = \"nbi\" or mba = false")
    return Netboot(
        format=fmt,
        output=t.get("output", "vmlinuz-{version}-cluster"),
        append=t.get("append", ""),
        ip=t.get("ip"),
        rootdir=t.get("rootdir"),
        tftpboot=_path(root, paths.get("tftpboot", "tftpboot")),
        initrd=_path(root, initrd) if initrd else None,
        layout=layout,
        first32=_path(root, first32) if first32 else None,
        mba=mba,
    )


@dataclass
class _Reader:
    raw: dict[str, Any]
    path: Path

    def table(self, name: str, required: bool = True) -> dict[str, Any]:
        t = self.raw.get(name)
        if t is None and not required:
            return {}
        if not isinstance(t, dict):
            raise SettingsError(f"{self.path}: missing [{name}] table")
        return t

    def str(self, t: dict[str, Any], where: str, key: str) -> str:
        v = t.get(key)
        if not isinstance(v, str) or not v:
            raise SettingsError(f"{self.path}: [{where}] needs {key} = \"...\"")
        return v

    def strlist(self, t: dict[str, Any], where: str, key: str, required: bool = True) -> list[str]:
        v = t.get(key)
        if v is None and not required:
            return []
        if not isinstance(v, list) or not all(isinstance(x, str) for x in v):
            raise SettingsError(f"{self.path}: [{where}] {key} must be a list of strings")
        return v
