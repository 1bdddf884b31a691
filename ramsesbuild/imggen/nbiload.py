"""What our NBI-loading MBA header (mba_nbi.S) will do with an NBI image, decided at build time.

The header walks the NBI header at boot with iPXE's rules; this module applies the same rules
(plus the header's own limits) before an image is written, so a malformed or oversized input
is refused with one line instead of stopping a node at boot. It also computes what the header
cannot: the KB of extended memory the ROM must find (+12), and where the payload will move.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from pathlib import Path

from ..errors import ImageError
from ..nbi import firststage
from ..nbi.checks import check_segments
from ..nbi.memmap import RAMSES_VENDOR
from ..nbi.nbiformat import (
    HEADER_BLOCK,
    NbiHeader,
    ParsedNbi,
    parse_header_block,
    seg_off_linear,
)
from . import header as mba_header

MIB = 1 << 20
BASE_MEMORY_END = 0xA0000  # 640 KiB; the header checks INT 12h's figure at boot
FIRST_STAGE_TAG = 16
# mknbi 1.0's first.linux as shipped in Etherboot 4.6.12 (mknbi.md §6.4): recognised, not shipped
KNOWN_FIRST_STAGES = {  # (size, sha256) -> name
    (3296, "eacb44ba50969b48889a52af8ee711ed49a6847826f2de13486e00cf4a631666"):
        "mknbi 1.0 first.linux (Etherboot 4.6.12)",
}


@dataclass(frozen=True)
class Region:
    """One piece of memory the header fills: the header block or a segment."""

    name: str
    dest: int | None  # None: address mode "end of memory", known only at boot
    filesz: int
    memsz: int
    offset: int  # in the NBI file

    @property
    def end(self) -> int | None:
        return None if self.dest is None else self.dest + self.memsz


@dataclass(frozen=True)
class NbiLoad:
    """An NBI image as the MBA header will load it."""

    path: Path
    base: int  # file offset of the NBI image in *path* (4096 inside an MBA image, else 0)
    size: int
    parsed: ParsedNbi
    regions: tuple[Region, ...]
    kind: str  # which tool/layout made it
    first_stage: str | None  # what its tag-16 segment is, if it has one
    moved_to: int | None  # where the header moves the payload first (None: it stays at 0x110000)
    top: int  # highest address the header writes

    @property
    def header(self) -> NbiHeader:
        return self.parsed.header

    @property
    def ext_kb(self) -> int:
        """KB of extended memory (above 1 MiB) the ROM must find: the header's +12."""
        return math.ceil((self.top - MIB) / 1024)

    @property
    def entry(self) -> str:
        h = self.header
        if h.linear_exec:
            return f"32-bit entry {h.exec_addr:#010x}"
        return f"16-bit entry {h.exec_addr >> 16:04x}:{h.exec_addr & 0xFFFF:04x}"

    def summary(self) -> str:
        moved = f", moved to {self.moved_to:#x} at boot" if self.moved_to is not None else ""
        return (f"{self.kind}, {self.entry}, {len(self.regions) - 1} segments{moved}; "
                f"needs {self.ext_kb:,} KB of extended memory")


def read_block(path: Path, base: int = 0) -> tuple[bytes, int]:
    """The 512-byte header block of the NBI image at offset *base* of *path*, and its size."""
    try:
        size = path.stat().st_size - base
        with open(path, "rb") as fh:
            fh.seek(base)
            block = fh.read(HEADER_BLOCK)
    except OSError as exc:
        raise ImageError(f"{path}: cannot read the input file: {exc.strerror}") from None
    if len(block) < HEADER_BLOCK:
        raise ImageError(f"{path}: {size} bytes is too short for an NBI image (its header block alone is "
                         f"{HEADER_BLOCK}); give imggen the complete mknbi output")
    return block, size


def analyse(path: Path, params: mba_header.NbiStubParams, base: int = 0) -> NbiLoad:
    """Check the NBI image at offset *base* of *path* against iPXE's NBI rules and the header's
    limits; one-line ImageError if it fails them."""
    path = Path(path)
    block, size = read_block(path, base)
    parsed = parse_header_block(block)
    if parsed is None:
        raise ImageError(f"{path}: no NBI magic 36 13 03 1B at offset 0; give imggen -a an mknbi "
                         "(tagged) image")
    problems = [p for p in parsed.problems if p.severity == "error"]
    if not problems and parsed.segments:
        problems = [p for p in check_segments(parsed.header.location_linear, parsed.segments, size)
                    if p.severity == "error"]
    if problems:
        raise ImageError(f"{path}: not a loadable NBI image: {problems[0].message}")
    if not parsed.segments:
        raise ImageError(f"{path}: not a loadable NBI image: it has no segments")
    if len(parsed.segments) + 1 > params.max_segments:
        raise ImageError(f"{path}: has {len(parsed.segments)} segments; the MBA header loads at most "
                         f"{params.max_segments - 1}")
    regions = _regions(parsed)
    _check_entry(path, parsed.header, regions)
    for r in regions:
        _check_region(path, r, params)
    moved_to, top = _payload_plan(regions, size, params.payload_addr)
    load = NbiLoad(path, base, size, parsed, regions, _kind(parsed.header),
                   _first_stage(path, base, parsed, regions), moved_to, top)
    if load.ext_kb > mba_header.MAX_EXT_KB:
        raise ImageError(f"{path}: loading it takes memory up to {top:#x} ({load.ext_kb:,} KB above 1 MiB), "
                         f"more than the {mba_header.MAX_EXT_KB:,} KB an MBA header can ask the ROM for; "
                         "make the kernel or initrd smaller")
    return load


def _regions(parsed: ParsedNbi) -> tuple[Region, ...]:
    """Header block + segments with their addresses, as the header computes them (iPXE's modes)."""
    loc = parsed.header.location_linear
    out = [Region("header block", loc, HEADER_BLOCK, HEADER_BLOCK, 0)]
    offset = HEADER_BLOCK
    prev: int | None = loc
    prev_mem = HEADER_BLOCK
    for n, s in enumerate(parsed.segments, 1):
        dest: int | None
        if s.mode == 0:
            dest = s.load_addr
        elif s.mode == 1:
            dest = None if prev is None else prev + prev_mem + s.load_addr
        elif s.mode == 3:
            dest = None if prev is None else prev - s.load_addr
        else:
            dest = None  # end of memory - value
        out.append(Region(f"segment {n} ({s.role})", dest, s.imglen, s.memlen, offset))
        offset += s.imglen
        prev, prev_mem = dest, s.memlen
    return tuple(out)


def _check_entry(path: Path, header: NbiHeader, regions: tuple[Region, ...]) -> None:
    entry = header.exec_addr if header.linear_exec else seg_off_linear(header.exec_addr)
    if any(r.dest is None for r in regions):
        return
    if not any(r.dest is not None and r.dest <= entry < r.dest + r.filesz for r in regions):
        raise ImageError(f"{path}: not a loadable NBI image: its entry point {entry:#x} lies in no segment's data")


def _check_region(path: Path, r: Region, params: mba_header.NbiStubParams) -> None:
    if r.dest is None or r.memsz == 0:
        return
    end = r.dest + r.memsz
    where = f"{path}: {r.name} at [{r.dest:#x}, {end:#x})"
    if end > 1 << 32:
        raise ImageError(f"{where} runs past 4 GiB")
    if r.dest < params.low_limit:
        raise ImageError(f"{where} overlaps the MBA header, which moves itself to "
                         f"[{params.reloc_seg * 16:#x}, {params.low_limit:#x}) before loading")
    if r.dest < MIB and end > BASE_MEMORY_END:
        raise ImageError(f"{where} reaches into the 640 KiB - 1 MiB hole (video memory and ROMs)")


def _payload_plan(regions: tuple[Region, ...], size: int, payload: int) -> tuple[int | None, int]:
    """Where the header moves the payload (None: nowhere) and the highest address it writes."""
    ends = [r.end for r in regions if r.end is not None and r.memsz]
    highest = max(ends, default=0)
    overlap = any(r.dest is not None and r.memsz and r.dest < payload + size and r.dest + r.memsz > payload
                  for r in regions)
    if not overlap:
        return None, max(highest, payload + size)
    moved = (highest + 0xFFF) & ~0xFFF
    return moved, moved + (size + 3) // 4 * 4


def _kind(header: NbiHeader) -> str:
    vendor = header.vendor_text
    if vendor == RAMSES_VENDOR:
        return "ramsesbuild NBI (layout ramses)"
    if vendor.startswith("mknbi-linux-") and header.linear_exec:
        return f"mknbi {vendor.removeprefix('mknbi-linux-')} NBI (layout {vendor.removeprefix('mknbi-linux-')})"
    if vendor == "mknbi-linux" and not header.linear_exec:
        return "mknbi 1.0 NBI (layout 1.0)"
    return f"NBI image (vendor {vendor!r})" if vendor else "NBI image (no vendor string)"


def read_segment(path: Path, base: int, region: Region, limit: int | None = None) -> bytes:
    """The data of *region* (at most *limit* bytes) from the NBI image at offset *base* of *path*."""
    try:
        with open(path, "rb") as fh:
            fh.seek(base + region.offset)
            return fh.read(region.filesz if limit is None else min(limit, region.filesz))
    except OSError as exc:
        raise ImageError(f"{path}: cannot read: {exc.strerror}") from None


def _first_stage(path: Path, base: int, parsed: ParsedNbi, regions: tuple[Region, ...]) -> str | None:
    """Name the tag-16 first stage: ours, mknbi 1.0's, or unknown (by size and sha256)."""
    found = [(s, r) for s, r in zip(parsed.segments, regions[1:], strict=False) if s.tag == FIRST_STAGE_TAG]
    if not found:
        return None
    data = read_segment(path, base, found[0][1])
    known = dict(KNOWN_FIRST_STAGES)
    for flavour in firststage.FLAVOURS.values():
        blob = firststage.bundled(flavour)
        known[(len(blob), hashlib.sha256(blob).hexdigest())] = f"ramsesbuild {flavour.name}"
    for (size, digest), name in known.items():
        if hashlib.sha256(data[:size]).hexdigest() == digest and not data[size:].strip(b"\0"):
            return name
    body = data.rstrip(b"\0")
    return f"not ramsesbuild's ({len(body):,} bytes without trailing NULs, sha256 " \
           f"{hashlib.sha256(body).hexdigest()[:16]}...)"
