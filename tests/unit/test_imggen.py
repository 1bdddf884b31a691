"""imggen: the clean-room MBA header, payload checks, the original header from a real ELF, the CLI."""

from __future__ import annotations

import hashlib
import os
import shutil
import struct
import subprocess
from pathlib import Path

import pytest

from ramsesbuild import cli
from ramsesbuild.errors import ImageError
from ramsesbuild.imggen import (
    assemble,
    build_image,
    cleanroom_header,
    describe,
    header_from_imggen,
    inspect_payload,
    layout,
    original,
)
from ramsesbuild.imggen.cleanroom import stub_code

needs_binutils = pytest.mark.skipif(not assemble.have_binutils(), reason="GNU as/ld not installed (apt-get install binutils)")


def floppy_sector(fill: int = 0x90) -> bytes:
    return bytes([fill]) * 510 + b"\x55\xaa"


def fake_kernel(protocol: int, root_dev: int = 0x00FF, sector0_text: bytes = b"", size: int = 8192) -> bytes:
    """Just enough of a zImage/bzImage for the checks: boot sector, setup header, version string."""
    data = bytearray(size)
    data[0:len(sector0_text)] = sector0_text
    struct.pack_into("<H", data, 0x1FC, root_dev)
    data[0x1FE:0x200] = b"\x55\xaa"
    data[0x202:0x206] = b"HdrS"
    struct.pack_into("<H", data, 0x206, protocol)
    struct.pack_into("<H", data, 0x20E, 0x300)  # kernel_version string at 0x200 + 0x300
    data[0x500:0x520] = b"2.4.18-cluster (root@ramses) #1\0"
    return bytes(data)


# ------------------------------------------------------------------ the clean-room header

def test_cleanroom_header_meets_the_rom_contract():
    hdr = cleanroom_header()
    assert len(hdr) == layout.HEADER_SIZE
    info = layout.MbaHeader.parse(hdr, "clean-room")
    assert info.head_size == 4096  # ROM copies this much to 1000:0000 (multiple of 512 for TriROM)
    assert info.ext_kb == 1440  # KB of extended memory the ROM must find
    assert not info.keeps_rom  # no BWAPI: the ROM disengages itself before the hand-off
    assert hdr[0] == 0xEB and 0x20 < hdr[1] + 2 < 0x80  # short jump over the fields
    p = layout.StubParams.parse(hdr)
    assert (p.cylinders, p.heads, p.sectors_per_track) == (80, 2, 18)
    assert p.disk_bytes == layout.FLOPPY_BYTES
    assert p.disk_base == layout.EXTENDED_BASE
    assert p.resident_bytes <= p.resident_kb * 1024


def test_write_protect_flag_is_the_only_difference():
    ro, rw = cleanroom_header(True), cleanroom_header(False)
    assert layout.StubParams.parse(ro).write_protected
    assert not layout.StubParams.parse(rw).write_protected
    assert [i for i in range(len(ro)) if ro[i] != rw[i]] == [layout.StubParams.FLAGS_OFFSET]


def test_header_bytes_are_ours_not_3com():
    hdr = cleanroom_header()
    assert hashlib.sha256(hdr).hexdigest() != original.KNOWN[0].header_sha256
    for text in (b"3Com", b"Lanworks", b"Copyright", b"BWAPI"):
        assert text not in hdr


@needs_binutils
def test_shipped_stub_is_the_assembled_source():
    code = assemble.assemble_flat(assemble.STUB_SOURCE)
    assemble.check_stub(code)
    assert code == stub_code(), "regenerate with: python -m ramsesbuild.imggen.assemble"
    assert assemble.render_module(code) == assemble.STUB_MODULE.read_text()


# ------------------------------------------------------------------ payload checks

def levels(findings):
    return sorted(f.level for f in findings)


def test_good_floppy_payload_has_no_findings():
    assert inspect_payload(floppy_sector() * 2880, "disk.img") == []
    assert inspect_payload(fake_kernel(0x0203), "zImage") == []


@pytest.mark.parametrize("data, text", [
    (b"\x36\x13\x03\x1b" + bytes(508) + b"\x55\xaa", "tagged (NBI) image"),
    (b"\x7fELF" + bytes(1000), "ELF file"),
    (floppy_sector() * 2880 + b"x", "more than the 1,474,560 bytes"),
    (fake_kernel(0x020F), "has no floppy loader"),
    (fake_kernel(0x0203, sector0_text=b"Direct booting from floppy is no longer supported.\r\n"), "no floppy loader"),
    (b"", "empty file"),
    (cleanroom_header() + floppy_sector(), "already starts with an MBA header"),
], ids=["nbi", "elf", "too-big", "modern-kernel", "2.6-bootsect", "empty", "mba-twice"])
def test_unbootable_payloads_are_errors(data, text):
    errors = [f for f in inspect_payload(data, "in") if f.level == "error"]
    assert errors and text in errors[0].message


def test_suspicious_payloads_are_warnings():
    (f,) = inspect_payload(bytes(2048), "raw")
    assert f.level == "warning" and "55AA" in f.message
    (f,) = inspect_payload(fake_kernel(0x0202, root_dev=0x0301), "zImage")
    assert f.level == "warning" and "0x0301" in f.message and "/dev/nfs" in f.message


def test_modern_kernel_version_is_named():
    (f,) = [f for f in inspect_payload(fake_kernel(0x020F), "bzImage") if f.level == "error"]
    assert "2.4.18-cluster" in f.message  # the version string the setup header points at


# ------------------------------------------------------------------ building images

def test_image_is_header_plus_payload_byte_for_byte(tmp_path):
    src, out = tmp_path / "zImage", tmp_path / "out" / "cluster.mba"
    src.write_bytes(fake_kernel(0x0203, size=300_001))
    assert build_image(src, out) == []
    data = out.read_bytes()
    assert data == cleanroom_header() + src.read_bytes()
    assert oct(out.stat().st_mode & 0o777) == "0o644"
    assert sorted(p.name for p in out.parent.iterdir()) == ["cluster.mba"]  # no temp file left


def test_refused_image_leaves_no_output(tmp_path):
    src, out = tmp_path / "nbi", tmp_path / "out.mba"
    src.write_bytes(b"\x36\x13\x03\x1b" + bytes(2000))
    with pytest.raises(ImageError, match="--force"):
        build_image(src, out)
    assert not out.exists()
    warnings = build_image(src, out, force=True)
    assert [w.level for w in warnings] == ["warning", "warning"]  # the NBI error, downgraded; no 55AA
    assert out.read_bytes()[4096:] == src.read_bytes()


def test_missing_input_is_an_image_error(tmp_path):
    with pytest.raises(ImageError, match="cannot read the input"):
        build_image(tmp_path / "nope", tmp_path / "out")


# ------------------------------------------------------------------ CLI through the dispatcher

def test_cli_add_and_v002_spelling(tmp_path, capsys):
    src = tmp_path / "disk.img"
    src.write_bytes(floppy_sector() * 4)
    assert cli.main(["imggen", "-a", str(src), str(tmp_path / "a.mba")]) == 0
    assert cli.main(["imggen", str(src), str(tmp_path / "b.mba")]) == 0
    assert (tmp_path / "a.mba").read_bytes() == (tmp_path / "b.mba").read_bytes()
    assert "wrote" in capsys.readouterr().out


def test_cli_error_exit_1_with_message(tmp_path, capsys):
    src = tmp_path / "bzImage"
    src.write_bytes(fake_kernel(0x020F))
    assert cli.main(["imggen", "-a", str(src), str(tmp_path / "x.mba")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("ramsesbuild imggen: error:") and "no floppy loader" in err
    assert not (tmp_path / "x.mba").exists()


def test_cli_warnings_go_to_stderr(tmp_path, capsys):
    src = tmp_path / "raw"
    src.write_bytes(bytes(1024))
    assert cli.main(["imggen", "-a", str(src), str(tmp_path / "x.mba")]) == 0
    assert "warning: " in capsys.readouterr().err


def test_cli_usage_errors(tmp_path):
    with pytest.raises(SystemExit) as exc:
        cli.main(["imggen", "-a", str(tmp_path / "only-one")])
    assert exc.value.code == 2


def test_cli_info(tmp_path, capsys):
    src = tmp_path / "zImage"
    src.write_bytes(fake_kernel(0x0203))
    out = tmp_path / "k.mba"
    assert cli.main(["imggen", "--writable", str(src), str(out)]) == 0
    capsys.readouterr()
    assert cli.main(["imggen", "-i", str(out)]) == 0
    text = capsys.readouterr().out
    assert "clean-room floppy header v1" in text and "80x2x18" in text and "writable" in text
    assert "2.4.18-cluster" in text and "floppy loader present" in text
    assert describe(out) == text.rstrip("\n").split("\n")


def test_info_rejects_a_non_mba_file(tmp_path):
    f = tmp_path / "plain"
    f.write_bytes(bytes(4096))
    with pytest.raises(ImageError, match="ExTx"):
        describe(f)


# ------------------------------------------------------------------ original header from an ELF

def make_imggen_like_elf(tmp_path: Path, header: bytes, strip: bool = False) -> Path:
    """A real i386 ELF with a 4096-byte IMGHDR in .data, built by binutils (no 3Com bytes)."""
    (tmp_path / "hdr.bin").write_bytes(header)
    src = tmp_path / "fake_imggen.S"
    src.write_text(
        '.text\n.globl _start\n_start: ret\n'
        '.data\n.long 0\n.globl IMGHDR\n.type IMGHDR, @object\n.size IMGHDR, 4096\n'
        f'IMGHDR: .incbin "{tmp_path / "hdr.bin"}"\n'
    )
    obj, elf = tmp_path / "f.o", tmp_path / "imggen"
    subprocess.run(["as", "--32", "-o", str(obj), str(src)], check=True)
    subprocess.run(["ld", "-m", "elf_i386", "-o", str(elf), str(obj)], check=True)
    if strip:
        subprocess.run(["strip", "--strip-all", str(elf)], check=True)
    return elf


@pytest.fixture
def fake_imggen(tmp_path):
    if not (assemble.have_binutils() and shutil.which("strip")):
        pytest.skip("binutils (as, ld, strip) not installed")
    header = cleanroom_header(False)  # any 4096 bytes with ExTx will do
    elf = make_imggen_like_elf(tmp_path, header)
    offset = original.symbol_offset(elf.read_bytes(), elf)
    assert elf.read_bytes()[offset:offset + 4096] == header  # the symbol really points at it
    known = original.KnownImggen("test build", offset, hashlib.sha256(header).hexdigest(), "")
    return elf, header, known


def test_header_taken_from_imggen_binary(fake_imggen):
    elf, header, known = fake_imggen
    assert header_from_imggen(elf, (known,)) == (header, known)


def test_imggen_binary_with_moved_header_is_refused(fake_imggen):
    elf, _, known = fake_imggen
    moved = original.KnownImggen(known.name, known.offset + 4, known.header_sha256, "")
    with pytest.raises(ImageError, match=f"IMGHDR at offset {known.offset:#x}"):
        header_from_imggen(elf, (moved,))


def test_imggen_binary_with_other_header_is_refused(fake_imggen):
    elf, _, known = fake_imggen
    other = original.KnownImggen(known.name, known.offset, "0" * 64, "")
    with pytest.raises(ImageError, match="not an imggen build ramsesbuild knows"):
        header_from_imggen(elf, (other,))


def test_stripped_imggen_binary_uses_the_known_offset(fake_imggen, tmp_path):
    _, header, known = fake_imggen
    (tmp_path / "s").mkdir()
    stripped = make_imggen_like_elf(tmp_path / "s", header, strip=True)
    data = stripped.read_bytes()
    assert original.symbol_offset(data, stripped) is None
    at = original.KnownImggen(known.name, data.find(header), known.header_sha256, "")
    assert header_from_imggen(stripped, (at,))[0] == header
    wrong = original.KnownImggen(known.name, data.find(header) + 512, known.header_sha256, "")
    with pytest.raises(ImageError, match="no IMGHDR symbol"):
        header_from_imggen(stripped, (wrong,))


def test_non_elf_imggen_is_refused(tmp_path):
    f = tmp_path / "imggen"
    f.write_bytes(b"#!/bin/sh\n")
    with pytest.raises(ImageError, match="not an ELF binary"):
        header_from_imggen(f)


def test_build_image_with_original_header(fake_imggen, tmp_path):
    elf, header, known = fake_imggen
    src = tmp_path / "disk.img"
    src.write_bytes(floppy_sector() * 3)
    build_image(src, tmp_path / "o.mba", header_from_imggen(elf, (known,))[0])
    assert (tmp_path / "o.mba").read_bytes() == header + src.read_bytes()


def test_cli_refuses_writable_with_original_header(tmp_path):
    with pytest.raises(SystemExit):
        cli.main(["imggen", "--imggen", str(tmp_path / "imggen"), "--writable", "a", "b"])


def test_build_image_refuses_a_bad_header(tmp_path):
    src = tmp_path / "disk.img"
    src.write_bytes(floppy_sector())
    with pytest.raises(ImageError, match="ExTx"):
        build_image(src, tmp_path / "o.mba", bytes(4096))
    with pytest.raises(ImageError, match="not 4096"):
        build_image(src, tmp_path / "o.mba", cleanroom_header() + b"x")


@pytest.mark.skipif(not os.environ.get("RAMSES_IMGGEN"), reason="set RAMSES_IMGGEN=/path/to/imggen (v0.02) to check the real binary")
def test_real_imggen_v002_binary(tmp_path):
    header, known = header_from_imggen(Path(os.environ["RAMSES_IMGGEN"]))
    assert known is original.KNOWN[0]
    assert hashlib.sha256(header).hexdigest() == known.header_sha256
    src = tmp_path / "disk.img"
    src.write_bytes(floppy_sector() * 3)
    assert cli.main(["imggen", "--imggen", os.environ["RAMSES_IMGGEN"], str(src), str(tmp_path / "o.mba")]) == 0
    assert (tmp_path / "o.mba").read_bytes() == header + src.read_bytes()  # what v0.02 writes
