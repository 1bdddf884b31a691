"""imggen NBI mode: our NBI-loading 3Com MBA header (mba_nbi.S), `imggen -a TAGGED OUT`, `-i`.

Static checks on synthetic NBI images (fake kernels), then fast qemu boots through the emulated
MBA hand-off (tests/mba_emu.py, tests/imggen_emu/harness.S): the probe "kernel" of the NBI boot
tests (tests/nbi_boot/probe-kernel.s) reports what our first stage handed over, so ip=/nfsroot=
must come from the BOOTP reply the emulated ROM passed; tests/imggen_emu/entry_probe.S, put in
place of the first stage, reports exactly how the header called the image's entry.
Each boot takes about a second; the real 2.4.18 / 6.1 kernels are in test_imggen_emu.py (slow).
"""

from __future__ import annotations

import re
import struct
from pathlib import Path

import pytest

from ramsesbuild import asm, commands
from ramsesbuild.errors import ImageError
from ramsesbuild.imggen import (
    assemble,
    cleanroom,
    make_mba_image,
    mba_name,
    nbiload,
)
from ramsesbuild.imggen import header as mba_header
from ramsesbuild.imggen.cleanroom import nbi_header, nbi_params, nbi_stub_code
from ramsesbuild.nbi import MknbiOptions, build_image, make_plan

from ..lib import mba_emu
from ..lib import nbi_bootlib as lib
from ..lib.nbi_fakes import fake_kernel, write_blob, write_fake_kernel

needs_binutils = pytest.mark.skipif(not assemble.have_binutils(), reason="GNU as/ld not installed (apt-get install binutils)")

BOOTP = {"yiaddr": "192.0.2.5", "siaddr": "192.0.2.1", "router": "192.0.2.254", "netmask": "255.255.255.0",
         "hostname": "c1", "root_path": "/export/c1"}
IP_VALUE = "192.0.2.5:192.0.2.1:192.0.2.254:255.255.255.0:c1"
RD_HEAD = b"RAMSES-INITRD-HEAD-0123456789abcdef"
MIB = 1 << 20


def make_nbi(tmp_path: Path, name: str = "k.nb", *, kernel: bytes | None = None, **opts: object) -> Path:
    k = tmp_path / f"{name}.kernel"
    k.write_bytes(kernel if kernel is not None else fake_kernel(setup_sects=4, payload=20000))
    out = tmp_path / name
    build_image(k, out, MknbiOptions(ip="rom", rootdir="rom", **opts))  # type: ignore[arg-type]
    return out


# ------------------------------------------------------------------ the header itself

def test_nbi_header_meets_the_rom_contract():
    hdr = nbi_header(123_456, 321)
    assert len(hdr) == mba_header.HEADER_SIZE
    rom = mba_header.MbaHeader.parse(hdr, "nbi header")
    assert (rom.head_size, rom.ext_kb, rom.keeps_rom) == (4096, 321, False)  # no BWAPI: the ROM disengages
    assert hdr[0] == 0xEB and hdr[1] + 2 == 0x40  # short jump to the entry at 0x40
    p = mba_header.NbiStubParams.parse(hdr)
    assert (p.payload_len, p.payload_addr, p.reloc_seg, p.bootp_copy) == (123_456, 0x110000, 0x100, 1280)
    assert p.resident_bytes == len(nbi_stub_code()) and p.low_limit < 0x10000  # below a zImage at 0x10000
    assert mba_header.header_kind(hdr) == "nbi" and mba_header.header_kind(cleanroom.cleanroom_header()) == "floppy"
    for text in (b"3Com", b"Lanworks", b"Copyright", b"BWAPI", b"Etherboot", b"iPXE"):
        assert text not in hdr
    with pytest.raises(ImageError, match="1..65535 KB"):
        nbi_header(1, 0x10000)


@needs_binutils
def test_shipped_nbi_header_is_the_assembled_source():
    code = assemble.assemble_flat(assemble.NBI_SOURCE)
    assemble.check_nbi_stub(code)
    assert code == nbi_stub_code(), "regenerate with: python -m ramsesbuild.imggen.assemble"
    assert assemble.render_module(code, assemble.NBI_SOURCE) == assemble.NBI_MODULE.read_text()


# ------------------------------------------------------------------ planning, per layout

@pytest.mark.parametrize("layout_name, big, kind, entry, moved", [
    ("ramses", True, "ramsesbuild NBI (layout ramses)", "32-bit entry 0x00089200", None),
    ("ramses", False, "ramsesbuild NBI (layout ramses)", "32-bit entry 0x00099200", None),
    ("1.4.4", True, "mknbi 1.4.4 NBI (layout 1.4.4)", "32-bit entry 0x00092800", None),
    # mknbi 1.0 reserves 15 MiB for a bzImage kernel: the payload at 0x110000 has to move first
    ("1.0", True, "mknbi 1.0 NBI (layout 1.0)", "16-bit entry 9220:0000", 0x1000000),
    ("1.0", False, "mknbi 1.0 NBI (layout 1.0)", "16-bit entry 9220:0000", None),
])
def test_every_layout_is_planned(tmp_path, layout_name, big, kind, entry, moved):
    proto = 0x0206 if big else 0x0201
    nb = make_nbi(tmp_path, kernel=fake_kernel(setup_sects=4, payload=20000, big=big, version=proto),
                  layout=layout_name)
    load = nbiload.analyse(nb, nbi_params())
    assert (load.kind, load.entry, load.moved_to) == (kind, entry, moved)
    size = nb.stat().st_size
    top = moved + size if moved else 0x110000 + size
    assert load.top == top and load.ext_kb == -(-(top - MIB) // 1024)
    assert load.first_stage == f"ramsesbuild {'first16' if layout_name == '1.0' else 'first32'}"


def test_big_initrd_over_the_payload_moves_it(tmp_path):
    rd = write_blob(tmp_path / "rd", 300_000)
    nb = make_nbi(tmp_path, initrd=rd)
    load = nbiload.analyse(nb, nbi_params())
    initrd = load.regions[-1]
    assert initrd.dest is not None and initrd.dest < 0x110000 < initrd.dest + initrd.memsz
    assert load.moved_to == (initrd.dest + initrd.memsz + 0xFFF) & ~0xFFF  # above the highest segment


def test_original_mknbi_10_image_is_accepted(tmp_path):
    """mknbi 1.0's own output: our 1.0 layout is byte-identical to it given the same first.linux."""
    blob = bytearray(write_blob(tmp_path / "first.linux", 3296).read_bytes())
    blob[-1] = 0x90
    (tmp_path / "first.linux").write_bytes(blob)
    nb = make_nbi(tmp_path, layout="1.0", first32=tmp_path / "first.linux")
    load = nbiload.analyse(nb, nbi_params())
    assert load.kind == "mknbi 1.0 NBI (layout 1.0)" and load.entry == "16-bit entry 9220:0000"
    assert load.first_stage is not None and load.first_stage.startswith("not ramsesbuild's (3,296 bytes")


# ------------------------------------------------------------------ building, CLI, -i

def test_image_is_header_plus_nbi_byte_for_byte(tmp_path):
    nb = make_nbi(tmp_path)
    out = tmp_path / "tftp" / mba_name(nb.name)
    result = make_mba_image(nb, out)
    assert result.mode == "nbi" and result.nbi is not None
    data = out.read_bytes()
    assert data == nbi_header(nb.stat().st_size, result.nbi.ext_kb) + nb.read_bytes()
    assert out.name == "k.nb-imggen" and sorted(p.name for p in out.parent.iterdir()) == [out.name]
    assert oct(out.stat().st_mode & 0o777) == "0o644"


def test_cli_reports_the_mode(tmp_path, capsys):
    nb = make_nbi(tmp_path)
    assert commands.main(["imggen", "-a", str(nb), str(tmp_path / "a")]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"ramsesbuild imggen: NBI mode: {nb}: ramsesbuild NBI (layout ramses), "
                          "32-bit entry 0x00089200, 5 segments; needs ")
    assert f"wrote {tmp_path / 'a'} (4096-byte NBI-loading header + {nb})" in out
    floppy = tmp_path / "disk.img"
    floppy.write_bytes((b"\x90" * 510 + b"\x55\xaa") * 4)
    assert commands.main(["imggen", str(floppy), str(tmp_path / "b")]) == 0  # imggen v0.02 spelling
    out = capsys.readouterr().out
    assert "floppy mode" in out and "clean-room floppy header" in out
    assert make_mba_image(floppy, tmp_path / "c").mode == "floppy"


def test_info_describes_an_nbi_mode_image(tmp_path, capsys):
    nb = make_nbi(tmp_path, append="console=ttyS0")
    out = tmp_path / "k.mba"
    make_mba_image(nb, out)
    assert commands.main(["imggen", "-i", str(out)]) == 0
    text = capsys.readouterr().out
    assert "kind: ramsesbuild clean-room NBI-loading header v1 (NBI mode)" in text
    assert "payload NBI: ramsesbuild NBI (layout ramses), 32-bit entry 0x00089200, 5 segments" in text
    assert "first stage: ramsesbuild first32" in text
    assert re.search(r"  5  20  kernel\s+0x00100000", text), text
    assert "command line: rw root=/dev/nfs nfsroot=rom ip=rom console=ttyS0" in text
    out.write_bytes(out.read_bytes()[:-512])  # truncated after imggen wrote it
    assert commands.main(["imggen", "-i", str(out)]) == 0
    assert "error: the header says the payload is" in capsys.readouterr().out


# ------------------------------------------------------------------ refusals: one line, no output

def patched(nb: Path, offset: int, fmt: str, value: int) -> Path:
    data = bytearray(nb.read_bytes())
    struct.pack_into(fmt, data, offset, value)
    nb.write_bytes(data)
    return nb


def descriptor(nb: Path, tag: int) -> int:
    """Offset of the descriptor with *tag* in the header block."""
    plan = make_plan(nb.with_name(nb.name + ".kernel"), MknbiOptions(ip="rom", rootdir="rom"))
    off = plan.header.length
    for d in plan.descriptors:
        if d.tag == tag:
            return off
        off += d.size
    raise AssertionError(tag)


def oversized(tmp_path: Path) -> Path:
    """A sparse NBI image whose kernel segment is 70 MiB: more than +12 can ask for."""
    nb = make_nbi(tmp_path)
    kdesc = descriptor(nb, 20)
    data = bytearray(nb.read_bytes()[:512])
    struct.pack_into("<II", data, kdesc + 8, 70 * MIB, 70 * MIB)
    before = sum(struct.unpack_from("<I", data, descriptor(nb, t) + 8)[0] for t in (16, 17, 18, 19))
    nb.write_bytes(data)
    with open(nb, "r+b") as fh:
        fh.truncate(512 + before + 70 * MIB)
    return nb


def elf_image(tmp_path: Path) -> Path:
    k = write_fake_kernel(tmp_path / "k.elf.kernel", setup_sects=4, payload=4096)
    build_image(k, tmp_path / "k.elf", MknbiOptions(format="elf"))
    return tmp_path / "k.elf"


def rewritten(nb: Path, edit) -> Path:  # type: ignore[no-untyped-def]
    nb.write_bytes(edit(nb.read_bytes()))
    return nb


def again(t: Path) -> Path:
    make_mba_image(make_nbi(t), t / "again")
    return t / "again"


def descriptor_patched(tag: int, field: int, value: int):  # type: ignore[no-untyped-def]
    """A maker: a good NBI image with one field (byte offset *field*) of the *tag* descriptor changed."""
    def make(t: Path) -> Path:
        nb = make_nbi(t)
        return patched(nb, descriptor(nb, tag) + field, "<I", value)
    return make


def empty(t: Path) -> Path:
    (t / "empty").write_bytes(b"")
    return t / "empty"


REFUSED = {
    "short": (lambda t: rewritten(make_nbi(t), lambda d: d[:300]), "300 bytes is too short for an NBI image"),
    "zero-length descriptor": (lambda t: patched(make_nbi(t), 36, "<B", 0),
                               "not a loadable NBI image: descriptor at header offset 36 has length 0"),
    "truncated": (lambda t: rewritten(make_nbi(t), lambda d: d[:-512]), "beyond the end of the file"),
    "trailing bytes": (lambda t: rewritten(make_nbi(t), lambda d: d + bytes(512)), "(iPXE: length wrong)"),
    "imglen > memlen": (descriptor_patched(17, 12, 16), "has imglen 0x200 > memlen 0x10"),
    "over the loader": (descriptor_patched(17, 4, 0x2000),
                        ("segment 2 (command line) at [0x2000, 0x2800) overlaps the MBA header, which moves "
                         f"itself to [0x1000, {nbi_params().low_limit:#x}) before loading")),
    "640K hole": (descriptor_patched(17, 4, 0x9FC00), "reaches into the 640 KiB - 1 MiB hole"),
    "entry outside": (lambda t: patched(make_nbi(t), 12, "<I", 0x70000), "its entry point 0x70000 lies in no segment"),
    "oversized": (oversized, "more than the 65,535 KB an MBA header can ask the ROM for"),
    "ELF": (elf_image, "is an ELF netboot image (mkelf-linux); the MBA header loads NBI images only"),
    "MBA image again": (again, "already starts with an MBA header"),
    "empty": (empty, "empty file"),
}


@pytest.mark.parametrize("case", REFUSED)
def test_refused_input_one_line_no_output(tmp_path, capsys, case):
    make, message = REFUSED[case]
    src = make(tmp_path)
    out = tmp_path / "out" / "x-imggen"
    capsys.readouterr()
    assert commands.main(["imggen", "-a", str(src), str(out)]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith(f"ramsesbuild imggen: error: {src}") and captured.err.count("\n") == 1
    assert message in captured.err, captured.err
    assert not out.exists() and not out.parent.exists()


def test_floppy_options_are_refused_for_nbi_input(tmp_path, capsys):
    nb = make_nbi(tmp_path)
    assert commands.main(["imggen", "--writable", "--force", str(nb), str(tmp_path / "x")]) == 1
    assert "--writable, --force only apply to floppy payloads" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()


# ------------------------------------------------------------------ boots through the emulated hand-off

@pytest.fixture(scope="module")
def emu(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    why = mba_emu.have_tools()
    if why:
        pytest.skip(why)
    work = tmp_path_factory.mktemp("mba-nbi")
    rd = work / "probe-initrd"
    rd.write_bytes(RD_HEAD + bytes(5000))
    big_rd = work / "big-initrd"
    big_rd.write_bytes(RD_HEAD + bytes(300_000))
    return {"work": work, "initrd": rd, "big_initrd": big_rd}


def probe_image(emu: dict[str, Path], name: str, *, proto: int = 0x0206, big: bool = True,
                initrd: str = "initrd", **opts: object) -> Path:
    probe = lib.build_probe(emu["work"], proto, big)
    nb = emu["work"] / f"{name}.nb"
    build_image(probe, nb, MknbiOptions(ip="rom", rootdir="rom", initrd=emu[initrd], append="console=ttyS0",
                                        **opts))  # type: ignore[arg-type]
    out = emu["work"] / f"{name}.mba"
    make_mba_image(nb, out)
    return out


def probe_line(output: str) -> dict[str, str]:
    m = re.search(r"PROBE (cs=.*)$", output, re.MULTILINE)
    assert m, output[-3000:]
    head, _, rdhead = m.group(1).partition(" | rdhead=")
    fields = dict(re.findall(r"(\w+)=(\S+)", head.split(" cl=", 1)[0]))
    fields["cl"] = head.split(" cl=", 1)[1] if " cl=" in head else ""
    fields["rdhead"] = rdhead.strip()
    return fields


BOOTS = [
    # name, mknbi options, X (real-mode block), BOOTP reply at (seg, off), A20 off, payload moved
    ("ramses-bz-big-initrd", {"initrd": "big_initrd"}, 0x80000, (0x8000, 0x0400), True, True),
    ("1.0-bz", {"layout": "1.0"}, 0x90000, (0x9000, 0x0300), False, True),
    ("1.4.4-bz", {"layout": "1.4.4"}, 0x90000, (0x9000, 0x0300), True, False),
    ("ramses-zImage", {"proto": 0x0201, "big": False}, 0x90000, (0x0060, 0x0000), False, False),
]


@pytest.mark.parametrize("name, opts, x, rom, a20_off, moved", BOOTS, ids=[b[0] for b in BOOTS])
def test_probe_kernel_boots_with_the_roms_bootp_reply(emu, name, opts, x, rom, a20_off, moved):
    """The BOOTP reply sits where the NBI segments go (except for the zImage case, whose kernel
    lands on 1000:0000 where the ROM put the header): the header must copy it first."""
    image = probe_image(emu, name, **opts)
    result = mba_emu.boot(emu["work"], image, mba_emu.bootp_reply(**BOOTP), "PROBE", 30,
                          rom_seg=rom[0], rom_off=rom[1], a20_off=a20_off, rest_of_line=True)
    out = result.output
    assert result.found, out[-3000:]
    assert f"A20={0 if a20_off else 1}" in out
    assert re.search(r"ramsesbuild MBA: NBI image, 0x[0-9A-F]{8} bytes", out), out
    assert "ramsesbuild MBA: placed 6 segments" in out
    assert ("payload moved to 0x" in out) == moved
    p = probe_line(out)
    assert (p["cs"], p["ds"], p["ss"]) == (f"{x // 16 + 0x20:04X}", f"{x // 16:04X}", f"{x // 16:04X}")
    prefix = "auto rw" if opts.get("layout") == "1.0" else "rw"
    assert p["cl"] == f"{prefix} root=/dev/nfs console=ttyS0 nfsroot=/export/c1 ip={IP_VALUE}"
    assert p["rdhead"] == RD_HEAD[:32].decode()


@pytest.fixture(scope="module")
def entry_probes(emu: dict[str, Path]) -> dict[int, Path]:
    blobs = {}
    for bits in (16, 32):
        data, _ = asm.assemble_flat(mba_emu.EMU / "entry_probe.S", defsyms={"BITS": bits})
        blobs[bits] = emu["work"] / f"entry{bits}.bin"
        blobs[bits].write_bytes(data)
    return blobs


def test_32bit_entry_as_etherboot_and_ipxe_call_it(emu, entry_probes):
    image = probe_image(emu, "entry32", first32=entry_probes[32])
    bootp = mba_emu.bootp_reply(**BOOTP)
    out = mba_emu.boot(emu["work"], image, bootp, " END", 30, rom_seg=0x8000, rom_off=0x0400).output
    m = re.search(r"E32 i=(\w+) c=(\w+) d=(\w+) e=(\w+) s=(\w+) a=(\w+) I=(\w+):(\S+) h=(\w+):(\w+) "
                  r"b=(\w+):(\w+)/(\w+)/(\w+) END", out)
    assert m, out[-3000:]
    assert m[1] == "00"  # interrupts off
    assert (m[2], m[3], m[4], m[5]) == ("0008", "0010", "0010", "0010")  # flat code and data segments
    assert m[6] == "01"  # A20 on
    assert m[8] == "05.04.0000"  # ebinfo: version 5.4, flags 0
    assert m[9] == "00089000" and m[10] == "1B031336"  # the header block, copied to its location
    low = nbi_params()
    assert all(0x1000 <= int(v, 16) < low.low_limit for v in (m[7], m[11]))  # both inside the moved header
    assert (m[12], m[13], m[14]) == ("02", "63538263", bootp[16:20][::-1].hex().upper())  # our copy of the reply


def test_16bit_entry_as_etherboot_and_ipxe_call_it(emu, entry_probes):
    """Layout 1.0 with a foreign first stage: how mknbi 1.0 images (first.linux) are entered."""
    image = probe_image(emu, "entry16", layout="1.0", first32=entry_probes[16])
    bootp = mba_emu.bootp_reply(**BOOTP)
    out = mba_emu.boot(emu["work"], image, bootp, " END", 30, rom_seg=0x9000, rom_off=0x0300).output
    m = re.search(r"E16 i=(\w+) c=(\w+) r=(\w+):(\w+) h=(\w+):(\w+):(\w+) b=(\w+):(\w+):(\w+)/(\w+)/(\w+) END", out)
    assert m, out[-3000:]
    assert m[2] == "9220" and m[3] == "0100"  # far-called at 9220:0000, from the moved header
    assert (m[5], m[6], m[7]) == ("9320", "0000", "1B031336")  # far pointer to the header block
    assert m[8] == "0100" and (m[10], m[11], m[12]) == ("02", "63538263", bootp[16:20][::-1].hex().upper())
    assert "ramsesbuild MBA: placed 6 segments, payload moved to 0x01000000\r\n" in out
    # (SeaBIOS' serial console flushes the last characters of a line on its next timer tick,
    # which the probe's own output overtakes)
    assert "ramsesbuild MBA: starting the 16-bit entry 9220:000" in out


def test_image_broken_after_imggen_stops_with_a_message(emu):
    image = probe_image(emu, "broken")
    data = bytearray(image.read_bytes())
    data[4096 + 36] = 0  # the first descriptor's length byte
    image.write_bytes(data)
    out = mba_emu.boot(emu["work"], image, mba_emu.bootp_reply(**BOOTP),
                       "ramsesbuild MBA: bad NBI descriptor", 30).output
    assert "ramsesbuild MBA: bad NBI descriptor (length 0, or past the 512-byte header)" in out
    assert "PROBE" not in out


def test_memory_checks_rom_and_header(emu):
    """+12 makes the (emulated) ROM refuse a machine that is too small; a ROM that let it through
    anyway meets the header's own checks before anything is overwritten."""
    rd = emu["work"] / "initrd-1.5M"
    rd.write_bytes(RD_HEAD + bytes(1_500_000))
    emu["rd15"] = rd
    image = probe_image(emu, "1.0-small", layout="1.0", initrd="rd15")  # needs 16 MiB + 1.5 MB
    out = mba_emu.boot(emu["work"], image, mba_emu.bootp_reply(**BOOTP), "H:ext mem", 20, memory=17).output
    assert "H:ext mem" in out and "ramsesbuild MBA" not in out  # the ROM says no
    data = bytearray(image.read_bytes())
    struct.pack_into("<H", data, 12, 1)  # a header asking for 1 KB: the ROM's check passes
    image.write_bytes(data)
    out = mba_emu.boot(emu["work"], image, mba_emu.bootp_reply(**BOOTP), "ramsesbuild MBA: not enough", 20,
                       memory=16, rest_of_line=True).output  # the 15 MiB kernel segment itself does not fit
    assert re.search(r"ramsesbuild MBA: not enough memory for the NBI segment at 0x00100000\r\n", out), out[-2000:]
    out = mba_emu.boot(emu["work"], image, mba_emu.bootp_reply(**BOOTP), "ramsesbuild MBA: not enough", 20,
                       memory=17, rest_of_line=True).output  # the segments fit, the payload moved above them does not
    assert re.search(r"ramsesbuild MBA: not enough RAM to move the payload: it would end at 0x011[0-9A-F]{5}\r\n", out), \
        out[-2000:]
