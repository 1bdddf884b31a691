"""Acceptance rules for a planned image (its memory map), shared by build_image (before writing) and nbi-info.

The iPXE rules (src/arch/x86/image/nbi.c): every segment lies inside the file, the file is
exactly 512 + sum(imglen) bytes, imglen <= memlen (prep_segment). Ours on top: no two
segments' *data* overlap in memory, nor with the header block (memlen tails may overlap:
loaders zero-fill all segments first, then copy, and mknbi's layouts rely on that).
"""

from __future__ import annotations

from .nbiformat import HEADER_BLOCK, Problem, SegmentDescriptor


def overlaps(ranges: list[tuple[str, int, int]]) -> list[Problem]:
    problems = []
    ordered = sorted((r for r in ranges if r[2] > r[1]), key=lambda r: (r[1], r[2]))
    for i, (name_a, start_a, end_a) in enumerate(ordered):
        for name_b, start_b, end_b in ordered[i + 1:]:
            if start_b >= end_a:
                break
            problems.append(Problem("error", f"{name_a} [{start_a:#x}, {end_a:#x}) overlaps "
                                             f"{name_b} [{start_b:#x}, {end_b:#x}) in memory"))
    return problems


def check_segments(header_location: int | None, segments: tuple[SegmentDescriptor, ...] | list[SegmentDescriptor],
                   file_size: int) -> list[Problem]:
    """Check descriptors against the file size and each other.

    *header_location* is the linear address the loader copies the header block to (NBI),
    or None when the header block is not loaded (ELF).
    """
    problems: list[Problem] = []
    offset = HEADER_BLOCK
    ranges = []
    if header_location is not None:
        ranges.append(("header block", header_location, header_location + HEADER_BLOCK))
    prev_end = prev_start = None
    for n, seg in enumerate(segments, 1):
        name = f"segment {n} ({seg.role})"
        if offset + seg.imglen > file_size:
            problems.append(Problem("error", f"{name} ends at file offset {offset + seg.imglen:#x}, "
                                             f"beyond the end of the file ({file_size:#x})"))
        offset += seg.imglen
        if seg.imglen > seg.memlen:
            problems.append(Problem("error", f"{name} has imglen {seg.imglen:#x} > memlen {seg.memlen:#x} "
                                             "(iPXE refuses it; the data overruns what the layout reserves)"))
        if seg.mode == 0:
            start = seg.load_addr
        elif seg.mode == 1 and prev_end is not None:
            start = prev_end + seg.load_addr
        elif seg.mode == 3 and prev_start is not None:
            start = prev_start - seg.load_addr
        else:
            problems.append(Problem("warning", f"{name} uses address mode {seg.mode}; its address depends on "
                                               "the machine's memory size, overlap checks skip it"))
            prev_end = prev_start = None
            continue
        ranges.append((name, start, start + seg.imglen))
        prev_start, prev_end = start, start + seg.memlen
    if offset != file_size:
        problems.append(Problem("error", f"file is {file_size:#x} bytes but 512 + the segments' imglen is "
                                         f"{offset:#x} (iPXE: length wrong)"))
    if segments and not segments[-1].last:
        problems.append(Problem("error", "the last descriptor lacks the LAST flag"))
    problems += overlaps(ranges)
    return problems
