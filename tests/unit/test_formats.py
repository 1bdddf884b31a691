"""ramsesbuild.formats: one sniffer and one vocabulary for status, boot-test and imggen."""

from __future__ import annotations

import pytest

from ramsesbuild import boottest, formats
from ramsesbuild.formats import ImageKind, sniff, sniff_file
from ramsesbuild.imggen import cleanroom_header, inspect_payload
from ramsesbuild.nbi.nbiformat import NbiHeader


def kernel(loads_high: bool) -> bytes:
    data = bytearray(0x400)
    data[0x202:0x206] = b"HdrS"
    data[0x211] = 1 if loads_high else 0
    return bytes(data)


CASES = {
    ImageKind.NBI: NbiHeader.make("test", 0x9000, 0x92000, linear=True).pack() + bytes(600),
    ImageKind.ELF: b"\x7fELF" + bytes(600),
    ImageKind.MBA: cleanroom_header() + bytes(600),
    ImageKind.BZIMAGE: kernel(loads_high=True),
    ImageKind.ZIMAGE: kernel(loads_high=False),
    ImageKind.IPXE_SCRIPT: b"#!ipxe\nchain x\n",
    ImageKind.OTHER: b"hello",
}


@pytest.mark.parametrize("kind", list(ImageKind))
def test_every_kind_is_told_from_its_first_bytes(kind, tmp_path):
    data = CASES[kind]
    assert sniff(data) is kind
    assert sniff(data[:formats.HEAD_BYTES]) is kind
    (tmp_path / "f").write_bytes(data)
    assert sniff_file(tmp_path / "f") is kind


def test_the_nbi_magic_is_the_one_nbiformat_writes():
    from ramsesbuild.nbi import nbiformat

    assert NbiHeader.make("x", 0, 0, linear=True).pack()[:4] == formats.NBI_MAGIC
    assert nbiformat.NBI_MAGIC == 0x1B031336


def test_boot_test_names_kinds_from_the_same_vocabulary():
    assert boottest.image_format(CASES[ImageKind.NBI]) == "NBI"
    assert boottest.image_format(CASES[ImageKind.BZIMAGE]) == "bzImage"
    assert boottest.image_format(CASES[ImageKind.ZIMAGE]) == "zImage"
    assert boottest.image_format(CASES[ImageKind.MBA]) == "unknown"  # iPXE does not load it
    assert boottest.image_format(CASES[ImageKind.OTHER]) == "unknown"


def test_imggen_refuses_an_mba_image_as_its_payload():
    findings = inspect_payload(CASES[ImageKind.MBA], "x")
    assert any("already starts with an MBA header" in f.message for f in findings)
    assert any("Etherboot tagged (NBI)" in f.message for f in inspect_payload(CASES[ImageKind.NBI], "x"))
