"""Pure-Python mknbi: wrap a Linux kernel into Etherboot-style NBI (tagged) or ELF netboot images.

Public API::

    from ramsesbuild.nbi import MknbiOptions, build_image
    build_image(Path("bzImage"), Path("/tftpboot/vmlinuz.nb"), MknbiOptions(ip="rom", rootdir="rom"))

Layouts: ``ramses`` (default, fits modern kernels), ``1.4.4`` and ``1.0`` (byte-compatible
with mknbi 1.4.4 and 1.0). See MknbiOptions, and the memory maps in memmap.py.

Importing the package is cheap: each name is imported from its module on first use, so
``ramsesbuild mknbi-linux`` loads only what it runs (nbi-info's checker, for one, is not).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..lazyattr import lazy_getattr

_LAZY = {
    "DEFAULT_LAYOUT": "options", "FORMATS": "options", "LAYOUTS": "options", "MknbiOptions": "options",
    "build_image": "builder", "make_plan": "builder", "write_plan": "builder",
    "ImageReport": "info", "inspect_image": "info", "first_stage_identity": "firststage",
}

__getattr__ = lazy_getattr(__name__, _LAZY, {"first_stage_identity": "identity"})


if TYPE_CHECKING:
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
