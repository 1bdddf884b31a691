"""The `ramsesbuild imggen` command: make a 3Com MBA / BootWare TCP/IP boot image, or describe one.

    ramsesbuild imggen [-a] [--imggen BINARY] [--writable] [--force] IN OUT
    ramsesbuild imggen -i IMAGE

The mode comes from IN (see mba.py): an NBI (tagged) image gets our NBI-loading header (the
recipe's `imggen -a vmlinuz-2.4.18-cluster vmlinuz-2.4.18-cluster-imggen`); anything else is a
floppy payload and gets a floppy header (output = 4096-byte header + IN, what imggen v0.02
writes). ``-a`` is the imggen v1.01 spelling of "add a header"; v0.02's ``imggen IN OUT`` works.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from pathlib import Path

from ..errors import ImageError
from ..nbi.nbiformat import TAG_ROLES
from . import header as mba_header
from . import nbiload, original, payload
from .cleanroom import cleanroom_header, nbi_params
from .floppy import build_floppy_image
from .mba import build_nbi_image, input_mode

__all__ = ["describe", "main"]
CMDLINE_TAG = 17


def describe(path: Path) -> list[str]:
    """Human-readable facts about an MBA image (header kind, ROM fields, payload checks)."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise ImageError(f"{path}: cannot read: {exc.strerror}") from None
    hdr = mba_header.MbaHeader.parse(data, str(path))
    head = data[:hdr.head_size]
    digest = hashlib.sha256(head).hexdigest()
    lines = [f"{path}: 3Com MBA TCP/IP image, {len(data):,} bytes",
             f"  header: {hdr.head_size} bytes, sha256 {digest}, name {hdr.name!r}",
             (f"  ROM: needs {hdr.ext_kb:,} KB extended memory, payload loaded at "
              f"{mba_header.EXTENDED_BASE:#x}, {'stays resident (BWAPI)' if hdr.keeps_rom else 'disengages'}")]
    known = [k for k in original.KNOWN if k.header_sha256 == digest]
    if known:
        lines.append(f"  kind: original 3Com floppy header from {known[0].name} (floppy mode)")
    elif mba_header.header_kind(head) == "nbi":
        return lines + _describe_nbi(Path(path), head, len(data) - hdr.head_size)
    elif mba_header.header_kind(head) == "floppy":
        p = mba_header.StubParams.parse(head)
        lines.append(f"  kind: ramsesbuild clean-room floppy header v{p.version} (floppy mode), drive A: "
                     f"{p.cylinders}x{p.heads}x{p.sectors_per_track} ({p.total_sectors} sectors), "
                     f"{'write-protected' if p.write_protected else 'writable'}")
    else:
        lines.append("  kind: unknown header")
    body = data[hdr.head_size:]
    lines.append(f"  payload: {len(body):,} bytes")
    kernel = payload.kernel_info(body)
    if kernel is not None:
        lines.append(f"  payload kernel: {kernel.version or 'unknown version'}, floppy loader "
                     f"{'present' if kernel.floppy_loader else 'absent'}, root device {kernel.root_dev:#06x}")
    lines += [f"  {f.level}: {f.message}" for f in payload.inspect(body, "payload")]
    return lines


def _describe_nbi(path: Path, head: bytes, body_len: int) -> list[str]:
    p = mba_header.NbiStubParams.parse(head)
    lines = [(f"  kind: ramsesbuild clean-room NBI-loading header v{p.version} (NBI mode): places the NBI "
              f"segments, then calls the entry with the ROM's BOOTP/DHCP reply ({p.bootp_copy} bytes copied)"),
             f"  payload: {body_len:,} bytes"]
    if p.payload_len != body_len:
        return [*lines, f"  error: the header says the payload is {p.payload_len:,} bytes; the image was "
                        "truncated or extended after imggen wrote it"]
    try:
        load = nbiload.analyse(path, nbi_params(), base=len(head))
    except ImageError as exc:
        return [*lines, f"  error: {exc}"]
    lines.append(f"  payload NBI: {load.summary()}")
    if load.first_stage:
        lines.append(f"  first stage: {load.first_stage}")
    lines.append("  #  tag role          load        imglen      memlen")
    for n, (seg, region) in enumerate(zip(load.parsed.segments, load.regions[1:], strict=False), 1):
        where = f"{region.dest:#010x}" if region.dest is not None else "end of mem"
        lines.append(f"  {n:<2} {seg.tag:<3} {TAG_ROLES.get(seg.tag, '?'):<13} {where:<11} "
                     f"{seg.imglen:#010x}  {seg.memlen:#010x}")
    cmdline = [r for s, r in zip(load.parsed.segments, load.regions[1:], strict=False) if s.tag == CMDLINE_TAG]
    if cmdline:
        text = nbiload.read_segment(path, load.base, cmdline[0], 4096).split(b"\0", 1)[0]
        lines.append(f"  command line: {text.decode('utf-8', 'backslashreplace')}")
    return lines


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="ramsesbuild imggen",
        description="Make a 3Com MBA/BootWare TCP/IP boot image. An NBI (tagged) image, e.g. mknbi's "
                    "output, gets ramsesbuild's NBI-loading header (NBI mode: the ROM's DHCP reply "
                    "reaches the first stage, any kernel boots); anything else must be floppy-bootable "
                    "(a 2.4 zImage/bzImage or a 1.44 MB floppy image) and gets a floppy header.")
    p.add_argument("-a", dest="add", action="store_true",
                   help="add the header to IN, writing OUT (the default action; imggen v1.01 spelling)")
    p.add_argument("-i", dest="info", metavar="IMAGE", type=Path, help="describe an existing MBA image")
    p.add_argument("--imggen", type=Path, metavar="BINARY",
                   help="floppy mode: use the original 3Com header from this imggen binary (checked by "
                        "offset and sha256) instead of ramsesbuild's clean-room header")
    p.add_argument("--writable", action="store_true",
                   help="floppy mode, clean-room header: let INT 13h writes reach the virtual floppy")
    p.add_argument("--force", action="store_true",
                   help="floppy mode: write the image even if the payload cannot boot (errors become warnings)")
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
        parser.error("give the input (NBI image, kernel or floppy image) and the output file: IN OUT")
    src, out = args.files
    if args.imggen is not None and args.writable:
        parser.error("--writable only applies to the clean-room header; the original 3Com "
                     "header is copied unchanged")
    if input_mode(src) == "nbi":
        floppy_only = [o for o, given in (("--imggen", args.imggen), ("--writable", args.writable),
                                          ("--force", args.force)) if given]
        if floppy_only:
            raise ImageError(f"{src}: is an NBI image, which imggen loads with its own NBI-loading header; "
                             f"{', '.join(floppy_only)} only apply to floppy payloads: drop them")
        load = build_nbi_image(src, out)
        print(f"ramsesbuild imggen: NBI mode: {src}: {load.summary()}")
        print(f"ramsesbuild imggen: wrote {out} ({mba_header.HEADER_SIZE}-byte NBI-loading header + {src})")
        return 0
    if args.imggen is not None:
        header, _ = original.header_from_imggen(args.imggen)
    else:
        header = cleanroom_header(write_protect=not args.writable)
    warnings = build_floppy_image(src, out, header, args.force)
    for w in warnings:
        print(f"ramsesbuild imggen: warning: {w.message}", file=sys.stderr)
    kind = "original 3Com" if args.imggen else "clean-room"
    print(f"ramsesbuild imggen: floppy mode: {src} boots from a virtual 1.44 MB drive A: (no command line)")
    print(f"ramsesbuild imggen: wrote {out} ({mba_header.HEADER_SIZE}-byte {kind} floppy header + {src})")
    return 0
