"""Put the generated files in place: everything rendered first, then each file written
atomically (and only if its text changed), so a bad inventory never leaves half a config."""

from __future__ import annotations

from pathlib import Path

from ..errors import BootConfigError
from ..fsutil import write_if_changed
from ..vocabulary import DhcpServer
from .inventory import Inventory
from .kea import render_kea
from .render import GENERATED, render_dhcpd, render_exports, render_ipxe, render_tftpd
from .web import SITE_NAME, render_nginx

CONFIG_NAMES = (*(d.config_name for d in DhcpServer), "exports", "tftpd-hpa", SITE_NAME)  # all it may write
IPXE_DIR = "ipxe"


def config_files(inv: Inventory, tftp_root: Path) -> dict[Path, str]:
    """The server-side configuration, in the inventory's output directory: the chosen DHCP
    server's configuration, exports, tftpd-hpa, and the web server's site when a node fetches
    anything over HTTP."""
    dhcp = render_kea(inv) if inv.dhcp is DhcpServer.KEA else render_dhcpd(inv)
    files = {inv.output / inv.dhcp.config_name: dhcp, inv.output / "exports": render_exports(inv),
             inv.output / "tftpd-hpa": render_tftpd(inv, tftp_root)}
    if inv.web_nodes:
        files[inv.output / SITE_NAME] = render_nginx(inv, tftp_root)
    return files


def prune_config(inv: Inventory, keep: set[Path]) -> list[Path]:
    """Remove configuration we generated earlier that this inventory no longer asks for (the other
    DHCP server's file after a switch, the web site when no node uses HTTP): nothing stale stays
    beside what is current."""
    removed = []
    for name in CONFIG_NAMES:
        path = inv.output / name
        if path not in keep and path.is_file() and GENERATED in path.read_text(errors="replace"):
            path.unlink()
            removed.append(path)
    return removed


def tftp_files(inv: Inventory, tftp_root: Path) -> dict[Path, str]:
    """The per-node boot scripts, at the path DHCP hands out, under the tftp root."""
    return {tftp_root / node.ipxe_script: render_ipxe(inv, node) for node in inv.nodes
            if node.method == "ipxe"}


def write_files(files: dict[Path, str]) -> list[Path]:
    """Write every file atomically; return those whose text changed."""
    changed = []
    for path, text in files.items():
        try:
            if write_if_changed(path, text.encode()):
                changed.append(path)
        except OSError as exc:
            raise BootConfigError(f"{path}: cannot write: {exc.strerror}; check the [boot] output "
                                  "directory in nodes.toml or [paths] tftpboot in ramses.toml") from None
    return changed


def prune_scripts(tftp_root: Path, keep: set[Path]) -> list[Path]:
    """Remove iPXE scripts we generated earlier for nodes no longer in the inventory."""
    removed: list[Path] = []
    if (tftp_root / IPXE_DIR).is_symlink():  # never prune (delete) through a link
        from ..fsutil import link_error

        raise link_error(tftp_root / IPXE_DIR)
    for script in sorted((tftp_root / IPXE_DIR).glob("*.ipxe")):
        if script not in keep and GENERATED in script.read_text(errors="replace"):
            script.unlink()
            removed.append(script)
    return removed


def write_config(inv: Inventory, tftp_root: Path) -> list[Path]:
    """Write the configuration and prune what it replaced; returns the files that changed."""
    files = config_files(inv, tftp_root)
    changed = write_files(files)
    return changed + prune_config(inv, set(files))


def write_tftp(inv: Inventory, tftp_root: Path) -> tuple[list[Path], list[Path]]:
    """Write the boot scripts and prune stale ones; returns (changed, removed)."""
    files = tftp_files(inv, tftp_root)
    changed = write_files(files)
    return changed, prune_scripts(tftp_root, set(files))
