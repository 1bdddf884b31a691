"""Make a freshly built tree a node root: per-node paths become symlinks into /ramses/node,
nothing of one node (or of the build host) stays in the shared tree, our /sbin/init goes in,
the class's override files go over it, and every time stamp is clamped to the spec's epoch."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from ..errors import RootError
from ..fsutil import atomic_write_text, write_if_changed
from ..pkgdata import DATA
from . import escape, helper24
from .spec import CLUSTER_FILE, COMMAND_FILE, MOUNT_POINT, SKEL, ClusterSpec, RootKind, RootSpec

SCRIPTS = DATA / "noderoot"
FORMAT = 2  # bump when what finish() does changes: every root is rebuilt
NO_DNS = "# No DNS on the cluster network: every name is in /etc/hosts (rendered from nodes.toml).\n"
SSHD_CONF = "# ramsesbuild: each node has its own host key, in its own directory (docs/node-roots.md)\n" \
            "HostKey /etc/ssh/ssh_host_ed25519_key\n"
COMMAND_UNIT = """# ramsesbuild: the class's command ([profile.<name>.root] command), once the node is up
[Unit]
Description=ramsesbuild: the node class's command
After=multi-user.target

[Service]
Type=oneshot
ExecStart=/etc/ramses/command
StandardOutput=journal+console
StandardError=journal+console

[Install]
WantedBy=multi-user.target
"""
COMMAND_UNIT_NAME = "ramses-command.service"


def finish(tree: Path, spec: RootSpec) -> None:
    """Everything after the packages are in: overrides, linkbacks, init, clean-up, time."""
    if spec.overrides is not None and spec.overrides.is_dir():
        apply_overrides(tree, spec.overrides)
    if spec.kind is RootKind.KLIBC:
        _klibc_layout(tree, spec)
    else:
        _debian_layout(tree, spec)
    for p in spec.node_paths:
        link_back(tree, p.rel, p.kind)
    (tree / MOUNT_POINT.lstrip("/")).mkdir(parents=True, exist_ok=True)
    atomic_write_text(tree / "etc/resolv.conf", NO_DNS, 0o644)
    clamp_times(tree, spec.source_date_epoch)


def inputs() -> dict[str, object]:
    """What ramsesbuild itself puts into every root (a change rebuilds the roots): this step's
    format and our scripts and sources (init, rc, the 2.4 NFS mounter)."""
    import hashlib

    return {"format": FORMAT, **{p.name: hashlib.sha256(p.read_bytes()).hexdigest()
                                 for p in sorted(SCRIPTS.iterdir()) if p.is_file()}}


def apply_overrides(tree: Path, src: Path) -> None:
    """Copy the class's override tree over the root (files, symlinks and directories)."""
    if not src.is_dir():
        raise RootError(f"{src}: the class's override directory does not exist")
    for dirpath, dirs, names in os.walk(src):
        rel = Path(dirpath).relative_to(src)
        for name in [*dirs, *names]:
            s, d = Path(dirpath, name), tree / rel / name
            if s.is_symlink():
                if d.is_symlink() or d.exists():
                    d.unlink()
                d.symlink_to(os.readlink(s))
            elif s.is_dir():
                d.mkdir(exist_ok=True)
            else:
                if d.is_symlink():
                    d.unlink()
                shutil.copy2(s, d)


def link_back(tree: Path, rel: str, kind: str) -> None:
    """Replace tree/rel by a symlink into the node's mount point. A directory's original
    content moves to the skeleton (the seed of every node's copy); a file is removed (the
    layer renders it: it may be a secret such as a host key)."""
    path = tree / rel
    if path.is_symlink():
        path.unlink()
    elif path.is_dir():
        skel = tree / SKEL.lstrip("/") / rel
        skel.parent.mkdir(parents=True, exist_ok=True)
        os.rename(path, skel)
    elif path.exists():
        path.unlink()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.symlink_to(f"{MOUNT_POINT}/{rel}")


def _command(tree: Path, spec: RootSpec) -> None:
    if spec.command:
        atomic_write_text(tree / COMMAND_FILE.lstrip("/"), "#!/bin/sh\n# the class's command ([profile."
                          f"{spec.name}.root] command), run once the node is up\n{spec.command}\n", 0o755)


def _debian_layout(tree: Path, spec: RootSpec) -> None:
    distrib = tree / "sbin/init.distrib"
    if not distrib.is_symlink() and not distrib.exists():
        raise RootError(f"{tree}: /sbin/init was not diverted to /sbin/init.distrib (is systemd-sysv or "
                        "another init in the package list?)")
    _install(SCRIPTS / "init-debian.sh", tree / "sbin/init", 0o755)
    for key in (tree / "etc/ssh").glob("ssh_host_*"):
        key.unlink()  # made by openssh-server's postinst, readable by every node: never kept
    if (tree / "etc/ssh").is_dir():
        (tree / "etc/ssh/sshd_config.d").mkdir(exist_ok=True)
        atomic_write_text(tree / "etc/ssh/sshd_config.d/ramses.conf", SSHD_CONF, 0o644)
    for d in ("etc", "var"):  # systemd's ConditionNeedsUpdate: nothing to update in a read-only root
        (tree / d / ".updated").write_text("# made by ramsesbuild: systemd-update-done has nothing to do\n")
    _command(tree, spec)
    if spec.command:
        units = tree / "etc/systemd/system"
        atomic_write_text(units / COMMAND_UNIT_NAME, COMMAND_UNIT, 0o644)
        wants = units / "multi-user.target.wants"
        wants.mkdir(parents=True, exist_ok=True)
        link = wants / COMMAND_UNIT_NAME
        if not link.is_symlink():
            link.symlink_to(f"/etc/systemd/system/{COMMAND_UNIT_NAME}")


def _klibc_layout(tree: Path, spec: RootSpec) -> None:
    """klibc-utils' programs are in /usr/lib/klibc/bin: that is the node's /bin."""
    bindir = tree / "usr/lib/klibc/bin"
    if not (bindir / "sh").exists():
        raise RootError(f"{tree}: no /usr/lib/klibc/bin/sh: the klibc root needs klibc-utils and libklibc")
    for name in ("bin", "sbin", "proc", "tmp"):
        p = tree / name
        if p.is_symlink() or p.is_file():
            p.unlink()
    if not (tree / "bin").exists():
        (tree / "bin").symlink_to("usr/lib/klibc/bin")
    for d in ("sbin", "proc", "tmp", "etc/ramses"):
        (tree / d).mkdir(parents=True, exist_ok=True)
    _install(SCRIPTS / "init-klibc.sh", tree / "sbin/init", 0o755)
    helper24.compile_into(tree)
    _install(SCRIPTS / "rc-klibc.sh", tree / "etc/rc", 0o755)
    _command(tree, spec)


def _install(src: Path, dst: Path, mode: int) -> None:
    if dst.is_symlink():
        dst.unlink()
    dst.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(src, dst)
    os.chmod(dst, mode)


def clamp_times(tree: Path, epoch: int) -> None:
    """No time stamp later than *epoch* (what SOURCE_DATE_EPOCH asks of a build)."""
    for dirpath, dirs, names in os.walk(tree, topdown=False):
        for name in [*names, *dirs]:
            p = os.path.join(dirpath, name)
            st = os.lstat(p)
            if st.st_mtime > epoch:
                os.utime(p, (epoch, epoch), follow_symlinks=False)
    if os.lstat(tree).st_mtime > epoch:
        os.utime(tree, (epoch, epoch))


def cluster_text(cluster: ClusterSpec, cls: str) -> str:
    """/etc/ramses/cluster: where /sbin/init finds the node's own directory."""
    return "\n".join([
        "# where this node's own directory is: generated by ramsesbuild from nodes.toml",
        f"server={escape.sh_quote(str(cluster.server))}",
        f"nodes={escape.sh_quote(str(cluster.nodes_dir))}",
        f"nfs_options={escape.sh_quote(cluster.nfs_options)}",
        f"transport={escape.sh_quote(cluster.transport)}",
        f"class={escape.sh_quote(cls)}", ""])


def write_cluster_file(root: Path, cluster: ClusterSpec) -> bool:
    """Write the root's /etc/ramses/cluster atomically; True if it changed."""
    if not (root / MOUNT_POINT.lstrip("/")).is_dir():
        raise RootError(f"{root}: not a node root (no {MOUNT_POINT}); build it first (doit root-{root.name})")
    return write_if_changed(root / CLUSTER_FILE.lstrip("/"), cluster_text(cluster, root.name).encode(), 0o644)
