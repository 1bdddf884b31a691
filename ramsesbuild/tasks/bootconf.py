"""boot-config / boot-tftp: the cluster's DHCP, NFS and TFTP configuration from nodes.toml.

boot-config writes dhcpd.conf, exports and tftpd-hpa into nodes.toml's [boot] output directory;
boot-tftp writes the per-node iPXE scripts into the tftpboot directory. Both depend on nodes.toml
(file_dep) and on the settings they read (one config_changed), so a no-op run does nothing.
A broken nodes.toml does not break `doit list`: the task then fails with the message when run.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from doit.tools import config_changed

from .. import bootconf
from ..bootmap import inventory_of
from ..errors import BootConfigError
from ..log import TaskLog
from ..paths import rel
from ..settings import Settings
from .common import logged, remover

FORMAT = 1  # bump when the generated text changes, so existing outputs are rewritten


Files = Callable[[bootconf.Inventory, Path], dict[Path, str]]
Writer = Callable[[bootconf.Inventory, Path, TaskLog], None]


def _task(settings: Settings, nodes_path: Path, basename: str, doc: str,
          files: Files, write: Writer, protected: str | None = None) -> dict[str, Any]:
    """Shared shape: load the inventory now for the targets, again at run time for the work."""
    nodes_path = Path(nodes_path)
    tftp_root = settings.tftpboot
    images = settings.netboot_images()
    try:
        paths = sorted(str(p) for p in files(inventory_of(settings, nodes_path), tftp_root))
    except BootConfigError:
        paths = []  # the action reports it

    def body(log: TaskLog) -> None:
        inv = inventory_of(settings, nodes_path)
        log.line(f"{nodes_path}: {len(inv.nodes)} nodes on {inv.network.subnet}, server {inv.network.server}")
        write(inv, tftp_root, log)

    clean = remover([Path(p) for p in paths], protected, basename)
    return {
        "basename": basename,
        "doc": doc,
        "actions": [logged(settings, basename, body)],
        "file_dep": [nodes_path],
        "targets": paths,
        "uptodate": [config_changed({"format": FORMAT, "images": images, "default": settings.default_netboot_image(),
                                     "tftpboot": rel(settings.root, tftp_root)})],
        "clean": [clean],
    }


def task_boot_config(settings: Settings, nodes_path: Path) -> dict[str, Any]:
    """dhcpd.conf, exports and tftpd-hpa for the nodes in *nodes_path*."""

    def write(inv: bootconf.Inventory, tftp_root: Path, log: TaskLog) -> None:
        for path in bootconf.write_config(inv, tftp_root):
            log.line(f"wrote {path}" if path.exists() else f"removed {path} (no longer generated)")
        for warning in bootconf.missing_files(inv, tftp_root):
            log.line(f"warning: {warning}")

    return _task(settings, nodes_path, "boot-config",
                 "dhcpd.conf, /etc/exports and tftpd-hpa settings for the nodes in nodes.toml",
                 bootconf.config_files, write)


def task_boot_tftp(settings: Settings, nodes_path: Path) -> dict[str, Any]:
    """Per-node iPXE scripts under tftpboot/ipxe/ for nodes.toml's ipxe nodes."""

    def write(inv: bootconf.Inventory, tftp_root: Path, log: TaskLog) -> None:
        changed, removed = bootconf.write_tftp(inv, tftp_root)
        for path in changed:
            log.line(f"wrote {path}")
        for path in removed:
            log.line(f"removed {path} (node no longer in nodes.toml)")

    return _task(settings, nodes_path, "boot-tftp",
                 f"per-node iPXE boot scripts in {settings.tftpboot}/ipxe for nodes.toml",
                 bootconf.tftp_files, write, protected="the nodes' installed iPXE scripts")
