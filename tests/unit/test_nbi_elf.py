"""ELF netboot images (mkelf-linux): structure checked with pyelftools, the ELFBoot checksum
recomputed independently, and the checksum accumulator against a literal port of Elf.pm."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest
from elftools.elf.elffile import ELFFile
from hypothesis import given, settings
from hypothesis import strategies as st

from ramsesbuild.nbi import MknbiOptions, build_image, inspect_image
from ramsesbuild.nbi.elfformat import InternetChecksum

from ..lib.nbi_fakes import fake_kernel, write_blob


def rfc1071(data: bytes) -> int:
    """Plain Internet checksum of a byte string (LE 16-bit words, odd byte low)."""
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"<{len(data) // 2}H", data))
    while total > 0xFFFF:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def perl_add_summed_data(state: tuple[int, int], piece: bytes) -> tuple[int, int]:
    """Elf.pm compute_ip_checksum + add_summed_data, transcribed step by step (state: checksum, summed)."""
    checksum, summed = state
    s = 0
    for i in range(0, len(piece) // 2 * 2, 2):
        s += piece[i] | piece[i + 1] << 8
    while s > 0xFFFF:
        s = (s & 0xFFFF) + (s >> 16)
    if len(piece) & 1:
        s += piece[-1]
        while s > 0xFFFF:
            s = (s & 0xFFFF) + (s >> 16)
    new = ~(~s & 0xFFFF) & 0xFFFF
    acc = ~checksum & 0xFFFF
    if summed & 1:
        new = ((new >> 8) & 0xFF) | ((new << 8) & 0xFF00)
    total = acc + new
    if total > 0xFFFF:
        total -= 0xFFFF
    return (~total & 0xFFFF, summed + len(piece))


@settings(max_examples=200, deadline=None)
@given(st.lists(st.binary(max_size=70), max_size=12))
def test_checksum_accumulator_matches_elf_pm(pieces: list[bytes]) -> None:
    state = (0, 0)
    ours = InternetChecksum()
    for piece in pieces:
        state = perl_add_summed_data(state, piece)
        ours.add(piece)
    assert ours.value == state[0]


@pytest.fixture
def inputs(tmp_path: Path) -> dict[str, Path]:
    k = tmp_path / "bzImage"
    k.write_bytes(fake_kernel(setup_sects=12, payload=0x12D800 - 100))
    return {"kernel": k, "initrd": write_blob(tmp_path / "initrd", 0x4A000 - 1000, seed=3),
            "first32elf": write_blob(tmp_path / "first32elf", 3001, seed=6)}


def test_mkelf_144_layout(tmp_path: Path, inputs: dict[str, Path]) -> None:
    out = tmp_path / "linux.elf"
    build_image(inputs["kernel"], out, MknbiOptions(format="elf", layout="1.4.4", first32=inputs["first32elf"],
                                                    initrd=inputs["initrd"], ip="rom", rootdir="rom"))
    data = out.read_bytes()
    with open(out, "rb") as fh:
        elf = ELFFile(fh)
        assert elf.elfclass == 32 and elf.little_endian
        h = elf.header
        assert h.e_ident.EI_OSABI in (0xFF, "ELFOSABI_STANDALONE")
        assert (h.e_type, h.e_machine, h.e_entry, h.e_flags) == ("ET_EXEC", "EM_386", 0x92800, 0)
        assert (h.e_phoff, h.e_shoff, h.e_phnum, h.e_shnum) == (52, 0x114, 7, 1)  # mknbi.md §4 oracle
        segs = list(elf.iter_segments())
        loads = [s for s in segs if s["p_type"] == "PT_LOAD"]
        assert [s["p_paddr"] for s in loads] == [0x92800, 0x92400, 0x90000, 0x90200, 0x100000, 0x22E000]
        assert all(s["p_vaddr"] == s["p_paddr"] and s["p_filesz"] == s["p_memsz"] and s["p_align"] == 512
                   and s["p_flags"] == 7 for s in loads)
        assert [s["p_offset"] for s in loads] == [512, 512 + 0xC00, 512 + 0xE00, 512 + 0x1000, 512 + 0x2800,
                                                  512 + 0x2800 + 0x12D800]
        note = segs[-1]
        assert note["p_type"] == "PT_NOTE" and note["p_offset"] == 488 and note["p_filesz"] == 24
        (n,) = list(note.iter_notes())
        # type 3 = EIN_PROGRAM_CHECKSUM; pyelftools names it after the GNU note with the same number
        assert n["n_name"] == "ELFBoot" and n["n_type"] in (3, "NT_GNU_BUILD_ID") and n["n_descsz"] == 2
        stored = struct.unpack_from("<H", data, 508)[0]
        body = data[:52] + data[52:52 + 7 * 32]
        for s in loads:
            body += data[s["p_offset"]:s["p_offset"] + s["p_filesz"]]
        assert stored == rfc1071(body)
    assert data[512:512 + 3001] == inputs["first32elf"].read_bytes()
    assert len(data) == 1548800  # same data layout as the NBI twin
    report = inspect_image(out)
    assert report.ok, report.render()


def test_elf_checksum_detects_corruption(tmp_path: Path, inputs: dict[str, Path]) -> None:
    out = tmp_path / "linux.elf"
    build_image(inputs["kernel"], out, MknbiOptions(format="elf", initrd=inputs["initrd"]))
    assert inspect_image(out).ok
    data = bytearray(out.read_bytes())
    data[100_000] ^= 0x40
    out.write_bytes(bytes(data))
    report = inspect_image(out)
    assert not report.ok and "ELFBoot checksum" in report.render()


def test_ramses_elf_loads_its_header_block(tmp_path: Path, inputs: dict[str, Path]) -> None:
    out = tmp_path / "linux.elf"
    build_image(inputs["kernel"], out, MknbiOptions(format="elf", initrd=inputs["initrd"], progreturns=False))
    with open(out, "rb") as fh:
        elf = ELFFile(fh)
        loads = [s for s in elf.iter_segments() if s["p_type"] == "PT_LOAD"]
        first = loads[0]
        # the first stage finds the ELF header 0x200 below its entry point
        assert (first["p_offset"], first["p_paddr"], first["p_filesz"]) == (0, 0x89000, 488)
        assert elf.header.e_entry == loads[1]["p_paddr"] == 0x89000 + 0x200
        assert len(loads) == 7
        stored = struct.unpack_from("<H", out.read_bytes(), 508)[0]
        data = out.read_bytes()
        body = data[:52 + 8 * 32] + b"".join(data[s["p_offset"]:s["p_offset"] + s["p_filesz"]] for s in loads)
        assert stored == rfc1071(body)


def test_mkelf_progreturns_sets_e_flags(tmp_path: Path, inputs: dict[str, Path]) -> None:
    out = tmp_path / "r.elf"
    build_image(inputs["kernel"], out, MknbiOptions(format="elf", layout="1.4.4", first32=inputs["first32elf"],
                                                    progreturns=True))
    with open(out, "rb") as fh:
        assert ELFFile(fh).header.e_flags == 0x08000000
