"""ramses.toml, declared: every table and key the pipeline's settings file may hold.

Read by :mod:`ramsesbuild.settings` (which adds the rules that tie keys together) and
documented in docs/reference/ramses-toml.md by :mod:`ramsesbuild.docgen`.
"""

from __future__ import annotations

import re
from pathlib import Path

from ..kinds import (
    Choice,
    Flag,
    Integer,
    Kind,
    OneOf,
    Opt,
    PathKind,
    Paths,
    Size,
    Strings,
    StrMap,
    Template,
    Text,
    toml_literal,
)
from ..noderoot.spec import DEFAULT_EPOCH, DEFAULT_MIRROR, DEFAULT_PACKAGES, DEFAULT_SUITE, RootKind
from ..paths import RESERVED_NAMES
from ..schema import FileSchema, Inherit, Key, Section, Shape, Sub
from ..tomlload import Table
from ..valuerules import (
    CMDLINE_NFSROOT,
    CMDLINE_PARAMETERS,
    CMDLINE_WORD,
    DHCPD_FILENAME,
    DHCPD_ROOT_PATH,
    EXPORTS_PATH,
    IPXE_FILE,
    KEA_BOOT_FILE,
    KEA_OPTION,
    NGINX_PATH,
    TFTPD_DIRECTORY,
    visible_ascii,
)
from ..vocabulary import ImageFormat, NamedBase, NbiLayout

DEFAULT_NETBOOT_PROFILE = "client"  # [netboot] profiles by default; what a node boots by default
OUTPUT_FIELDS = ("version", "profile")
PROFILE_NAME_MAX = 32
_PROFILE_CHARS = set("abcdefghijklmnopqrstuvwxyz0123456789-_")
_SHA256 = re.compile(r"[0-9a-f]{64}")
_FPR = re.compile(r"[0-9A-F]{40}")


class Sha256(Kind[str]):
    """A sha256 in hex (any case; read as lower case)."""

    what = "a string"

    @property
    def type_doc(self) -> str:
        return "sha256: 64 hex digits"

    def parse(self, raw: object, t: Table, key: str) -> str:
        v = Text().parse(raw, t, key).lower()
        if not _SHA256.fullmatch(v):
            raise t.fail(f"{key} must be 64 hex digits, got {v!r}", key)
        return v


class Fingerprints(Kind[tuple[str, ...]]):
    """OpenPGP primary-key fingerprints (spaces dropped, read as upper case)."""

    what = "a list of strings"

    @property
    def type_doc(self) -> str:
        return "list of OpenPGP fingerprints (40 hex digits each)"

    def parse(self, raw: object, t: Table, key: str) -> tuple[str, ...]:
        out = tuple(s.replace(" ", "").upper() for s in Strings().parse(raw, t, key))
        for fpr in out:
            if not _FPR.fullmatch(fpr):
                raise t.fail(f"signer {fpr!r} is not a 40-hex-digit fingerprint", key)
        return out


def _char(c: str) -> str:
    if c.isupper():
        return f"the upper-case letter {c!r} (write {c.lower()!r})"
    if c.isdigit():
        return f"the digit {c!r}"
    if c.isspace():
        return "a space" if c == " " else f"the white space {c!r}"
    return f"{c!r}"


def profile_name_problem(name: str) -> str | None:
    """What is wrong with a [profile.<name>] name, or None. Names become task names
    (kernel-<name>, netboot-image:<name>), directories (build/<name>) and log files."""
    rule = (f"profile names are lower-case letters, digits, - and _, starting with a letter, at most "
            f"{PROFILE_NAME_MAX} characters (they become task names such as kernel-<name> and build/<name>)")
    if not name:
        return f"has an empty name; {rule}"
    if len(name) > PROFILE_NAME_MAX:
        return f"name {name!r} is {len(name)} characters long; {rule}"
    if not ("a" <= name[0] <= "z"):
        return f"name {name!r} starts with {_char(name[0])}; {rule}"
    bad = next((c for c in name if c not in _PROFILE_CHARS), None)
    if bad is not None:
        return f"name {name!r} contains {_char(bad)}; {rule}"
    if name in RESERVED_NAMES:
        return f"name {name!r} is reserved for build/{name}; choose another profile name"
    return None


def _plain_file(name: str) -> str | None:
    if "/" in name or name.startswith("."):
        return f"tarball = {name!r} must be a plain file name (the mirrors give the directory)"
    return None


def _mirrors(mirrors: tuple[str, ...]) -> str | None:
    bad = next((m for m in mirrors if not m.startswith(("https://", "http://", "file://"))), None)
    if bad is not None:
        return f"mirror {bad!r} must start with https://, http:// or file://"
    for m in mirrors:
        if problem := visible_ascii(m) or ("it holds a space" if " " in m else None):
            return f"mirror {m!r} is not a URL: {problem} (write a space as %20)"
    return None


def _distcc_hosts(hosts: tuple[str, ...]) -> str | None:
    bad = next((h for h in hosts if any(c.isspace() for c in h)), None)
    if bad is None:
        return None
    return (f"distcc_hosts entries are single DISTCC_HOSTS words such as \"node1/4\" or \"localhost\", "
            f"not {bad!r}")


def _wrapper_names() -> tuple[str, ...]:
    from ..wrappers import names  # wrappers.toml is read only when a wrapper is asked for

    return names()


class KernelTable(Section):
    TITLE = "[kernel]"
    DOC = "What is built, and how make runs."
    version = Key(Text(), 'kernel version; selects [source."<version>"] (e.g. "2.4.18", "6.1")', hint='"<version>"')
    arch = Key(Text(), "ARCH for make; the kernel family must build it (families.toml arches)", "i386")
    jobs = Key(Integer(minimum=0), "make -j; 0 = all cores (per run: `doit jobs=8` or RAMSES_JOBS=8, "
               "never a rebuild)", 0)
    make_vars = Key(StrMap(), "extra make variables for every make (a change rebuilds)", {})
    wrapper = Key(Opt(OneOf(_wrapper_names, "ramsesbuild/data/wrappers.toml")),
                  "compiler wrapper in front of gcc (ccache, distcc); never part of a build's identity", None)
    distcc_hosts = Key(Strings(), "DISTCC_HOSTS words for the distcc wrappers (else $DISTCC_HOSTS)", (),
                       check=_distcc_hosts)


class PathsTable(Section):
    TITLE = "[paths]"
    DOC = "Where the pipeline reads and writes."
    build = Key(PathKind(), "trees, stamps, artefacts, logs (build/logs/<task>.log), build/summary.json",
                Path("build"), reaches=())
    downloads = Key(PathKind(), "downloaded tarballs and signatures", Path("downloads"), reaches=())
    patches = Key(PathKind(), "patch series: <patches>/<version>/series is applied after unpack (none if absent)",
                  Path("patches"), reaches=())
    nodes = Key(PathKind(), "node inventory for boot-config / boot-tftp (those tasks exist only if it does)",
                Path("nodes.toml"), reaches=())
    tftpboot = Key(PathKind(), "where netboot images are installed (set /tftpboot on the boot server)",
                   Path("tftpboot"), reaches=(TFTPD_DIRECTORY, NGINX_PATH))
    roots = Key(PathKind(), "node roots on the boot server (set e.g. /srv/ramses there): base/<profile> "
                "(exported read-only), node/<name> (each node's own, exported to it alone), keys/<name> "
                "(its ssh host key and machine-id, never exported)", Path("roots"),
                reaches=(EXPORTS_PATH, DHCPD_ROOT_PATH, KEA_OPTION))
    overrides = Key(PathKind(), "the admin's files for node roots: class/<profile>/<path> goes over that "
                    "profile's base root, node/<name>/<path> into one node's own directory", Path("overrides"),
                    reaches=())


class SourceTable(Section):
    TITLE = '[source."<version>"]'
    DOC = ("Where the tarball of one kernel version comes from and how it is checked: a pinned sha256 "
           "(or a Debian package checked with dpkg --verify) and an OpenPGP signature (or a reason why none).")
    tarball = Key(Text(), "file name of the tarball on the mirrors", hint='"linux-<version>.tar.xz"',
                  check=_plain_file)
    mirrors = Key(Strings(nonempty=True), "directories holding the tarball (https://, http:// or file://), "
                  "tried in order", check=_mirrors)
    sha256 = Key(Opt(Sha256()), "pinned sha256 of the tarball, checked before anything else reads it "
                 "(needed unless dpkg is set)", None, hint='"<64 hex digits>"')
    dpkg = Key(Opt(Text()), "Debian package that installed the tarball (first mirror file://): checked with "
               "dpkg --verify instead of a pin", None)
    signature = Key(Opt(Text()), "detached OpenPGP signature file on the mirrors (kernel.org's .sign covers "
                    "the uncompressed tar)", None)
    signature_sha256 = Key(Opt(Sha256()), "pinned sha256 of the signature file: a download that differs is "
                           "refused before gpg runs", None)
    signers = Key(Fingerprints(), "primary-key fingerprints allowed to sign (the pin is the trust decision)", ())
    keys = Key(Paths(), "armored public key files imported into a private GNUPGHOME for the check", ())
    unsigned = Key(Opt(Text()), "why this source needs no OpenPGP signature (set instead of signature to "
                   "accept the sha256 pin alone)", None)
    patches = Key(Opt(PathKind()), "this version's patch directory (holding series), instead of "
                  "<[paths] patches>/<version>", None)


class NetbootTable(Section):
    TITLE = "[netboot]"
    DOC = ("How kernels are wrapped for netbooting and installed into [paths] tftpboot: defaults for every "
           "netboot profile (each [profile.<name>.netboot] overrides them).")
    profiles = Key(Strings(), "profiles whose kernel gets a netboot image (besides any with its own "
                   "[profile.<name>.netboot])", (DEFAULT_NETBOOT_PROFILE,),
                   default_doc=f'["{DEFAULT_NETBOOT_PROFILE}"] (when that profile exists)', reaches=())
    format = Key(Choice(ImageFormat), "image format", ImageFormat.NBI, reaches=())
    layout = Key(Choice(NbiLayout), "memory layout of an nbi/elf image", NbiLayout.RAMSES, reaches=())
    output = Key(Template(OUTPUT_FIELDS), "installed file name, relative to [paths] tftpboot",
                 "vmlinuz-{version}-{profile}", reaches=(DHCPD_FILENAME, KEA_BOOT_FILE, IPXE_FILE, NGINX_PATH))
    append = Key(Text(nonempty=False), "kernel command line", "", reaches=(CMDLINE_PARAMETERS,))
    ip = Key(Opt(Text()), 'ip= for the kernel ("rom": from the boot ROM\'s DHCP reply)', None, reaches=(CMDLINE_WORD,))
    rootdir = Key(Opt(Text()), 'nfsroot= for the kernel ("rom": from the DHCP root-path option)', None,
                  reaches=(CMDLINE_NFSROOT,))
    initrd = Key(Opt(PathKind()), "initrd put into the image", None, reaches=())
    first32 = Key(Opt(PathKind()), "first-stage loader replacing ours (e.g. mknbi's first32@0x92800.linux)", None,
                  reaches=())
    mba = Key(Flag(), 'also install <output>-imggen, the 3Com MBA image of the nbi image (nodes.toml rom = "3com")',
              False, reaches=())


class ProfileNetbootTable(Section):
    TITLE = "[profile.<name>.netboot]"
    DOC = "This profile's netboot image: any [netboot] key except profiles, overriding [netboot]."
    INHERITS = Inherit(NetbootTable, tuple(k for k in NetbootTable.own_keys() if k is not NetbootTable.profiles))


class BaseConfig(Kind[str]):
    """A named base (NamedBase) or a path to a full .config file (resolved like every path)."""

    what = "a string"

    @property
    def type_doc(self) -> str:
        return "string: a named base, or a path to a full .config file"

    def parse(self, raw: object, t: Table, key: str) -> str:
        v = Text().parse(raw, t, key)
        if v in tuple(NamedBase):
            return v
        if "/" not in v and not v.endswith((".config", "config")):
            names = ", ".join(NamedBase)
            raise t.fail(f"{key} = {v!r} is neither {names} nor a path to a full .config file (write ./name for "
                         "a file in this directory)", key)
        return str(PathKind().parse(v, t, key))

    def choices(self) -> tuple[tuple[str, str], ...]:
        return (*((b.value, b.doc) for b in NamedBase), ("<path>", "a full .config file of your own"))


_PACKAGE = re.compile(r"^[a-z0-9][a-z0-9+.-]+$")
_SUITE = re.compile(r"^[a-z0-9][a-z0-9.-]*$")


def _packages(packages: tuple[str, ...] | None) -> str | None:
    bad = next((p for p in packages or () if not _PACKAGE.match(p)), None)
    return f"packages: {bad!r} is not a Debian package name (lower-case letters, digits, + - .)" if bad else None


def _suite(suite: str) -> str | None:
    return None if _SUITE.match(suite) else f"suite {suite!r} is not a Debian suite name (e.g. \"bookworm\")"


def _root_mirror(mirror: str) -> str | None:
    if re.match(r"^(https?|file)://[^\s,]+$", mirror):
        return None
    return f"mirror {mirror!r} must be one http://, https:// or file:// URL of a Debian archive"


def _node_dirs(dirs: tuple[str, ...]) -> str | None:
    for d in dirs:
        if not d.startswith("/") or d == "/" or ".." in d.split("/") or any(c.isspace() or c in "\\,#" for c in d):
            return (f"node_dirs: {d!r} must be an absolute directory below / (no .., spaces, commas, # or "
                    "backslashes)")
    return None


class ProfileRootTable(Section):
    TITLE = "[profile.<name>.root]"
    DOC = ("The node root of this profile's nodes (docs/node-roots.md): one shared base root, built with "
           "mmdebstrap (a Debian root with systemd for modern kernels; klibc-utils and a diskless rc for "
           "Linux 2.4, which cannot run glibc), and a small directory of its own per node. Its presence "
           "(even empty) gives the profile's nodes a root; the profile must be netbooted.")
    suite = Key(Text(), "Debian suite the root is built from", DEFAULT_SUITE, check=_suite, reaches=())
    mirror = Key(Text(), "Debian archive to build from (apt checks its signatures against Debian's keyring); "
                 "point it at a snapshot to pin the package versions", DEFAULT_MIRROR,
                 check=_root_mirror, reaches=())
    packages = Key(Opt(Strings(nonempty=True)), "the packages of the root (mmdebstrap --include)", None,
                   check=_packages,
                   default_doc=f"modern kernels: {toml_literal(DEFAULT_PACKAGES[RootKind.DEBIAN])}; Linux 2.4: "
                               f"{toml_literal(DEFAULT_PACKAGES[RootKind.KLIBC])}", reaches=())
    source_date_epoch = Key(Integer(minimum=0), "SOURCE_DATE_EPOCH of the build; every time stamp in the root "
                            "is clamped to it (default: 2023-06-10, bookworm's release)", DEFAULT_EPOCH,
                            reaches=())
    node_dirs = Key(Strings(), "more directories each node writes its own copy of (besides /var/log, /var/tmp, "
                    "/root, ...: docs/node-roots.md)", (), check=_node_dirs, reaches=())
    command = Key(Text(nonempty=False), "shell command every node of the profile runs once it is up (Linux "
                  "2.4: last thing of the rc; modern: a systemd unit after multi-user.target), output to the "
                  "console", "", reaches=())


class ProfileTable(Section):
    TITLE = "[profile.<name>]"
    DOC = ("One kernel (server, client, or any node class), built in its own tree with its own tasks "
           "(config-, compile-, modules-, kernel-<name>).")
    base = Key(BaseConfig(), "base .config the fragments are merged onto (named bases as the family "
               "provides them: families.toml bases)", NamedBase.DEFCONFIG.value)
    fragments = Key(Paths(), "kconfig fragments merged onto the base, in order (every option must land)", ())
    TABLES = (Sub("netboot", ProfileNetbootTable), Sub("root", ProfileRootTable))
    INHERITS = Inherit(KernelTable, (KernelTable.arch,))  # e.g. an x86_64 UEFI node class beside i386 ones


class UnpackTable(Section):
    TITLE = "[unpack]"
    DOC = "Caps on what one tarball may expand to (decompression bombs, runaway archives)."
    max_bytes = Key(Size(), "decompressed tar stream (file data plus 512-byte headers); Linux 6.1 is 1.4 GB",
                    8 << 30)
    max_members = Key(Integer(minimum=1), "archive members; Linux 6.1 has 84,000", 500_000)


class RamsesToml(Section):
    TITLE = "ramses.toml"
    TABLES = (
        Sub("kernel", KernelTable, required=True),
        Sub("paths", PathsTable),
        Sub("source", SourceTable, Shape.MAP, required=True, names_doc="the kernel version, as in [kernel] version"),
        Sub("profile", ProfileTable, Shape.MAP, required=True, names=profile_name_problem,
            names_doc=f"lower-case letters, digits, - and _, starting with a letter, at most {PROFILE_NAME_MAX}; "
                      f"not {', '.join(RESERVED_NAMES)}"),
        Sub("netboot", NetbootTable),
        Sub("unpack", UnpackTable),
    )


RAMSES_TOML = FileSchema(
    file="ramses.toml",
    page="ramses-toml.md",
    doc=("The pipeline's settings: one file per project, `ramses.toml` in the project directory or the "
         "file `$RAMSES_CONFIG` names. Relative paths are relative to the directory holding the file. "
         "The reader is strict: an unknown key or table, a wrong type, a value outside the allowed ones "
         "or an unknown `{placeholder}` is one line naming `file:line`, with a \"did you mean\" for typos."),
    root=RamsesToml,
    declared_in="ramsesbuild/schemas/ramses.py",
)
