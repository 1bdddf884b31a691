"""`ramsesbuild imggen`: make a 3Com MBA / BootWare TCP/IP boot image, or describe one.

    ramsesbuild imggen [-a] [--imggen BINARY] [--writable] [--force] IN OUT
    ramsesbuild imggen -i IMAGE

Output = 4096-byte header + IN, byte for byte (what imggen v0.02 writes). ``-a`` is the
imggen v1.01 spelling of "add a header"; v0.02's ``imggen IN OUT`` works too.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from pathlib import Path

from ..errors import ImageError
from ..fsutil import atomic_writer
from . import layout, original, payload
from .cleanroom import cleanroom_header


def build_image(src: Path, out: Path, header: bytes | None = None,
                force: bool = False) -> list[payload.Finding]:
    """Write *header* (default: the write-protected clean-room one) + *src* to *out* atomically.

    Returns the warnings; payload errors raise ImageError unless *force* turns them into warnings.
    """
    header = cleanroom_header() if header is None else header
    layout.MbaHeader.parse(header, "header")
    if len(header) != layout.HEADER_SIZE:
        raise ImageError(f"header is {len(header)} bytes, not {layout.HEADER_SIZE}")
    try:
        data = Path(src).read_bytes()
    except OSError as exc:
        raise ImageError(f"{src}: cannot read the input file: {exc.strerror}") from None
    findings = payload.inspect(data, str(src))
    errors = [f for f in findings if f.level == "error"]
    if errors and not force:
        raise ImageError("\n".join(f.message for f in errors) + "\n(--force writes the image anyway)")
    try:
        with atomic_writer(Path(out), "wb", 0o644) as fh:
            fh.write(header)
            fh.write(data)
    except OSError as exc:
        raise ImageError(f"{out}: cannot write the boot image: {exc.strerror}") from None
    return [payload.Finding("warning", f.message) if f.level == "error" else f for f in findings]


def describe(path: Path) -> list[str]:
    """Human-readable facts about an MBA image (header kind, ROM fields, payload checks)."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise ImageError(f"{path}: cannot read: {exc.strerror}") from None
    hdr = layout.MbaHeader.parse(data, str(path))
    head = data[:hdr.head_size]
    digest = hashlib.sha256(head).hexdigest()
    lines = [f"{path}: 3Com MBA TCP/IP image, {len(data):,} bytes",
             f"  header: {hdr.head_size} bytes, sha256 {digest}, name {hdr.name!r}",
             f"  ROM: needs {hdr.ext_kb} KB extended memory, payload loaded at "
             f"{layout.EXTENDED_BASE:#x}, {'stays resident (BWAPI)' if hdr.keeps_rom else 'disengages'}"]
    known = [k for k in original.KNOWN if k.header_sha256 == digest]
    if known:
        lines.append(f"  kind: original 3Com header from {known[0].name}")
    else:
        try:
            p = layout.StubParams.parse(head)
            lines.append(f"  kind: ramsesbuild clean-room header v{p.version}, drive A: "
                         f"{p.cylinders}x{p.heads}x{p.sectors_per_track} ({p.total_sectors} sectors), "
                         f"{'write-protected' if p.write_protected else 'writable'}")
        except ImageError:
            lines.append("  kind: unknown header")
    body = data[hdr.head_size:]
    lines.append(f"  payload: {len(body):,} bytes")
    kernel = payload.kernel_info(body)
    if kernel is not None:
        lines.append(f"  payload kernel: {kernel.version or 'unknown version'}, floppy loader "
                     f"{'present' if kernel.floppy_loader else 'absent'}, root device {kernel.root_dev:#06x}")
    lines += [f"  {f.level}: {f.message}" for f in payload.inspect(body, "payload")]
    return lines


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="ramsesbuild imggen",
        description="Prepend a 3Com MBA/BootWare TCP/IP image header to a floppy-bootable payload "
                    "(a 2.4 zImage/bzImage or a 1.44 MB floppy image).")
    p.add_argument("-a", dest="add", action="store_true",
                   help="add the header to IN, writing OUT (the default action; imggen v1.01 spelling)")
    p.add_argument("-i", dest="info", metavar="IMAGE", type=Path, help="describe an existing MBA image")
    p.add_argument("--imggen", type=Path, metavar="BINARY",
                   help="use the original 3Com header from this imggen binary (checked by offset "
                        "and sha256) instead of ramsesbuild's clean-room header")
    p.add_argument("--writable", action="store_true",
                   help="clean-room header only: let INT 13h writes reach the virtual floppy")
    p.add_argument("--force", action="store_true",
                   help="write the image even if the payload cannot boot (errors become warnings)")
    p.add_argument("files", nargs="*", type=Path, metavar="IN OUT")
    return p


def main(argv: list[str]) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.info is not None:
        if args.files or args.add:
            parser.error("-i IMAGE takes no other files")
        print("\n".join(describe(args.info)))
        return 0
    if len(args.files) != 2:
        parser.error("give the input (kernel or floppy image) and the output file: IN OUT")
    src, out = args.files
    if args.imggen is not None:
        if args.writable:
            parser.error("--writable only applies to the clean-room header; the original 3Com "
                         "header is copied unchanged")
        header, _ = original.header_from_imggen(args.imggen)
    else:
        header = cleanroom_header(write_protect=not args.writable)
    warnings = build_image(src, out, header, args.force)
    for w in warnings:
        print(f"ramsesbuild imggen: warning: {w.message}", file=sys.stderr)
    kind = "original 3Com" if args.imggen else "clean-room"
    print(f"ramsesbuild imggen: wrote {out} ({layout.HEADER_SIZE}-byte {kind} header + {src})")
    return 0
