"""The original 3Com header, taken at run time from a user-supplied imggen binary.

ramsesbuild ships no 3Com bytes. The header (ELF symbol ``IMGHDR``, 4096 bytes in ``.data``)
is copied out of the binary the user points us at, and only if it sits at the known offset
and has the known sha256, so the output is exactly what that imggen would write.
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass
from pathlib import Path

from elftools.common.exceptions import ELFError
from elftools.elf.elffile import ELFFile
from elftools.elf.sections import SymbolTableSection

from ..errors import ImageError
from . import header as mba_header


@dataclass(frozen=True)
class KnownImggen:
    """One imggen build whose header we know."""

    name: str
    offset: int  # file offset of IMGHDR
    header_sha256: str
    binary_sha256: str  # informative: the whole binary as found in the wild


KNOWN = (
    KnownImggen(
        name="Image Creator for Lanworks ROMs v0.02",
        offset=0x8FC,
        header_sha256="f941551713da56ae62af30a9611cca1840c2c141ac0e6aef748072cfebce262a",
        binary_sha256="fc33675ce2109696257bcfc8a4a8b5f7d61bf05552a3079cea63cf6e179e8d8d",
    ),
)


def symbol_offset(data: bytes, where: Path, symbol: str = "IMGHDR") -> int | None:
    """File offset of *symbol* (which must be HEADER_SIZE long), or None if the ELF has no symtab."""
    try:
        elf = ELFFile(io.BytesIO(data))
        symtab = elf.get_section_by_name(".symtab")
        if not isinstance(symtab, SymbolTableSection):
            return None
        for sym in symtab.get_symbol_by_name(symbol) or ():
            if sym["st_size"] != mba_header.HEADER_SIZE:
                raise ImageError(f"{where}: {symbol} is {sym['st_size']} bytes, not {mba_header.HEADER_SIZE}")
            section = elf.get_section(sym["st_shndx"])
            return section["sh_offset"] + sym["st_value"] - section["sh_addr"]
    except ELFError as exc:
        raise ImageError(f"{where}: not a readable ELF binary ({exc}); give --imggen the original "
                         "Linux imggen program") from None
    return None


def header_from_imggen(path: Path, known: tuple[KnownImggen, ...] = KNOWN) -> tuple[bytes, KnownImggen]:
    """The 4096-byte header inside the imggen binary at *path*, checked against *known*."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise ImageError(f"{path}: cannot read the imggen binary: {exc.strerror}") from None
    if data[:4] != b"\x7fELF":
        raise ImageError(f"{path}: not an ELF binary; give --imggen the original Linux imggen program")
    found = symbol_offset(data, path)
    for k in known:
        if found is not None and found != k.offset:
            continue
        hdr = data[k.offset:k.offset + mba_header.HEADER_SIZE]
        if hashlib.sha256(hdr).hexdigest() == k.header_sha256:
            mba_header.MbaHeader.parse(hdr, f"{path} (IMGHDR)")
            return hdr, k
    where = f"IMGHDR at offset {found:#x}" if found is not None else "no IMGHDR symbol (stripped?)"
    expected = "; ".join(f"{k.name}: IMGHDR at {k.offset:#x}, sha256 {k.header_sha256}" for k in known)
    raise ImageError(
        f"{path}: not an imggen build ramsesbuild knows ({where}, binary sha256 "
        f"{hashlib.sha256(data).hexdigest()}). Known: {expected}. Use the clean-room header "
        "(omit --imggen) or a known imggen binary"
    )
