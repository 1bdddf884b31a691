"""Stream an ImagePlan to a file: the NBI header block or ELF headers, then the segment data."""

from __future__ import annotations

import errno
import os
from collections.abc import Iterator
from typing import IO

from ..errors import ImageError
from .elfformat import CHECKSUM_OFFSET, NOTE_OFFSET, InternetChecksum, ProgramHeader, header_block, pack_ehdr
from .memmap import ImagePlan, PlannedSegment, SegmentSource
from .nbiformat import HEADER_BLOCK, pack_header_block

CHUNK = 1 << 20


def source_chunks(src: SegmentSource, chunk: int = CHUNK) -> Iterator[bytes]:
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


def segment_data(seg: PlannedSegment, imglen: int | None = None) -> Iterator[bytes]:
    """The segment's bytes followed by NULs up to imglen (default: the descriptor's)."""
    imglen = seg.descriptor.imglen if imglen is None else imglen
    written = 0
    for data in source_chunks(seg.source):
        written += len(data)
        yield data
    pad = imglen - written
    if pad < 0:
        raise AssertionError(f"segment tag {seg.descriptor.tag}: {written} bytes exceed imglen {seg.descriptor.imglen}")
    if pad:
        yield bytes(pad)


def write_nbi(plan: ImagePlan, fh: IO[bytes]) -> int:
    """Write an NBI image; return its size."""
    size = fh.write(pack_header_block(plan.header, plan.descriptors))
    for seg in plan.segments:
        copied = _copy_in_kernel(seg.source, fh)
        rest = seg.source
        if copied:
            assert rest.path is not None
            rest = SegmentSource.file_slice(rest.path, rest.offset + copied, rest.length - copied)
        size += copied
        for data in segment_data(PlannedSegment(seg.descriptor, rest), seg.descriptor.imglen - copied):
            size += fh.write(data)
    return size


_NO_COPY_FILE_RANGE = (errno.EXDEV, errno.ENOSYS, errno.EOPNOTSUPP, errno.EINVAL, errno.EBADF, errno.EPERM)


def _copy_in_kernel(src: SegmentSource, fh: IO[bytes]) -> int:
    """Copy a file slice into *fh* with copy_file_range (the kernel moves the page-cache pages:
    no buffer in this process, which is most of a 10 MB image's cost). Returns the bytes copied;
    0 when not possible (a literal, an in-memory output, another file system...): the caller
    writes the rest, or all, the ordinary way, which also reports a file that shrank."""
    if src.path is None or src.data is not None or not hasattr(os, "copy_file_range"):
        return 0
    try:
        out = fh.fileno()
    except (AttributeError, OSError, ValueError):
        return 0
    try:
        fin = open(src.path, "rb")  # noqa: SIM115 (closed below)
    except OSError:
        return 0  # the ordinary path says why
    fh.flush()
    start = fh.tell()
    done = 0
    with fin:
        try:
            while done < src.length:
                n = os.copy_file_range(fin.fileno(), out, src.length - done, src.offset + done, start + done)
                if n == 0:
                    break  # end of the file before the slice's end: the ordinary path reports it
                done += n
        except OSError as exc:
            if exc.errno not in _NO_COPY_FILE_RANGE:
                raise ImageError(f"{src.path}: cannot copy into the image: {exc.strerror}") from None
    fh.seek(start + done)
    return done


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
