"""imggen: 3Com MBA / BootWare "TCP/IP image" boot images.

Two modes, chosen from the input: an NBI (tagged) image gets our NBI-loading header, which
places its segments and calls its entry with the ROM's DHCP reply (the recipe's
``imggen -a vmlinuz-2.4.18-cluster vmlinuz-2.4.18-cluster-imggen``); anything else is a
floppy payload behind a floppy-emulating header.

Public API: :func:`make_mba_image` (both modes, what the pipeline calls), :func:`mba_name`,
:func:`build_image` (floppy mode), :func:`build_nbi_image` (NBI mode), :func:`describe`,
:func:`cleanroom_header`, :func:`header_from_imggen`, :func:`inspect_payload`; :func:`main`
is the CLI entry point.

Importing this package is cheap (doit's task definitions use :func:`mba_name`); the rest is
imported on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..lazyattr import lazy_getattr
from ..vocabulary import MBA_SUFFIX, mba_name

_LAZY = {
    "MbaResult": "make", "build_nbi_image": "make", "make_mba_image": "make",
    "build_image": "floppy", "cleanroom_header": "cleanroom", "describe": "cli", "main": "cli",
    "header_from_imggen": "original", "inspect_payload": "payload",
}

__getattr__ = lazy_getattr(__name__, _LAZY, {"inspect_payload": "inspect"})


if TYPE_CHECKING:
    from .cleanroom import cleanroom_header
    from .cli import describe, main
    from .floppy import build_image
    from .make import MbaResult, build_nbi_image, make_mba_image
    from .original import header_from_imggen
    from .payload import inspect as inspect_payload

__all__ = ["MBA_SUFFIX", "MbaResult", "build_image", "build_nbi_image", "cleanroom_header", "describe",
           "header_from_imggen", "inspect_payload", "main", "make_mba_image", "mba_name"]
