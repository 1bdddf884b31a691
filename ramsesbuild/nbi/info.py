"""nbi-info: decode an NBI or ELF netboot image and check it the way loaders do."""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

from ..errors import ImageError
from .checks import check_segments, overlaps
from .elfformat import NOTE_OFFSET, PT_LOAD, PT_NOTE, InternetChecksum, ParsedElf, parse_elf_header
from .nbiformat import ADDR_MODES, HEADER_BLOCK, ParsedNbi, Problem, parse_header_block, seg_off_linear

READ_CHUNK = 1 << 20


@dataclass(frozen=True)
class ImageReport:
    path: Path
    kind: str  # "nbi" or "elf"
    size: int
    lines: tuple[str, ...]
    problems: tuple[Problem, ...]
    nbi: ParsedNbi | None = None
    elf: ParsedElf | None = None

    @property
    def ok(self) -> bool:
        return not any(p.severity == "error" for p in self.problems)

    def render(self) -> str:
        out = list(self.lines)
        if self.problems:
            out.append("problems:")
            out += [f"  {p.severity}: {p.message}" for p in self.problems]
        out.append(f"result: {'OK' if self.ok else 'INVALID'} ({self.kind}, {self.size} bytes)")
        return "\n".join(out)


def _read_at(path: Path, offset: int, length: int) -> bytes:
    with open(path, "rb") as fh:
        fh.seek(offset)
        return fh.read(length)


def _kernel_summary(boot: bytes, setup: bytes) -> str | None:
    if len(boot) < 512 or len(setup) < 0x12 or boot[510:512] != b"\x55\xaa" or setup[2:6] != b"HdrS":
        return None
    proto = struct.unpack_from("<H", setup, 6)[0]
    kind = "bzImage" if setup[0x11] & 1 else "zImage"
    return f"kernel: {kind}, boot protocol {proto >> 8}.{proto & 0xFF:02d}, setup_sects {boot[0x1F1]}"


def _segment_offsets(lengths: list[int]) -> list[int]:
    offsets, off = [], HEADER_BLOCK
    for n in lengths:
        offsets.append(off)
        off += n
    return offsets


def _describe_nbi(path: Path, parsed: ParsedNbi) -> list[str]:
    h = parsed.header
    loc = h.location
    if h.linear_exec:
        entry = f"linear {h.exec_addr:#010x} (32-bit protected mode)"
    else:
        entry = (f"{h.exec_addr >> 16:04x}:{h.exec_addr & 0xFFFF:04x} = {seg_off_linear(h.exec_addr):#x} "
                 "(16-bit real mode)")
    lines = [
        f"{path}: NBI (tagged) image",
        f"  flags {h.flags:#010x}: header {4 * (h.flags & 0xF)} + vendor {h.length - 4 * (h.flags & 0xF)} bytes"
        f"{', program returns' if h.program_returns else ''}",
        f"  header location {loc >> 16:04x}:{loc & 0xFFFF:04x} = {h.location_linear:#x}",
        f"  entry {entry}",
        f"  vendor {h.vendor_text!r}",
        f"  boot signature 55AA at 510: {'yes' if parsed.has_signature else 'no'}",
        "  #  tag role          mode      load        imglen      memlen      file offset  flags",
    ]
    offsets = _segment_offsets([s.imglen for s in parsed.segments])
    for n, (s, off) in enumerate(zip(parsed.segments, offsets, strict=False), 1):
        extra = " LAST" if s.last else ""
        extra += f" vendor={s.vendor.hex()}" if s.vendor else ""
        lines.append(f"  {n:<2} {s.tag:<3} {s.role:<13} {ADDR_MODES[s.mode][:8]:<9} {s.load_addr:#010x}  "
                     f"{s.imglen:#010x}  {s.memlen:#010x}  {off:#010x}  {s.flags:#04x}{extra}")
    by_tag = {s.tag: (s, off) for s, off in zip(parsed.segments, offsets, strict=False)}
    text = _command_line(path, parsed)
    if text is not None:
        lines.append(f"  command line ({len(text)} bytes): {text.decode('utf-8', 'backslashreplace')}")
    if 18 in by_tag and 19 in by_tag:
        summary = _kernel_summary(_read_at(path, by_tag[18][1], 512), _read_at(path, by_tag[19][1], 0x20))
        if summary:
            lines.append(f"  {summary}")
    return lines


def _command_line(path: Path, parsed: ParsedNbi) -> bytes | None:
    """The command-line segment (tag 17) of an NBI image, up to its NUL."""
    offsets = _segment_offsets([s.imglen for s in parsed.segments])
    for seg, off in zip(parsed.segments, offsets, strict=False):
        if seg.tag == 17:
            return _read_at(path, off, seg.imglen).split(b"\0", 1)[0]
    return None


def nbi_command_line(path: Path) -> str | None:
    """The kernel command line an NBI image carries (before the first stage fills in ip=/nfsroot=
    rom), or None when *path* is no NBI image or has none."""
    parsed = parse_header_block(_read_at(path, 0, HEADER_BLOCK))
    if parsed is None:
        return None
    text = _command_line(path, parsed)
    return None if text is None else text.decode("utf-8", "replace")


def _elf_checksum(path: Path, block: bytes, elf: ParsedElf) -> int:
    """Recompute the ELFBoot checksum as Etherboot verifies it: headers, then each PT_LOAD's memory."""
    csum = InternetChecksum()
    csum.add(block[:52])
    phoff = struct.unpack_from("<I", block, 28)[0]
    for i in range(len(elf.phdrs)):
        csum.add(block[phoff + 32 * i: phoff + 32 * (i + 1)])
    with open(path, "rb") as fh:
        for p in elf.phdrs:
            if p.p_type != PT_LOAD:
                continue
            fh.seek(p.p_offset)
            left = p.p_filesz
            while left:
                data = fh.read(min(READ_CHUNK, left))
                if not data:
                    break
                csum.add(data)
                left -= len(data)
    return csum.value


def _check_elf(path: Path, size: int, block: bytes, elf: ParsedElf) -> list[Problem]:
    problems = []
    loads = [p for p in elf.phdrs if p.p_type == PT_LOAD]
    if not loads:
        problems.append(Problem("error", "no PT_LOAD program headers"))
    for n, p in enumerate(loads, 1):
        if p.p_offset + p.p_filesz > size:
            problems.append(Problem("error", f"PT_LOAD {n} ends at {p.p_offset + p.p_filesz:#x}, beyond the file"))
        if p.p_filesz > p.p_memsz:
            problems.append(Problem("error", f"PT_LOAD {n} has p_filesz > p_memsz"))
        if p.p_vaddr != p.p_paddr:
            problems.append(Problem("error", f"PT_LOAD {n} has p_vaddr != p_paddr (iPXE: virtual addressing)"))
        if (p.p_paddr or p.p_vaddr) == 0:
            problems.append(Problem("error", f"PT_LOAD {n} loads to address 0 (iPXE refuses it)"))
    if not any(0 <= elf.entry - p.p_paddr < p.p_filesz for p in loads):
        problems.append(Problem("error", f"entry {elf.entry:#x} lies in no PT_LOAD (iPXE: entry point outside image)"))
    problems += overlaps([(f"PT_LOAD {n}", p.p_paddr, p.p_paddr + p.p_filesz) for n, p in enumerate(loads, 1)])
    if elf.note_checksum is None:
        problems.append(Problem("warning", "no ELFBoot checksum note"))
    else:
        actual = _elf_checksum(path, block, elf)
        if actual != elf.note_checksum:
            problems.append(Problem("error", f"ELFBoot checksum is {elf.note_checksum:#06x} but the contents sum to "
                                             f"{actual:#06x} (file corrupted or edited after mkelf)"))
    return problems


def _describe_elf(path: Path, elf: ParsedElf) -> list[str]:
    lines = [
        f"{path}: ELF netboot image",
        f"  entry {elf.entry:#010x}, e_flags {elf.flags:#010x}"
        f"{' (program returns)' if elf.flags & 0x08000000 else ''}, "
        f"OSABI {elf.osabi:#04x}",
        f"  ELFBoot checksum note: {f'{elf.note_checksum:#06x}' if elf.note_checksum is not None else 'absent'}",
        "  #  type  offset      paddr       filesz      memsz",
    ]
    for n, p in enumerate(elf.phdrs, 1):
        kind = {PT_LOAD: "LOAD", PT_NOTE: "NOTE"}.get(p.p_type, f"{p.p_type:#x}")
        lines.append(f"  {n:<2} {kind:<5} {p.p_offset:#010x}  {p.p_paddr:#010x}  {p.p_filesz:#010x}  {p.p_memsz:#010x}")
    return lines


def inspect_image(path: Path) -> ImageReport:
    """Decode and check the image at *path*; raise ImageError only if it is no netboot image at all."""
    path = Path(path)
    try:
        size = path.stat().st_size
        block = _read_at(path, 0, HEADER_BLOCK)
    except OSError as exc:
        raise ImageError(f"{path}: cannot read image: {exc.strerror}") from None
    if len(block) < HEADER_BLOCK:
        raise ImageError(f"{path}: {size} bytes is too short for a netboot image (the header block alone is 512)")
    parsed = parse_header_block(block)
    if parsed is not None:
        problems = list(parsed.problems)
        if parsed.segments:
            problems += check_segments(parsed.header.location_linear, parsed.segments, size)
        return ImageReport(path, "nbi", size, tuple(_describe_nbi(path, parsed)), tuple(problems), nbi=parsed)
    elf = parse_elf_header(block)
    if elf is not None:
        problems = _check_elf(path, size, block, elf)
        if any(p.p_type == PT_NOTE and p.p_offset != NOTE_OFFSET for p in elf.phdrs):
            problems.append(Problem("warning", "the PT_NOTE is not at offset 488 where mkelf puts it"))
        return ImageReport(path, "elf", size, tuple(_describe_elf(path, elf)), tuple(problems), elf=elf)
    raise ImageError(f"{path}: not a netboot image: no NBI magic 36 13 03 1B and no 32-bit little-endian ELF header")
