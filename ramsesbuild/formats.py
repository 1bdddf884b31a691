"""What kind of file a boot image is, told from its first bytes: one vocabulary and one
sniffer for `ramsesbuild status`, boot-test and imggen, and the magic numbers declared once.

    nbi          Etherboot tagged image: the NBI magic at 0 (mknbi-linux)
    elf          ELF file: a netboot image from mkelf-linux, or any ELF
    mba          3Com MBA / BootWare TCP/IP image: "ExTx" at 14 (imggen)
    bzImage      Linux kernel with a setup header ("HdrS" at 0x202) that loads high
    zImage       Linux kernel with a setup header that loads low (loadflags bit 0 clear)
    ipxe-script  iPXE script ("#!ipxe")
    other        anything else
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path

NBI_MAGIC = bytes.fromhex("3613031b")  # 0x1B031336, little-endian: the first word of an NBI header block
ELF_MAGIC = b"\x7fELF"
MBA_SIGNATURE = b"ExTx"  # at MBA_SIGNATURE_AT of a 3Com MBA TCP/IP (extended) image
MBA_SIGNATURE_AT = 14
SETUP_MAGIC = b"HdrS"  # Linux setup header, at SETUP_MAGIC_AT
SETUP_MAGIC_AT = 0x202
LOADFLAGS_AT = 0x211  # bit 0: LOADED_HIGH (bzImage)
IPXE_SCRIPT = b"#!ipxe"
HEAD_BYTES = LOADFLAGS_AT + 1  # what sniff() needs to tell every kind apart


class ImageKind(StrEnum):
    """The kind of a boot image file (the value is what `status --json` says)."""

    NBI = "nbi"
    ELF = "elf"
    MBA = "mba"
    BZIMAGE = "bzImage"
    ZIMAGE = "zImage"
    IPXE_SCRIPT = "ipxe-script"
    OTHER = "other"

    @property
    def label(self) -> str:
        """How a person calls it (boot-test's messages)."""
        return _LABELS[self]

    @property
    def kernel(self) -> bool:
        """A Linux kernel image as make builds it (no netboot header)."""
        return self in (ImageKind.BZIMAGE, ImageKind.ZIMAGE)

    @property
    def ipxe_loads(self) -> bool:
        """iPXE (and so qemu's netboot) loads it as it is: NBI (an NBI-capable build), ELF, a
        kernel, a script. A 3Com MBA image needs a 3Com ROM."""
        return self not in (ImageKind.MBA, ImageKind.OTHER)


_LABELS = {
    ImageKind.NBI: "NBI", ImageKind.ELF: "ELF", ImageKind.MBA: "3Com MBA", ImageKind.BZIMAGE: "bzImage",
    ImageKind.ZIMAGE: "zImage", ImageKind.IPXE_SCRIPT: "iPXE script", ImageKind.OTHER: "unknown",
}


def sniff(head: bytes) -> ImageKind:
    """The kind of the file whose first bytes are *head* (HEAD_BYTES of them tell every kind)."""
    if head[:4] == NBI_MAGIC:
        return ImageKind.NBI
    if head[:4] == ELF_MAGIC:
        return ImageKind.ELF
    if head[MBA_SIGNATURE_AT:MBA_SIGNATURE_AT + 4] == MBA_SIGNATURE:
        return ImageKind.MBA
    if head.startswith(IPXE_SCRIPT):
        return ImageKind.IPXE_SCRIPT
    if head[SETUP_MAGIC_AT:SETUP_MAGIC_AT + 4] == SETUP_MAGIC:
        loads_low = len(head) > LOADFLAGS_AT and not head[LOADFLAGS_AT] & 1
        return ImageKind.ZIMAGE if loads_low else ImageKind.BZIMAGE
    return ImageKind.OTHER


def sniff_file(path: Path) -> ImageKind:
    """The kind of the file at *path* (OSError when it cannot be read)."""
    with open(path, "rb") as fh:
        return sniff(fh.read(HEAD_BYTES))
