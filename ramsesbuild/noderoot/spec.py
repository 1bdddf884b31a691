"""What a node root and a node's per-node layer are made from: typed, frozen inputs.

The settings readers build these (today: the temporary wiring in ramsesbuild/tasks/roots.py);
everything in ramsesbuild.noderoot takes them and nothing else, so the same code serves the
doit tasks, the `ramsesbuild node-reset` command and the tests.

Server side (docs/node-roots.md):

    <roots>/<class>        one base root per node class, exported read-only to the subnet
    <nodes>/<name>         one small writable directory per node, exported to that node only
    <keys>/<name>          the node's ssh host keys and machine-id, kept across rebuilds and
                           resets, never exported (mode 0700)
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

KINDS = ("debian", "klibc")
# A node gets: systemd's multi-user target (systemd-sysv), an NFS client (mount.nfs for its own
# directory), a serial getty (systemd starts one on the console= port), an ssh server.
DEFAULT_PACKAGES: dict[str, tuple[str, ...]] = {
    "debian": ("systemd-sysv", "nfs-common", "openssh-server", "iproute2", "procps"),
    # Linux 2.4.18 cannot run glibc (TLS setup needs set_thread_area, 2.5.x); klibc can.
    "klibc": ("klibc-utils", "libklibc"),
}
DEFAULT_SUITE = "bookworm"
DEFAULT_ARCH = "i386"
# The time every file of a root is stamped with unless the spec says otherwise: 2023-06-10,
# bookworm's release day. It is an input: change it and the root is rebuilt.
DEFAULT_EPOCH = 1686355200
MOUNT_POINT = "/ramses/node"  # where a node's own directory is mounted in the base root
SKEL = "/usr/lib/ramses/skel"  # the base's original content of the per-node paths
CLUSTER_FILE = "/etc/ramses/cluster"  # server, nodes directory, NFS options (read by /sbin/init)
SSH_KEY_TYPES = ("ed25519",)


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
    kinds: tuple[str, ...] = KINDS  # root kinds that have it

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
    *(NodePath(f"/etc/ssh/ssh_host_{t}_key{ext}", "file", mode=0o600 if not ext else 0o644, kinds=("debian",))
      for t in SSH_KEY_TYPES for ext in ("", ".pub")),
    NodePath("/root", "dir", seed="copy", mode=0o700),
    NodePath("/var/log", "dir"),
    NodePath("/var/tmp", "dir", seed="empty", mode=0o1777),
    NodePath("/var/spool", "dir", kinds=("debian",)),
    NodePath("/var/cache", "dir", kinds=("debian",)),
    NodePath("/var/lib/systemd", "dir", kinds=("debian",)),
    NodePath("/var/lib/nfs", "dir", seed="copy", kinds=("debian",)),
    NodePath("/var/lib/private", "dir", seed="empty", mode=0o700, kinds=("debian",)),
)


def node_paths(kind: str, extra: tuple[str, ...] = ()) -> tuple[NodePath, ...]:
    """The per-node paths of a root of *kind*, plus the class's *extra* directories."""
    own = tuple(p for p in NODE_PATHS if kind in p.kinds)
    return own + tuple(NodePath(e, "dir") for e in extra)


@dataclass(frozen=True)
class RootSpec:
    """One node class's base root."""

    name: str  # the node class (a ramses.toml profile)
    kind: str = "debian"  # "debian": mmdebstrap + systemd; "klibc": Linux 2.4 (klibc-utils + rc)
    suite: str = DEFAULT_SUITE
    mirror: str = ""  # apt source URL; "" = mmdebstrap's default (deb.debian.org)
    architecture: str = DEFAULT_ARCH
    packages: tuple[str, ...] = ()  # () = DEFAULT_PACKAGES[kind]
    source_date_epoch: int = DEFAULT_EPOCH
    overrides: Path | None = None  # per-class tree copied over the root (any path)
    extra_node_dirs: tuple[str, ...] = ()  # more per-node directories (absolute paths)
    command: str = ""  # klibc: what the rc runs last ("" = a shell on the console)

    @property
    def package_list(self) -> tuple[str, ...]:
        return self.packages or DEFAULT_PACKAGES[self.kind]

    @property
    def node_paths(self) -> tuple[NodePath, ...]:
        return node_paths(self.kind, self.extra_node_dirs)

    def identity(self) -> dict[str, object]:
        """What the base tree is made of (a change rebuilds it; nothing else does)."""
        return {"kind": self.kind, "suite": self.suite, "mirror": self.mirror, "arch": self.architecture,
                "packages": list(self.package_list), "epoch": self.source_date_epoch,
                "node_dirs": list(self.extra_node_dirs), "command": self.command}


@dataclass(frozen=True)
class ClusterSpec:
    """What every node's layer shares: the network and where things live on the server."""

    subnet: ipaddress.IPv4Network
    server: ipaddress.IPv4Address
    roots_dir: Path
    nodes_dir: Path
    keys_dir: Path
    gateway: ipaddress.IPv4Address | None = None
    domain: str | None = None
    server_name: str = "server"
    nfs_options: str = "vers=3,nolock"  # how a node mounts its own directory
    node_overrides: Path | None = None  # <dir>/<node name>/<path>: per-node override files

    def base(self, cls: str) -> Path:
        return self.roots_dir / cls

    def node_dir(self, name: str) -> Path:
        return self.nodes_dir / name

    def key_dir(self, name: str) -> Path:
        return self.keys_dir / name


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
