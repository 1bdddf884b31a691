"""ramses.toml: one settings file for the whole pipeline, loaded into frozen dataclasses.

Relative paths in the file are relative to the directory holding the file. The file used is
``$RAMSES_CONFIG`` if set, else ``ramses.toml`` in the current directory. The reader is strict
(:mod:`ramsesbuild.tomlload`): an unknown key or table, a wrong type or an unknown
``{placeholder}`` is an error naming ``file:line``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path

from .errors import FamilyError, SettingsError
from .paths import LOG_DIR
from .schema import Layers
from .schemas.ramses import (
    DEFAULT_NETBOOT_PROFILE,
    KernelTable,
    NetbootTable,
    PathsTable,
    ProfileNetbootTable,
    ProfileRootTable,
    ProfileTable,
    RamsesToml,
    SourceTable,
    UnpackTable,
    profile_name_problem,
)
from .tomlload import Table, read_document, suggest
from .valuerules import is_tftp_file
from .vocabulary import ImageFormat, NbiLayout, mba_name


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
    format: ImageFormat
    output: str  # file name template; {version}, {profile}
    append: str
    ip: str | None
    rootdir: str | None
    tftpboot: Path
    initrd: Path | None = None
    layout: NbiLayout = NbiLayout.RAMSES
    first32: Path | None = None  # user-supplied first-stage loader replacing ours
    mba: bool = False  # also write <output>-imggen, a 3Com MBA image of the tagged image

    def output_name(self, version: str) -> str:
        return self.output.format(version=version, profile=self.profile)


@dataclass(frozen=True)
class NodeRoot:
    """[profile.X.root]: the node root of a profile's nodes (ramsesbuild.noderoot builds it)."""

    suite: str
    mirror: str
    packages: tuple[str, ...] | None  # None: the family's default list
    source_date_epoch: int
    node_dirs: tuple[str, ...]
    command: str


@dataclass(frozen=True)
class Profile:
    """One kernel flavour (server, client, or any node class), built in its own tree."""

    name: str
    base: str  # "defconfig", "tinyconfig", "allnoconfig" or a path to a full .config
    fragments: tuple[Path, ...]
    netboot: Netboot | None = None  # set for profiles whose kernel is wrapped for netbooting
    arch: str = "i386"  # ARCH for make: [profile.X] arch, else [kernel] arch
    root: NodeRoot | None = None  # set for profiles whose nodes run a generated node root


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
    roots_dir: Path = Path("roots")  # node roots on the server: base/<profile>, node/<name>, keys/<name>
    overrides_dir: Path = Path("overrides")  # the admin's files: class/<profile>/..., node/<name>/...

    @property
    def log_dir(self) -> Path:
        return self.build_dir / LOG_DIR

    def profile_dir(self, profile: str) -> Path:
        return self.build_dir / profile

    def make_jobs(self) -> int:
        return self.jobs if self.jobs > 0 else (os.cpu_count() or 1)

    @property
    def netboot_profiles(self) -> list[Profile]:
        return [p for p in self.profiles.values() if p.netboot is not None]

    @property
    def root_profiles(self) -> list[Profile]:
        """Profiles whose nodes run a generated node root."""
        return [p for p in self.profiles.values() if p.root is not None]

    def patch_dir(self) -> Path:
        """Where this version's `series` lives: [source] patches, else <patches>/<version>/."""
        return self.source.patches or self.patches_dir / self.version

    def with_jobs(self, jobs: int) -> Settings:
        return replace(self, jobs=jobs)

    def netboot_images(self) -> dict[str, str]:
        """Each netboot profile's image name in the tftp root."""
        return {p.name: p.netboot.output_name(self.version) for p in self.netboot_profiles if p.netboot}

    def default_netboot_image(self) -> str:
        """What a node without image/profile boots: the client's image, else the first netboot profile's."""
        images = self.netboot_images()
        return images.get(DEFAULT_NETBOOT_PROFILE) or next(iter(images.values()), "")


def default_path() -> Path:
    return Path(os.environ.get("RAMSES_CONFIG", "ramses.toml")).resolve()


def load(path: Path | None = None) -> Settings:
    path = Path(path).resolve() if path else default_path()
    doc = read_document(path, SettingsError, "make a project with `ramsesbuild init DIR`, or point "
                                              "RAMSES_CONFIG at your ramses.toml")
    return parse(doc.root(), path)


def parse(top: Table, path: Path) -> Settings:
    RamsesToml.check_names(top)
    kernel = KernelTable.check(_required(top, "kernel"))
    version = kernel.get(KernelTable.version)
    paths = PathsTable.check(top.table("paths") or top.empty("paths"))
    tftpboot = paths.get(PathsTable.tftpboot)
    sources = {v: _source(SourceTable.check(t), v) for v, t in top.subtables("source", required=True).items()}
    if version not in sources:
        known = ", ".join(sorted(sources)) or "none"
        raise kernel.fail(f"version = {version!r} but there is no [source.\"{version}\"] table "
                          f"(known: {known}); add one with tarball, mirrors and sha256", "version")
    profile_tables = _profile_tables(top)
    defaults = top.table("netboot")
    netbooted = _netboot_profiles(defaults, profile_tables)
    defaults = NetbootTable.check(defaults or top.empty("netboot"))
    profiles = {name: _profile(t, kernel, name, defaults, name in netbooted, tftpboot, version)
                for name, t in profile_tables.items()}
    _check_outputs_unique(profiles, version, top)
    return Settings(
        path=path, root=path.parent, version=version, arch=kernel.get(KernelTable.arch),
        jobs=kernel.get(KernelTable.jobs),
        build_dir=paths.get(PathsTable.build), download_dir=paths.get(PathsTable.downloads),
        patches_dir=paths.get(PathsTable.patches), nodes=paths.get(PathsTable.nodes), tftpboot=tftpboot,
        source=sources[version], profiles=profiles, make_vars=kernel.get(KernelTable.make_vars),
        wrapper=kernel.get(KernelTable.wrapper), distcc_hosts=kernel.get(KernelTable.distcc_hosts),
        unpack_limits=_unpack_limits(top.table("unpack") or top.empty("unpack")),
        roots_dir=paths.get(PathsTable.roots), overrides_dir=paths.get(PathsTable.overrides),
    )


def _required(top: Table, name: str) -> Table:
    t = top.table(name, required=True)
    assert t is not None
    return t


# ---------------------------------------------------------------- [source."X"]

def _source(t: Table, version: str) -> Source:
    mirrors = t.get(SourceTable.mirrors)
    dpkg = t.get(SourceTable.dpkg)
    sha = t.get(SourceTable.sha256)
    if sha is None and dpkg is None:
        raise t.fail("needs sha256 = \"<64 hex digits>\" (or dpkg = \"<package>\" for a file installed by "
                     "a Debian package, checked with dpkg --verify)", "sha256")
    if dpkg is not None and not mirrors[0].startswith("file://"):
        raise t.fail(f"dpkg = {dpkg!r} needs a file:// mirror first (where the package installed the tarball, "
                     "e.g. \"file:///usr/src/\")", "dpkg")
    signature, unsigned = t.get(SourceTable.signature), t.get(SourceTable.unsigned)
    signers, keys = t.get(SourceTable.signers), t.get(SourceTable.keys)
    if signature:
        if not signers or not keys:
            raise t.fail(f"has signature = {signature!r} but no signers/keys; pin the signer fingerprints "
                         "and list the armored public key files", "signature")
    elif not unsigned and not dpkg:
        raise t.fail("has no signature; either add signature/signers/keys or set unsigned = \"<why this "
                     "source needs no OpenPGP check>\" to accept sha256 only", None)
    return Source(
        version=version, tarball=t.get(SourceTable.tarball), mirrors=mirrors, sha256=sha, signature=signature,
        signature_sha256=t.get(SourceTable.signature_sha256), signers=signers, keys=keys,
        unsigned=unsigned, dpkg=dpkg, patches=t.get(SourceTable.patches),
    )


# ---------------------------------------------------------------- [profile.X], [netboot]

def _profile_tables(top: Table) -> dict[str, Table]:
    tables = top.subtables("profile", required=True)
    if not tables:
        raise top.doc.fail("[profile] has no profiles; add [profile.server] and [profile.client]", ("profile",))
    for name, t in tables.items():
        if problem := profile_name_problem(name):
            raise t.fail(problem)
    return tables


def _netboot_profiles(defaults: Table | None, profiles: dict[str, Table]) -> set[str]:
    """Profiles whose kernel is wrapped: [netboot] profiles (default: client, if it exists) and
    every profile with its own [profile.X.netboot]."""
    own = {n for n, t in profiles.items() if t.has("netboot")}
    if defaults is None:
        return own
    key = NetbootTable.profiles
    names = defaults.get(key)
    for n in names:
        if n not in profiles:
            raise defaults.fail(f"profiles lists {n!r}, but there is no [profile.{n}]{suggest(n, profiles)}",
                                key.name)
    return set(names) | own


def _profile(t: Table, kernel: Table, name: str, defaults: Table, netbooted: bool, tftpboot: Path,
             version: str) -> Profile:
    layers = ProfileTable.layers(t, kernel)  # [profile.X] keys over the [kernel] keys it inherits (arch)
    own = t.table("netboot") or t.empty("netboot")
    netboot = _netboot(ProfileNetbootTable.layers(own, defaults), name, tftpboot, version) if netbooted else None
    root = None
    if (rt := t.table("root")) is not None:
        if netboot is None:
            raise rt.fail(f"profile {name!r} has a node root but no netboot image, so no node can boot it; add "
                          f"{name!r} to [netboot] profiles (or give it a [profile.{name}.netboot])")
        root = _root(ProfileRootTable.check(rt))
    return Profile(name=name, base=t.get(ProfileTable.base), fragments=t.get(ProfileTable.fragments), netboot=netboot,
                   arch=layers.get(KernelTable.arch), root=root)


def _root(t: Table) -> NodeRoot:
    k = ProfileRootTable
    return NodeRoot(suite=t.get(k.suite), mirror=t.get(k.mirror), packages=t.get(k.packages),
                    source_date_epoch=t.get(k.source_date_epoch), node_dirs=t.get(k.node_dirs),
                    command=t.get(k.command))


def _netboot(layers: Layers, profile: str, tftpboot: Path, version: str) -> Netboot:
    """[profile.X.netboot] keys over [netboot] keys (the schema's inheritance rule)."""
    k = NetbootTable
    nb = Netboot(
        profile=profile, format=layers.get(k.format), output=layers.get(k.output), append=layers.get(k.append),
        ip=layers.get(k.ip), rootdir=layers.get(k.rootdir), tftpboot=tftpboot, initrd=layers.get(k.initrd),
        layout=layers.get(k.layout), first32=layers.get(k.first32), mba=layers.get(k.mba),
    )
    name = nb.output_name(version)
    if not is_tftp_file(name):
        raise layers.fail(k.output, f"output = {nb.output!r} gives {name!r}, which is not a file name inside the "
                                    "tftpboot directory (letters, digits, . _ + - and /; no leading /, no ..)")
    for installed in (name, mba_name(name)) if nb.mba else (name,):
        if problem := k.output.refusal(installed):
            raise layers.fail(k.output, f"{problem} (the installed name from {nb.output!r})")
    _check_command_line(layers, nb, version)
    if nb.mba and nb.format is not ImageFormat.NBI:
        raise layers.fail(k.mba, "mba = true needs format = \"nbi\" (the 3Com MBA image wraps the tagged image), "
                                 f"not {nb.format.value!r}")
    return nb


def _check_command_line(layers: Layers, nb: Netboot, version: str) -> None:
    """The image's whole command line (append, ip=, nfsroot= as our mknbi writes them, host
    names in ip= not yet resolved) must fit the family's COMMAND_LINE_SIZE."""
    if not nb.format.wraps:
        return
    from .family import family_for_version
    from .nbi.cmdline import CmdlineSpec, make_paramstring
    from .valuerules import command_line

    try:
        family = family_for_version(version)
    except FamilyError:
        return  # the build says what is wrong with the version
    spec = CmdlineSpec(append=nb.append, rootdir=nb.rootdir, ip=nb.ip, have_ramdisk=nb.initrd is not None)
    text, _ = make_paramstring(spec, nb.layout.dialect, resolver=lambda name: name)
    if problem := command_line(family.command_line_size - 1)(text):
        key = NetbootTable.append if layers.sets(NetbootTable.append) else NetbootTable.rootdir
        raise layers.fail(key, f"the image's kernel command line {text!r}: {problem} ({family.name} family: "
                               "families.toml command_line_size); shorten append")


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
            seen[mba_name(name)] = p.name


# ---------------------------------------------------------------- [unpack]

def _unpack_limits(t: Table) -> UnpackLimits:
    UnpackTable.check(t)
    return UnpackLimits(max_bytes=t.get(UnpackTable.max_bytes), max_members=t.get(UnpackTable.max_members))
