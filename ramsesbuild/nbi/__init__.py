"""Pure-Python mknbi: wrap a Linux kernel into Etherboot-style NBI (tagged) or ELF netboot images.

Public API::

    from ramsesbuild.nbi import MknbiOptions, build_image
    build_image(Path("bzImage"), Path("/tftpboot/vmlinuz.nb"), MknbiOptions(ip="rom", rootdir="rom"))

Layouts: ``ramses`` (default, fits modern kernels), ``1.4.4`` and ``1.0`` (byte-compatible
with mknbi 1.4.4 and 1.0). See MknbiOptions and docs in layout.py.
"""

from .builder import build_image, make_plan, write_plan
from .firststage import identity as first_stage_identity
from .info import ImageReport, inspect_image
from .options import DEFAULT_LAYOUT, FORMATS, LAYOUTS, MknbiOptions

__all__ = [
    "DEFAULT_LAYOUT",
    "FORMATS",
    "LAYOUTS",
    "ImageReport",
    "MknbiOptions",
    "build_image",
    "first_stage_identity",
    "inspect_image",
    "make_plan",
    "write_plan",
]
