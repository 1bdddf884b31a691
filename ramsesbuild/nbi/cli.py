"""`ramsesbuild mknbi-linux | mkelf-linux | nbi-info`: command lines compatible with mknbi's.

Options follow mknbi 1.0 and 1.4.4 (Getopt::Long: unique prefixes work, ``--opt=value`` and
``--opt value``). Differences: the program name decides the format and only mknbi-linux has
``--format`` (nbi or elf; 1.4.4's mkelf-linux accepted and ignored it), single-dash long options
(``-ip=rom``) are not accepted, and a kernel that is not a kernel is an error (exit 1, no
output file), not an empty image with exit 0.
"""

from __future__ import annotations

import argparse
import io
import sys
from pathlib import Path

from .. import __version__
from ..errors import ImageError
from .builder import make_plan, write_plan
from .options import DEFAULT_LAYOUT, FORMATS, LAYOUTS, MknbiOptions
from .writer import write_image


def _int(text: str) -> int:
    try:
        return int(text, 0)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r} (use e.g. 0x9000)") from None


DESCRIPTIONS = {
    "nbi": "Wrap a Linux zImage/bzImage (and optional initrd) into an Etherboot tagged (NBI) netboot image "
           "(--format=elf: an ELF image, as mkelf-linux). Compatible with mknbi-linux 1.0/1.4.4 options.",
    "elf": "Wrap a Linux zImage/bzImage (and optional initrd) into an ELF netboot image (ELFBoot, for Etherboot "
           "5 and iPXE; use mknbi-linux for a tagged NBI image). Compatible with mkelf-linux 1.4.4 options.",
}


def _parser(prog: str, default_format: str) -> argparse.ArgumentParser:
    """mknbi-linux (default_format nbi) takes --format; mkelf-linux always writes ELF."""
    p = argparse.ArgumentParser(
        prog=prog, allow_abbrev=True,
        description=DESCRIPTIONS[default_format],
        epilog="Layouts: ramses (default; modern kernels), 1.4.4 and 1.0 (byte-compatible with mknbi). "
               "Byte-identical 1.4.4 output needs the original first stage: --layout=1.4.4 --first32=FILE.",
    )
    p.add_argument("kernel", type=Path, help="kernel image (arch/x86/boot/bzImage or zImage)")
    p.add_argument("ramdisk", type=Path, nargs="?", help="initrd / initramfs to load with the kernel")
    p.add_argument("--output", type=Path, help="output file (default: standard output)")
    if default_format == "nbi":
        p.add_argument("--format", choices=FORMATS, default=default_format, help="image format (default %(default)s)")
    else:
        p.set_defaults(format=default_format)
    p.add_argument("--target", default="linux", help="only 'linux' is supported")
    p.add_argument("--layout", choices=LAYOUTS, default=DEFAULT_LAYOUT, help="memory layout (default %(default)s)")
    p.add_argument("--param", help="the whole kernel command line (overrides the options below)")
    p.add_argument("--append", default="", help="append this to the command line")
    p.add_argument("--rootdir", help="NFS root directory, /dev/... root device, 'rom' or 'kernel'")
    p.add_argument("--rootmode", choices=("rw", "ro"), help="mount root read-write or read-only (1.4 style)")
    p.add_argument("--ip", "--ipaddrs", dest="ip",
                   help="client:server:gateway:netmask:hostname[:dev], rom, kernel, dhcp, ...")
    p.add_argument("--rdbase", help="initrd placement at boot: top, asis or 0xNNNNNNNN")
    p.add_argument("--rdmode", help="mknbi 1.0 ramdisk mode (validated, ignored as in 1.0)")
    p.add_argument("--rdnopad", action=argparse.BooleanOptionalAction, default=False,
                   help="do not pad the initrd to 4 KiB (not in layout 1.0)")
    p.add_argument("--first32", nargs="?", const="", default=None, metavar="FILE",
                   help="use FILE as the first stage instead of the bundled one")
    p.add_argument("--progreturns", action=argparse.BooleanOptionalAction, default=False,
                   help="set the 'program returns' flag (layout 1.4.4 with --first32 only)")
    p.add_argument("--relocseg", type=_int, help="segment of the real-mode block, e.g. 0x9000 or 0x8000")
    p.add_argument("--version", action="store_true", help="print the version and exit")
    return p


def _options(args: argparse.Namespace) -> MknbiOptions:
    return MknbiOptions(
        format=args.format, append=args.append, ip=args.ip, rootdir=args.rootdir,
        initrd=args.ramdisk, first32=Path(args.first32) if args.first32 else None,
        relocseg=args.relocseg, layout=args.layout, param=args.param, rootmode=args.rootmode,
        rdbase=args.rdbase, rdmode=args.rdmode, rdnopad=args.rdnopad, progreturns=args.progreturns,
    )


def _run(argv: list[str], prog: str, default_format: str) -> int:
    if "--version" in argv:
        print(f"{prog} (ramsesbuild {__version__}; compatible with mknbi 1.0 and 1.4.4)", file=sys.stderr)
        return 0
    args = _parser(prog, default_format).parse_args(argv)
    if args.target != "linux":
        raise ImageError(f"--target={args.target}: only the linux target is implemented")
    options = _options(args)
    plan = make_plan(args.kernel, options)
    for warning in plan.warnings:
        print(warning, file=sys.stderr)
    if args.output is not None:
        write_plan(plan, options.format, args.output)
        return 0
    out = sys.stdout.buffer
    if out.isatty():
        raise ImageError("refusing to write a binary image to a terminal: use --output FILE or redirect stdout")
    buf = io.BytesIO()
    write_image(plan, options.format, buf)
    out.write(buf.getvalue())
    out.flush()
    return 0


def mknbi_linux(argv: list[str]) -> int:
    return _run(argv, "ramsesbuild mknbi-linux", "nbi")


def mkelf_linux(argv: list[str]) -> int:
    return _run(argv, "ramsesbuild mkelf-linux", "elf")


def nbi_info(argv: list[str]) -> int:
    from .info import inspect_image

    p = argparse.ArgumentParser(prog="ramsesbuild nbi-info", allow_abbrev=True,
                                description="Dump an NBI or ELF netboot image and check it as iPXE's loader would. "
                                            "Exit 0 if valid, 1 if not.")
    p.add_argument("image", type=Path, nargs="+")
    args = p.parse_args(argv)
    status = 0
    for path in args.image:
        report = inspect_image(path)
        print(report.render())
        if not report.ok:
            status = 1
    return status
