"""The memory map of a netboot image: where each piece goes in memory, for each of the three layouts.

``1.0`` and ``1.4.4`` reproduce mknbi's tables (mknbi.md §2.2, §3.4, §5) exactly. ``ramses``
is ours (X = relocseg * 16, default 0x80000)::

    X+0x0000  boot sector            512
    X+0x0200  setup                  up to 0x7E00 (63 sectors)
    X+0x8000  (kernel real-mode heap and stack, below the first stage)
    X+0x9000  NBI header block       512            header location (R+0x900):0000
    X+0x9200  first stage            6144           entry, 32-bit linear (ELF: header block
                                                    loaded at X+0x9000 as a PT_LOAD too)
    X+0xAA00  command line           2048           ends at X+0xB200 (0x9B200 for R=0x9000)
    0x100000  kernel (bzImage)       imglen         zImage: 0x10000, 512 KiB, and R = 0x9000
    0x100000 + roundup(kernel, 4K)   initrd         zImage: 0x100000
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..errors import ImageError
from .kernel import KernelHeader
from .nbiformat import NbiHeader, SegmentDescriptor, seg_off, segment_vendor

RAMSES_VENDOR = "ramsesbuild-nbi-1"
RAMSES_SETUP_MAX = 0x7E00
RAMSES_FIRST_MAX = 0x1800
CMDLINE_MAX = 2048
MIB = 1 << 20


def roundup(n: int, align: int) -> int:
    return (n + align - 1) // align * align


@dataclass(frozen=True)
class SegmentSource:
    """The bytes of one segment before NUL padding: a literal or a slice of a file."""

    data: bytes | None = None
    path: Path | None = None
    offset: int = 0
    length: int = 0

    @classmethod
    def literal(cls, data: bytes) -> SegmentSource:
        return cls(data=data, length=len(data))

    @classmethod
    def file_slice(cls, path: Path, offset: int, length: int) -> SegmentSource:
        return cls(path=path, offset=offset, length=length)


@dataclass(frozen=True)
class PlannedSegment:
    descriptor: SegmentDescriptor
    source: SegmentSource


@dataclass(frozen=True)
class ImagePlan:
    """Everything needed to write the image, decided before a byte is written."""

    layout: str
    header: NbiHeader
    segments: tuple[PlannedSegment, ...]
    cmdline: bytes
    relocseg: int
    elf_flags: int = 0  # e_flags: 0x08000000 when the program returns (mkelf --progreturns)
    elf_loads_header: bool = False  # ramses ELF: the header block is a PT_LOAD at the location
    warnings: tuple[str, ...] = ()

    @property
    def descriptors(self) -> tuple[SegmentDescriptor, ...]:
        return tuple(s.descriptor for s in self.segments)

    @property
    def entry(self) -> int:
        return self.header.entry_linear


@dataclass(frozen=True)
class Inputs:
    """Resolved inputs of a plan: the kernel header, first-stage bytes, initrd and command line."""

    kernel: KernelHeader
    first_stage: SegmentSource
    cmdline: bytes
    initrd: Path | None = None
    initrd_size: int = 0


@dataclass(frozen=True)
class Geometry:
    """Addresses and reserved lengths of one layout, for a given relocseg."""

    vendor: str
    location: int  # seg:off dword of the header block
    entry: int  # seg:off dword (16-bit) or linear address
    linear: bool
    first_addr: int
    first_mem: int
    cmdline_addr: int
    bootsect_addr: int
    setup_addr: int
    setup_mem: int
    zkernel_mem: int
    bzkernel_mem: int | None  # None: memlen = imglen
    initrd_align_4k_after_bz: bool  # 1.4.4/ramses: initrd at 0x100000 + roundup(klen, 4096)


def geometry(layout: str, relocseg: int) -> Geometry:
    r = relocseg
    if layout == "1.0":
        return Geometry("mknbi-linux", seg_off(0x9320), seg_off(0x9220), False, 0x92200, 4096, 0x93400,
                        0x90000, 0x90200, 79 * 512, 512 * 1024, 15 * MIB, False)
    if layout == "1.4.4":
        return Geometry("mknbi-linux-1.4.4", seg_off(r + 0x220), (r + 0x280) * 16, True, (r + 0x280) * 16, 6144,
                        (r + 0x240) * 16, r * 16, (r + 0x20) * 16, 8192, 512 * 1024, None, True)
    if layout == "ramses":
        return Geometry(RAMSES_VENDOR, seg_off(r + 0x900), (r + 0x920) * 16, True, (r + 0x920) * 16,
                        RAMSES_FIRST_MAX, (r + 0xAA0) * 16, r * 16, (r + 0x20) * 16, RAMSES_SETUP_MAX,
                        512 * 1024, None, True)
    raise ImageError(f"unknown layout {layout!r}")


def choose_relocseg(layout: str, requested: int | None, kernel: KernelHeader) -> tuple[int, list[str]]:
    """Validate --relocseg for *layout*; return (relocseg, warnings)."""
    if layout == "1.0":
        if requested not in (None, 0x9000):
            raise ImageError(f"layout 1.0 is fixed at segment 0x9000 (--relocseg={requested:#x}): "
                             "use layout 1.4.4 or ramses")
        return 0x9000, []
    if layout == "1.4.4":
        if requested in (None, 0x9000, 0x8000):
            return requested or 0x9000, []
        return 0x9000, [f"relocseg must be 0x9000 or 0x8000 only, setting to 0x9000 (got {requested:#x})"]
    needs_9000 = not kernel.is_bzimage or kernel.protocol < 0x0202
    if requested is None:
        return (0x9000 if needs_9000 else 0x8000), []
    if requested % 0x1000 or not 0x1000 <= requested <= 0x9000:
        raise ImageError(f"--relocseg={requested:#x}: layout ramses takes 0x1000 .. 0x9000 in steps of 0x1000")
    if needs_9000 and requested != 0x9000:
        raise ImageError(f"{kernel.path}: a {kernel.kind} with boot protocol {kernel.protocol_str} must be loaded "
                         "at 0x90000: drop --relocseg or use 0x9000")
    return requested, []


def _seg(tag: int, addr: int, imglen: int, memlen: int | None, last: bool = False,
         vendor: bytes = b"") -> SegmentDescriptor:
    return SegmentDescriptor(tag=tag, load_addr=addr, imglen=imglen, memlen=imglen if memlen is None else memlen,
                             last=last, vendor=vendor)


def plan_image(layout: str, relocseg: int, inputs: Inputs, *, rdnopad: bool = False, progreturns: bool = False,
                fmt: str = "nbi") -> ImagePlan:
    """Lay out header and segments exactly as the chosen mknbi version (or ramses) does."""
    g = geometry(layout, relocseg)
    k = inputs.kernel
    if g.linear:
        header = NbiHeader.make(g.vendor, g.location, g.entry, linear=True, returns=progreturns and layout != "1.0")
    else:
        header = NbiHeader.make(g.vendor, g.location, g.entry, linear=False)
    have_rd = inputs.initrd is not None
    klen = roundup(k.payload_len, 512)
    kaddr = 0x100000 if k.is_bzimage else 0x10000
    kmem = (g.bzkernel_mem if k.is_bzimage else g.zkernel_mem)
    first_len = inputs.first_stage.length
    segs = [
        PlannedSegment(_seg(16, g.first_addr, roundup(first_len, 512), g.first_mem), inputs.first_stage),
        PlannedSegment(_seg(17, g.cmdline_addr, roundup(len(inputs.cmdline), 512), CMDLINE_MAX),
                       SegmentSource.literal(inputs.cmdline)),
        PlannedSegment(_seg(18, g.bootsect_addr, 512, 512), SegmentSource.file_slice(k.path, 0, 512)),
        PlannedSegment(_seg(19, g.setup_addr, k.setup_len, g.setup_mem),
                       SegmentSource.file_slice(k.path, 512, k.setup_len)),
        PlannedSegment(_seg(20, kaddr, klen, kmem, last=not have_rd),
                       SegmentSource.file_slice(k.path, k.payload_offset, k.payload_len)),
    ]
    if have_rd:
        if not k.is_bzimage:
            rd_addr = 0x100000
        elif g.initrd_align_4k_after_bz:
            rd_addr = 0x100000 + roundup(klen, 4096)
        else:
            rd_addr = 0x100000 + klen
        assert inputs.initrd is not None  # initrd_size > 0 only with an initrd
        rd_len = inputs.initrd_size if (rdnopad and layout != "1.0") else roundup(inputs.initrd_size, 4096)
        segs.append(PlannedSegment(_seg(21, rd_addr, rd_len, rd_len, last=True, vendor=segment_vendor(b"\0")),
                                   SegmentSource.file_slice(inputs.initrd, 0, inputs.initrd_size)))
    warnings = []
    if layout == "1.4.4" and not k.is_bzimage and klen > (relocseg - 0x1000) * 16:
        warnings.append("Warning, zImage kernel may collide with Etherboot")
    return ImagePlan(
        layout=layout, header=header, segments=tuple(segs), cmdline=inputs.cmdline, relocseg=relocseg,
        elf_flags=0x08000000 if (progreturns and fmt == "elf") else 0,
        elf_loads_header=(layout == "ramses" and fmt == "elf"), warnings=tuple(warnings),
    )
