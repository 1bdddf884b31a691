"""build_image: kernel (+ initrd) -> NBI or ELF netboot image, checked, written atomically."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

from ..errors import ImageError
from ..fsutil import atomic_writer
from . import firststage
from .checks import check_segments
from .cmdline import CmdlineSpec, Resolver, default_resolver, make_paramstring
from .kernel import KernelHeader, read_kernel_header
from .memmap import RAMSES_SETUP_MAX, ImagePlan, Inputs, SegmentSource, choose_relocseg, plan_image
from .options import MknbiOptions
from .writer import write_image


def _file_size(path: Path, what: str) -> int:
    try:
        st = os.stat(path)
    except OSError as exc:
        raise ImageError(f"{path}: cannot read {what}: {exc.strerror}") from None
    if not os.path.isfile(path):
        raise ImageError(f"{path}: {what} is not a plain file")
    if not os.access(path, os.R_OK):
        raise ImageError(f"{path}: {what} is not readable")
    return st.st_size


def _capacity_warnings(options: MknbiOptions, cmdline: bytes) -> list[str]:
    if options.first32 is not None:
        return []
    cap = firststage.cmdline_capacity(firststage.flavour_for(options.layout, options.format))
    if len(cmdline) > cap:
        return [f"Warning: the command line is {len(cmdline)} bytes; the bundled first stage keeps at most {cap} "
                "(including what it adds at boot for ip=rom/nfsroot=rom)"]
    return []


def _first_stage(options: MknbiOptions) -> SegmentSource:
    if options.first32 is not None:
        _file_size(options.first32, "first stage (--first32)")
        return SegmentSource.literal(options.first32.read_bytes())
    if options.layout == "1.4.4" and options.format == "elf":
        raise ImageError("layout 1.4.4 ELF images keep no segment table in memory, so only mknbi's own "
                         "first32elf@0x92800.linux can boot them: pass first32=/path/to/it (--first32=FILE), "
                         "or use layout ramses")
    return SegmentSource.literal(firststage.bundled(firststage.flavour_for(options.layout, options.format)))


def _encode(text: str) -> bytes:
    return text.encode("utf-8", "surrogateescape")


def _check_ramses(kernel: KernelHeader, options: MknbiOptions) -> None:
    if kernel.setup_sects == 0:
        raise ImageError(f"{kernel.path}: setup_sects is 0; boot protocol {kernel.protocol_str} kernels always set "
                         "it, so this is not a bzImage/zImage (layouts 1.0/1.4.4 take it literally)")
    if kernel.setup_len > RAMSES_SETUP_MAX:
        raise ImageError(f"{kernel.path}: {kernel.setup_sects} setup sectors exceed the 63 the boot protocol allows")
    if options.progreturns:
        raise ImageError("progreturns: the bundled first stage never returns to the loader; it is only "
                         "meaningful with layout 1.4.4 and a --first32 program that does")


def _cmdline_warnings(kernel: KernelHeader, cmdline: bytes) -> list[str]:
    limit = kernel.cmdline_size if kernel.cmdline_size is not None else 255
    if len(cmdline) > limit:
        return [f"Warning: the command line is {len(cmdline)} bytes; {kernel.path} (boot protocol "
                f"{kernel.protocol_str}) keeps only {limit}"]
    return []


def make_plan(kernel: Path, options: MknbiOptions, resolver: Resolver = default_resolver) -> ImagePlan:
    """Read and check all inputs and lay the image out; nothing is written."""
    header = read_kernel_header(Path(kernel))
    initrd_size = _file_size(options.initrd, "initrd") if options.initrd is not None else 0
    if options.layout == "ramses":
        _check_ramses(header, options)
    spec = CmdlineSpec(param=options.param, append=options.append, rootdir=options.rootdir,
                       rootmode=options.rootmode, ip=options.ip, rdbase=options.rdbase, rdmode=options.rdmode,
                       have_ramdisk=options.initrd is not None)
    text, warnings = make_paramstring(spec, options.dialect, resolver)
    relocseg, more = choose_relocseg(options.layout, options.relocseg, header)
    cmdline = _encode(text)
    inputs = Inputs(kernel=header, first_stage=_first_stage(options), cmdline=cmdline,
                    initrd=options.initrd, initrd_size=initrd_size)
    plan = plan_image(options.layout, relocseg, inputs, rdnopad=options.rdnopad,
                       progreturns=options.progreturns, fmt=options.format)
    warnings = (more + warnings + list(plan.warnings) + _cmdline_warnings(header, cmdline)
                + _capacity_warnings(options, cmdline))
    header_loaded = options.format == "nbi" or plan.elf_loads_header
    problems = check_segments(plan.header.location_linear if header_loaded else None,
                              plan.descriptors, 512 + sum(d.imglen for d in plan.descriptors))
    errors = [p.message for p in problems if p.severity == "error"]
    if errors:
        raise ImageError(f"{kernel}: cannot lay out a bootable {options.format} image with layout "
                         f"{options.layout}: " + "; ".join(errors) + _advice(options.layout))
    return dataclasses.replace(plan, warnings=tuple(warnings))


def _advice(layout: str) -> str:
    if layout == "ramses":
        return (". Layout ramses holds a command line of at most 2048 bytes and a zImage of at most "
                "512 KiB (build a bzImage)")
    return (f". Layout {layout} was made for 2.2/2.4-era kernels (at most 16 setup sectors, 512 KiB zImage, "
            "2048-byte command line); use layout ramses for this kernel")


def write_plan(plan: ImagePlan, fmt: str, output: Path) -> int:
    """Write *plan* to *output* atomically; return the image size."""
    try:
        with atomic_writer(Path(output), "wb", perms=0o644) as fh:
            return write_image(plan, fmt, fh)
    except OSError as exc:
        raise ImageError(f"{output}: cannot write image: {exc.strerror}. Check the directory exists "
                         "and is writable") from None


def build_image(kernel: Path, output: Path, options: MknbiOptions) -> None:
    """Wrap *kernel* into a netboot image at *output* (see MknbiOptions for the knobs)."""
    plan = make_plan(Path(kernel), options)
    if plan.warnings:
        import logging  # only to pass warnings on: the CLI prints them itself

        log = logging.getLogger("ramsesbuild.nbi")
        for warning in plan.warnings:
            log.warning("%s", warning)
    write_plan(plan, options.format, Path(output))
