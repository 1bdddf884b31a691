"""Our own MBA headers, padded to 4096 bytes with their fields patched in: the floppy header
(assembled mba_stub.S) and the NBI loader (assembled mba_nbi.S)."""

from __future__ import annotations

import hashlib
import struct

from ..errors import ImageError
from . import _nbi_stub, _stub
from . import header as mba_header


def stub_code() -> bytes:
    code = bytes.fromhex("".join(_stub.STUB_HEX))
    if hashlib.sha256(code).hexdigest() != _stub.STUB_SHA256:
        raise ImageError(f"{_stub.__file__}: stub bytes do not match their sha256; regenerate with "
                         "`python -m ramsesbuild.imggen.assemble`")
    return code


def cleanroom_header(write_protect: bool = True) -> bytes:
    """The 4096-byte header; *write_protect* makes INT 13h writes to drive A: fail (AH=03)."""
    hdr = bytearray(stub_code().ljust(mba_header.HEADER_SIZE, b"\0"))
    flags = hdr[mba_header.StubParams.FLAGS_OFFSET] & ~mba_header.FLAG_WRITE_PROTECT
    hdr[mba_header.StubParams.FLAGS_OFFSET] = flags | (mba_header.FLAG_WRITE_PROTECT if write_protect else 0)
    return bytes(hdr)


def nbi_stub_code() -> bytes:
    code = bytes.fromhex("".join(_nbi_stub.STUB_HEX))
    if hashlib.sha256(code).hexdigest() != _nbi_stub.STUB_SHA256:
        raise ImageError(f"{_nbi_stub.__file__}: header bytes do not match their sha256; regenerate with "
                         "`python -m ramsesbuild.imggen.assemble`")
    return code


def nbi_params() -> mba_header.NbiStubParams:
    return mba_header.NbiStubParams.parse(nbi_stub_code())


def nbi_header(payload_len: int, ext_kb: int) -> bytes:
    """The 4096-byte NBI-loading header for a payload of *payload_len* bytes needing *ext_kb* KB."""
    if not 0 < ext_kb <= mba_header.MAX_EXT_KB:
        raise ImageError(f"an MBA header asks for 1..{mba_header.MAX_EXT_KB} KB of extended memory, not {ext_kb}")
    hdr = bytearray(nbi_stub_code().ljust(mba_header.HEADER_SIZE, b"\0"))
    struct.pack_into("<H", hdr, 12, ext_kb)
    struct.pack_into("<I", hdr, mba_header.NbiStubParams.PAYLOAD_LEN_OFFSET, payload_len)
    return bytes(hdr)


def nbi_header_digest() -> str:
    """sha256 of the NBI-loading header's code: what a netboot image's MBA image depends on."""
    return _nbi_stub.STUB_SHA256
