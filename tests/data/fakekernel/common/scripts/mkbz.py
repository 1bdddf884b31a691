#!/usr/bin/env python3
"""Write a fake but structurally valid x86 bzImage: boot sector with 55AA, setup header
("HdrS", protocol 2.03, loadflags bzImage), 4 setup sectors, then a payload."""

import struct
import sys
from pathlib import Path

out, version, *payload_files = sys.argv[1:]
setup_sects = 4
setup = bytearray(512 * (1 + setup_sects))
setup[0x1F1] = setup_sects
struct.pack_into("<H", setup, 0x1FE, 0xAA55)
setup[0x200:0x202] = b"\xeb\x66"  # jmp over the header
setup[0x202:0x206] = b"HdrS"
struct.pack_into("<H", setup, 0x206, 0x0203)
ver = f"{version} (fake@ramsesbuild) #1\0".encode()
ver_off = 0x300
setup[ver_off:ver_off + len(ver)] = ver
struct.pack_into("<H", setup, 0x20E, ver_off - 0x200)
setup[0x211] = 0x01  # LOADED_HIGH: bzImage
struct.pack_into("<I", setup, 0x214, 0x100000)
payload = b"".join(Path(p).read_bytes() for p in payload_files)
payload += b"\0" * (-len(payload) % 16)
struct.pack_into("<I", setup, 0x1F4, len(payload) // 16)  # syssize in paragraphs
Path(out).write_bytes(bytes(setup) + payload)
