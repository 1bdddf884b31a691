"""What the generated configuration hands out that is not (yet) in the tftp root: one warning
line per missing file, naming the nodes that need it and how to get it. boot-config reports
them (the images may come later in the same run; the loaders come from Debian's ipxe)."""

from __future__ import annotations

from pathlib import Path

from ..vocabulary import BootMethod, Firmware, RomKind
from .inventory import Inventory, Node

DEBIAN_IPXE = Path("/usr/lib/ipxe")  # Debian's ipxe package: snponly.efi, ipxe.efi, undionly.kpxe, ...
DEBIAN_LOADERS = ("snponly.efi", "ipxe.efi", "undionly.kpxe", "undionly.kkpxe", "ipxe.pxe")


def _names(nodes: list[Node]) -> str:
    shown = ", ".join(n.name for n in nodes[:5])
    return shown + (f" and {len(nodes) - 5} more" if len(nodes) > 5 else "")


def _loader(what: str, nodes: list[Node], loader: str, tftp_root: Path) -> str:
    base = Path(loader).name
    how = (f"apt-get install ipxe; cp {DEBIAN_IPXE / base} {tftp_root / loader}" if base in DEBIAN_LOADERS
           else f"put the iPXE loader there (Debian's ipxe ships {', '.join(DEBIAN_LOADERS[:3])} in {DEBIAN_IPXE})")
    return f"{what} ({_names(nodes)}) get {loader}, not (yet) in {tftp_root}: {how}"


def missing_files(inv: Inventory, tftp_root: Path) -> list[str]:
    """One line per file DHCP or an iPXE script names that *tftp_root* does not hold."""
    out = []
    for node in inv.nodes:
        if not (tftp_root / node.boot_image).exists():
            hint = " (3Com MBA image: set ramses.toml [netboot] mba = true)" if node.rom is RomKind.THREECOM else ""
            out.append(f"node {node.name} boots {node.boot_image}, not (yet) in {tftp_root}{hint}")
    uefi = [n for n in inv.nodes if n.firmware is Firmware.UEFI]
    if uefi and not (tftp_root / inv.efi_loader).exists():
        out.append(_loader("UEFI nodes", uefi, inv.efi_loader, tftp_root))
    chained = [n for n in inv.nodes if n.method is BootMethod.IPXE and n.firmware is Firmware.BIOS]
    if chained and inv.ipxe_chain and not (tftp_root / inv.ipxe_chain).exists():
        out.append(_loader("BIOS PXE nodes", chained, inv.ipxe_chain, tftp_root))
    return out
