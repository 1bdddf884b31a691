"""Property tests: parse(build(x)) gives back x, for the container and for whole images."""

from __future__ import annotations

import tempfile
from pathlib import Path

from elftools.elf.elffile import ELFFile
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ramsesbuild.nbi import MknbiOptions, build_image, inspect_image, make_plan
from ramsesbuild.nbi.nbiformat import NbiHeader, SegmentDescriptor, pack_header_block, parse_header_block

from ..lib.nbi_fakes import fake_kernel

u32 = st.integers(0, 0xFFFFFFFF)
vendor_words = st.binary(max_size=60).map(lambda b: b[: len(b) // 4 * 4])


@st.composite
def descriptor_lists(draw: st.DrawFn) -> list[SegmentDescriptor]:
    n = draw(st.integers(1, 8))
    segs = [SegmentDescriptor(tag=draw(st.integers(0, 255)), load_addr=draw(u32), imglen=draw(u32), memlen=draw(u32),
                              mode=draw(st.integers(0, 3)), vendor=draw(vendor_words),
                              reserved=draw(st.integers(0, 255)), last=(i == n - 1))
            for i in range(n)]
    return segs


@settings(max_examples=300, deadline=None)
@given(vendor=st.text("abcdefghijklmnopqrstuvwxyz-.0123456789", max_size=40), location=u32, exec_addr=u32,
       linear=st.booleans(), returns=st.booleans(), segs=descriptor_lists())
def test_header_block_round_trip(vendor: str, location: int, exec_addr: int, linear: bool, returns: bool,
                                 segs: list[SegmentDescriptor]) -> None:
    header = NbiHeader.make(vendor, location, exec_addr, linear=linear, returns=returns)
    if len(header.pack()) + sum(s.size for s in segs) > 510:
        return
    block = pack_header_block(header, segs)
    assert len(block) == 512 and block[510:] == b"\x55\xaa"
    parsed = parse_header_block(block)
    assert parsed is not None and parsed.ok, parsed.problems
    assert parsed.header == header and list(parsed.segments) == segs
    assert parsed.header.vendor_text == vendor


@st.composite
def image_inputs(draw: st.DrawFn) -> dict:
    layout = draw(st.sampled_from(["1.0", "1.4.4", "ramses"]))
    fmt = "nbi" if layout == "1.0" else draw(st.sampled_from(["nbi", "elf"]))
    setup = draw(st.integers(1 if layout == "ramses" else 0, 16 if layout != "ramses" else 63))
    big = draw(st.booleans())
    payload = draw(st.integers(512 if setup == 0 else 0, 70_000))  # the header must fit in the file
    cmd = draw(st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=900))
    initrd = draw(st.one_of(st.none(), st.integers(0, 20_000)))
    return dict(layout=layout, fmt=fmt, setup=setup, big=big, payload=payload, cmd=cmd, initrd=initrd,
                seed=draw(st.integers(0, 1000)), rdnopad=draw(st.booleans()))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(image_inputs())
def test_image_round_trip(x: dict) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        t = Path(tmp)
        kernel = t / "k"
        kernel.write_bytes(fake_kernel(setup_sects=x["setup"], payload=x["payload"], big=x["big"], seed=x["seed"]))
        initrd = None
        if x["initrd"] is not None:
            initrd = t / "rd"
            initrd.write_bytes(bytes((i * 7 + x["seed"]) & 0xFF for i in range(x["initrd"])))
        first = None
        if x["layout"] == "1.4.4" and x["fmt"] == "elf":
            first = t / "first32elf"
            first.write_bytes(b"\xcc" * 777)
        opts = MknbiOptions(layout=x["layout"], format=x["fmt"], param=x["cmd"], initrd=initrd, first32=first,
                            rdnopad=x["rdnopad"])
        plan = make_plan(kernel, opts)
        out = t / "img"
        build_image(kernel, out, opts)
        data = out.read_bytes()
        kbytes = kernel.read_bytes()
        expect = {17: x["cmd"].encode(), 18: kbytes[:512], 19: kbytes[512:512 + 512 * x["setup"]],
                  20: kbytes[512 + 512 * x["setup"]:]}
        if initrd is not None:
            expect[21] = initrd.read_bytes()
        if x["fmt"] == "nbi":
            parsed = parse_header_block(data[:512])
            assert parsed is not None and parsed.ok
            assert parsed.header == plan.header and parsed.segments == plan.descriptors
            pieces = {}
            off = 512
            for d in parsed.segments:
                pieces[d.tag] = data[off:off + d.imglen]
                off += d.imglen
            assert off == len(data)
        else:
            with open(out, "rb") as fh:
                elf = ELFFile(fh)
                loads = [s for s in elf.iter_segments() if s["p_type"] == "PT_LOAD" and s["p_offset"] >= 512]
                assert elf.header.e_entry == plan.entry
                assert [(s["p_paddr"], s["p_filesz"]) for s in loads] == [(d.load_addr, d.imglen) for d in plan.descriptors]
                pieces = {d.tag: data[s["p_offset"]:s["p_offset"] + s["p_filesz"]] for d, s in zip(plan.descriptors, loads, strict=False)}
        for tag, raw in expect.items():
            got = pieces[tag]
            assert got[:len(raw)] == raw and got[len(raw):] == bytes(len(got) - len(raw)), tag
        assert inspect_image(out).ok, inspect_image(out).render()


def _block(header: NbiHeader, raw_descs: bytes) -> bytes:
    return (header.pack() + raw_descs).ljust(510, b"\0") + b"\x55\xaa"


def test_malformed_header_blocks() -> None:
    import struct

    from ramsesbuild.nbi.checks import check_segments

    header = NbiHeader.make("x", 0x93200000, 0x92200000, linear=False)
    assert parse_header_block(b"\0" * 512) is None  # no magic: not NBI at all
    zero = parse_header_block(_block(header, bytes(16)))
    assert zero is not None and not zero.ok and "length 0" in zero.problems[0].message
    no_last = b"".join(struct.pack("<4B3I", 0x04, 16, 0, 0, 0x10000 * i, 0, 0) for i in range(40))
    overflow = parse_header_block(_block(header, no_last))
    assert overflow is not None and not overflow.ok
    assert any("header overflow" in p.message or "past the 512-byte header" in p.message for p in overflow.problems)
    # address modes 1-3 are decoded; mode 2 (end of memory) cannot be placed without a machine
    descs = [SegmentDescriptor(16, 0x20000, 512, 512), SegmentDescriptor(17, 0x100, 512, 512, mode=1),
             SegmentDescriptor(18, 0x1000, 512, 512, mode=2, last=True)]
    problems = check_segments(None, descs, 512 + 3 * 512)
    assert [p.severity for p in problems] == ["warning"] and "address mode 2" in problems[0].message
    clash = [SegmentDescriptor(16, 0x20000, 1024, 1024), SegmentDescriptor(17, 0x100, 512, 512, mode=3, last=True)]
    # mode 3: 0x100 bytes *before* the previous segment, 512 long -> overlaps it
    assert any("overlaps" in p.message for p in check_segments(None, clash, 512 + 1536))
