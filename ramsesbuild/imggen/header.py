"""The 3Com MBA / BootWare "TCP/IP image" (extended image) header: its bytes.

Only the fields the ROM reads are common to every such header (offsets from the start of the
image file): +2 "BWAPI" (optional: keep the ROM resident), +10 header size, +12 KB of extended
memory needed, +14 "ExTx". Everything after +18 belongs to the header's own code; our two
clean-room headers keep their parameters at 0x20: :class:`StubParams` ("RBMB", the floppy
header, mba_stub.S) and :class:`NbiStubParams` ("RBNB", the NBI loader, mba_nbi.S).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from ..errors import ImageError
from ..formats import MBA_SIGNATURE, MBA_SIGNATURE_AT

HEADER_SIZE = 0x1000
LOAD_SEGMENT = 0x1000  # the ROM puts the first HeadSize bytes at 1000:0000
EXTENDED_BASE = 0x110000  # ... and the rest of the file here
FLOPPY_BYTES = 80 * 2 * 18 * 512  # 1,474,560: the virtual drive A: both headers emulate
API_SIGNATURE = b"BWAPI"
STUB_MAGIC = b"RBMB"
NBI_STUB_MAGIC = b"RBNB"
STUB_VERSION = 1
FLAG_WRITE_PROTECT = 0x01
MAX_EXT_KB = 0xFFFF  # +12 is a 16-bit KB count


@dataclass(frozen=True)
class MbaHeader:
    """What the ROM sees in the first bytes of an image."""

    head_size: int
    ext_kb: int
    name: str
    keeps_rom: bool  # "BWAPI" at +2: the ROM stays resident (NoDisengage)

    @classmethod
    def parse(cls, data: bytes, where: str) -> MbaHeader:
        if len(data) < 0x20 or data[MBA_SIGNATURE_AT:MBA_SIGNATURE_AT + 4] != MBA_SIGNATURE:
            raise ImageError(f"{where}: no \"ExTx\" signature at offset 14; this is not a 3Com MBA "
                             "TCP/IP (extended) image header")
        head_size, ext_kb = struct.unpack_from("<HH", data, 10)
        if head_size == 0 or head_size % 512 or head_size > len(data):
            raise ImageError(f"{where}: header size {head_size} at offset 10 must be a non-zero "
                             f"multiple of 512 within the file")
        name = data[18:0x20].split(b"\0", 1)[0].decode("latin-1")
        return cls(head_size, ext_kb, name, data[2:7] == API_SIGNATURE)


@dataclass(frozen=True)
class StubParams:
    """The parameter block of our clean-room header (offsets 0x20-0x41, see mba_stub.S)."""

    version: int
    flags: int
    sectors_per_track: int
    heads: int
    cylinders: int
    total_sectors: int
    disk_base: int
    resident_bytes: int
    resident_kb: int

    FORMAT = "<4sBBHHHHI"
    FLAGS_OFFSET = 0x25

    @classmethod
    def parse(cls, data: bytes) -> StubParams:
        magic, version, flags, spt, heads, cyls, total, base = struct.unpack_from(cls.FORMAT, data, 0x20)
        if magic != STUB_MAGIC:
            raise ImageError("not a ramsesbuild clean-room header (no \"RBMB\" at offset 0x20)")
        res_bytes, res_kb = struct.unpack_from("<HH", data, 0x3E)
        return cls(version, flags, spt, heads, cyls, total, base, res_bytes, res_kb)

    @property
    def write_protected(self) -> bool:
        return bool(self.flags & FLAG_WRITE_PROTECT)

    @property
    def disk_bytes(self) -> int:
        return self.total_sectors * 512


@dataclass(frozen=True)
class NbiStubParams:
    """The parameter block of our NBI-loading header (offsets 0x20-0x37, see mba_nbi.S)."""

    version: int
    bootp_copy: int  # bytes of the ROM's BOOTP reply the header copies
    payload_len: int  # NBI image length, patched in when the image is made
    payload_addr: int  # where the ROM puts it (0x110000)
    reloc_seg: int  # where the header moves itself
    resident_bytes: int
    low_end: int  # offset (from reloc_seg:0) where everything the header uses there ends
    max_segments: int  # header block + descriptors its table holds

    FORMAT = "<4sBBHIIHHHH"
    PAYLOAD_LEN_OFFSET = 0x28

    @classmethod
    def parse(cls, data: bytes) -> NbiStubParams:
        magic, version, _flags, bootp, paylen, payaddr, seg, res, low, maxsegs = struct.unpack_from(
            cls.FORMAT, data, 0x20)
        if magic != NBI_STUB_MAGIC:
            raise ImageError("not a ramsesbuild NBI-loading header (no \"RBNB\" at offset 0x20)")
        return cls(version, bootp, paylen, payaddr, seg, res, low, maxsegs)

    @property
    def low_limit(self) -> int:
        """Linear address below which no NBI segment may lie (the moved header, its table, stack)."""
        return self.reloc_seg * 16 + self.low_end


def header_kind(data: bytes) -> str:
    """Which clean-room header *data* starts with: "floppy", "nbi" or "other"."""
    magic = data[0x20:0x24]
    return {STUB_MAGIC: "floppy", NBI_STUB_MAGIC: "nbi"}.get(magic, "other")
