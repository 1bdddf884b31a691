"""ramses.toml: one settings file for the whole pipeline, loaded into frozen dataclasses.

Relative paths in the file are relative to the directory holding the file. The file used is
``$RAMSES_CONFIG`` if set, else ``ramses.toml`` in the current directory. The reader is strict
(:mod:`ramsesbuild.tomlload`): an unknown key or table, a wrong type or an unknown
``{placeholder}`` is an error naming ``file:line``.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field, replace
from pathlib import Path, PurePosixPath
from typing import Any

from .errors import SettingsError
from .tomlload import Table, read_document, suggest

SHA256_RE = re.compile(r"^[0-9a-f]{64}$")
FPR_RE = re.compile(r"^[0-9A-F]{40}$")
PROFILE_RE = re.compile(r"^[a-z][a-z0-9_]{0,31}$")
FILE_RE = re.compile(r"^[A-Za-z0-9._+-]+(/[A-Za-z0-9._+-]+)*$")
FORMATS = ("nbi", "elf", "raw")
LAYOUTS = ("ramses", "1.4.4", "1.0")
NAMED_BASES = ("defconfig", "tinyconfig", "allnoconfig")
OUTPUT_FIELDS = ("version", "profile")
_SIZE = re.compile(r"^\s*(\d+)\s*([KMGT]?)(i?B)?\s*$", re.IGNORECASE)


@dataclass(frozen=True)
class Source:
    """Where a kernel tarball comes from and how it is checked."""

    version: str
    tarball: str
    mirrors: tuple[str, ...]
    sha256: str | None  # pinned sha256; None only for a dpkg-verified source
    signature: str | None = None  # detached .sign over the *uncompressed* tar (kernel.org style)
    signature_sha256: str | None = None
    signers: tuple[str, ...] = ()  # pinned primary-key fingerprints, 40 hex upper case
    keys: tuple[Path, ...] = ()  # armored public keys imported into the private GNUPGHOME
    unsigned: str | None = None  # reason why no signature is checked (must be explicit)
    dpkg: str | None = None  # Debian package that owns the file (checked with dpkg --verify)
    patches: Path | None = None  # explicit patch directory (holding `series`) for this version

    def files(self) -> list[str]:
        """What the fetch step puts into the download directory: the tarball, its signature."""
        return [self.tarball] + ([self.signature] if self.signature else [])

    def local_file(self) -> Path | None:
        """The tarball's path when the first mirror is a file:// URL (Debian /usr/src sources)."""
        first = self.mirrors[0]
        if first.startswith("file://"):
            return Path(first[len("file://"):].rstrip("/") or "/") / self.tarball
        return None


@dataclass(frozen=True)
class Netboot:
    """How one profile's kernel is wrapped and where it is installed."""

    profile: str
    format: str  # "nbi", "elf" or "raw" (plain bzImage copy)
    output: str  # file name template; {version}, {profile}
    append: str
    ip: str | None
    rootdir: str | None
    tftpboot: Path
    initrd: Path | None = None
    layout: str = "ramses"  # mknbi memory layout: ramses (modern kernels), 1.4.4 or 1.0
    first32: Path | None = None  # user-supplied first-stage loader replacing ours
    mba: bool = False  # also write <output>-imggen, a 3Com MBA image of the tagged image

    def output_name(self, version: str) -> str:
        return self.output.format(version=version, profile=self.profile)


@dataclass(frozen=True)
class Profile:
    """One kernel flavour (server, client, or any node class), built in its own tree."""

    name: str
    base: str  # "defconfig", "tinyconfig", "allnoconfig" or a path to a full .config
    fragments: tuple[Path, ...]
    netboot: Netboot | None = None  # set for profiles whose kernel is wrapped for netbooting


@dataclass(frozen=True)
class UnpackLimits:
    """Caps on what one tarball may expand to (decompression bombs, runaway archives); passing
    one is an UnpackError. ``max_bytes`` counts the decompressed tar stream (file data plus
    512-byte headers); Linux 6.1 is 1.4 GB in 84,000 members."""

    max_bytes: int = 8 << 30
    max_members: int = 500_000


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
    tftpboot: Path
    source: Source
    profiles: dict[str, Profile]
    make_vars: dict[str, str] = field(default_factory=dict)  # extra user make variables
    wrapper: str | None = None  # compiler wrapper (data/wrappers.toml): not part of the build's identity
    distcc_hosts: tuple[str, ...] = ()  # DISTCC_HOSTS words for the distcc wrappers
    unpack_limits: UnpackLimits = UnpackLimits()

    @property
    def log_dir(self) -> Path:
        return self.build_dir / "logs"

    def profile_dir(self, profile: str) -> Path:
        return self.build_dir / profile

    def make_jobs(self) -> int:
        return self.jobs if self.jobs > 0 else (os.cpu_count() or 1)

    @property
    def netboot_profiles(self) -> list[Profile]:
        return [p for p in self.profiles.values() if p.netboot is not None]

    def patch_dir(self) -> Path:
        """Where this version's `series` lives: [source] patches, else <patches>/<version>/."""
        return self.source.patches or self.patches_dir / self.version

    def with_jobs(self, jobs: int) -> Settings:
        return replace(self, jobs=jobs)


def default_path() -> Path:
    return Path(os.environ.get("RAMSES_CONFIG", "ramses.toml")).resolve()


def load(path: Path | None = None) -> Settings:
    path = Path(path).resolve() if path else default_path()
    doc = read_document(path, SettingsError, "make a project with `ramsesbuild init DIR`, or point "
                                              "RAMSES_CONFIG at your ramses.toml")
    return parse(doc.root(), path)


def parse(top: Table, path: Path) -> Settings:
    root = path.parent
    kernel = _required(top, "kernel")
    version = kernel.text("version")
    arch = kernel.text("arch", "i386")
    jobs = kernel.integer("jobs", 0, minimum=0)
    make_vars = kernel.strmap("make_vars", {})
    wrapper, distcc_hosts = _wrapper(kernel)
    kernel.done()

    paths = top.table("paths") or _empty(top, "paths")
    build_dir = _path(root, paths.text("build", "build"))
    download_dir = _path(root, paths.text("downloads", "downloads"))
    patches_dir = _path(root, paths.text("patches", "patches"))
    nodes = _path(root, paths.text("nodes", "nodes.toml"))
    tftpboot = _path(root, paths.text("tftpboot", "tftpboot"))
    paths.done()

    sources = {v: _source(t, v, root) for v, t in top.subtables("source", required=True).items()}
    if version not in sources:
        known = ", ".join(sorted(sources)) or "none"
        raise kernel.fail(f"version = {version!r} but there is no [source.\"{version}\"] table "
                          f"(known: {known}); add one with tarball, mirrors and sha256", "version")

    defaults = top.table("netboot")
    profile_tables = top.subtables("profile", required=True)
    if not profile_tables:
        raise top.doc.fail("[profile] has no profiles; add [profile.server] and [profile.client]", ("profile",))
    netbooted = _netboot_profiles(defaults, profile_tables)
    profiles = {name: _profile(t, name, root, defaults, name in netbooted, tftpboot, version)
                for name, t in profile_tables.items()}
    if defaults is not None:
        defaults.used.update(NETBOOT_KEYS)  # known even when no profile is netbooted
        defaults.done()
    _check_outputs_unique(profiles, version, top)

    limits = _unpack_limits(top.table("unpack"))
    top.done()
    return Settings(
        path=path, root=root, version=version, arch=arch, jobs=jobs,
        build_dir=build_dir, download_dir=download_dir, patches_dir=patches_dir, nodes=nodes, tftpboot=tftpboot,
        source=sources[version], profiles=profiles, make_vars=make_vars, wrapper=wrapper,
        distcc_hosts=distcc_hosts, unpack_limits=limits,
    )


def _wrapper(kernel: Table) -> tuple[str | None, tuple[str, ...]]:
    wrapper = None
    if kernel.has("wrapper"):  # wrappers.toml is read only when a wrapper is asked for
        from . import wrappers

        wrapper = kernel.text("wrapper", None, choices=wrappers.names())
    hosts = tuple(kernel.strlist("distcc_hosts", []))
    for host in hosts:
        if any(c.isspace() for c in host):
            raise kernel.fail(f"distcc_hosts entries are single DISTCC_HOSTS words such as \"node1/4\" "
                              f"or \"localhost\", not {host!r}", "distcc_hosts")
    return wrapper, hosts


def _required(top: Table, name: str) -> Table:
    t = top.table(name, required=True)
    assert t is not None
    return t


def _empty(top: Table, name: str) -> Table:
    return Table(top.doc, (name,), {}, (name,), 0)


def _path(root: Path, value: str) -> Path:
    p = Path(os.path.expanduser(value))
    return p if p.is_absolute() else (root / p)


# ---------------------------------------------------------------- [source."X"]

def _source(t: Table, version: str, root: Path) -> Source:
    tarball = t.text("tarball")
    if "/" in tarball or tarball.startswith("."):
        raise t.fail(f"tarball = {tarball!r} must be a plain file name (the mirrors give the directory)", "tarball")
    mirrors = tuple(t.strlist("mirrors", nonempty=True))
    for m in mirrors:
        if not re.match(r"^(https?|file)://", m):
            raise t.fail(f"mirror {m!r} must start with https://, http:// or file://", "mirrors")
    dpkg = t.text("dpkg", None)
    sha = t.text("sha256", None)
    if sha is not None:
        sha = sha.lower()
        if not SHA256_RE.match(sha):
            raise t.fail(f"sha256 must be 64 hex digits, got {sha!r}", "sha256")
    elif dpkg is None:
        raise t.fail("needs sha256 = \"<64 hex digits>\" (or dpkg = \"<package>\" for a file installed by "
                     "a Debian package, checked with dpkg --verify)", "sha256")
    if dpkg is not None and not mirrors[0].startswith("file://"):
        raise t.fail(f"dpkg = {dpkg!r} needs a file:// mirror first (where the package installed the tarball, "
                     "e.g. \"file:///usr/src/\")", "dpkg")
    signature = t.text("signature", None)
    unsigned = t.text("unsigned", None)
    signers = tuple(s.replace(" ", "").upper() for s in t.strlist("signers", []))
    for fpr in signers:
        if not FPR_RE.match(fpr):
            raise t.fail(f"signer {fpr!r} is not a 40-hex-digit fingerprint", "signers")
    keys = tuple(_path(root, k) for k in t.strlist("keys", []))
    if signature:
        if not signers or not keys:
            raise t.fail(f"has signature = {signature!r} but no signers/keys; pin the signer fingerprints "
                         "and list the armored public key files", "signature")
    elif not unsigned and not dpkg:
        raise t.fail("has no signature; either add signature/signers/keys or set unsigned = \"<why this "
                     "source needs no OpenPGP check>\" to accept sha256 only", None)
    sig_sha = t.text("signature_sha256", None)
    if sig_sha is not None and not SHA256_RE.match(sig_sha.lower()):
        raise t.fail("signature_sha256 must be 64 hex digits", "signature_sha256")
    patches = t.text("patches", None)
    t.done()
    return Source(
        version=version, tarball=tarball, mirrors=mirrors, sha256=sha, signature=signature,
        signature_sha256=sig_sha.lower() if sig_sha else None, signers=signers, keys=keys,
        unsigned=unsigned, dpkg=dpkg, patches=_path(root, patches) if patches else None,
    )


# ---------------------------------------------------------------- [profile.X], [netboot]

def _netboot_profiles(defaults: Table | None, profiles: dict[str, Table]) -> set[str]:
    """Profiles whose kernel is wrapped: [netboot] profiles (default: client, if it exists)."""
    if defaults is None:
        return {n for n, t in profiles.items() if t.has("netboot")}
    names = defaults.strlist("profiles", ["client"])
    for n in names:
        if n not in profiles:
            raise defaults.fail(f"profiles lists {n!r}, but there is no [profile.{n}]{suggest(n, profiles)}",
                                "profiles")
    return set(names) | {n for n, t in profiles.items() if t.has("netboot")}


def _profile(t: Table, name: str, root: Path, defaults: Table | None, netbooted: bool,
             tftpboot: Path, version: str) -> Profile:
    if not PROFILE_RE.match(name):
        raise t.fail("name must be lower-case letters, digits and _ (it becomes task names such as "
                     f"kernel-{name})")
    base = t.text("base", "defconfig")
    if base not in NAMED_BASES:
        if "/" not in base and not base.endswith((".config", "config")):
            raise t.fail(f"base = {base!r} is neither {', '.join(NAMED_BASES)} nor a path to a full .config "
                         "file (write ./name for a file in this directory)", "base")
        base = str(_path(root, base))
    fragments = tuple(_path(root, f) for f in t.strlist("fragments", []))
    own = t.table("netboot")
    netboot = _netboot(defaults, own, name, root, tftpboot, version) if netbooted else None
    if own is not None:
        own.done()
    t.done()
    return Profile(name=name, base=base, fragments=fragments, netboot=netboot)


NETBOOT_KEYS = ("format", "layout", "output", "append", "ip", "rootdir", "initrd", "first32", "mba")


def _netboot(defaults: Table | None, own: Table | None, profile: str, root: Path, tftpboot: Path,
             version: str) -> Netboot:
    """[profile.X.netboot] keys override [netboot] keys."""
    layers = [t for t in (own, defaults) if t is not None]

    def src(key: str) -> Table:
        return next((t for t in layers if t.has(key)), layers[0])

    def get(kind: str, key: str, default: object, **kw: object) -> Any:
        t = src(key)
        return getattr(t, kind)(key, default, **kw) if t.has(key) else default

    nb = Netboot(
        profile=profile,
        format=get("text", "format", "nbi", choices=FORMATS),
        output=get("template", "output", "vmlinuz-{version}-{profile}", fields=OUTPUT_FIELDS),
        append=get("text", "append", "", nonempty=False),
        ip=get("text", "ip", None),
        rootdir=get("text", "rootdir", None),
        tftpboot=tftpboot,
        initrd=_opt_path(root, get("text", "initrd", None)),
        layout=get("text", "layout", "ramses", choices=LAYOUTS),
        first32=_opt_path(root, get("text", "first32", None)),
        mba=get("flag", "mba", False),
    )
    for t in layers:  # a key set in either layer is known in both
        t.used.update(NETBOOT_KEYS)
    name = nb.output_name(version)
    if not FILE_RE.match(name) or ".." in PurePosixPath(name).parts:
        raise src("output").fail(f"output = {nb.output!r} gives {name!r}, which is not a file name inside the "
                                 "tftpboot directory (letters, digits, . _ + - and /; no leading /, no ..)", "output")
    if nb.mba and nb.format != "nbi":
        raise src("mba").fail("mba = true needs format = \"nbi\" (the 3Com MBA image wraps the tagged image), "
                              f"not {nb.format!r}", "mba")
    return nb


def _opt_path(root: Path, value: str | None) -> Path | None:
    return _path(root, value) if value else None


def _check_outputs_unique(profiles: dict[str, Profile], version: str, top: Table) -> None:
    seen: dict[str, str] = {}
    for p in profiles.values():
        if p.netboot is None:
            continue
        name = p.netboot.output_name(version)
        if name in seen:
            raise top.doc.fail(f"profiles {seen[name]!r} and {p.name!r} would both install {name!r}; "
                               "put {profile} into [netboot] output or give one an own output",
                               ("netboot",), "output")
        seen[name] = p.name
        if p.netboot.mba:
            seen[name + "-imggen"] = p.name


# ---------------------------------------------------------------- [unpack]

def _unpack_limits(t: Table | None) -> UnpackLimits:
    if t is None:
        return UnpackLimits()
    d = UnpackLimits()
    max_bytes = _size(t, "max_bytes", d.max_bytes)
    max_members = t.integer("max_members", d.max_members, minimum=1)
    t.done()
    return UnpackLimits(max_bytes=max_bytes, max_members=max_members)


def _size(t: Table, key: str, default: int) -> int:
    if not t.has(key):
        t.used.add(key)
        return default
    v = t.data[key]
    t.used.add(key)
    if isinstance(v, int) and not isinstance(v, bool) and v > 0:
        return v
    m = _SIZE.match(v) if isinstance(v, str) else None
    if not m:
        raise t.fail(f"{key} must be a size such as 8G, 500M or a number of bytes, not {v!r}", key)
    return int(m.group(1)) << (10 * " KMGT".index((m.group(2) or " ").upper()))
