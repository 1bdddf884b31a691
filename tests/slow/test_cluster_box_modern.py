"""Slow, root: today's nodes in the cluster box (issue 21): UEFI firmware (OVMF) booting by PXE and
by HTTP boot, HTTP transfer from nginx, and Kea instead of ISC dhcpd.

The kernels come from one ramses.toml (conftest's modern_real_project, built once per session):
the UEFI node class's x86_64 6.1 (`[profile.uefi] arch = "x86_64"`, tinyconfig + RamsesCluster.conf
+ RamsesUefi.conf, netboot format raw) beside the i386 server and client. The boot
configuration comes from the real renderers, from a nodes.toml with the keys firmware, transfer,
initrd (a per-node layer), dhcp and [network] interface:

* box "kea" (kea-dhcp4 + nginx + tftpd-hpa + nfs-ganesha), three nodes booted at once, their
  configuration from `doit root-uefi node-layers boot-config boot-tftp` with a second settings file
  of the session's project (rooted_settings: [profile.uefi.root], an amd64 Debian root):
  - node21 (profile "uefi"), UEFI PXE: OVMF's PXE gets snponly.efi (Debian's ipxe) by TFTP from
    Kea's ramses-uefi-pxe class, iPXE gets the node's script from Kea's per-node class, and the
    kernel by TFTP; the EFI stub starts Linux; the uefi class's base root read-only over NFS, our
    /sbin/init mounts the node's own directory, systemd reaches multi-user (serial getty as
    node21) and the class's command (PROBE) shows host name, arch, address and mounts;
  - node22 (profile "uefi"), UEFI HTTP boot: OVMF's HTTP boot gets the loader's URL
    (ramses-uefi-http, vendor class HTTPClient echoed); script and kernel come from nginx, no TFTP
    at all; then the same own system as node21 (its class's base root, its own directory, systemd
    to multi-user, PROBE);
  - node23, BIOS with an NBI-capable iPXE ROM: the i386 6.1 client as NBI, its file and root path
    from its Kea reservation (when the NBI ROM and the i386 kernel are available);
* box "isc" (ISC dhcpd): node24 UEFI PXE and node25 UEFI HTTP, through dhcpd.conf's branches, of
  no class: they boot tests/k24/init.c (address and host name) from their nodes.toml nfsroot;
  node25's script, kernel and per-node layer (initrd) come from nginx.
"""

from __future__ import annotations

import gzip
import os
import re
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from ramsesbuild import bootconf

from ..lib import tomlw
from ..lib.guest import QemuResult, cpio_newc, run_qemu
from ..lib.k24.guest24 import DONE, build_init, check_markers, populate_root
from ..lib.support import REPO, Project, nodes_toml

sys.path.insert(0, str(REPO / "tools" / "cluster"))
import bootservers
import clusterbox
import uefinode

pytestmark = pytest.mark.slow

SERVER = "192.0.2.1"
UEFI_IMAGE = "vmlinuz-6.1-uefi"
NBI_IMAGE = "vmlinuz-6.1-cluster"
EFI_LOADER = Path("/usr/lib/ipxe/snponly.efi")  # Debian's ipxe package
BOOT_TIMEOUT = 420  # seconds: OVMF under TCG on a busy 2-core machine
ROOT_TIMEOUT = 900  # seconds: an amd64 systemd to multi-user over NFS, under TCG
PROBE_DONE = "RAMSES-PROBE-DONE"
# the uefi class's command (a unit after multi-user.target): a script from its class override files
PROBE = """#!/bin/sh
dmesg -n 1 2>/dev/null || true  # no kernel message splits a probe line on the console
echo "RAMSES-PROBE host $(hostname) $(cat /etc/hostname)"
echo "RAMSES-PROBE arch $(uname -m) $(dpkg --print-architecture)"
echo "RAMSES-PROBE addr $(ip -4 -o addr show dev eth0 | awk '{print $4}')"
echo "RAMSES-PROBE getty $(systemctl is-active serial-getty@ttyS0.service)"
echo "RAMSES-PROBE system $(systemctl is-system-running)"
echo "RAMSES-PROBE root $(findmnt -n -o SOURCE,OPTIONS /)"
echo "RAMSES-PROBE own $(findmnt -n -o SOURCE /ramses/node)"
echo "written by $(hostname)" > /var/tmp/ramses-mark
echo "RAMSES-PROBE-DONE"
"""


@dataclass(frozen=True)
class Node:
    name: str
    mac: str
    ip: str
    tap: str
    kind: str  # "uefi-pxe", "uefi-http", "nbi"
    image: str = UEFI_IMAGE
    rooted: bool = False  # of the uefi class, which has a node root: boots its own system to multi-user

    @property
    def http_files(self) -> tuple[str, ...]:
        """What a UEFI HTTP-boot node fetches from nginx after the loader: its script, its kernel
        and, for a node of no class, its per-node layer (a rooted node's own files are on NFS)."""
        own = () if self.rooted else (f"layers/{self.name}.cpio.gz",)
        return (f"ipxe/{self.name}.ipxe", self.image, *own)


KEA_NODES = [Node("node21", "52:54:00:12:34:21", "192.0.2.21", "rtap0", "uefi-pxe", rooted=True),
             Node("node22", "52:54:00:12:34:22", "192.0.2.22", "rtap1", "uefi-http", rooted=True),
             Node("node23", "52:54:00:12:34:23", "192.0.2.23", "rtap2", "nbi", NBI_IMAGE)]
ISC_NODES = [Node("node24", "52:54:00:12:34:24", "192.0.2.24", "rtap0", "uefi-pxe"),
             Node("node25", "52:54:00:12:34:25", "192.0.2.25", "rtap1", "uefi-http")]


# ------------------------------------------------------------------ the x86_64 UEFI class's kernel

@pytest.fixture(scope="session")
def uefi_kernel(modern_real_project) -> Path:
    """The x86_64 6.1 kernel (EFI stub) of the UEFI node class, built by the same ramses.toml as
    the i386 server and client (conftest's modern_real_project: `[profile.uefi] arch = "x86_64"`,
    fragments RamsesCluster.conf + RamsesUefi.conf, netboot format raw)."""
    proj = modern_real_project
    assert "[profile.uefi]" in proj.settings_path.read_text()
    config = (proj.dir / "build" / "uefi" / "artifacts" / "config").read_text().splitlines()
    for line in ("CONFIG_X86_64=y", "CONFIG_EFI_STUB=y", "CONFIG_IA32_EMULATION=y", "CONFIG_VIRTIO_NET=y"):
        assert line in config, line
    client = (proj.dir / "build" / "client" / "artifacts" / "config").read_text().splitlines()
    assert "CONFIG_X86_32=y" in client and "CONFIG_64BIT=y" not in client  # the BIOS class stays i386
    return proj.dir / "tftpboot" / UEFI_IMAGE


# ------------------------------------------------------------------ the boxes

@pytest.fixture(scope="module")
def modern_host() -> None:
    if os.geteuid() != 0:
        pytest.skip("the cluster in a box needs root (network namespace, bridge, taps, NFS ports)")
    problem = uefinode.missing()
    if problem:
        pytest.skip(f"a UEFI node needs {problem}")
    if not EFI_LOADER.is_file():
        pytest.skip(f"{EFI_LOADER} missing: apt-get install ipxe")
    missing = clusterbox.missing_packages() + [p for t, p in bootservers.TOOLS.items() if not shutil.which(t)]
    if missing:
        pytest.skip(f"the cluster in a box needs {', '.join(missing)} (apt-get install {' '.join(missing)})")
    for tool, pkg in (("mmdebstrap", "mmdebstrap"), ("arch-test", "arch-test"), ("ssh-keygen", "openssh-client")):
        if not shutil.which(tool):  # node21's root
            pytest.skip(f"node roots need {tool}: apt-get install {pkg}")


@dataclass
class Box:
    box: clusterbox.ClusterBox
    work: Path
    tftp: Path
    roots: Path
    inv: bootconf.Inventory
    nbi_rom: Path | None = None  # NBI-capable iPXE ROM for e1000 (node23)

    def node(self, name: str) -> bootconf.Node:
        return next(n for n in self.inv.nodes if n.name == name)


def layer(name: str) -> bytes:
    """A per-node layer: a gzip-compressed cpio the kernel unpacks into its rootfs."""
    return gzip.compress(cpio_newc([("etc", 0o040755, b"", (0, 0)),
                                    ("etc/ramses-layer", 0o100644, f"{name}\n".encode(), (0, 0))]), mtime=0)


def rooted_settings(proj: Project, work: Path) -> Path:
    """A second settings file for *proj*: the uefi class gets a node root (amd64: the profile's
    arch is x86_64) whose command is PROBE, from class override files; tftp root, nodes.toml,
    roots, overrides and the build state (stamps, doit's records) in *work*, so that the session
    project's own state stays as its tests left it (test_modern's second run is a no-op)."""
    probe = work / "overrides" / "class" / "uefi" / "usr/local/sbin/ramses-probe"
    probe.parent.mkdir(parents=True)
    probe.write_text(PROBE)
    probe.chmod(0o755)
    doc = proj.settings_doc()
    doc["paths"] |= {"build": str(work / "build"), "tftpboot": str(work / "tftpboot"), "nodes": str(work / "nodes.toml"),
                     "roots": str(work / "srv"), "overrides": str(work / "overrides")}
    doc["profile"]["uefi"]["root"] = {"command": "/usr/local/sbin/ramses-probe"}
    config = proj.dir / f"ramses-{work.name}.toml"
    config.write_text(tomlw.dumps(doc))
    return config


def prepare(work: Path, nodes: list[Node], dhcp: str, uefi_kernel: Path, nbi: Path | None,
            proj: Project | None = None) -> tuple[Path, Path, bootconf.Inventory]:
    """tftp root, NFS roots and the generated configuration for *nodes*: from the renderers, or
    with *proj* (rooted nodes) from `doit root-uefi node-layers boot-config boot-tftp`."""
    tftp, roots = work / "tftpboot", work / "roots"
    (tftp / "layers").mkdir(parents=True)
    shutil.copy(EFI_LOADER, tftp / EFI_LOADER.name)
    for image in {n.image for n in nodes if n.kind != "nbi"}:
        shutil.copy(uefi_kernel, tftp / image)
    if nbi is not None:
        shutil.copy(nbi, tftp / NBI_IMAGE)
    init = build_init(work / "init")
    for n in nodes:
        if n.rooted:
            continue
        root = populate_root(roots / n.name, init)
        (root / "sbin").mkdir(exist_ok=True)
        shutil.copy(init, root / "sbin" / "init")
    server = 'server = "192.0.2.1"\n' + ('interface = "rbr0"\n' if dhcp == "kea" else "")
    text = nodes_toml().replace('server = "192.0.2.1"\n', server +
                                f'[boot]\nnfsroot = "{roots}/{{name}}"\nnfs_options = "v3"\ndhcp = "{dhcp}"\n'
                                f'output = "{work / "bootconf"}"\n')
    for n in nodes:
        text += f'[[node]]\nname = "{n.name}"\nmac = "{n.mac}"\nip = "{n.ip}"\n'
        # a rooted node names its class; its image is the class's (the uefi profile's netboot output)
        text += 'profile = "uefi"\n' if n.rooted else f'image = "{n.image}"\n'
        if n.kind == "nbi":
            continue
        text += 'firmware = "uefi"\nappend = "console=ttyS0"\n'
        if n.kind == "uefi-http":
            text += 'transfer = "http"\n'
            if not n.rooted:
                (tftp / "layers" / f"{n.name}.cpio.gz").write_bytes(layer(n.name))
                text += 'initrd = "layers/{name}.cpio.gz"\n'
    (work / "nodes.toml").write_text(text)
    if proj is None:
        inv = bootconf.load(work / "nodes.toml", UEFI_IMAGE)
        bootconf.write_config(inv, tftp)
        bootconf.write_tftp(inv, tftp)
        return tftp, roots, inv
    proc = proj.doit("root-uefi", "node-layers", "boot-config", "boot-tftp", config=rooted_settings(proj, work),
                     timeout=1800)
    print(proc.stdout[-3000:])
    return tftp, roots, bootconf.load(work / "nodes.toml", UEFI_IMAGE, {"uefi": UEFI_IMAGE, "client": NBI_IMAGE})


def boot(box: Box, node: Node) -> QemuResult:
    if node.kind == "nbi":
        rom = box.nbi_rom
        args = ["qemu-system-i386", "-accel", "tcg", "-m", "128", "-nographic", "-no-reboot", "-monitor", "none",
                "-boot", "n", "-netdev", f"tap,id=n0,ifname={node.tap},script=no,downscript=no",
                "-device", f"e1000,netdev=n0,mac={node.mac},romfile={rom}"]
    else:
        variables = uefinode.fresh_variables(box.work / f"{node.name}-vars.fd")
        args = uefinode.qemu_args(node.tap, node.mac, variables, http=node.kind == "uefi-http")
    marker, timeout = (PROBE_DONE, ROOT_TIMEOUT) if node.rooted else (DONE, BOOT_TIMEOUT)
    result = run_qemu([*box.box.netns_prefix(), *args], marker, timeout, log=box.work / f"{node.name}.serial.log")
    print(f"\n===== {node.name} ({node.kind}, {result.seconds:.1f} s) serial console, boot chain lines:")
    print("\n".join(chain_lines(result.output)))
    return result


def clean(output: str) -> str:
    """The serial console as a terminal shows it: without OVMF's escape sequences and carriage
    returns, and with iPXE's progress (digits, then backspaces) rubbed out."""
    text = re.sub(r"\x1b\[[0-9;?=]*[A-Za-z]", "", output).replace("\r", "")
    while True:
        rubbed = re.sub(r"[^\n\x08]\x08", "", text)
        if rubbed == text:
            return text.replace("\x08", "")
        text = rubbed


def chain_lines(output: str) -> list[str]:
    keep = re.compile(r"Start PXE|Start HTTP|Station IP|NBP filename|URI:|iPXE \d|net0: \d|Next server|Filename|"
                      r"(tftp|http)://|\.\.\. ok|\[NBI\]|EFI stub|efi: EFI v|Linux version|Kernel command line|"
                      r"IP-Config: Got|"
                      r"initramfs|initrd memory|VFS: Mounted root|RAMSES-K24-(UNAME|HOST|ADDR|ROOT|DONE)|"
                      r"ramses-|RAMSES-PROBE|Reached target|Multi-User|login:|FAILED|Failed")
    lines = [re.sub(r"(Downloading\.\.\.\d+%\s*)+", "Downloading... ", line) for line in clean(output).splitlines()]
    return [line.strip() for line in lines if keep.search(line)]


def start_box(work: Path, nodes: list[Node], dhcp: str, uefi_kernel: Path, nbi: tuple[Path, Path] | None,
              proj: Project | None = None) -> Box:
    """*nbi*: (NBI image, ROM) for a BIOS node, or None; *proj*: the project of the rooted nodes."""
    tftp, roots, inv = prepare(work, nodes, dhcp, uefi_kernel, nbi[0] if nbi else None, proj)
    taps = 1 + max(int(n.tap.removeprefix("rtap")) for n in nodes)  # every node's tap exists
    return Box(clusterbox.ClusterBox(work / "bootconf", work / "box", taps=taps), work, tftp, roots, inv,
               nbi[1] if nbi else None)


def boot_all(box: Box, nodes: list[Node]) -> dict[str, QemuResult]:
    with box.box:
        with ThreadPoolExecutor(len(nodes)) as pool:
            results = dict(zip([n.name for n in nodes], pool.map(lambda n: boot(box, n), nodes), strict=True))
        for name in ("kea", "dhcpd", "nginx", "tftpd", "ganesha"):
            if box.box.log(name):
                print(f"\n===== {name} log (tail)\n" + box.box.log(name)[-1500:])
    return results


@pytest.fixture(scope="module")
def kea_box(modern_host, uefi_kernel, modern_real_project, tmp_path_factory, request):
    nodes = list(KEA_NODES)
    nbi = None
    try:
        if not any(item.name == "test_kea_bios_nbi_node" for item in request.session.items):
            raise pytest.skip.Exception("test_kea_bios_nbi_node is not selected")
        rom = request.getfixturevalue("ipxe_roms").get("e1000")
        if rom is None:
            raise pytest.skip.Exception("no NBI-capable ROM for e1000")
        kernel = request.getfixturevalue("modern_client_kernel")
        image = tmp_path_factory.mktemp("nbi") / NBI_IMAGE
        subprocess.run([sys.executable, "-m", "ramsesbuild", "mknbi-linux", "--ip=rom", "--rootdir=rom",
                        "--append=console=ttyS0", f"--output={image}", str(kernel)], check=True,
                       env={**os.environ, "PYTHONPATH": str(REPO)})
        nbi = (image, rom)
    except pytest.skip.Exception as exc:
        print(f"node23 (BIOS NBI over Kea) left out: {exc}")
        nodes = [n for n in nodes if n.kind != "nbi"]
    box = start_box(tmp_path_factory.mktemp("kea-box"), nodes, "kea", uefi_kernel, nbi, modern_real_project)
    return box, boot_all(box, nodes)


@pytest.fixture(scope="module")
def isc_box(modern_host, uefi_kernel, tmp_path_factory):
    box = start_box(tmp_path_factory.mktemp("isc-box"), ISC_NODES, "isc", uefi_kernel, None)
    return box, boot_all(box, ISC_NODES)


# ------------------------------------------------------------------ what a boot must show

def assert_init_ran(out: str, node: Node, box: Box) -> None:
    """tests/k24/init.c ran from the node's NFS root with its own address and host name."""
    assert "VFS: Mounted root (nfs filesystem)" in out, out[-4000:]
    problems = [p for p in check_markers(out) if not p.startswith("missing 'RAMSES-K24-UNAME")]
    assert problems == [], out[-4000:]
    arch = "i686" if node.kind == "nbi" else "x86_64"  # i386 init, on an x86_64 kernel for UEFI nodes
    assert re.search(rf"RAMSES-K24-UNAME 6\.1\S* {arch}", out), out[-4000:]
    assert f"RAMSES-K24-ADDR eth0 {node.ip}\n" in out, out[-4000:]
    assert f"RAMSES-K24-HOST {node.name}\n" in out, out[-4000:]
    assert not (box.roots / node.name / "ramses-k24-probe").exists()


def probe(out: str, what: str) -> str:
    m = re.search(rf"RAMSES-PROBE {what} (.*)", out)
    assert m, out[-5000:]
    return m.group(1).strip()


def assert_root_ran(out: str, node: Node, box: Box) -> None:
    """The uefi class's own amd64 root: the shared base read-only over NFS, the node's own
    directory mounted by our /sbin/init, systemd to multi-user with every unit started, the serial
    getty, the host name from DHCP; then the class's command (PROBE) on the console."""
    base, own = box.work / "srv" / "base" / "uefi", box.work / "srv" / "node" / node.name
    assert f"nfsroot={SERVER}:{base},v3 ro ip=dhcp" in out, out[-4000:]  # boot-tftp's script: the class's base
    assert "VFS: Mounted root (nfs filesystem) readonly" in out and "ramses-init:" not in out, out[-5000:]
    assert "Reached target multi-user.target - Multi-User System" in out, out[-5000:]
    assert "FAILED" not in out and "Timed out" not in out, out[-5000:]  # every unit started
    # (the serial getty's login prompt may come after the probe's last line, where the boot stops:
    # the probe says the getty is active, and the host name is checked below)
    assert probe(out, "host") == f"{node.name} {node.name}"
    assert probe(out, "arch") == "x86_64 amd64"
    assert probe(out, "addr") == f"{node.ip}/24"
    assert probe(out, "getty") == "active"
    assert probe(out, "root").startswith(f"{SERVER}:{base} ro,"), probe(out, "root")
    assert probe(out, "own") == f"{SERVER}:{own}"
    assert (own / "var/tmp/ramses-mark").read_text() == f"written by {node.name}\n"  # its own, writable
    exports = (box.work / "bootconf" / "exports").read_text()
    assert re.search(rf"^{re.escape(str(base))} +192\.0\.2\.0/24\(ro,", exports, re.M), exports
    assert re.search(rf"^{re.escape(str(own))} +{re.escape(node.ip)}\(rw,", exports, re.M), exports


def assert_uefi_chain(out: str, node: Node) -> None:
    if node.kind == "uefi-pxe":
        assert ">>Start PXE over IPv4" in out and "NBP filename is snponly.efi" in out, out[-4000:]
        assert f"Filename: ipxe/{node.name}.ipxe" in out, out[-4000:]
        assert f"tftp://{SERVER}/ipxe/{node.name}.ipxe... ok" in out, out[-4000:]
        assert f"/{node.image}... ok" in out, out[-4000:]
    else:
        assert ">>Start HTTP Boot over IPv4" in out and f"URI: http://{SERVER}/snponly.efi" in out, out[-4000:]
        for path in node.http_files:
            assert f"http://{SERVER}/{path}... ok" in out, out[-4000:]
        if not node.rooted:  # the layer reached the kernel, by the EFI stub's initrd= (iPXE 2019 has no LoadFile2)
            assert f"initrd={node.name}.cpio.gz" in out, out[-4000:]
            assert "EFI stub: Loaded initrd from command line option" in out, out[-4000:]
            assert "Freeing initrd memory" in out, out[-4000:]
    assert "using SNP on SNP-" in out, out[-4000:]  # snponly.efi drives the NIC through the firmware
    assert "Linux version 6.1" in out and "efi: EFI v2.70 by EDK II" in out, out[-4000:]  # started by the firmware


def assert_http_only(box: Box, node: Node, out: str) -> None:
    """A UEFI HTTP-boot node with HTTP transfer fetches everything from nginx (its access log has
    each file) and nothing by TFTP (its firmware and iPXE name every fetch on the console;
    in.tftpd logs only to syslog, which the box does not have)."""
    access = (box.work / "box" / "nginx-access.log").read_text()
    for path in ("snponly.efi", *node.http_files):
        assert re.search(rf'^{re.escape(node.ip)} "GET /{re.escape(path)} HTTP/1\.1" 200 \d+', access, re.M), access
    assert "tftp://" not in out and "NBP filename" not in out, out[-4000:]


def test_kea_uefi_pxe_node_boots_its_own_root_to_multi_user(kea_box) -> None:
    box, results = kea_box
    node = KEA_NODES[0]
    out = clean(results[node.name].output)
    assert results[node.name].found, out[-5000:]
    assert_uefi_chain(out, node)
    assert_root_ran(out, node, box)
    kea = box.box.log("kea")
    assert re.search(rf"DHCP4_LEASE_ALLOC \[hwtype=1 {node.mac}\].*lease {re.escape(node.ip)} has been allocated",
                     kea), kea[-3000:]
    assert "EVAL_RESULT Expression ramses-uefi-pxe evaluated to 1" in kea, kea[-3000:]


def test_kea_uefi_http_boot_node_fetches_by_http_only_and_boots_its_own_root(kea_box) -> None:
    box, results = kea_box
    node = KEA_NODES[1]
    out = clean(results[node.name].output)
    assert results[node.name].found, out[-5000:]
    assert_uefi_chain(out, node)
    assert_root_ran(out, node, box)
    assert_http_only(box, node, out)
    assert "EVAL_RESULT Expression ramses-uefi-http evaluated to 1" in box.box.log("kea")


def test_kea_bios_nbi_node(kea_box) -> None:
    box, results = kea_box
    node = KEA_NODES[2]
    if node.name not in results:
        pytest.skip("no NBI-capable iPXE ROM or i386 6.1 client kernel (see the fixture's output)")
    out = clean(results[node.name].output)
    assert results[node.name].found, out[-5000:]
    assert f"Filename: {NBI_IMAGE}" in out and re.search(rf"{NBI_IMAGE} : \d+ bytes \[NBI\]", out), out[-4000:]
    cmdline = re.search(r"RAMSES-K24-CMDLINE (.*)", out)
    assert cmdline and f"nfsroot={box.roots / node.name},v3" in cmdline.group(1).split(), out[-4000:]  # Kea's root-path
    assert_init_ran(out, node, box)


def test_isc_uefi_pxe_and_http_boot(isc_box) -> None:
    box, results = isc_box
    for node in ISC_NODES:
        out = clean(results[node.name].output)
        assert results[node.name].found, f"{node.name}:\n{out[-5000:]}"
        assert_uefi_chain(out, node)
        assert_init_ran(out, node, box)
    assert_http_only(box, ISC_NODES[1], clean(results[ISC_NODES[1].name].output))
    assert re.search(rf"DHCPACK on {re.escape(ISC_NODES[1].ip)} to {ISC_NODES[1].mac}", box.box.log("dhcpd"))
