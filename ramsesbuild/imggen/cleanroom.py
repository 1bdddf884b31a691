"""Our own MBA header: the assembled mba_stub.S, padded to 4096 bytes, flags patched in."""

from __future__ import annotations

import hashlib

from ..errors import ImageError
from . import _stub, layout


def stub_code() -> bytes:
    code = bytes.fromhex("".join(_stub.STUB_HEX))
    if hashlib.sha256(code).hexdigest() != _stub.STUB_SHA256:
        raise ImageError(f"{_stub.__file__}: stub bytes do not match their sha256; regenerate with "
                         "`python -m ramsesbuild.imggen.assemble`")
    return code


def cleanroom_header(write_protect: bool = True) -> bytes:
    """The 4096-byte header; *write_protect* makes INT 13h writes to drive A: fail (AH=03)."""
    hdr = bytearray(stub_code().ljust(layout.HEADER_SIZE, b"\0"))
    flags = hdr[layout.StubParams.FLAGS_OFFSET] & ~layout.FLAG_WRITE_PROTECT
    hdr[layout.StubParams.FLAGS_OFFSET] = flags | (layout.FLAG_WRITE_PROTECT if write_protect else 0)
    return bytes(hdr)
