"""boot-config / boot-tftp: the cluster's DHCP, NFS and TFTP configuration from nodes.toml.

boot-config writes dhcpd.conf, exports and tftpd-hpa into nodes.toml's [boot] output directory;
boot-tftp writes the per-node iPXE scripts into the tftpboot directory. Both depend on nodes.toml
(file_dep) and on the settings they read (one config_changed), so a no-op run does nothing.
A broken nodes.toml does not break `doit list`: the task then fails with the message when run.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import Any

from doit.tools import config_changed

from .. import bootconf
from ..errors import BootConfigError
from ..log import TaskLog
from ..settings import Settings
from ..vocabulary import RomKind
from .common import logged, rel, remover

FORMAT = 1  # bump when the generated text changes, so existing outputs are rewritten


def load_inventory(settings: Settings, nodes_path: Path) -> bootconf.Inventory:
    """The checked inventory. Parsed once per content: a doit start needs it for both tasks'
    targets and again for the summary."""
    try:
        content = Path(nodes_path).read_bytes()
    except OSError:
        # says what is wrong
        return bootconf.load(nodes_path, settings.default_netboot_image(), settings.netboot_images())
    images = tuple(sorted(settings.netboot_images().items()))
    return _parse(Path(nodes_path), content, settings.default_netboot_image(), images)


@functools.lru_cache(maxsize=4)
def _parse(path: Path, content: bytes, default: str, images: tuple[tuple[str, str], ...]) -> bootconf.Inventory:
    return bootconf.loads(path, content, default, dict(images))


Files = Callable[[bootconf.Inventory, Path], dict[Path, str]]
Writer = Callable[[bootconf.Inventory, Path, TaskLog], None]


def _task(settings: Settings, nodes_path: Path, basename: str, doc: str,
          files: Files, write: Writer, protected: str | None = None,
          inputs: dict[str, Any] | None = None) -> dict[str, Any]:
    """Shared shape: load the inventory now for the targets, again at run time for the work.
    *inputs*: more settings the files depend on (one config_changed holds them all)."""
    nodes_path = Path(nodes_path)
    tftp_root = settings.tftpboot
    images = settings.netboot_images()
    try:
        paths = sorted(str(p) for p in files(load_inventory(settings, nodes_path), tftp_root))
    except BootConfigError:
        paths = []  # the action reports it

    def body(log: TaskLog) -> None:
        inv = load_inventory(settings, nodes_path)
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
                                     "tftpboot": rel(settings.root, tftp_root), **(inputs or {})})],
        "clean": [clean],
    }


def task_boot_config(settings: Settings, nodes_path: Path) -> dict[str, Any]:
    """dhcpd.conf, exports and tftpd-hpa for the nodes in *nodes_path*."""

    def write(inv: bootconf.Inventory, tftp_root: Path, log: TaskLog) -> None:
        for path in bootconf.write_config(inv, tftp_root):
            log.line(f"wrote {path}")
        for node in inv.nodes:
            if not (tftp_root / node.boot_image).exists():
                hint = " (3Com MBA image: set ramses.toml [netboot] mba = true)" if node.rom is RomKind.THREECOM else ""
                log.line(f"warning: node {node.name} boots {node.boot_image}, not (yet) in {tftp_root}{hint}")

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
