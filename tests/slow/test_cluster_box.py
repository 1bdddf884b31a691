"""Slow, root: the Ramses cluster in a box - the whole recipe, booted through a real NBI boot ROM.

In a private network namespace (tools/cluster/clusterbox.py: only lo at the start, then a
bridge with the server address 192.0.2.1/24 and tap devices; nothing listens on the host):

* the pipeline builds the 2.4.18 server and client kernels from a file:// mirror of
  $RAMSES_K24_TARBALL, signed by a throw-away key (test_k24_build's session fixture);
* `doit netboot-image` wraps the client kernel (NBI, ip=rom, rootdir=rom) and `doit boot-config`
  writes dhcpd.conf, exports and tftpd-hpa for this test's nodes.toml;
* ISC dhcpd, tftpd-hpa and nfs-ganesha (+ rpcbind) run from exactly those generated files;
* qemu-system-i386 nodes with an iPXE ROM built with IMAGE_NBI/IMAGE_ELF (the ipxe_roms
  fixture) on the taps go DHCP -> TFTP -> NBI -> our first stage -> Linux -> NFS root ->
  tests/lib/k24/init.c, which prints its address, host name, /proc/cmdline and root file system.

node01 and node02 boot the pipeline's 2.4.18 NBI image at the same time (rtl8139). node03
boots the modern (6.1) client kernel as NBI (e1000), node04 the 2.4.18 client kernel as an ELF
image from `ramsesbuild mkelf-linux`: the ROM's ELF loader passes no DHCP reply to our first
stage, so the kernel does DHCP itself (ip=dhcp) and gets its address, host name and server
from the node's host entry, and its NFS root from the root-path option. Linux 2.4.18 uses
that option verbatim as the directory to mount, so boot-config writes it without a "server:"
part ("192.0.2.1:/dir,v3" made its MOUNT fail with EACCES; 2.6 and later strip the part).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from ..lib.guest import QemuResult, run_qemu
from ..lib.k24.guest24 import DONE, build_init, check_markers, populate_root
from ..lib.support import REPO, Project

sys.path.insert(0, str(REPO / "tools" / "cluster"))
import clusterbox

pytestmark = pytest.mark.slow

SERVER = "192.0.2.1"
NETMASK = "255.255.255.0"


@dataclass(frozen=True)
class Node:
    name: str
    mac: str
    ip: str
    tap: str
    image: str | None = None  # None: the pipeline's image (ramses.toml [netboot] output)


PAIR = [Node("node01", "52:54:00:12:34:01", "192.0.2.11", "rtap0"),
        Node("node02", "52:54:00:12:34:02", "192.0.2.12", "rtap1")]
MODERN = Node("node03", "52:54:00:12:34:03", "192.0.2.13", "rtap2", "vmlinuz-6.1-cluster")
ELF = Node("node04", "52:54:00:12:34:04", "192.0.2.14", "rtap3", "vmlinuz-2.4.18-cluster.elf")
NODES = [*PAIR, MODERN, ELF]


def nodes_toml(roots: Path) -> str:
    out = ["# cluster-in-a-box test inventory (documentation network 192.0.2.0/24)",
           "[network]", 'subnet = "192.0.2.0/24"', f'server = "{SERVER}"', "",
           "[boot]", f'nfsroot = "{roots}/{{name}}"', 'nfs_options = "v3"', ""]
    for n in NODES:
        out += ["[[node]]", f'name = "{n.name}"', f'mac = "{n.mac}"', f'ip = "{n.ip}"']
        if n.image:
            out.append(f'image = "{n.image}"')
        out.append("")
    return "\n".join(out)


@dataclass
class Cluster:
    project: Project
    box: clusterbox.ClusterBox
    roms: dict[str, Path]
    roots: Path
    work: Path

    @property
    def tftpboot(self) -> Path:
        return self.project.dir / "tftpboot"

    def rom(self, nic: str) -> Path:
        if nic not in self.roms:
            pytest.skip(f"no NBI-capable iPXE ROM for {nic} (RAMSES_IPXE_ROM names {sorted(self.roms)})")
        return self.roms[nic]

    def boot(self, node: Node, nic: str, memory: str = "64", timeout: float = 180) -> QemuResult:
        args = [*self.box.netns_prefix(), "qemu-system-i386", "-m", memory, "-nographic", "-no-reboot",
                "-monitor", "none", "-boot", "n",
                "-netdev", f"tap,id=n0,ifname={node.tap},script=no,downscript=no",
                "-device", f"{nic},netdev=n0,mac={node.mac},romfile={self.rom(nic)}"]
        result = run_qemu(args, DONE, timeout, log=self.work / f"{node.name}.serial.log")
        print(f"\n===== {node.name} ({result.seconds:.1f} s) serial console, boot chain lines:")
        print("\n".join(chain_lines(result.output)))
        return result


def chain_lines(output: str) -> list[str]:
    """The serial-console lines that show each link of the chain (for the log and the report)."""
    keep = re.compile(r"iPXE \d|net0: |Next server|Filename|Root path|tftp://|\[NBI\]|\[ELF\]|ramses-nbi|"
                      r"Linux version|Kernel command line|IP-Config|Looking up port|VFS: Mounted root|"
                      r"RAMSES-K24|Freeing unused|Root-NFS|nfs: server|^\s+(device|host|bootserver)=")
    return [line.rstrip("\r") for line in output.splitlines() if keep.search(line)]


@pytest.fixture(scope="session")
def cluster_host() -> None:
    """Skip before anything is built when this machine cannot run the box (session scope, so it
    comes before the session fixtures that build 2.4.18 and the ROMs)."""
    if os.geteuid() != 0:
        pytest.skip("the cluster in a box needs root (network namespace, bridge, taps, NFS ports)")
    if not shutil.which("qemu-system-i386"):
        pytest.skip("qemu-system-i386 missing: apt-get install qemu-system-x86")
    missing = clusterbox.missing_packages()
    if missing:
        pytest.skip(f"the cluster in a box needs {', '.join(missing)} (apt-get install {' '.join(missing)}; "
                    ".ci/run does, with service start-up suppressed)")


@pytest.fixture(scope="module")
def cluster(cluster_host, ipxe_roms, k24_real_project, tmp_path_factory):
    proj = k24_real_project
    work = tmp_path_factory.mktemp("cluster")
    roots = work / "nfsroot"
    init = build_init(work / "init")
    for node in NODES:
        root = populate_root(roots / node.name, init)
        (root / "sbin").mkdir(exist_ok=True)
        shutil.copy(init, root / "sbin" / "init")  # the kernel's default init (no init= needed)
    (proj.dir / "nodes.toml").write_text(nodes_toml(roots))
    proj.doit("netboot-image", "boot-config", timeout=600)
    with clusterbox.ClusterBox(proj.dir / "build" / "bootconf", work / "box", taps=len(NODES)) as box:
        yield Cluster(proj, box, ipxe_roms, roots, work)
    for name in ("dhcpd", "tftpd", "ganesha"):
        print(f"\n===== {name} log (tail)\n" + box.log(name)[-1500:])


def assert_ipxe_loaded(out: str, node: Node, image: str, kind: str) -> None:
    assert re.search(rf"net0: {re.escape(node.ip)}/{re.escape(NETMASK)}", out), out[-4000:]  # DHCP
    assert f"Next server: {SERVER}" in out and f"Filename: {image}" in out, out[-4000:]
    assert re.search(rf"{re.escape(image)} : \d+ bytes \[{kind}\]", out), out[-4000:]  # TFTP, recognised


def assert_nfs_node(out: str, node: Node, roots: Path) -> None:
    """Init ran from the node's own NFS root with the node's own address and host name."""
    assert "VFS: Mounted root (nfs filesystem)" in out, out[-4000:]
    assert init_problems(out) == [], out[-4000:]
    assert f"RAMSES-K24-ADDR eth0 {node.ip}\n" in out.replace("\r", ""), out[-4000:]
    assert f"RAMSES-K24-HOST {node.name}\n" in out.replace("\r", ""), out[-4000:]
    assert re.search(r"RAMSES-K24-ROOT \S+ nfs\b", out), out[-4000:]
    assert not (roots / node.name / "ramses-k24-probe").exists()  # written, read back and removed over NFS


def init_problems(out: str) -> list[str]:
    """check_markers, except that the release in the UNAME line is whatever kernel booted."""
    return [p for p in check_markers(out) if not p.startswith("missing 'RAMSES-K24-UNAME")] + \
        ([] if re.search(r"RAMSES-K24-UNAME \S+ i686", out) else ["missing RAMSES-K24-UNAME"])


def kernel_cmdline(out: str) -> str:
    m = re.search(r"RAMSES-K24-CMDLINE (.*)", out)
    assert m, out[-4000:]
    return m.group(1).strip()


def test_two_nodes_boot_the_pipeline_image_over_dhcp_tftp_nbi_nfs(cluster: Cluster) -> None:
    image = "vmlinuz-2.4.18-cluster"
    assert (cluster.tftpboot / image).is_file()
    with ThreadPoolExecutor(len(PAIR)) as pool:
        results = list(pool.map(lambda n: cluster.boot(n, "rtl8139"), PAIR))
    for node, result in zip(PAIR, results, strict=False):
        out = result.output
        assert result.found, f"{node.name}:\n{out[-5000:]}"
        assert_ipxe_loaded(out, node, image, "NBI")
        assert "ramses-nbi: warning" not in out, out[-4000:]
        # our first stage's last line is whole and on its own, and Linux's first line starts a new one
        assert re.search(r"^ramses-nbi: starting Linux\nLinux version 2\.4\.18 ", out.replace("\r", ""),
                         re.MULTILINE), out[-4000:]
        # ip= and nfsroot= were filled in by our first stage from the ROM's DHCP reply
        cmdline = kernel_cmdline(out)
        assert f"ip={node.ip}:{SERVER}::{NETMASK}:{node.name}" in cmdline.split(), cmdline
        assert f"nfsroot={cluster.roots / node.name},v3" in cmdline.split(), cmdline  # the DHCP root-path
        assert "rom" not in re.findall(r"(?:ip|nfsroot)=(\w+)", cmdline), cmdline
        assert "Looking up port of RPC 100005/3 on 192.0.2.1" in out, out[-4000:]
        assert_nfs_node(out, node, cluster.roots)
        assert re.search(rf"DHCPACK on {re.escape(node.ip)} to {node.mac}", cluster.box.log("dhcpd"))


def test_modern_client_kernel_boots_as_nbi(cluster: Cluster, request: pytest.FixtureRequest) -> None:
    rom = cluster.rom("e1000")  # the 6.1 client config has e1000, not rtl8139
    assert rom
    kernel = request.getfixturevalue("modern_client_kernel")
    image = cluster.tftpboot / MODERN.image
    subprocess.run([sys.executable, "-m", "ramsesbuild", "mknbi-linux", "--ip=rom", "--rootdir=rom",
                    "--append=console=ttyS0", f"--output={image}", str(kernel)], check=True,
                   env={**os.environ, "PYTHONPATH": str(REPO)})
    result = cluster.boot(MODERN, "e1000", memory="128")
    out = result.output
    assert result.found, out[-5000:]
    assert_ipxe_loaded(out, MODERN, MODERN.image, "NBI")
    assert "ramses-nbi: warning" not in out and "Linux version 6.1" in out, out[-4000:]
    cmdline = kernel_cmdline(out)
    assert f"ip={MODERN.ip}:{SERVER}::{NETMASK}:{MODERN.name}" in cmdline.split(), cmdline
    assert f"nfsroot={cluster.roots / MODERN.name},v3" in cmdline.split(), cmdline
    assert_nfs_node(out, MODERN, cluster.roots)


def test_elf_image_boots_with_the_kernels_own_dhcp(cluster: Cluster) -> None:
    kernel = cluster.project.dir / "build" / "client" / "artifacts" / "bzImage"
    image = cluster.tftpboot / ELF.image
    subprocess.run([sys.executable, "-m", "ramsesbuild", "mkelf-linux", "--ip=dhcp",
                    "--append=console=ttyS0", f"--output={image}", str(kernel)], check=True,
                   env={**os.environ, "PYTHONPATH": str(REPO)})
    result = cluster.boot(ELF, "rtl8139")
    out = result.output
    assert result.found, out[-5000:]
    assert_ipxe_loaded(out, ELF, ELF.image, "ELF")
    assert "ramses-nbi: warning" not in out, out[-4000:]  # nothing =rom to fill: nothing dropped
    assert re.search(r"^ramses-nbi: starting Linux", out.replace("\r", ""), re.MULTILINE)  # our ELF first stage
    cmdline = kernel_cmdline(out)
    assert cmdline.split()[-2:] == ["ip=dhcp", "console=ttyS0"] and "nfsroot=" not in cmdline, cmdline
    # the kernel's own DHCP: address, host name and server from the node's host entry
    assert f"IP-Config: Got DHCP answer from {SERVER}, my address is {ELF.ip}" in out, out[-4000:]
    assert f"bootserver={SERVER}, rootserver={SERVER}, rootpath={cluster.roots / ELF.name},v3" in out
    assert "RAMSES-K24-PNP #PROTO: DHCP" in out, out[-4000:]
    assert "Looking up port of RPC 100005/3 on 192.0.2.1" in out, out[-4000:]
    assert_nfs_node(out, ELF, cluster.roots)
