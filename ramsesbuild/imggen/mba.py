"""`imggen -a IN OUT` for both kinds of input; the mode comes from the input.

* **NBI mode** (IN is an Etherboot tagged image, as the recipe runs imggen on mknbi's output):
  our NBI-loading header (mba_nbi.S) + IN unchanged. At boot the header places the segments and
  calls the image's entry with the ROM's BOOTP/DHCP reply, as Etherboot/iPXE do, so the first
  stage fills ``ip=rom``/``nfsroot=rom``. Any kernel the NBI image holds (2.4 or modern) boots.
* **Floppy mode** (anything else: a raw 2.4 zImage/bzImage or a floppy image): a floppy header
  (our clean-room one, or the original from an imggen binary) + IN; the header boots IN's
  sector 0 from a virtual drive A:, as imggen v0.02 does.

ELF netboot images are refused: see :data:`ELF_REASON`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import IO, Literal

from ..errors import ImageError
from ..formats import HEAD_BYTES, ImageKind, sniff
from ..fsutil import atomic_writer
from . import cleanroom, floppy, nbiload
from . import header as mba_header

Mode = Literal["nbi", "floppy"]
ELF_REASON = (
    "is an ELF netboot image (mkelf-linux); the MBA header loads NBI images only, because an ELF "
    "image's first stage is called with no pointer to the ROM's DHCP reply (iPXE and ramsesbuild's "
    "ELF first stage pass none), so ip=rom/nfsroot=rom could not be filled. Give imggen the NBI "
    "image instead (mknbi-linux; ramses.toml [netboot] format = \"nbi\")"
)
COPY_CHUNK = 1 << 20


@dataclass(frozen=True)
class MbaResult:
    """What `imggen -a` made."""

    mode: Mode
    source: Path
    output: Path
    detail: str  # one line: what the input is and what the header will do with it
    warnings: tuple[str, ...] = ()
    nbi: nbiload.NbiLoad | None = None


def input_mode(path: Path) -> Mode:
    """"nbi" for an NBI image, "floppy" for anything else; ELF input is refused."""
    try:
        with open(path, "rb") as fh:
            kind = sniff(fh.read(HEAD_BYTES))
    except OSError as exc:
        raise ImageError(f"{path}: cannot read the input file: {exc.strerror}") from None
    if kind is ImageKind.NBI:
        return "nbi"
    if kind is ImageKind.ELF:
        raise ImageError(f"{path}: {ELF_REASON}")
    return "floppy"


def build_nbi_image(src: Path, out: Path) -> nbiload.NbiLoad:
    """Write our NBI-loading header + the NBI image *src* to *out* (atomically); checked first."""
    src, out = Path(src), Path(out)
    load = nbiload.analyse(src, cleanroom.nbi_params())
    header = cleanroom.nbi_header(load.size, load.ext_kb)
    try:
        with atomic_writer(out, "wb", 0o644) as dst, open(src, "rb") as fh:
            dst.write(header)
            copied = _copy(fh, dst)
            if copied != load.size:
                raise ImageError(f"{src}: changed while the MBA image was written ({copied:,} bytes read, "
                                 f"{load.size:,} checked); rebuild it, then run imggen again")
    except OSError as exc:
        raise ImageError(f"{out}: cannot write the MBA image: {exc.strerror}") from None
    return load


def _copy(fh: IO[bytes], dst: IO[bytes]) -> int:
    total = 0
    while chunk := fh.read(COPY_CHUNK):
        dst.write(chunk)
        total += len(chunk)
    return total


def make_mba_image(src: Path, out: Path) -> MbaResult:
    """`ramsesbuild imggen -a SRC OUT` with our headers: NBI mode for NBI input, else floppy mode.

    The pipeline calls this for ``[netboot] mba = true``. Raises ImageError (one line) if SRC
    cannot make a bootable MBA image; then OUT is not touched.
    """
    src, out = Path(src), Path(out)
    if input_mode(src) == "nbi":
        load = build_nbi_image(src, out)
        return MbaResult("nbi", src, out, load.summary(), nbi=load)
    warnings = floppy.build_floppy_image(src, out)
    return MbaResult("floppy", src, out, f"floppy payload, booted from a virtual {mba_header.FLOPPY_BYTES:,}-byte "
                     "drive A: (no command line, no DHCP reply)", tuple(w.message for w in warnings))
