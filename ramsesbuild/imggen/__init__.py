"""imggen: 3Com MBA / BootWare "TCP/IP image" boot images (a header + a floppy-bootable payload).

Public API: :func:`build_image`, :func:`describe`, :func:`cleanroom_header`,
:func:`header_from_imggen`, :func:`inspect_payload`; :func:`main` is the CLI entry point.
"""

from __future__ import annotations

from .cleanroom import cleanroom_header
from .cli import build_image, describe, main
from .original import header_from_imggen
from .payload import inspect as inspect_payload

__all__ = ["build_image", "cleanroom_header", "describe", "header_from_imggen", "inspect_payload", "main"]
