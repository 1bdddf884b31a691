"""Golden NBI layouts from mknbi.md (oracle dumps of mknbi 1.0 and 1.4.4) and the spec's edge cases."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from ramsesbuild.errors import ImageError
from ramsesbuild.nbi import MknbiOptions, build_image, inspect_image, make_plan
from ramsesbuild.nbi.nbiformat import header_vendor, parse_header_block, segment_vendor

from ..lib.nbi_fakes import fake_kernel, write_blob

# mknbi.md §2.2: mknbi 1.0, bzImage with setup_sects=12 + initrd, 4.6.12 first.linux (3296 B)
GOLDEN_10_BZ_RD = """
3613031b 34000000 00002093 00002092 6d6b6e62 692d6c69 6e757800
04100000 00220900 000e0000 00100000
04110000 00340900 00020000 00080000
04120000 00000900 00020000 00020000
04130000 00020900 00180000 009e0000
04140000 00001000 00d81200 0000f000
14150004 00d82200 00a00400 00a00400 00000000
"""
# mknbi.md §3: mknbi 1.4.4, same kernel + initrd, 3001-byte first32 test blob
GOLDEN_144_BZ_RD = """
3613031b 54000080 00002092 00280900 6d6b6e62 692d6c69 6e75782d 312e342e 34000000
04100000 00280900 000c0000 00180000
04110000 00240900 00020000 00080000
04120000 00000900 00020000 00020000
04130000 00020900 00180000 00200000
04140000 00001000 00d81200 00d81200
14150004 00e02200 00a00400 00a00400 00000000
"""


def golden(text: str) -> bytes:
    return bytes.fromhex("".join(text.split()))


@pytest.fixture
def spec_inputs(tmp_path: Path) -> dict[str, Path]:
    """Kernel/initrd sizes that give the imglens of the spec's dumps (0x12d800, 0x4a000)."""
    return {
        "kernel": write_kernel(tmp_path / "bzImage", setup_sects=12, payload=0x12D800 - 100),
        "initrd": write_blob(tmp_path / "initrd", 0x4A000 - 1000, seed=3),
        "first10": write_blob(tmp_path / "first.linux", 3296, seed=4),
        "first144": write_blob(tmp_path / "first32", 3001, seed=5),
    }


def write_kernel(path: Path, **kwargs: object) -> Path:
    path.write_bytes(fake_kernel(**kwargs))  # type: ignore[arg-type]
    return path


def build(tmp_path: Path, kernel: Path, name: str = "out.nb", **opts: object) -> bytes:
    out = tmp_path / name
    build_image(kernel, out, MknbiOptions(**opts))  # type: ignore[arg-type]
    return out.read_bytes()


def test_mknbi_10_header_block_matches_oracle(tmp_path: Path, spec_inputs: dict[str, Path]) -> None:
    data = build(tmp_path, spec_inputs["kernel"], layout="1.0", first32=spec_inputs["first10"],
                 initrd=spec_inputs["initrd"])
    want = golden(GOLDEN_10_BZ_RD)
    assert data[:len(want)] == want
    assert data[len(want):510] == bytes(510 - len(want))
    assert data[510:512] == b"\x55\xaa"
    assert len(data) == 1549312  # the oracle's v10_bz_rd size
    # §2.2: with the 3296-byte first stage the command line sits at 0x1000, boot sector 0x1200, setup 0x1400
    assert data[0x1000:0x1000 + 21] == b"auto rw root=/dev/nfs" and data[0x1000 + 21:0x1200] == bytes(0x200 - 21)
    kernel = spec_inputs["kernel"].read_bytes()
    assert data[0x1200:0x1400] == kernel[:512]
    assert data[0x1400:0x1400 + 12 * 512] == kernel[512:512 + 12 * 512]


def test_mknbi_144_header_block_matches_oracle(tmp_path: Path, spec_inputs: dict[str, Path]) -> None:
    data = build(tmp_path, spec_inputs["kernel"], layout="1.4.4", first32=spec_inputs["first144"],
                 initrd=spec_inputs["initrd"], ip="rom")
    want = golden(GOLDEN_144_BZ_RD)
    assert data[:len(want)] == want
    assert data[510:512] == b"\x55\xaa"
    assert len(data) == 1548800  # the oracle's v144_bz_rd size
    assert data[0x200:0x200 + 3001] == spec_inputs["first144"].read_bytes()
    assert data[0x200 + 3001:0xE00] == bytes(0xE00 - 0x200 - 3001)
    assert data[0xE00:0xE00 + 23] == b"rw root=/dev/nfs ip=rom"


def test_same_inputs_same_bytes(tmp_path: Path, spec_inputs: dict[str, Path]) -> None:
    a = build(tmp_path, spec_inputs["kernel"], "a.nb", initrd=spec_inputs["initrd"], ip="rom", rootdir="rom")
    b = build(tmp_path, spec_inputs["kernel"], "b.nb", initrd=spec_inputs["initrd"], ip="rom", rootdir="rom")
    assert a == b
    assert inspect_image(tmp_path / "a.nb").ok


def descriptors(data: bytes):
    parsed = parse_header_block(data[:512])
    assert parsed is not None and parsed.ok, parsed
    return {d.tag: d for d in parsed.segments}


@pytest.mark.parametrize("layout", ["1.0", "1.4.4", "ramses"])
def test_payload_exact_multiple_of_512_gets_no_padding(tmp_path: Path, layout: str) -> None:
    k = write_kernel(tmp_path / "k", setup_sects=4, payload=8 * 512)
    segs = descriptors(build(tmp_path, k, layout=layout))
    assert segs[20].imglen == 8 * 512 and segs[20].last


@pytest.mark.parametrize("layout", ["1.0", "1.4.4", "ramses"])
def test_empty_payload_and_empty_initrd(tmp_path: Path, layout: str) -> None:
    k = write_kernel(tmp_path / "k", setup_sects=4, payload=0)
    rd = tmp_path / "empty"
    rd.write_bytes(b"")
    data = build(tmp_path, k, layout=layout, initrd=rd)
    segs = descriptors(data)
    assert segs[20].imglen == 0 and not segs[20].last
    assert (segs[21].imglen, segs[21].memlen, segs[21].last, segs[21].vendor) == (0, 0, True, b"\0\0\0\0")
    assert segs[21].load_addr == 0x100000  # kernel imglen 0: right at 1 MiB in every layout
    assert len(data) == 512 + sum(s.imglen for s in segs.values())


def test_initrd_exact_multiple_of_4096_and_rdnopad(tmp_path: Path) -> None:
    k = write_kernel(tmp_path / "k", setup_sects=4, payload=5000)
    rd = write_blob(tmp_path / "rd", 3 * 4096)
    assert descriptors(build(tmp_path, k, layout="1.4.4", initrd=rd))[21].imglen == 3 * 4096
    odd = write_blob(tmp_path / "odd", 5001)
    padded = descriptors(build(tmp_path, k, "p.nb", layout="1.4.4", initrd=odd))[21]
    nopad_data = build(tmp_path, k, "n.nb", layout="1.4.4", initrd=odd, rdnopad=True)
    nopad = descriptors(nopad_data)[21]
    assert padded.imglen == 8192 and nopad.imglen == nopad.memlen == 5001
    assert nopad_data.endswith(odd.read_bytes())
    # 1.0 has no --rdnopad: the option is ignored there, as its absence in 1.0 implies
    assert descriptors(build(tmp_path, k, "z.nb", layout="1.0", initrd=odd, rdnopad=True))[21].imglen == 8192


def test_initrd_placement_after_bzimage_kernel(tmp_path: Path) -> None:
    k = write_kernel(tmp_path / "k", setup_sects=4, payload=0x1234)  # imglen 0x1400
    rd = write_blob(tmp_path / "rd", 100)
    assert descriptors(build(tmp_path, k, "a", layout="1.0", initrd=rd))[21].load_addr == 0x101400
    assert descriptors(build(tmp_path, k, "b", layout="1.4.4", initrd=rd))[21].load_addr == 0x102000
    assert descriptors(build(tmp_path, k, "c", layout="ramses", initrd=rd))[21].load_addr == 0x102000
    z = write_kernel(tmp_path / "z", setup_sects=4, payload=0x1234, big=False)
    segs = descriptors(build(tmp_path, z, "d", layout="1.4.4", initrd=rd))
    assert (segs[20].load_addr, segs[20].memlen, segs[21].load_addr) == (0x10000, 0x80000, 0x100000)


def test_setup_sects_zero_is_used_literally_by_compat_layouts(tmp_path: Path) -> None:
    k = write_kernel(tmp_path / "k", setup_sects=0, payload=2048)
    for layout in ("1.0", "1.4.4"):
        segs = descriptors(build(tmp_path, k, layout, layout=layout))
        assert segs[19].imglen == 0
        assert segs[20].imglen == 2048  # everything after the boot sector
    with pytest.raises(ImageError, match="setup_sects is 0"):
        build(tmp_path, k, "r", layout="ramses")


@pytest.mark.parametrize("kwargs, match", [
    ({"hdrs": False}, "no 'HdrS'"),
    ({"version": 0x0200}, "boot protocol 2.00 is too old"),
    ({"signature": False}, "no 0xAA55 boot signature"),
])
def test_not_a_usable_kernel_is_an_error_and_writes_nothing(tmp_path: Path, kwargs: dict, match: str) -> None:
    k = write_kernel(tmp_path / "k", setup_sects=4, payload=1000, **kwargs)
    out = tmp_path / "out.nb"
    with pytest.raises(ImageError, match=match) as exc:
        build_image(k, out, MknbiOptions())
    assert str(k) in str(exc.value)
    assert not out.exists() and list(tmp_path.iterdir()) == [k]


def test_truncated_kernels(tmp_path: Path) -> None:
    short = tmp_path / "short"
    short.write_bytes(fake_kernel(setup_sects=4, payload=1000)[:700])
    with pytest.raises(ImageError, match="truncated or not a Linux kernel"):
        make_plan(short, MknbiOptions())
    cut = tmp_path / "cut"
    cut.write_bytes(fake_kernel(setup_sects=20, payload=0)[:4096])
    with pytest.raises(ImageError, match="truncated kernel: setup_sects=20"):
        make_plan(cut, MknbiOptions())
    with pytest.raises(ImageError, match="cannot read kernel image"):
        make_plan(tmp_path / "missing", MknbiOptions())


def test_failed_build_keeps_previous_output(tmp_path: Path) -> None:
    good = write_kernel(tmp_path / "good", setup_sects=4, payload=1000)
    bad = tmp_path / "bad"
    bad.write_bytes(b"\x7fELF" + bytes(4000))
    out = tmp_path / "out.nb"
    build_image(good, out, MknbiOptions())
    before = out.read_bytes()
    with pytest.raises(ImageError):
        build_image(bad, out, MknbiOptions())
    assert out.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad", "good", "out.nb"]


def test_vendor_padding() -> None:
    assert header_vendor("mknbi-linux") == b"mknbi-linux\0"  # 11 = 3 mod 4: one NUL
    assert header_vendor("abcdefghijklmnop") == b"abcdefghijklmnop" + bytes(4)  # 16: four NULs
    assert header_vendor("mknbi-linux-1.4.4") == b"mknbi-linux-1.4.4\0\0\0"
    assert segment_vendor(b"\0") == bytes(4)
    assert segment_vendor(b"abcd") == b"abcd"


@pytest.mark.parametrize("layout, size, ok", [
    ("1.0", 512, True), ("1.0", 1024, True), ("1.0", 2048, True), ("1.0", 2049, False),
    ("1.4.4", 1024, True), ("1.4.4", 1025, False), ("ramses", 2048, True), ("ramses", 2049, False),
])
def test_command_line_sizes(tmp_path: Path, layout: str, size: int, ok: bool) -> None:
    k = write_kernel(tmp_path / "k", setup_sects=4, payload=1000, cmdline_size=4095, version=0x020A)
    opts = MknbiOptions(layout=layout, param="x" * size)
    if not ok:
        with pytest.raises(ImageError, match="overlaps|imglen"):
            make_plan(k, opts)
        return
    plan = make_plan(k, opts)
    seg = plan.descriptors[1]
    assert seg.tag == 17 and seg.imglen == (size + 511) // 512 * 512
    out = tmp_path / "o"
    build_image(k, out, opts)
    data = out.read_bytes()
    start = 512 + plan.descriptors[0].imglen
    assert data[start:start + size] == b"x" * size
    if size % 512 == 0:  # no NUL terminator: the boot sector follows immediately
        assert plan.descriptors[2].tag == 18 and data[start + size:start + size + 512] == k.read_bytes()[:512]


def test_layouts_refuse_what_cannot_boot(tmp_path: Path) -> None:
    modern = write_kernel(tmp_path / "modern", setup_sects=39, payload=100_000)
    for layout in ("1.0", "1.4.4"):
        with pytest.raises(ImageError, match=f"layout {layout}.*use layout ramses"):
            make_plan(modern, MknbiOptions(layout=layout))
    assert make_plan(modern, MknbiOptions()).descriptors[3].imglen == 39 * 512
    big_z = write_kernel(tmp_path / "bigz", setup_sects=4, payload=600 * 1024, big=False)
    with pytest.raises(ImageError, match="imglen 0x96000 > memlen 0x80000"):
        make_plan(big_z, MknbiOptions(layout="1.0"))


def test_relocseg(tmp_path: Path) -> None:
    k = write_kernel(tmp_path / "k", setup_sects=4, payload=1000)
    plan = make_plan(k, MknbiOptions(layout="1.4.4", relocseg=0x8000))
    assert plan.header.location == 0x8220 << 16 and plan.header.exec_addr == 0x82800
    assert [d.load_addr for d in plan.descriptors[:4]] == [0x82800, 0x82400, 0x80000, 0x80200]
    odd = make_plan(k, MknbiOptions(layout="1.4.4", relocseg=0x7000))
    assert odd.descriptors == make_plan(k, MknbiOptions(layout="1.4.4")).descriptors
    assert any("relocseg must be 0x9000 or 0x8000" in w for w in odd.warnings)
    ramses = make_plan(k, MknbiOptions(relocseg=0x5000))
    assert ramses.descriptors[2].load_addr == 0x50000 and ramses.entry == 0x59200
    with pytest.raises(ImageError, match="0x1000 .. 0x9000"):
        make_plan(k, MknbiOptions(relocseg=0x5800))
    z = write_kernel(tmp_path / "z", setup_sects=4, payload=1000, big=False)
    assert make_plan(z, MknbiOptions()).relocseg == 0x9000
    with pytest.raises(ImageError, match="must be loaded at 0x90000"):
        make_plan(z, MknbiOptions(relocseg=0x8000))
    with pytest.raises(ImageError, match="fixed at segment 0x9000"):
        make_plan(k, MknbiOptions(layout="1.0", relocseg=0x8000))


def test_ramses_layout_default(tmp_path: Path) -> None:
    k = write_kernel(tmp_path / "k", setup_sects=39, payload=5000)
    plan = make_plan(k, MknbiOptions())
    h = plan.header
    assert h.vendor_text == "ramsesbuild-nbi-1" and h.linear_exec and not h.program_returns
    assert (h.location_linear, h.entry_linear) == (0x89000, 0x89200)
    assert [(d.tag, d.load_addr, d.memlen) for d in plan.descriptors] == [
        (16, 0x89200, 0x1800), (17, 0x8AA00, 0x800), (18, 0x80000, 0x200), (19, 0x80200, 0x7E00),
        (20, 0x100000, 5120)]
    assert plan.descriptors[0].imglen == 6144  # the bundled 32-bit first stage
    old = write_kernel(tmp_path / "old", setup_sects=4, payload=5000, version=0x0201)
    assert make_plan(old, MknbiOptions()).relocseg == 0x9000  # protocol < 2.02 needs 0x90000


def test_progreturns_flag(tmp_path: Path) -> None:
    k = write_kernel(tmp_path / "k", setup_sects=4, payload=1000)
    blob = write_blob(tmp_path / "f32", 1000)
    data = build(tmp_path, k, layout="1.4.4", first32=blob, progreturns=True)
    assert struct.unpack_from("<I", data, 4)[0] == 0x80000154
    with pytest.raises(ImageError, match="never returns"):
        make_plan(k, MknbiOptions(progreturns=True))


def test_first_stage_choice(tmp_path: Path) -> None:
    k = write_kernel(tmp_path / "k", setup_sects=4, payload=1000)
    assert make_plan(k, MknbiOptions(layout="1.0")).descriptors[0].imglen == 4096  # first16
    with pytest.raises(ImageError, match="only mknbi's own first32elf"):
        make_plan(k, MknbiOptions(layout="1.4.4", format="elf"))
    with pytest.raises(ImageError, match="no ELF variant"):
        MknbiOptions(layout="1.0", format="elf")
    with pytest.raises(ImageError, match="first stage .--first32."):
        make_plan(k, MknbiOptions(first32=tmp_path / "nope"))


def test_warns_when_the_first_stage_buffer_is_too_small(tmp_path: Path) -> None:
    k = write_kernel(tmp_path / "k", setup_sects=4, payload=1000, cmdline_size=2047, version=0x020A)
    assert not make_plan(k, MknbiOptions(param="y" * 1000)).warnings
    warnings = make_plan(k, MknbiOptions(param="y" * 2000)).warnings
    assert any("bundled first stage keeps at most" in w for w in warnings)
    old = write_kernel(tmp_path / "old", setup_sects=4, payload=1000, version=0x0205)
    assert any("keeps only 255" in w for w in make_plan(old, MknbiOptions(param="z" * 300)).warnings)
