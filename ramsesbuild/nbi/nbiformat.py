"""The NBI ("tagged image") container: header, segment descriptors, 512-byte header block.

Format: "Draft Net Boot Image Proposal 0.3"; acceptance rules as iPXE's nbi.c applies them
(mknbi.md §1, §7). All fields little-endian. Packing here mirrors mknbi's Nbi.pm byte for byte.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

from .. import formats

NBI_MAGIC = int.from_bytes(formats.NBI_MAGIC, "little")  # 0x1B031336
HEADER_BLOCK = 512
BOOT_SIGNATURE = b"\x55\xaa"  # mknbi writes it at 510; no loader checks it

FLAG_PROGRAM_RETURNS = 1 << 8
FLAG_LINEAR_EXEC = 1 << 31
SEG_LAST = 0x04
ADDR_MODES = {0: "absolute", 1: "after previous", 2: "end of memory", 3: "before previous"}

TAG_ROLES = {16: "first stage", 17: "command line", 18: "boot sector", 19: "setup", 20: "kernel", 21: "initrd"}


def nbi_length(byte: int) -> int:
    """Decode a nibble-coded length byte into bytes (iPXE's NBI_LENGTH)."""
    return ((byte & 0x0F) << 2) + ((byte & 0xF0) >> 2)


def header_vendor(vendor: str | bytes) -> bytes:
    """Nbi.pm add_header: NUL-pad to (len+4)&~3, so there is always at least one NUL."""
    raw = vendor.encode() if isinstance(vendor, str) else vendor
    return raw.ljust((len(raw) + 4) & ~3, b"\0")


def segment_vendor(vendor: bytes) -> bytes:
    """Nbi.pm add_segment: NUL-pad to (len+3)&~3 (no forced NUL, unlike the header)."""
    return vendor.ljust((len(vendor) + 3) & ~3, b"\0")


def seg_off(segment: int, offset: int = 0) -> int:
    """Pack a real-mode far pointer as NBI stores it: offset in the low word, segment high."""
    return ((segment & 0xFFFF) << 16) | (offset & 0xFFFF)


def seg_off_linear(value: int) -> int:
    return ((value >> 16) << 4) + (value & 0xFFFF)


@dataclass(frozen=True)
class NbiHeader:
    """The image header at file offset 0 (16 bytes + vendor data)."""

    flags: int  # whole flags dword, low byte is the nibble-coded length (set by make())
    location: int  # seg:off dword where the loader puts the 512-byte header block
    exec_addr: int  # seg:off dword, or a linear address when FLAG_LINEAR_EXEC is set
    vendor: bytes = b""  # padded vendor data, a multiple of 4 bytes

    @classmethod
    def make(cls, vendor: str | bytes, location: int, exec_addr: int, *, linear: bool,
             returns: bool = False) -> NbiHeader:
        data = header_vendor(vendor)
        flags = (len(data) << 2) + 4
        if linear:
            flags |= FLAG_LINEAR_EXEC
        if returns:
            flags |= FLAG_PROGRAM_RETURNS
        return cls(flags & 0xFFFFFFFF, location, exec_addr, data)

    @property
    def length(self) -> int:
        return nbi_length(self.flags & 0xFF)

    @property
    def linear_exec(self) -> bool:
        return bool(self.flags & FLAG_LINEAR_EXEC)

    @property
    def program_returns(self) -> bool:
        return bool(self.flags & FLAG_PROGRAM_RETURNS)

    @property
    def location_linear(self) -> int:
        return seg_off_linear(self.location)

    @property
    def entry_linear(self) -> int:
        return self.exec_addr if self.linear_exec else seg_off_linear(self.exec_addr)

    @property
    def vendor_text(self) -> str:
        return self.vendor.split(b"\0", 1)[0].decode("ascii", "replace")

    def pack(self) -> bytes:
        return struct.pack("<4I", NBI_MAGIC, self.flags, self.location, self.exec_addr) + self.vendor


@dataclass(frozen=True)
class SegmentDescriptor:
    """One load record (16 bytes + vendor data)."""

    tag: int
    load_addr: int
    imglen: int
    memlen: int
    last: bool = False
    mode: int = 0  # address mode, flags bits 0-1; mknbi only ever uses 0 (absolute)
    vendor: bytes = b""  # padded vendor data, a multiple of 4 bytes
    extra_flags: int = 0  # flag bits other than mode and LAST (0 in anything mknbi writes)
    reserved: int = 0

    @property
    def flags(self) -> int:
        return (self.mode & 3) | (SEG_LAST if self.last else 0) | (self.extra_flags & ~(SEG_LAST | 3) & 0xFF)

    @property
    def length_byte(self) -> int:
        return ((len(self.vendor) // 4) << 4) | 4

    @property
    def size(self) -> int:
        return 16 + len(self.vendor)

    @property
    def role(self) -> str:
        return TAG_ROLES.get(self.tag, f"tag {self.tag}")

    def pack(self) -> bytes:
        head = struct.pack("<4B3I", self.length_byte, self.tag, self.reserved, self.flags,
                           self.load_addr, self.imglen, self.memlen)
        return head + self.vendor


def pack_header_block(header: NbiHeader, segments: list[SegmentDescriptor] | tuple[SegmentDescriptor, ...]) -> bytes:
    """Nbi.pm dump_segments: header, descriptors, NULs, 55 AA at 510."""
    body = header.pack() + b"".join(s.pack() for s in segments)
    if len(body) > HEADER_BLOCK - 2:
        raise ValueError(f"NBI header and descriptors take {len(body)} bytes; at most 510 fit")
    return body.ljust(HEADER_BLOCK - 2, b"\0") + BOOT_SIGNATURE


@dataclass(frozen=True)
class Problem:
    """A rule violation found while parsing or checking an image."""

    severity: str  # "error": iPXE refuses it or it cannot boot; "warning": unusual but loadable
    message: str


@dataclass(frozen=True)
class ParsedNbi:
    """What parse_header_block recovered, plus anything wrong with it."""

    header: NbiHeader
    segments: tuple[SegmentDescriptor, ...]
    problems: tuple[Problem, ...] = field(default=())
    has_signature: bool = False

    @property
    def ok(self) -> bool:
        return not any(p.severity == "error" for p in self.problems)


def parse_header_block(block: bytes) -> ParsedNbi | None:
    """Decode a header block the way iPXE walks it. None if there is no NBI magic."""
    if len(block) < 16 or struct.unpack_from("<I", block, 0)[0] != NBI_MAGIC:
        return None
    _, flags, location, exec_addr = struct.unpack_from("<4I", block, 0)
    problems: list[Problem] = []
    vlen = nbi_length(flags & 0xF0)
    hlen = nbi_length(flags & 0xFF)
    header = NbiHeader(flags, location, exec_addr, bytes(block[16:16 + vlen]))
    if flags & 0x0F != 4:
        problems.append(Problem("warning", f"header length nibble is {flags & 0x0F}, the spec says 4"))
    segments: list[SegmentDescriptor] = []
    off = hlen
    while True:
        if off + 16 > min(len(block), HEADER_BLOCK):
            problems.append(Problem("error", f"descriptor at header offset {off} runs past the 512-byte header"))
            break
        lb, tag, reserved, sflags, load, imglen, memlen = struct.unpack_from("<4B3I", block, off)
        if lb == 0:
            problems.append(Problem("error", f"descriptor at header offset {off} has length 0 "
                                    "(iPXE: invalid segheader)"))
            break
        svlen = nbi_length(lb & 0xF0)
        segments.append(SegmentDescriptor(
            tag=tag, load_addr=load, imglen=imglen, memlen=memlen, last=bool(sflags & SEG_LAST),
            mode=sflags & 3, vendor=bytes(block[off + 16:off + 16 + svlen]),
            extra_flags=sflags & ~(SEG_LAST | 3), reserved=reserved))
        if lb & 0x0F != 4:
            problems.append(Problem("warning", f"descriptor {len(segments)} length nibble is {lb & 0x0F}, "
                                    "the spec says 4"))
        off += nbi_length(lb)
        if off >= HEADER_BLOCK:
            problems.append(Problem("error", "descriptors run to the end of the 512-byte header "
                                    "(iPXE: header overflow)"))
            break
        if sflags & SEG_LAST:
            break
    sig = bytes(block[510:512]) == BOOT_SIGNATURE
    return ParsedNbi(header, tuple(segments), tuple(problems), sig)
