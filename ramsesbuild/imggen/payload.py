"""Checks on the payload (the file that follows the header) that the original imggen never made.

The MBA header turns the payload into a 1.44 MB drive A: and runs its sector 0 as a floppy boot
sector, so the payload must be floppy-bootable: a Linux kernel that still has its floppy loader
(2.4 and older) or a floppy image.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Literal

from ..formats import ImageKind, sniff
from . import header as mba_header

BOOT_SIGNATURE = b"\x55\xaa"
NFS_ROOT_DEV = 0x00FF
# The floppy loader went in 2.5.x. Boot protocol 2.03 (2.4.18 .. 2.6.13) spans the removal,
# so a 2.03 kernel is judged by its sector 0, which 2.6 and later fill with one of these.
NO_FLOPPY_LOADER = (b"Direct booting from floppy is no longer supported", b"Use a boot loader")
LAST_FLOPPY_PROTOCOL = 0x0203


@dataclass(frozen=True)
class Finding:
    level: Literal["error", "warning"]
    message: str


@dataclass(frozen=True)
class KernelInfo:
    version: str | None  # from the setup header, if the kernel has one
    floppy_loader: bool
    root_dev: int


def kernel_info(data: bytes) -> KernelInfo | None:
    """Linux kernel facts, or None if *data* does not look like a zImage/bzImage."""
    if len(data) < 0x230 or data[0x202:0x206] != b"HdrS":
        return None
    version = None
    (ptr,) = struct.unpack_from("<H", data, 0x20E)
    if ptr and 0x200 + ptr < len(data):
        raw = data[0x200 + ptr:0x200 + ptr + 128].split(b"\0", 1)[0]
        version = raw.decode("latin-1").split(" ", 1)[0] or None
    (protocol,) = struct.unpack_from("<H", data, 0x206)
    sector0 = data[:512]
    floppy = protocol <= LAST_FLOPPY_PROTOCOL and not any(msg in sector0 for msg in NO_FLOPPY_LOADER)
    (root_dev,) = struct.unpack_from("<H", data, 0x1FC)
    return KernelInfo(version, floppy, root_dev)


def inspect(data: bytes, name: str) -> list[Finding]:
    """Everything wrong or suspicious about *data* as an MBA payload, errors before warnings."""
    if not data:
        return [Finding("error", f"{name}: empty file")]
    findings: list[Finding] = []
    kind = sniff(data)
    if kind is ImageKind.NBI:
        findings.append(Finding("error", (
            f"{name}: is an Etherboot tagged (NBI) image. A floppy header boots sector 0 of the payload "
            "as a floppy boot sector, so the NBI header would be run as code; `imggen -a` without "
            "--imggen/--writable/--force loads NBI images with its NBI-loading header")))
    elif kind is ImageKind.MBA:
        findings.append(Finding("error", (
            f"{name}: already starts with an MBA header (\"ExTx\" at offset 14); give imggen the "
            "payload, not an image it made")))
    elif kind is ImageKind.ELF:
        findings.append(Finding("error", (
            f"{name}: is an ELF file (e.g. mkelf-linux output), not floppy-bootable; give imggen the "
            "raw kernel (zImage/bzImage) or a floppy image instead")))
    if len(data) > mba_header.FLOPPY_BYTES:
        findings.append(Finding("error", (
            f"{name}: is {len(data):,} bytes, more than the {mba_header.FLOPPY_BYTES:,} bytes of the "
            "virtual 1.44 MB floppy; sectors past 2880 cannot be read. Build a smaller kernel "
            "(fewer built-in drivers, modules) or boot it through PXE/iPXE instead")))
    kernel = kernel_info(data)
    if kernel is not None and not kernel.floppy_loader:
        findings.append(Finding("error", (
            f"{name}: Linux kernel {kernel.version or '(unknown version)'} has no floppy loader "
            "(removed in 2.5/2.6), so it cannot boot from the MBA virtual floppy. Use a 2.4 kernel, "
            "or boot this one through PXE/iPXE (nodes.toml boot = \"ipxe\")")))
    if data[510:512] != BOOT_SIGNATURE:
        findings.append(Finding("warning", (
            f"{name}: no 55AA boot signature at offset 510; sector 0 does not look like a boot "
            "sector (the header runs it anyway)")))
    if kernel is not None and kernel.floppy_loader and kernel.root_dev != NFS_ROOT_DEV:
        findings.append(Finding("warning", (
            f"{name}: root device in the kernel image is {kernel.root_dev:#06x}, not /dev/nfs "
            f"({NFS_ROOT_DEV:#06x}); a floppy-booted kernel gets no command line, so a diskless "
            "client needs 0x00ff there (`mknod /dev/nfs b 0 255; rdev IMAGE /dev/nfs`)")))
    return findings
