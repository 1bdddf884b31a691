"""Slow: boot our NBI/ELF images in qemu.

* Our test loader (tests/nbi_boot/loader.s, a multiboot program) does what an NBI loader
  does - header block to its location, zero-fill + copy every segment, BOOTP reply - and
  calls the entry 32-bit (iPXE nbi_boot32 convention) or far-calls it 16-bit (nbi_boot16),
  or loads ELF PT_LOADs and calls e_entry with no arguments (iPXE elfboot).
* A probe "kernel" (bzImage format, our own setup code) prints what the first stage
  handed over: registers, setup-header fields, the command line, the initrd's first bytes.
* Debian's stock amd64 kernel boots to an /init from our initrd, through the test loader
  (NBI) and through Debian's real iPXE ROM over qemu's TFTP (ELF).
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest

from ramsesbuild.nbi import MknbiOptions, build_image, make_plan

from ..lib import nbi_bootlib as lib

pytestmark = pytest.mark.slow

IPXE_ROM = Path("/usr/lib/ipxe/qemu/efi-e1000.rom")
INIT_MARKER = "RAMSES-NBI-INIT-OK"
BOOTP = dict(yiaddr="192.0.2.5", siaddr="192.0.2.1", router="192.0.2.254", netmask="255.255.255.0",
             hostname="c1", root_path="/export/c1", extra="extra129=yes")
IP_VALUE = "192.0.2.5:192.0.2.1:192.0.2.254:255.255.255.0:c1"
RD_HEAD = b"RAMSES-INITRD-HEAD-0123456789abcdef"


@pytest.fixture(scope="module")
def harness(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    if lib.qemu_binary() is None:
        pytest.skip("qemu-system-x86_64 missing: apt-get install qemu-system-x86")
    if not (shutil.which("as") and shutil.which("ld")):
        pytest.skip("binutils (as, ld) missing")
    work = tmp_path_factory.mktemp("nbiboot")
    loader, tramp = lib.build_loader(work)
    bootp = work / "bootp.bin"
    bootp.write_bytes(lib.bootp_reply(**BOOTP))
    bootp_dev = work / "bootp-dev.bin"
    bootp_dev.write_bytes(lib.bootp_reply(**BOOTP, device="eth1"))
    rd = work / "probe-initrd"
    rd.write_bytes(RD_HEAD + bytes(5000))
    return {"work": work, "loader": loader, "tramp": tramp, "bootp": bootp, "bootp_dev": bootp_dev, "probe_rd": rd}


def boot_with_loader(h: dict[str, Path], image: Path, marker: str, timeout: float, *, bootp: Path | None = None,
                     memory: str = "256") -> lib.QemuResult:
    modules = [str(image), str(bootp or h["bootp"]), str(h["tramp"])]
    return lib.run_qemu(["-m", memory, "-nic", "none", "-kernel", str(h["loader"]), "-initrd", ",".join(modules)],
                        marker, timeout)


def probe_line(output: str) -> dict[str, str]:
    m = re.search(r"PROBE (cs=.*)$", output, re.M)  # SeaBIOS may not have flushed our last line
    assert m, output[-3000:]
    head, _, rdhead = m.group(1).partition(" | rdhead=")
    fields = dict(re.findall(r"(\w+)=(\S+)", head.split(" cl=", 1)[0]))
    fields["cl"] = head.split(" cl=", 1)[1] if " cl=" in head else ""
    fields["rdhead"] = rdhead.strip()
    return fields


CASES = [
    # layout, protocol, format, extra options, expected X
    ("1.0", 0x0201, "nbi", {}, 0x90000),
    ("1.0", 0x0206, "nbi", {}, 0x90000),
    ("1.4.4", 0x0206, "nbi", {}, 0x90000),
    ("1.4.4", 0x0206, "nbi", {"relocseg": 0x8000}, 0x80000),
    ("ramses", 0x0206, "nbi", {}, 0x80000),
    ("ramses", 0x0201, "nbi", {}, 0x90000),
    ("ramses", 0x0206, "nbi", {"relocseg": 0x3000}, 0x30000),
    ("ramses", 0x0206, "elf", {}, 0x80000),
]


@pytest.mark.parametrize("layout, proto, fmt, extra, x", CASES,
                         ids=[f"{c[0]}-{c[1]:04x}-{c[2]}-{'-'.join(map(str, c[3].values())) or 'default'}" for c in CASES])
def test_first_stage_hands_over_to_setup(harness: dict[str, Path], layout: str, proto: int, fmt: str,
                                         extra: dict, x: int) -> None:
    probe = lib.build_probe(harness["work"], proto)
    image = harness["work"] / f"probe-{layout}-{proto:04x}-{fmt}-{len(extra)}"
    opts = MknbiOptions(layout=layout, format=fmt, ip="rom", rootdir="rom", initrd=harness["probe_rd"],
                        append="console=ttyS0 vga=0x317 mem=200M", **extra)
    build_image(probe, image, opts)
    entry = make_plan(probe, opts).entry
    result = boot_with_loader(harness, image, "PROBE", 30)
    assert result.found, result.output[-3000:]
    p = probe_line(result.output)
    first_stage = entry  # the blob starts at its entry point in every layout
    assert (p["cs"], p["ds"], p["ss"]) == (f"{x // 16 + 0x20:04X}", f"{x // 16:04X}", f"{x // 16:04X}")
    assert p["sp"] == f"{first_stage - x:04X}"  # kernel stack right below the first stage
    assert p["heap"] == f"{first_stage - x - 0x200:04X}"  # heap_end_ptr, relative to setup
    assert (p["type"], p["flags"], p["c32"], p["vid"]) == ("41", "81", "00100000", "0317")
    # initrd moved to the top of memory as capped by mem=200M: 5035 bytes padded to 8 KiB
    assert p["rd"] == f"{(200 << 20) - 0x2000:08X}+00002000"
    assert p["rdhead"] == RD_HEAD[:32].decode()
    prefix = "auto rw" if layout == "1.0" else "rw"
    if fmt == "nbi":
        assert p["cl"] == f"{prefix} root=/dev/nfs console=ttyS0 mem=200M nfsroot=/export/c1 ip={IP_VALUE} extra129=yes"
    else:  # iPXE-style ELF call: no BOOTP reply, so the rom placeholders are dropped
        assert p["cl"] == f"{prefix} root=/dev/nfs console=ttyS0 mem=200M"
        assert "dropped ip=rom/nfsroot=rom" in result.output
    assert "ramses-nbi: starting Linux (initrd at 0x0C7FE000" in result.output


def test_first_stage_options_at_boot(harness: dict[str, Path]) -> None:
    """rdbase=asis/0xADDR, option 130, vga=ask, nfsroot=kernel, and 0.0.0.0 fields."""
    probe = lib.build_probe(harness["work"], 0x0206)
    image = harness["work"] / "probe-opts"
    build_image(probe, image, MknbiOptions(initrd=harness["probe_rd"], ip="rom",
                                           append="vga=ask rdbase=asis nfsroot=kernel quiet nfsroot=rom"))
    result = boot_with_loader(harness, image, "PROBE", 30, bootp=harness["bootp_dev"])
    p = probe_line(result.output)
    # only the first nfsroot= is looked at (as mknbi's first stage does): "kernel" removes it
    assert p["cl"] == f"rw root=/dev/nfs quiet nfsroot=rom ip={IP_VALUE}:eth1 extra129=yes"
    assert p["rd"] == "00101000+00002000" and p["vid"] == "FFFD"  # left where loaded (after 512-byte kernel)
    bare = harness["work"] / "bootp-bare.bin"
    bare.write_bytes(lib.bootp_reply(yiaddr="192.0.2.9", siaddr="0.0.0.0"))
    image2 = harness["work"] / "probe-fixed"
    build_image(probe, image2, MknbiOptions(initrd=harness["probe_rd"], ip="rom", rdbase="0x3000123"))
    p = probe_line(boot_with_loader(harness, image2, "PROBE", 30, bootp=bare).output)
    assert p["cl"] == "rw root=/dev/nfs ip=192.0.2.9::::"
    assert p["rd"] == "03000000+00002000" and p["rdhead"] == RD_HEAD[:32].decode()


def test_first_stage_reports_a_broken_kernel(harness: dict[str, Path]) -> None:
    probe = lib.build_probe(harness["work"], 0x0206)
    image = harness["work"] / "probe-broken"
    build_image(probe, image, MknbiOptions())
    data = bytearray(image.read_bytes())
    plan = make_plan(probe, MknbiOptions())
    bootsect_off = 512 + plan.descriptors[0].imglen + plan.descriptors[1].imglen
    data[bootsect_off + 0x1FE:bootsect_off + 0x200] = b"\0\0"  # no 0xAA55 in the loaded boot sector
    image.write_bytes(bytes(data))
    result = boot_with_loader(harness, image, "ramses-nbi: error", 30)
    assert result.found and "no Linux setup header" in result.output
    assert "PROBE" not in result.output


@pytest.fixture(scope="module")
def debian_kernel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    given = os.environ.get("RAMSES_TEST_VMLINUZ")
    if given:
        return Path(given)
    kernel = lib.debian_kernel(tmp_path_factory.mktemp("debian-kernel"))
    if kernel is None:
        pytest.skip("could not apt-get download Debian's linux-image-amd64 kernel (set RAMSES_TEST_VMLINUZ)")
    return kernel


@pytest.fixture(scope="module")
def init_initrd(harness: dict[str, Path]) -> Path:
    init = lib.build_init64(harness["work"])
    rd = harness["work"] / "initrd.cpio"
    rd.write_bytes(lib.initramfs_with(init.read_bytes()))
    return rd


def usable_e820(output: str) -> list[tuple[int, int]]:
    return [(int(a, 16), int(b, 16)) for a, b in re.findall(r"BIOS-e820: \[mem 0x([0-9a-f]+)-0x([0-9a-f]+)\] usable", output)]


def test_debian_kernel_nbi_through_test_loader(harness: dict[str, Path], debian_kernel: Path, init_initrd: Path) -> None:
    image = harness["work"] / "debian.nb"
    build_image(debian_kernel, image, MknbiOptions(ip="rom", rootdir="rom", initrd=init_initrd,
                                                   append="console=ttyS0 panic=-1"))
    result = boot_with_loader(harness, image, INIT_MARKER, 150, memory="512")
    assert result.found, result.output[-4000:]
    assert f"Command line: rw root=/dev/nfs console=ttyS0 panic=-1 nfsroot=/export/c1 ip={IP_VALUE} extra129=yes" \
        in result.output
    m = re.search(r"RAMDISK: \[mem 0x([0-9a-f]+)-0x([0-9a-f]+)\]", result.output)
    assert m, result.output[-4000:]
    start, end = int(m.group(1), 16), int(m.group(2), 16)
    assert any(a <= start and end <= b for a, b in usable_e820(result.output)), "initrd outside usable RAM"
    assert start > 0x10000000  # moved to the top of the 512 MiB, away from where the loader put it


def test_debian_kernel_elf_through_debian_ipxe(harness: dict[str, Path], debian_kernel: Path,
                                               init_initrd: Path) -> None:
    if not IPXE_ROM.exists():
        pytest.skip(f"{IPXE_ROM} missing: apt-get install ipxe-qemu")
    tftp = harness["work"] / "tftpboot"
    tftp.mkdir(exist_ok=True)
    build_image(debian_kernel, tftp / "linux.elf", MknbiOptions(format="elf", ip="dhcp", initrd=init_initrd,
                                                                append="console=ttyS0 panic=-1"))
    result = lib.run_qemu(["-m", "512", "-boot", "n",
                           "-netdev", f"user,id=n0,restrict=on,tftp={tftp},bootfile=linux.elf",
                           "-device", "e1000,netdev=n0"], INIT_MARKER, 180)
    assert result.found, result.output[-4000:]
    assert re.search(r"linux\.elf : \d+ bytes \[ELF\]", result.output)  # iPXE's own ELF loader took it
    assert "Command line: rw root=/dev/nfs ip=dhcp console=ttyS0 panic=-1" in result.output


def test_pipeline_client_kernel_nbi(harness: dict[str, Path], request: pytest.FixtureRequest) -> None:
    """The i386 client kernel our pipeline builds (conftest's modern_client_kernel) boots from our NBI."""
    kernel = request.getfixturevalue("modern_client_kernel")
    from ..lib.guest import initramfs
    marker = "RAMSES-NBI-PIPELINE-KERNEL-OK"
    rd = initramfs(harness["work"] / "guest", marker)
    image = harness["work"] / "client.nb"
    build_image(kernel, image, MknbiOptions(ip="rom", rootdir="rom", initrd=rd, append="console=ttyS0 panic=1"))
    result = boot_with_loader(harness, image, marker, 150)
    assert result.found, result.output[-4000:]
    assert f"nfsroot=/export/c1 ip={IP_VALUE}" in result.output


def test_16bit_entry_without_bootp_reply(harness: dict[str, Path]) -> None:
    """A loader that passes a null BOOTP pointer: rom placeholders go, everything else still works."""
    probe = lib.build_probe(harness["work"], 0x0203)
    image = harness["work"] / "probe-10-nobootp"
    build_image(probe, image, MknbiOptions(layout="1.0", ip="rom", rootdir="rom", initrd=harness["probe_rd"],
                                           append="mem=1G"))
    empty = harness["work"] / "no-bootp"
    empty.write_bytes(b"")
    result = boot_with_loader(harness, image, "PROBE", 30, bootp=empty)
    p = probe_line(result.output)
    assert p["cl"] == "auto rw root=/dev/nfs mem=1G"
    assert "dropped ip=rom/nfsroot=rom" in result.output
    # mem=1G is above the machine's 256 MiB: E801's top of RAM wins
    top = int(p["rd"].split("+")[0], 16)
    assert 0x0F000000 < top < 0x10000000 and p["rdhead"] == RD_HEAD[:32].decode()


def test_reply_without_root_path_names_the_missing_option(harness: dict[str, Path]) -> None:
    """A DHCP reply without option 17: ip=rom is filled, nfsroot=rom is dropped, and the warning
    says which option was missing (not "no BOOTP reply", which would send an admin chasing the
    wrong fault)."""
    probe = lib.build_probe(harness["work"], 0x0206)
    image = harness["work"] / "probe-noroot"
    build_image(probe, image, MknbiOptions(ip="rom", rootdir="rom"))
    bare = harness["work"] / "bootp-noroot.bin"
    bare.write_bytes(lib.bootp_reply(yiaddr="192.0.2.9", siaddr="192.0.2.1", netmask="255.255.255.0",
                                     hostname="n9"))
    result = boot_with_loader(harness, image, "PROBE", 30, bootp=bare)
    p = probe_line(result.output)
    assert p["cl"] == "rw root=/dev/nfs ip=192.0.2.9:192.0.2.1::255.255.255.0:n9"
    out = result.output.replace("\r", "")
    assert "ramses-nbi: warning: DHCP reply has no root-path (opt 17): dropped nfsroot=rom\n" in out
    assert "no BOOTP reply" not in out
    assert re.search(r"^ramses-nbi: starting Linux", out, re.M)  # on a line of its own


def test_no_reply_names_only_what_was_dropped(harness: dict[str, Path]) -> None:
    probe = lib.build_probe(harness["work"], 0x0206)
    image = harness["work"] / "probe-iponly"
    build_image(probe, image, MknbiOptions(ip="rom"))
    empty = harness["work"] / "no-bootp-2"
    empty.write_bytes(b"")
    result = boot_with_loader(harness, image, "PROBE", 30, bootp=empty)
    assert probe_line(result.output)["cl"] == "rw root=/dev/nfs"
    out = result.output.replace("\r", "")
    assert "ramses-nbi: warning: no BOOTP reply, dropped ip=rom\n" in out
    assert "root-path" not in out
