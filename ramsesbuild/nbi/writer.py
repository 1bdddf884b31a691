"""Stream an ImagePlan to a file: the NBI header block or ELF headers, then the segment data."""

from __future__ import annotations

from collections.abc import Iterator
from typing import IO

from ..errors import ImageError
from .elfformat import CHECKSUM_OFFSET, NOTE_OFFSET, InternetChecksum, ProgramHeader, header_block, pack_ehdr
from .layout import ImagePlan, PlannedSegment, Source
from .nbiformat import HEADER_BLOCK, pack_header_block

CHUNK = 1 << 20


def source_chunks(src: Source, chunk: int = CHUNK) -> Iterator[bytes]:
    """Yield the bytes of *src*; a file that shrank since planning is an error."""
    if src.data is not None:
        yield src.data
        return
    assert src.path is not None
    remaining = src.length
    try:
        with open(src.path, "rb") as fh:
            fh.seek(src.offset)
            while remaining:
                data = fh.read(min(chunk, remaining))
                if not data:
                    raise ImageError(f"{src.path}: file shrank while the image was being written "
                                     f"({remaining} bytes missing at offset {src.offset + src.length - remaining}); "
                                     "do not rebuild the kernel/initrd while mknbi runs, then retry")
                remaining -= len(data)
                yield data
    except OSError as exc:
        raise ImageError(f"{src.path}: cannot read: {exc.strerror}") from None


def segment_data(seg: PlannedSegment) -> Iterator[bytes]:
    """The segment's bytes followed by NULs up to imglen."""
    written = 0
    for data in source_chunks(seg.source):
        written += len(data)
        yield data
    pad = seg.descriptor.imglen - written
    if pad < 0:
        raise AssertionError(f"segment tag {seg.descriptor.tag}: {written} bytes exceed imglen {seg.descriptor.imglen}")
    if pad:
        yield bytes(pad)


def write_nbi(plan: ImagePlan, fh: IO[bytes]) -> int:
    """Write an NBI image; return its size."""
    size = fh.write(pack_header_block(plan.header, plan.descriptors))
    for seg in plan.segments:
        for data in segment_data(seg):
            size += fh.write(data)
    return size


def elf_program_headers(plan: ImagePlan) -> list[ProgramHeader]:
    phdrs = []
    if plan.elf_loads_header:
        phdrs.append(ProgramHeader.load(0, plan.header.location_linear, NOTE_OFFSET))
    offset = HEADER_BLOCK
    for seg in plan.descriptors:
        phdrs.append(ProgramHeader.load(offset, seg.load_addr, seg.imglen))
        offset += seg.imglen
    phdrs.append(ProgramHeader.note())
    return phdrs


def write_elf(plan: ImagePlan, fh: IO[bytes]) -> int:
    """Write an ELF image (fh must be seekable: the checksum is patched in at the end)."""
    phdrs = elf_program_headers(plan)
    ehdr = pack_ehdr(plan.entry, len(phdrs), plan.elf_flags)
    csum = InternetChecksum()
    csum.add(ehdr)
    for p in phdrs:
        csum.add(p.pack())
    block = header_block(ehdr, phdrs, 0)
    if plan.elf_loads_header:
        csum.add(block[:NOTE_OFFSET])
    start = fh.tell()
    size = fh.write(block)
    for seg in plan.segments:
        for data in segment_data(seg):
            csum.add(data)
            size += fh.write(data)
    end = fh.tell()
    fh.seek(start + CHECKSUM_OFFSET)
    fh.write(csum.value.to_bytes(2, "little"))
    fh.seek(end)
    return size


def write_image(plan: ImagePlan, fmt: str, fh: IO[bytes]) -> int:
    return write_elf(plan, fh) if fmt == "elf" else write_nbi(plan, fh)
