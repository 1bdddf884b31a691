"""Floppy mode: a floppy-booting MBA header (ours or the original) + a floppy-bootable payload."""

from __future__ import annotations

from pathlib import Path

from ..errors import ImageError
from ..fsutil import atomic_writer
from . import header as mba_header
from . import payload
from .cleanroom import cleanroom_header


def build_floppy_image(src: Path, out: Path, header: bytes | None = None,
                force: bool = False) -> list[payload.Finding]:
    """Write *header* (default: the write-protected clean-room one) + *src* to *out* atomically.

    Returns the warnings; payload errors raise ImageError (one line) unless *force* turns them
    into warnings.
    """
    header = cleanroom_header() if header is None else header
    mba_header.MbaHeader.parse(header, "header")
    if len(header) != mba_header.HEADER_SIZE:
        raise ImageError(f"header is {len(header)} bytes, not {mba_header.HEADER_SIZE}")
    try:
        data = Path(src).read_bytes()
    except OSError as exc:
        raise ImageError(f"{src}: cannot read the input file: {exc.strerror}") from None
    findings = payload.inspect(data, str(src))
    errors = [f for f in findings if f.level == "error"]
    if errors and not force:
        raise ImageError("; ".join(f.message for f in errors) + " (--force writes the image anyway)")
    try:
        with atomic_writer(Path(out), "wb", 0o644) as fh:
            fh.write(header)
            fh.write(data)
    except OSError as exc:
        raise ImageError(f"{out}: cannot write the boot image: {exc.strerror}") from None
    return [payload.Finding("warning", f.message) if f.level == "error" else f for f in findings]
