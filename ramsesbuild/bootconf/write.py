"""Put the generated files in place: everything rendered first, then each file written
atomically (and only if its text changed), so a bad inventory never leaves half a config."""

from __future__ import annotations

from pathlib import Path

from ..errors import BootConfigError
from ..fsutil import write_if_changed
from .inventory import Inventory
from .render import GENERATED, render_dhcpd, render_exports, render_ipxe, render_tftpd

CONFIG_NAMES = ("dhcpd.conf", "exports", "tftpd-hpa")
IPXE_DIR = "ipxe"


def config_files(inv: Inventory, tftp_root: Path) -> dict[Path, str]:
    """The server-side configuration, in the inventory's output directory."""
    texts = (render_dhcpd(inv), render_exports(inv), render_tftpd(inv, tftp_root))
    return {inv.output / name: text for name, text in zip(CONFIG_NAMES, texts, strict=False)}


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
    return write_files(config_files(inv, tftp_root))


def write_tftp(inv: Inventory, tftp_root: Path) -> tuple[list[Path], list[Path]]:
    """Write the boot scripts and prune stale ones; returns (changed, removed)."""
    files = tftp_files(inv, tftp_root)
    changed = write_files(files)
    return changed, prune_scripts(tftp_root, set(files))
