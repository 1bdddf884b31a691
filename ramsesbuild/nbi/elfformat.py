"""ELF netboot images (mkelf-linux, mknbi.md §4): ELF header, PT_LOADs, ELFBoot checksum note.

The 512-byte header block holds the ELF header, the program headers (one PT_LOAD per NBI
segment, then a PT_NOTE), zero fill, and at 488..511 an "ELFBoot" note whose 16-bit
descriptor is the Internet checksum of the ELF header, program headers and every
PT_LOAD's bytes (Etherboot 5.4 elf_loader.c verifies it).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from ..formats import ELF_MAGIC

HEADER_BLOCK = 512
EHDR_SIZE = 52
PHDR_SIZE = 32
SHDR_SIZE = 40
NOTE_SIZE = 24
NOTE_OFFSET = HEADER_BLOCK - NOTE_SIZE  # 488
CHECKSUM_OFFSET = HEADER_BLOCK - 4  # 508
PT_LOAD = 1
PT_NOTE = 4
EIN_PROGRAM_CHECKSUM = 3
ELFOSABI_STANDALONE = 0xFF
EF_PROGRAM_RETURNS = 0x08000000


class InternetChecksum:
    """Ones'-complement 16-bit sum over a byte stream fed in pieces (RFC 1071, LE words).

    Exactly mkelf's Elf.pm add_summed_data: a piece starting at an odd stream offset has its
    sum byte-swapped, and the accumulator is never 0 (ones'-complement "-0" is 0xFFFF), so
    the result equals Perl's for every input. 2**16 = 1 (mod 0xFFFF) lets a little-endian
    integer stand for the sum of its 16-bit words.
    """

    def __init__(self) -> None:
        self._total = 0  # sum mod 0xFFFF
        self._offset = 0

    def add(self, data: bytes | memoryview) -> None:
        part = int.from_bytes(data, "little") % 0xFFFF
        if self._offset & 1:
            part = (part * 256) % 0xFFFF
        self._total = (self._total + part) % 0xFFFF
        self._offset += len(data)

    @property
    def value(self) -> int:
        acc = self._total or 0xFFFF
        return (~acc) & 0xFFFF


@dataclass(frozen=True)
class ProgramHeader:
    p_type: int
    p_offset: int
    p_vaddr: int
    p_paddr: int
    p_filesz: int
    p_memsz: int
    p_flags: int
    p_align: int

    def pack(self) -> bytes:
        return struct.pack("<8I", self.p_type, self.p_offset, self.p_vaddr, self.p_paddr,
                           self.p_filesz, self.p_memsz, self.p_flags, self.p_align)

    @classmethod
    def load(cls, offset: int, addr: int, size: int) -> ProgramHeader:
        return cls(PT_LOAD, offset, addr, addr, size, size, 7, 512)

    @classmethod
    def note(cls) -> ProgramHeader:
        return cls(PT_NOTE, NOTE_OFFSET, 0, 0, NOTE_SIZE, 0, 0, 0)


def pack_ehdr(entry: int, phnum: int, flags: int) -> bytes:
    """Elf.pm add_pm_header with e_phnum and e_shoff patched as dump_segments does."""
    ident = ELF_MAGIC + bytes([1, 1, 1, ELFOSABI_STANDALONE]) + bytes(8)
    return ident + struct.pack("<2H5I6H", 2, 3, 1, entry, EHDR_SIZE, EHDR_SIZE + PHDR_SIZE * phnum, flags,
                               EHDR_SIZE, PHDR_SIZE, phnum, SHDR_SIZE, 1, 0)


def pack_note(checksum: int) -> bytes:
    return struct.pack("<3I8s2H", 8, 2, EIN_PROGRAM_CHECKSUM, b"ELFBoot", checksum, 0)


def header_block(ehdr: bytes, phdrs: list[ProgramHeader], checksum: int) -> bytes:
    body = ehdr + b"".join(p.pack() for p in phdrs)
    if len(body) > NOTE_OFFSET - SHDR_SIZE:
        raise ValueError(f"too many program headers: {len(phdrs)} do not fit the 512-byte header block")
    return body.ljust(NOTE_OFFSET, b"\0") + pack_note(checksum)


@dataclass(frozen=True)
class ParsedElf:
    entry: int
    flags: int
    osabi: int
    phdrs: tuple[ProgramHeader, ...]
    note_checksum: int | None


def parse_elf_header(block: bytes) -> ParsedElf | None:
    """Decode a 32-bit LE ELF header and its program headers from the first bytes of a file."""
    if len(block) < EHDR_SIZE or block[:4] != ELF_MAGIC or block[4] != 1 or block[5] != 1:
        return None
    (_e_type, _e_machine, _e_version, e_entry, e_phoff, _e_shoff, e_flags, _e_ehsize, e_phentsize,
     e_phnum, *_rest) = struct.unpack_from("<2H5I6H", block, 16)
    phdrs = []
    for i in range(e_phnum):
        off = e_phoff + i * e_phentsize
        if e_phentsize < PHDR_SIZE or off + PHDR_SIZE > len(block):
            break
        phdrs.append(ProgramHeader(*struct.unpack_from("<8I", block, off)))
    note = None
    for p in phdrs:
        if p.p_type == PT_NOTE and p.p_offset + p.p_filesz <= len(block) and p.p_filesz >= NOTE_SIZE:
            namesz, descsz, ntype = struct.unpack_from("<3I", block, p.p_offset)
            if (namesz, descsz, ntype) == (8, 2, EIN_PROGRAM_CHECKSUM) and \
                    block[p.p_offset + 12:p.p_offset + 20] == b"ELFBoot\0":
                note = struct.unpack_from("<H", block, p.p_offset + 20)[0]
    return ParsedElf(e_entry, e_flags, block[7], tuple(phdrs), note)
