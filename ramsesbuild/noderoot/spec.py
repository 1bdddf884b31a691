"""What a node root and a node's per-node layer are made from: typed, frozen inputs.

ramses.toml's [profile.X.root] and [paths] roots / overrides, and nodes.toml, become these in
ramsesbuild/noderoot/project.py; everything in ramsesbuild.noderoot takes them and nothing else, so
the same code serves the doit tasks, `ramsesbuild node-reset` and the tests.

Server side ([paths] roots, docs/node-roots.md):

    <roots>/base/<class>   one base root per node class, exported read-only to the subnet
    <roots>/node/<name>    one small writable directory per node, exported to that node only
    <roots>/keys/<name>    the node's ssh host keys and machine-id, kept across rebuilds and
                           resets, never exported (mode 0700)
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path, PurePosixPath


class RootKind(StrEnum):
    """What a base root is made of; the kernel family decides (:data:`KIND_OF_FAMILY`)."""

    DEBIAN = "debian"  # mmdebstrap minbase + systemd: modern kernels
    KLIBC = "klibc"  # klibc-utils and a diskless rc: Linux 2.4, which cannot run glibc


# Linux 2.4.18 cannot run glibc (its TLS set-up needs set_thread_area, 2.5.x); klibc runs there.
KIND_OF_FAMILY: dict[str, RootKind] = {"k24": RootKind.KLIBC}  # every other family: DEBIAN
# [kernel] arch -> Debian architecture of the root
DEBIAN_ARCH: dict[str, str] = {"i386": "i386", "x86_64": "amd64"}
# A node gets: systemd's multi-user target (systemd-sysv), udev (systemd waits for its device
# units: without udev the serial getty's dev-ttyS0.device times out), an NFS client (nfs-common:
# umount.nfs, rpcbind), /etc/protocols and /etc/services (netbase: without them nfs-common's
# tools fail with "Failed to find 'udp' protocol"), a serial getty (systemd starts one on the
# console= port), an ssh server.
DEFAULT_PACKAGES: dict[RootKind, tuple[str, ...]] = {
    RootKind.DEBIAN: ("systemd-sysv", "udev", "nfs-common", "netbase", "openssh-server", "iproute2", "procps"),
    RootKind.KLIBC: ("klibc-utils", "libklibc"),
}
DEFAULT_SUITE = "bookworm"
DEFAULT_MIRROR = "http://deb.debian.org/debian"
DEFAULT_ARCH = "i386"
# The time every file of a root is stamped with unless the spec says otherwise: 2023-06-10,
# bookworm's release day. It is an input: change it and the root is rebuilt.
DEFAULT_EPOCH = 1686355200
MOUNT_POINT = "/ramses/node"  # where a node's own directory is mounted in the base root
SKEL = "/usr/lib/ramses/skel"  # the base's original content of the per-node paths
CLUSTER_FILE = "/etc/ramses/cluster"  # server, nodes directory, NFS options (read by /sbin/init)
COMMAND_FILE = "/etc/ramses/command"  # the class's command, run once the node is up
SSH_KEY_TYPES = ("ed25519",)
BASE, NODE, KEYS = "base", "node", "keys"  # the three directories under [paths] roots
# How a node mounts its own directory: NFSv3 (what both families speak), no network lock
# manager (only that node ever opens its files: its locks are local), the transport of
# nodes.toml [boot] nfs_options (udp if it names none).
OWN_NFS_OPTIONS = "vers=3,nolock"


@dataclass(frozen=True)
class NodePath:
    """A path that is the node's own: in the base root it is a symlink into MOUNT_POINT.

    kind "file": rendered per node by ramsesbuild; "dir": a directory the node writes, created
    from the base's original (*seed* "dirs": its directories only, "copy": everything, "empty").
    """

    path: str
    kind: str  # "file" | "dir"
    seed: str = "dirs"
    mode: int = 0o755
    kinds: tuple[RootKind, ...] = tuple(RootKind)  # root kinds that have it

    @property
    def rel(self) -> str:
        return self.path.lstrip("/")


# The one list of per-node paths (docs/node-roots.md "What a node may write").
NODE_PATHS: tuple[NodePath, ...] = (
    NodePath("/etc/hostname", "file"),
    NodePath("/etc/hosts", "file"),
    NodePath("/etc/fstab", "file"),
    NodePath("/etc/machine-id", "file", mode=0o444),
    NodePath("/etc/network/interfaces", "file"),
    NodePath("/etc/ramses/node", "file"),
    *(NodePath(f"/etc/ssh/ssh_host_{t}_key{ext}", "file", mode=0o600 if not ext else 0o644, kinds=(RootKind.DEBIAN,))
      for t in SSH_KEY_TYPES for ext in ("", ".pub")),
    NodePath("/root", "dir", seed="copy", mode=0o700),
    NodePath("/var/log", "dir"),
    NodePath("/var/tmp", "dir", seed="empty", mode=0o1777),
    NodePath("/var/spool", "dir", kinds=(RootKind.DEBIAN,)),
    NodePath("/var/cache", "dir", kinds=(RootKind.DEBIAN,)),
    NodePath("/var/lib/systemd", "dir", kinds=(RootKind.DEBIAN,)),
    NodePath("/var/lib/nfs", "dir", seed="copy", kinds=(RootKind.DEBIAN,)),
    NodePath("/var/lib/private", "dir", seed="empty", mode=0o700, kinds=(RootKind.DEBIAN,)),
)


def node_paths(kind: RootKind, extra: tuple[str, ...] = ()) -> tuple[NodePath, ...]:
    """The per-node paths of a root of *kind*, plus the class's *extra* directories."""
    own = tuple(p for p in NODE_PATHS if kind in p.kinds)
    return own + tuple(NodePath(e, "dir") for e in extra)


@dataclass(frozen=True)
class RootSpec:
    """One node class's base root."""

    name: str  # the node class (a ramses.toml profile)
    kind: RootKind = RootKind.DEBIAN
    suite: str = DEFAULT_SUITE
    mirror: str = DEFAULT_MIRROR
    architecture: str = DEFAULT_ARCH
    packages: tuple[str, ...] = ()  # () = DEFAULT_PACKAGES[kind]
    source_date_epoch: int = DEFAULT_EPOCH
    overrides: Path | None = None  # per-class tree copied over the root (any path)
    node_dirs: tuple[str, ...] = ()  # more per-node directories (absolute paths)
    command: str = ""  # run once a node is up ("" = nothing; klibc: then a shell on the console)

    @property
    def package_list(self) -> tuple[str, ...]:
        return self.packages or DEFAULT_PACKAGES[self.kind]

    @property
    def node_paths(self) -> tuple[NodePath, ...]:
        return node_paths(self.kind, self.node_dirs)

    def identity(self) -> dict[str, object]:
        """What the base tree is made of (a change rebuilds it; nothing else does)."""
        return {"kind": self.kind.value, "suite": self.suite, "mirror": self.mirror, "arch": self.architecture,
                "packages": list(self.package_list), "epoch": self.source_date_epoch,
                "node_dirs": list(self.node_dirs), "command": self.command}


def base_root(roots: Path, cls: str) -> Path:
    """Where a node class's base root lives below [paths] roots."""
    return roots / BASE / cls


@dataclass(frozen=True)
class ClusterSpec:
    """What every node's layer shares: the network and where things live on the server."""

    subnet: ipaddress.IPv4Network
    server: ipaddress.IPv4Address
    roots: Path  # [paths] roots: base/, node/, keys/ below it
    gateway: ipaddress.IPv4Address | None = None
    domain: str | None = None
    server_name: str = "server"
    transport: str = "udp"  # how a node mounts its own directory (with OWN_NFS_OPTIONS)
    node_overrides: Path | None = None  # <dir>/<node name>/<path>: per-node override files

    @property
    def nfs_options(self) -> str:
        return f"{OWN_NFS_OPTIONS},{self.transport}"

    @property
    def nodes_dir(self) -> Path:
        return self.roots / NODE

    def base(self, cls: str) -> Path:
        return base_root(self.roots, cls)

    def node_dir(self, name: str) -> Path:
        return self.roots / NODE / name

    def key_dir(self, name: str) -> Path:
        return self.roots / KEYS / name


@dataclass(frozen=True)
class NodeSpec:
    name: str
    ip: ipaddress.IPv4Address
    mac: str
    root: str  # its class (RootSpec.name)


@dataclass(frozen=True)
class LayerSpec:
    """Everything the per-node layers are rendered from."""

    cluster: ClusterSpec
    nodes: tuple[NodeSpec, ...]
    roots: dict[str, RootSpec] = field(default_factory=dict)

    def root_of(self, node: NodeSpec) -> RootSpec:
        return self.roots[node.root]


def posix(path: str) -> PurePosixPath:
    return PurePosixPath(path)
