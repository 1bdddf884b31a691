"""Synthetic Linux kernel images for the mknbi tests (only the header bytes mknbi reads matter)."""

from __future__ import annotations

import random
import struct
from pathlib import Path


def fake_kernel(setup_sects: int = 4, payload: int = 4096, *, big: bool = True, version: int = 0x0202,
                hdrs: bool = True, signature: bool = True, seed: int = 1, cmdline_size: int | None = None) -> bytes:
    """A boot sector + setup + payload with a boot-protocol header (Documentation/x86/boot.rst)."""
    rng = random.Random(seed)
    body = bytearray(rng.randbytes(512 + setup_sects * 512 + payload))
    body[0x1F1] = setup_sects
    if signature:
        body[0x1FE:0x200] = b"\x55\xaa"
    else:
        body[0x1FE:0x200] = b"\x00\x00"
    if len(body) >= 0x212:
        body[0x202:0x206] = b"HdrS" if hdrs else b"XXXX"
        struct.pack_into("<H", body, 0x206, version)
        body[0x211] = 0x01 if big else 0x00
        if cmdline_size is not None and len(body) >= 0x23C:
            struct.pack_into("<I", body, 0x238, cmdline_size)
    return bytes(body)


def write_fake_kernel(path: Path, **kwargs: object) -> Path:
    path.write_bytes(fake_kernel(**kwargs))  # type: ignore[arg-type]
    return path


def write_blob(path: Path, size: int, seed: int = 7) -> Path:
    path.write_bytes(random.Random(seed).randbytes(size))
    return path
