"""Read the x86 Linux boot-protocol header of a zImage/bzImage (Documentation/x86/boot.rst).

Only what mknbi needs is decoded: setup_sects (0x1F1), the 0xAA55 boot signature (0x1FE),
the ``HdrS`` magic (0x202), the protocol version (0x206) and loadflags (0x211), plus a few
newer fields the first stage and our own checks use when the protocol is recent enough.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

from ..errors import ImageError

HEADER_BYTES = 1024  # boot sector + first setup sector: everything read here lives in them
MIN_PROTOCOL = 0x0201  # mknbi 1.0/1.4.4 refuse older kernels (no HdrS or no heap_end_ptr)
LOADED_HIGH = 0x01  # loadflags bit 0: protected-mode code goes to 0x100000 (bzImage)


@dataclass(frozen=True)
class KernelHeader:
    """The parts of a kernel's setup header that decide where the image goes in memory."""

    path: Path
    file_size: int
    setup_sects: int  # byte 0x1F1, used literally (mknbi does not apply the "0 means 4" rule)
    protocol: int  # word 0x206, e.g. 0x0203 for 2.4.18, 0x020F for 6.1
    loadflags: int  # byte 0x211
    syssize: int  # 0x1F4, 16-byte paragraphs of protected-mode code (informational)
    cmdline_size: int | None  # 0x238, protocol >= 2.06
    initrd_addr_max: int | None  # 0x22C, protocol >= 2.03

    @property
    def is_bzimage(self) -> bool:
        return bool(self.loadflags & LOADED_HIGH)

    @property
    def kind(self) -> str:
        return "bzImage" if self.is_bzimage else "zImage"

    @property
    def setup_len(self) -> int:
        return self.setup_sects * 512

    @property
    def payload_offset(self) -> int:
        """File offset of the protected-mode kernel (everything after boot sector + setup)."""
        return 512 + self.setup_len

    @property
    def payload_len(self) -> int:
        return self.file_size - self.payload_offset

    @property
    def protocol_str(self) -> str:
        return f"{self.protocol >> 8}.{self.protocol & 0xFF:02d}"


def parse_kernel_header(head: bytes, file_size: int, path: Path) -> KernelHeader:
    """Decode *head* (the first 1024 bytes of *path*); raise ImageError for anything unusable."""
    if len(head) < HEADER_BYTES:
        raise ImageError(
            f"{path}: truncated or not a Linux kernel: {file_size} bytes, but a zImage/bzImage has "
            f"at least {HEADER_BYTES} (boot sector + setup header). Pass arch/x86/boot/bzImage"
        )
    (setup_sects,) = struct.unpack_from("<B", head, 0x1F1)
    (syssize,) = struct.unpack_from("<I", head, 0x1F4)
    (sig,) = struct.unpack_from("<H", head, 0x1FE)
    if sig != 0xAA55:
        raise ImageError(
            f"{path}: not a Linux kernel image (no 0xAA55 boot signature at 0x1FE, found {sig:#06x}). "
            "Pass the bootable image (arch/x86/boot/bzImage or zImage), not vmlinux or a compressed file"
        )
    magic = head[0x202:0x206]
    (protocol,) = struct.unpack_from("<H", head, 0x206)
    if magic != b"HdrS":
        raise ImageError(
            f"{path}: not a usable Linux kernel image: no 'HdrS' setup header at 0x202 (boot protocol "
            "< 2.00, Linux < 1.3.73). mknbi needs boot protocol 2.01 or later (Linux 2.2+)"
        )
    if protocol < MIN_PROTOCOL:
        raise ImageError(
            f"{path}: boot protocol {protocol >> 8}.{protocol & 0xFF:02d} is too old; mknbi needs "
            "2.01 or later (Linux 2.2+). Build a newer kernel or use another loader"
        )
    loadflags = head[0x211]
    header = KernelHeader(
        path=path,
        file_size=file_size,
        setup_sects=setup_sects,
        protocol=protocol,
        loadflags=loadflags,
        syssize=syssize if protocol >= 0x0204 else syssize & 0xFFFF,
        cmdline_size=struct.unpack_from("<I", head, 0x238)[0] if protocol >= 0x0206 else None,
        initrd_addr_max=struct.unpack_from("<I", head, 0x22C)[0] if protocol >= 0x0203 else None,
    )
    if header.payload_len < 0:
        raise ImageError(
            f"{path}: truncated kernel: setup_sects={setup_sects} says the protected-mode code starts "
            f"at byte {header.payload_offset}, but the file has only {file_size} bytes. "
            "Re-copy the kernel (it was cut short) or rebuild it"
        )
    return header


def read_kernel_header(path: Path) -> KernelHeader:
    """Read and check the setup header of the kernel file at *path*."""
    path = Path(path)
    try:
        with open(path, "rb") as fh:
            head = fh.read(HEADER_BYTES)
            size = fh.seek(0, 2)
    except IsADirectoryError:
        raise ImageError(f"{path}: is a directory, not a kernel image file") from None
    except OSError as exc:
        raise ImageError(f"{path}: cannot read kernel image: {exc.strerror}") from None
    return parse_kernel_header(head, size, path)
