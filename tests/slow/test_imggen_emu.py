"""Slow: MBA images made by `ramsesbuild imggen` boot in QEMU through the emulated MBA hand-off:
a floppy payload (floppy mode), and the pipeline's NBI images of the real 2.4.18 and 6.1 client
kernels (NBI mode), which reach user space with ip=/nfsroot= taken from the BOOTP reply.

No 3Com ROM runs here. tests/imggen_emu/harness.S is our boot sector playing the ROM's part of
the TCP/IP extended-image hand-off (header at 1000:0000, the rest at 0x110000, far return to
1000:0000 with AX/BX pointing at a BOOTP reply). tests/imggen_emu/payload.S is a floppy boot
sector that probes the virtual drive A: through INT 13h and reports on COM1.

What a pass proves, for the clean-room header: entered the way the reference describes the ROM
entering it, it takes 2 KB of base memory, hooks INT 13h there, boots the payload's sector 0 at
0000:7C00 with DL=0, maps every CHS address of the 1.44 MB disk to the right 512 bytes at
0x110000 (checksum over all 2880 sectors, read track by track as Linux 2.4's bootsect does),
keeps working after 1000:0000 is overwritten, gives AH=04 outside the disk, AH=03 on a
write-protected disk (and writes through when --writable), reports 80x2x18 for AH=08, hands
out its copy of the BOOTP reply through AH=FAh and passes other drives to the BIOS.
What it does not prove: that a real MBA/BootWare ROM downloads and enters the image as the
harness does (no ROM, no TFTP), MBA 4.x / PXE-stack behaviour, or a real 2.4 kernel boot.
With RAMSES_IMGGEN=/path/to/imggen (v0.02) the same payload also runs under the original 3Com
header, which checks the harness against the header the ROM contract was read from.

NBI mode, real kernels (tests/mba_emu.py: the same harness, a DHCPACK as the ROM keeps it):
* 2.4.18 (RAMSES_K24_TARBALL, the k24_real_project build): `doit netboot-image boot-config` with
  [netboot] mba = true and an ext2 initrd, nodes.toml with a rom = "3com" node. The emulated ROM
  is handed what the generated dhcpd.conf says for that node (fixed-address, next-server,
  routers, subnet-mask, host-name, root-path) and loads the file its `filename` names, which
  must be `ramsesbuild imggen -a` of the pipeline's NBI image, byte for byte.
* 6.1 (modern_client_kernel): the pipeline's kernel wrapped with the pipeline's [netboot]
  defaults (ip/rootdir = rom, layout ramses) plus an initramfs, then `ramsesbuild imggen -a`.
Both must print the header's lines, take ip= and nfsroot= from that reply (kernel command line,
IP-Config on a qemu NIC on the documentation network), and run /init from the initrd.
"""

from __future__ import annotations

import os
import re
import shutil
import struct
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ramsesbuild import bootconf, cli
from ramsesbuild.imggen import assemble

from ..lib import mba_emu
from ..lib.guest import initramfs
from ..lib.k24.guest24 import DONE as K24_DONE
from ..lib.k24.guest24 import NFSBOOT, build_init, check_markers, ext2_initrd, populate_root
from ..lib.support import DATA

pytestmark = pytest.mark.slow

EMU = DATA / "imggen_emu"
QEMU = "qemu-system-i386"
ORIGIN = 0x7C00
PROG_SECTORS = 3
WRITE_LBA = 2000


def pattern_disk(program: bytes) -> bytearray:
    """The payload floppy: the test program, then sector n starting with the word n."""
    assert len(program) == PROG_SECTORS * 512
    disk = bytearray(program)
    for n in range(PROG_SECTORS, 2880):
        disk += struct.pack("<H", n) + bytes((n * 7 + i) & 0xFF for i in range(510))
    return disk


def fletcher(disk: bytes) -> tuple[int, int]:
    s1 = s2 = 0
    for (w,) in struct.iter_unpack("<H", disk):
        s1 = (s1 + w) & 0xFFFF
        s2 = (s2 + s1) & 0xFFFF
    return s1, s2


def run_harness(tmp_path: Path, image: Path) -> tuple[int, str]:
    disk = mba_emu.disk(tmp_path, image, b"RAMSES-FAKE-BOOTP", rom_seg=0x0060, rom_off=0)
    proc = subprocess.run(
        ["timeout", "90", QEMU, "-m", "64", "-nographic", "-no-reboot", "-nic", "none",
         "-drive", f"file={disk},format=raw,if=ide", "-boot", "c",
         "-device", "isa-debug-exit,iobase=0xf4,iosize=0x04"],
        capture_output=True, stdin=subprocess.DEVNULL, timeout=120)
    return proc.returncode, proc.stdout.decode("latin-1").replace("\r", "")


REPORTS = {  # key: what the payload (or, for H, the harness) prints; searched anywhere, since
    "H": r"H:handoff BASEKB=(\w{4})",  # SeaBIOS may still be printing when the boot sector starts
    "P": r"P:(DL=\w\w BASEKB=\w{4} EQUIP=\w{4} I13=\w{4}:\w{4})",
    "G": r"G (C\w{4} D\w{4} B\w{4})",
    "Q": r"Q (C\w{4} .{16})",
    "S": r"S (\w{4}\.\w{4} F\w{4})",
}


def parse(log: str) -> dict[str, str]:
    """The payload's report: one entry per INT 13h test tag, plus the REPORTS keys."""
    out = {m[1]: m[2] for m in re.finditer(r"T (\w\w) (F\d A\w{4} W\w{4}\.\w{4}\.\w{4})", log)}
    for key, pattern in REPORTS.items():
        if m := re.search(pattern, log):
            out[key] = m[1]
    return out


@pytest.fixture(scope="module")
def tools():
    if not shutil.which(QEMU):
        pytest.skip(f"{QEMU} not installed (apt-get install qemu-system-x86)")
    if not (assemble.have_binutils() and shutil.which("timeout")):
        pytest.skip("GNU as/ld (binutils) and timeout (coreutils) are needed")


HEADERS = ["clean-room", "clean-room --writable", "original 3Com (RAMSES_IMGGEN)"]


@pytest.mark.parametrize("kind", HEADERS)
def test_mba_image_boots_floppy_payload(tools, tmp_path, kind):
    flags: list[str] = []
    if kind.startswith("original"):
        if not os.environ.get("RAMSES_IMGGEN"):
            pytest.skip("set RAMSES_IMGGEN=/path/to/imggen (v0.02) to run the original header too")
        flags = ["--imggen", os.environ["RAMSES_IMGGEN"]]
    elif "--writable" in kind:
        flags = ["--writable"]
    writable = "--writable" in flags
    disk = pattern_disk(assemble.assemble_flat(EMU / "payload.S", ORIGIN))
    payload = tmp_path / "floppy.img"
    payload.write_bytes(disk)
    image = tmp_path / "test.mba"
    assert cli.main(["imggen", "-a", *flags, str(payload), str(image)]) == 0

    rc, log = run_harness(tmp_path, image)
    r = parse(log)
    assert rc == 3 and "P:done" in log, f"no clean end (qemu rc {rc}):\n{log}"

    base = int(r["H"], 16)
    m = re.fullmatch(r"DL=(\w\w) BASEKB=(\w{4}) EQUIP=(\w{4}) I13=(\w{4}):(\w{4})", r["P"])
    assert m, log
    assert m[1] == "00"  # booted as drive A:
    assert int(m[2], 16) == base - 2  # 2 KB taken for the resident INT 13h handler
    assert int(m[3], 16) & 1  # equipment word: a floppy drive is installed
    assert int(m[4], 16) == (base - 2) * 64  # the handler lives in that memory

    assert r["RS"] == "F0 A0000 WFFFF.FFFF.FFFF"  # reset
    assert r["RA"] == "F0 A0001 W0012.FFFF.FFFF"  # C0 H1 S1 -> LBA 18
    assert r["RB"] == "F0 A0001 W0026.FFFF.FFFF"  # C1 H0 S3 -> LBA 38
    assert r["RC"] == "F0 A0003 W0003.0004.0005"  # 3 sectors in one call
    assert r["RL"] == "F0 A0001 W0B3F.FFFF.FFFF"  # the last sector, LBA 2879
    assert r["RH"] == "F0 A0001 W0060.FFFF.FFFF"  # into a buffer above 64 KB
    assert r["ES"].startswith("F1 A04")  # sector 19 does not exist
    assert r["EC"].startswith("F1 A04")  # neither does cylinder 80
    assert r["HD"] == "F0 A0001 W31FA.FFFF.FFFF"  # drive 80h goes to the BIOS: the harness' sector
    if writable:
        assert r["WR"] == "F0 A0001 WBEEF.BEEF.BEEF"
        assert r["RW"] == "F0 A0001 WBEEF.FFFF.FFFF"  # the write reached the RAM disk
        disk[WRITE_LBA * 512:(WRITE_LBA + 1) * 512] = b"\xef\xbe" * 256  # the buffer written
    else:
        assert r["WR"].startswith("F1 A03")  # write-protected
        assert r["RW"] == f"F0 A0001 W{WRITE_LBA:04X}.FFFF.FFFF"  # unchanged
    s1, s2 = fletcher(disk)
    assert r["S"] == f"{s1:04X}.{s2:04X} F0000", "whole-disk read back differs from the payload"
    assert r["Q"] == "C5043 RAMSES-FAKE-BOOT"  # AH=FAh: 'PC' and the copied BOOTP reply
    if not flags or writable:
        assert r["VF"] == "F0 A0001 WFFFF.FFFF.FFFF"
        assert r["G"] == "C4F12 D0101 B0004"  # 80 cylinders, 18 sectors, 2 heads, 1 drive, 1.44 MB


# ------------------------------------------------------------------ NBI mode: real kernels

NET = "net=192.0.2.0/24,host=192.0.2.1,dhcpstart=192.0.2.200"  # slirp on the documentation network
NODES = """
[network]
subnet = "192.0.2.0/24"
server = "192.0.2.1"
gateway = "192.0.2.1"

[boot]
nfsroot = "{nfsroot}"
nfs_options = "v3"

[[node]]
name = "node03"
mac = "00:10:5a:12:34:03"
ip = "192.0.2.15"
rom = "3com"
"""
K24_NETBOOT = {"format": "nbi", "layout": "ramses", "output": "vmlinuz-{version}-cluster", "ip": "rom", "mba": True}


def dhcp_host(dhcpd_conf: str, name: str) -> dict[str, str]:
    """What ISC dhcpd would answer *name* from the generated dhcpd.conf (the options we write)."""
    subnet = re.search(r"subnet \S+ netmask \S+ \{(.*?)\n\}", dhcpd_conf, re.DOTALL)
    host = re.search(rf"host {name} \{{(.*?)\n  \}}", dhcpd_conf, re.DOTALL)
    assert subnet and host, dhcpd_conf

    def opt(pattern: str, text: str) -> str:
        m = re.search(pattern, text)
        assert m, (pattern, text)
        return m[1]
    return {
        "yiaddr": opt(r"fixed-address ([\d.]+);", host[1]),
        "siaddr": opt(r"next-server ([\d.]+);", dhcpd_conf),
        "router": opt(r"option routers ([\d.]+);", subnet[1]),
        "netmask": opt(r"option subnet-mask ([\d.]+);", subnet[1]),
        "hostname": opt(r'option host-name "([^"]+)";', host[1]),
        "root_path": opt(r'option root-path "([^"]+)";', host[1]),
        "filename": opt(r'filename "([^"]+)";', host[1]),
    }


def ip_value(reply: dict[str, str]) -> str:
    return ":".join(reply[k] for k in ("yiaddr", "siaddr", "router", "netmask", "hostname"))


def check_nbi_boot(out: str, reply: dict[str, str], entry: str, nfsroot: bool = True) -> None:
    """What every NBI-mode boot must show: the header at work, then ip=/nfsroot= from the reply."""
    tail = out[-4000:]
    assert re.search(r"ramsesbuild MBA: NBI image, 0x[0-9A-F]{8} bytes", out), tail
    assert re.search(r"ramsesbuild MBA: placed \d+ segments", out), tail
    assert f"ramsesbuild MBA: starting the {entry}" in out, tail
    wanted = f"nfsroot={reply['root_path']} ip={ip_value(reply)}" if nfsroot else f" ip={ip_value(reply)}"
    assert wanted in out, tail  # the kernel's command line, filled in by the first stage
    assert "IP-Config: Complete:" in out, tail


def k24_pipeline(proj, tmp_path: Path, netboot: dict, nfsroot: Path) -> tuple[dict[str, str], Path]:  # type: ignore[no-untyped-def]
    """`doit netboot-image boot-config` on the real 2.4.18 build with *netboot* (mba = true) and a
    rom = "3com" node; returns the node's DHCP answer and `ramsesbuild imggen -a` of the NBI image,
    after checking it is the very file the answer's filename names."""
    nodes = tmp_path / "nodes.toml"
    nodes.write_text(NODES.format(nfsroot=nfsroot))
    tftp = tmp_path / "tftpboot"
    config = proj.dir / f"ramses-{tmp_path.name}.toml"  # same build and doit state; own tftpboot, nodes.toml
    config.write_text(proj.settings_text(netboot=netboot, paths={"tftpboot": str(tftp), "nodes": str(nodes)}))
    proc = proj.doit("netboot-image", "boot-config", config=config, timeout=600)
    assert "kernel-client" not in re.findall(r"^\.  (\S+)", proc.stdout, re.MULTILINE)  # built once, by the fixture

    inv = bootconf.load(nodes, "vmlinuz-2.4.18-cluster")
    reply = dhcp_host((inv.output / "dhcpd.conf").read_text(), "node03")
    assert reply.pop("filename") == "vmlinuz-2.4.18-cluster-imggen"  # what the recipe's dhcpd.conf says
    by_hand = tmp_path / "vmlinuz-2.4.18-cluster-imggen"  # the recipe's command on the pipeline's NBI image
    assert cli.main(["imggen", "-a", str(tftp / "vmlinuz-2.4.18-cluster"), str(by_hand)]) == 0
    assert by_hand.read_bytes() == (tftp / "vmlinuz-2.4.18-cluster-imggen").read_bytes()
    return reply, by_hand


def test_k24_pipeline_mba_image_boots_nfs_root_from_dhcp(k24_real_project, tools, tmp_path):
    """The recipe: ip=rom, nfsroot=rom; the root file system is mounted over NFS from the root-path
    the (emulated) ROM's DHCP reply carries (nfs-ganesha in a private network namespace,
    tools/k24/nfsboot.py, as test_k24_build's NFS-root boot)."""
    if os.geteuid() != 0:
        pytest.skip("the NFS-root boot needs root (network namespace, NFS server ports)")
    sys.path.insert(0, str(NFSBOOT.parent))
    import nfsboot

    missing = nfsboot.missing_tools()
    if missing:
        pytest.skip(f"NFS-root boot needs {', '.join(missing)} (apt-get install rpcbind nfs-ganesha nfs-ganesha-vfs)")
    export = populate_root(tmp_path / "nfsroot", build_init(tmp_path / "init"))
    reply, image = k24_pipeline(k24_real_project, tmp_path,
                                {**K24_NETBOOT, "rootdir": "rom", "append": "console=ttyS0 init=/init panic=1"}, export)
    assert reply["root_path"] == f"{export},v3"
    disk = mba_emu.disk(tmp_path, image, mba_emu.bootp_reply(**reply), rom_seg=0x8000, rom_off=0x0400)
    log = tmp_path / "serial.log"
    start = time.monotonic()
    run = subprocess.run([sys.executable, str(NFSBOOT), "--disk", str(disk), "--net", f"user,{NET}",
                          "--export", str(export), "--log", str(log), "--nic", "ne2k_pci", "--timeout", "150",
                          "--until", K24_DONE, "--workdir", str(tmp_path)],
                         capture_output=True, text=True, timeout=240, check=False)
    out = log.read_text(errors="replace") if log.exists() else ""
    print(f"\n2.4.18, NFS root, through the emulated MBA hand-off: {time.monotonic() - start:.1f} s")
    assert run.returncode == 0, f"nfsboot rc={run.returncode}\n{run.stderr}\n{out[-4000:]}"
    check_nbi_boot(out, reply, "32-bit entry 0x00089200")
    assert f"addr={reply['yiaddr']}, mask={reply['netmask']}, gw={reply['router']}" in out, out[-4000:]
    assert f"Looking up port of RPC 100005/3 on {reply['siaddr']}" in out, out[-4000:]
    assert "VFS: Mounted root (nfs filesystem)" in out, out[-4000:]
    assert check_markers(out) == [], out[-4000:]  # /init ran over NFS: uname, fork, a file round-trip
    assert "RAMSES-K24-ROOT /dev/root nfs" in out


def test_k24_pipeline_mba_image_boots_initrd_with_ip_from_dhcp(k24_real_project, tools, tmp_path):
    """Without an NFS server: an ext2 initrd as root (so no nfsroot=, which 2.4 would obey even
    after root=/dev/ram0), ip=rom filled from the reply and configured on a qemu NIC."""
    guest = tmp_path / "guest"
    initrd = ext2_initrd(populate_root(guest / "root", build_init(guest / "init")), guest / "initrd.ext2")
    reply, image = k24_pipeline(k24_real_project, tmp_path, {
        **K24_NETBOOT, "rootdir": "/dev/ram0", "append": "console=ttyS0 init=/init panic=1", "initrd": str(initrd)},
        Path("/tftpboot/192.0.2.15"))
    result = mba_emu.boot(tmp_path, image, mba_emu.bootp_reply(**reply), K24_DONE, 120, memory=64,
                          rom_seg=0x8000, rom_off=0x0400,
                          nic=["-netdev", f"user,id=n0,restrict=on,{NET}", "-device", "ne2k_pci,netdev=n0"])
    out = result.output
    print(f"\n2.4.18, initrd, through the emulated MBA hand-off: {result.seconds:.1f} s")
    assert "Linux version 2.4.18" in out, out[-4000:]
    check_nbi_boot(out, reply, "32-bit entry 0x00089200", nfsroot=False)
    assert f"addr={reply['yiaddr']}, mask={reply['netmask']}, gw={reply['router']}" in out, out[-4000:]
    assert f"host={reply['hostname']}" in out
    assert "VFS: Mounted root (ext2 filesystem)" in out, out[-4000:]
    assert check_markers(out) == [], out[-4000:]  # /init ran: uname, fork, a file round-trip


def test_modern_pipeline_kernel_mba_image_boots_to_user_space(request, tools, tmp_path):
    kernel = Path(request.getfixturevalue("modern_client_kernel"))
    marker = "RAMSES-MBA-MODERN-INIT-OK"
    rd = initramfs(tmp_path / "guest", marker)
    nbi = tmp_path / "vmlinuz-6.1-cluster"
    # the pipeline's [netboot] defaults (layout ramses, ip/rootdir = rom), plus an initramfs
    assert cli.main(["mknbi-linux", "--ip=rom", "--rootdir=rom", "--append=console=ttyS0 panic=1",
                     f"--output={nbi}", str(kernel), str(rd)]) == 0
    image = tmp_path / "vmlinuz-6.1-cluster-imggen"
    assert cli.main(["imggen", "-a", str(nbi), str(image)]) == 0

    reply = {"yiaddr": "192.0.2.15", "siaddr": "192.0.2.1", "router": "192.0.2.1", "netmask": "255.255.255.0",
             "hostname": "node04", "root_path": "/tftpboot/192.0.2.15"}
    result = mba_emu.boot(tmp_path, image, mba_emu.bootp_reply(**reply), marker, 150, memory=256,
                          rom_seg=0x8000, rom_off=0x0400, a20_off=True,
                          nic=["-netdev", f"user,id=n0,restrict=on,{NET}", "-device", "e1000,netdev=n0"])
    out = result.output
    print(f"\n6.1 through the emulated MBA hand-off: {result.seconds:.1f} s to user space")
    assert result.found, out[-4000:]
    check_nbi_boot(out, reply, "32-bit entry 0x00089200")
    assert f"ipaddr={reply['yiaddr']}, mask={reply['netmask']}, gw={reply['router']}" in out, out[-4000:]
    assert f"host={reply['hostname']}" in out
