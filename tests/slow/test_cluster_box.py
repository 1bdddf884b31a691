"""Slow, root: the Ramses cluster in a box - the whole recipe, booted through a real NBI boot ROM
into real systems from the node roots the pipeline generates (docs/node-roots.md).

Two boxes, each a private network namespace (tools/cluster/clusterbox.py: a bridge with the
server address 192.0.2.1/24 and tap devices; nothing listens on the host) running ISC dhcpd,
tftpd-hpa and nfs-ganesha (+ rpcbind) from exactly the files `doit boot-config` generated:

* Linux 2.4.18: the session's real 2.4.18 project (k24_real_project), with a second settings
  file (same build and doit state; its own tftpboot, nodes.toml and [paths] roots) that gives
  the client profile a node root: `doit netboot-image root-client root-modules-client
  node-layers boot-config` builds the NBI image, the klibc root (klibc-utils:i386 through
  mmdebstrap, our /sbin/init, diskless rc and ramses-nfsmount), the kernel's modules in it, each
  node's own directory and the exports. node01 and node02 boot it at once (rtl8139): iPXE ->
  NBI -> our first stage -> Linux 2.4.18 -> the shared base root over NFS -> /sbin/init mounts
  the node's own directory with ramses-nfsmount -> the rc, whose command prints the host name
  and /etc/hosts. node04 boots the same kernel as an ELF image (`ramsesbuild mkelf-linux`,
  ip=dhcp: the kernel's own DHCP; Linux 2.4.18 uses the root-path option verbatim, so
  boot-config writes it without "server:").
* Linux 6.1: a project of its own for the modern root (bookworm i386 through mmdebstrap:
  systemd, nfs-common, openssh-server) whose nodes boot the session's 6.1 client kernel
  (modern_client_kernel, built with the shipped kconfigs, wrapped as NBI with `ramsesbuild
  mknbi-linux`). node03 and node05 boot at once (e1000) to systemd's multi-user target; the
  class's command (a probe in its override files) prints the host name, address, what
  /etc/hosts resolves, whether a mark is under /var/tmp, then writes one; after `ramsesbuild
  node-reset node03` both boot again: node03's mark is gone (its ssh host key and machine-id
  stay), node05 finds its own mark, never node03's.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from ramsesbuild.noderoot.spec import DEFAULT_PACKAGES, RootKind

from ..lib import tomlw
from ..lib.guest import QemuResult, run_qemu
from ..lib.support import REPO, SHIPPED, Project

sys.path.insert(0, str(REPO / "tools" / "cluster"))
import clusterbox

pytestmark = pytest.mark.slow

SERVER = "192.0.2.1"
NETMASK = "255.255.255.0"
DEBIAN_SOURCE = Path("/usr/src/linux-source-6.1.tar.xz")


@dataclass(frozen=True)
class Node:
    name: str
    mac: str
    ip: str
    tap: str
    image: str | None = None  # None: the project's netboot image


PAIR = [Node("node01", "52:54:00:12:34:01", "192.0.2.11", "rtap0"),
        Node("node02", "52:54:00:12:34:02", "192.0.2.12", "rtap1")]
ELF = Node("node04", "52:54:00:12:34:04", "192.0.2.14", "rtap2", "vmlinuz-2.4.18-cluster.elf")
K24_NODES = [*PAIR, ELF]
MODERN = [Node("node03", "52:54:00:12:34:03", "192.0.2.13", "rtap0"),
          Node("node05", "52:54:00:12:34:05", "192.0.2.15", "rtap1")]
MODERN_IMAGE = "vmlinuz-6.1-cluster"
RC_DONE = "RAMSES-RC-DONE"
PROBE_DONE = "RAMSES-PROBE-DONE"
# the 2.4 class's command: what /etc/rc runs last
RC_COMMAND = """echo "RAMSES-RC-HOST $(uname -n)"
echo RAMSES-RC-HOSTS
cat /etc/hosts
echo "written by $(uname -n)" > /var/tmp/ramses-mark
echo "RAMSES-RC-WROTE $(cat /var/tmp/ramses-mark)"
echo RAMSES-RC-CMDLINE $(cat /proc/cmdline)
echo RAMSES-RC-DONE
reboot"""
# the modern class's command (a unit after multi-user.target): a script from its override files
PROBE = """#!/bin/sh
dmesg -n 1 2>/dev/null || true  # no kernel message splits a probe line on the console
echo "RAMSES-PROBE host $(hostname) $(cat /etc/hostname)"
echo "RAMSES-PROBE addr $(ip -4 -o addr show dev eth0 | awk '{print $4}')"
for n in node03 node05 server; do echo "RAMSES-PROBE resolve $n $(getent hosts $n | awk '{print $1}')"; done
if [ -e /var/tmp/ramses-mark ]; then echo "RAMSES-PROBE mark present $(cat /var/tmp/ramses-mark)"
else echo "RAMSES-PROBE mark absent"; fi
echo "written by $(hostname)" > /var/tmp/ramses-mark
echo "RAMSES-PROBE machine-id $(cat /etc/machine-id)"
echo "RAMSES-PROBE ssh $(systemctl is-active ssh.service)"
echo "RAMSES-PROBE getty $(systemctl is-active serial-getty@ttyS0.service)"
echo "RAMSES-PROBE system $(systemctl is-system-running)"
echo "RAMSES-PROBE root $(findmnt -n -o SOURCE,OPTIONS /)"
echo "RAMSES-PROBE own $(findmnt -n -o SOURCE /ramses/node)"
echo "RAMSES-PROBE-DONE"
"""


def nodes_toml(nodes: list[Node], extra: dict[str, str] | None = None) -> str:
    out = ["# cluster-in-a-box test inventory (documentation network 192.0.2.0/24)",
           "[network]", 'subnet = "192.0.2.0/24"', f'server = "{SERVER}"', 'domain = "box.example"', "",
           "[boot]", 'nfs_options = "v3"', ""]
    for n in nodes:
        out += ["[[node]]", f'name = "{n.name}"', f'mac = "{n.mac}"', f'ip = "{n.ip}"']
        if n.image:
            out += [f'image = "{n.image}"', 'profile = "client"']  # another image of the client class
        out.append((extra or {}).get(n.name, ""))
    return "\n".join(out)


@dataclass
class Box:
    project: Project
    config: Path  # its settings file
    box: clusterbox.ClusterBox
    roms: dict[str, Path]
    srv: Path  # [paths] roots
    tftpboot: Path
    work: Path

    def layer(self, node: Node) -> Path:
        return self.srv / "node" / node.name

    def rom(self, nic: str) -> Path:
        if nic not in self.roms:
            pytest.skip(f"no NBI-capable iPXE ROM for {nic} (RAMSES_IPXE_ROM names {sorted(self.roms)})")
        return self.roms[nic]

    def boot(self, node: Node, nic: str, marker: str, memory: str = "64", timeout: float = 180,
             tag: str = "") -> QemuResult:
        args = [*self.box.netns_prefix(), "qemu-system-i386", "-m", memory, "-nographic", "-no-reboot",
                "-monitor", "none", "-boot", "n",
                "-netdev", f"tap,id=n0,ifname={node.tap},script=no,downscript=no",
                "-device", f"{nic},netdev=n0,mac={node.mac},romfile={self.rom(nic)}"]
        result = run_qemu(args, marker, timeout, log=self.work / f"{node.name}{tag}.serial.log")
        print(f"\n===== {node.name}{tag} ({result.seconds:.1f} s) serial console, boot chain lines:")
        print("\n".join(chain_lines(result.output)))
        return result

    def cli(self, *args: str) -> subprocess.CompletedProcess:
        r = subprocess.run([sys.executable, "-m", "ramsesbuild", *args], capture_output=True, text=True,
                           env={**os.environ, "PYTHONPATH": str(REPO), "RAMSES_CONFIG": str(self.config)},
                           check=False)
        print(r.stdout + r.stderr)
        return r


def chain_lines(output: str) -> list[str]:
    """The serial-console lines that show each link of the chain (for the log and the report)."""
    keep = re.compile(r"iPXE \d|net0: |Next server|Filename|Root path|\[NBI\]|\[ELF\]|ramses-nbi|"
                      r"Linux version|Kernel command line|IP-Config: (Got|Complete)|Looking up port|"
                      r"VFS: Mounted root|RAMSES-|ramses-|Reached target|Secure Shell|login:|"
                      r"^\d+\.\d+\.\d+\.\d+\s|^::1|nfs: server|^\s+(device|host|bootserver)=|FAILED|Failed")
    return [line.rstrip("\r") for line in output.replace("\x1b", "").splitlines() if keep.search(line)]


@pytest.fixture(scope="session")
def cluster_host() -> None:
    """Skip before anything is built when this machine cannot run the box."""
    if os.geteuid() != 0:
        pytest.skip("the cluster in a box needs root (network namespace, bridge, taps, NFS ports)")
    if not shutil.which("qemu-system-i386"):
        pytest.skip("qemu-system-i386 missing: apt-get install qemu-system-x86")
    missing = clusterbox.missing_packages()
    if missing:
        pytest.skip(f"the cluster in a box needs {', '.join(missing)} (apt-get install {' '.join(missing)}; "
                    ".ci/run does, with service start-up suppressed)")
    for tool, pkg in (("mmdebstrap", "mmdebstrap"), ("arch-test", "arch-test"), ("ssh-keygen", "openssh-client")):
        if not shutil.which(tool):
            pytest.skip(f"node roots need {tool}: apt-get install {pkg}")


def _serve(proj: Project, config: Path, work: Path, srv: Path, tftpboot: Path, roms: dict[str, Path],
           taps: int):  # -> Iterator[Box]
    bootconf = work / "build" / "bootconf"  # nodes.toml [boot] output, relative to nodes.toml
    with clusterbox.ClusterBox(bootconf, work / "box", taps=taps) as box:
        yield Box(proj, config, box, roms, srv, tftpboot, work)
    for name in ("dhcpd", "tftpd", "ganesha"):
        print(f"\n===== {name} log (tail)\n" + box.log(name)[-1500:])


@pytest.fixture(scope="module")
def box24(cluster_host, ipxe_roms, k24_real_project, tmp_path_factory):
    """The 2.4 box: the session's 2.4.18 build, its client profile with a node root."""
    proj = k24_real_project
    work = tmp_path_factory.mktemp("box24")
    srv, tftpboot = work / "srv", work / "tftpboot"
    (work / "nodes.toml").write_text(nodes_toml(K24_NODES))
    doc = proj.settings_doc()
    doc["paths"] |= {"tftpboot": str(tftpboot), "nodes": str(work / "nodes.toml"), "roots": str(srv)}
    doc["profile"]["client"]["root"] = {"command": RC_COMMAND}
    config = proj.dir / "ramses-box24.toml"  # same build and doit state as the session's project
    config.write_text(tomlw.dumps(doc))
    proj.doit("netboot-image", "root-client", "root-modules-client", "node-layers", "boot-config", config=config,
              timeout=1800)
    yield from _serve(proj, config, work, srv, tftpboot, ipxe_roms, len(K24_NODES))


@pytest.fixture(scope="module")
def box61(cluster_host, ipxe_roms, modern_client_kernel, tmp_path_factory):
    """The 6.1 box: a project whose client profile has a Debian node root; its nodes boot the
    session's 6.1 client kernel, wrapped as NBI for them."""
    if not DEBIAN_SOURCE.exists():
        pytest.skip(f"{DEBIAN_SOURCE} missing: apt-get install linux-source-6.1")
    work = tmp_path_factory.mktemp("box61")
    srv = work / "srv"
    probe = work / "project" / "overrides" / "class" / "client" / "usr/local/sbin/ramses-probe"
    probe.parent.mkdir(parents=True)
    probe.write_text(PROBE)
    probe.chmod(0o755)
    proj = Project(dir=work / "project", mirror_url=f"file://{DEBIAN_SOURCE.parent}/", tarball=DEBIAN_SOURCE.name,
                   version="6.1", sha256="", dpkg="linux-source-6.1", profile_base="tinyconfig",
                   kconfigs=SHIPPED / "kconfigs", nodes=nodes_toml(MODERN),
                   overrides={"paths": {"roots": str(srv), "nodes": "nodes.toml"},
                              "profile": {"client": {"root": {"command": "/usr/local/sbin/ramses-probe"}}}})
    proj.setup()
    tftpboot = proj.dir / "tftpboot"
    tftpboot.mkdir()
    subprocess.run([sys.executable, "-m", "ramsesbuild", "mknbi-linux", "--ip=rom", "--rootdir=rom",
                    "--append=console=ttyS0 ro", f"--output={tftpboot / MODERN_IMAGE}", str(modern_client_kernel)],
                   check=True, env={**os.environ, "PYTHONPATH": str(REPO)})
    proc = proj.doit("root-client", "node-layers", "boot-config", timeout=1800)
    print(proc.stdout[-3000:])
    yield from _serve(proj, proj.settings_path, proj.dir, srv, tftpboot, ipxe_roms, len(MODERN))


def assert_ipxe_loaded(out: str, node: Node, image: str, kind: str) -> None:
    assert re.search(rf"net0: {re.escape(node.ip)}/{re.escape(NETMASK)}", out), out[-4000:]  # DHCP
    assert f"Next server: {SERVER}" in out and f"Filename: {image}" in out, out[-4000:]
    assert re.search(rf"{re.escape(image)} : \d+ bytes \[{kind}\]", out), out[-4000:]  # TFTP, recognised


def lines(out: str) -> str:
    return out.replace("\r", "")


def assert_rc_ran(out: str, node: Node, box: Box) -> None:
    """The 2.4 root: the shared base over NFS, /sbin/init mounted the node's own directory, the rc
    set the host name and ran the class's command, which showed /etc/hosts."""
    text = lines(out)
    assert "VFS: Mounted root (nfs filesystem)" in text, out[-4000:]
    assert f"ramses-nfsmount: {SERVER}:{box.layer(node)} on /ramses/node (NFSv3, udp)" in text, out[-4000:]
    assert "ramses-init:" not in text, out[-4000:]  # no complaint from /sbin/init
    assert f"ramses-rc: {node.name} {node.ip}/24, Linux 2.4.18, root from {SERVER}, class client" in text, \
        out[-4000:]
    assert f"RAMSES-RC-HOST {node.name}\n" in text, out[-4000:]
    hosts = text[text.index("RAMSES-RC-HOSTS"):text.index(RC_DONE)]
    for other in K24_NODES:
        assert f"{other.ip}\t{other.name}.box.example {other.name}\n" in hosts, hosts
    assert f"{SERVER}\tserver.box.example server\n" in hosts, hosts
    # /var/tmp is the node's own directory on the server, writable
    assert f"RAMSES-RC-WROTE written by {node.name}\n" in text, out[-4000:]
    assert (box.layer(node) / "var/tmp/ramses-mark").read_text() == f"written by {node.name}\n"


def kernel_cmdline(out: str) -> str:
    m = re.search(r"RAMSES-RC-CMDLINE (.*)", out)
    assert m, out[-4000:]
    return m.group(1).strip()


def test_two_2_4_nodes_boot_the_shared_klibc_root_and_run_the_rc(box24: Box) -> None:
    image = "vmlinuz-2.4.18-cluster"
    assert (box24.tftpboot / image).is_file()
    base = box24.srv / "base" / "client"
    exports = (box24.work / "build" / "bootconf" / "exports").read_text()
    assert f"{base}  192.0.2.0/24(ro," in exports, exports
    assert re.search(rf"^{re.escape(str(box24.layer(PAIR[0])))} +192\.0\.2\.11\(rw,", exports, re.M), exports
    assert (base / "lib/modules/2.4.18/.ramses-modules").exists()  # the client kernel's modules
    with ThreadPoolExecutor(len(PAIR)) as pool:
        results = list(pool.map(lambda n: box24.boot(n, "rtl8139", RC_DONE), PAIR))
    for node, result in zip(PAIR, results, strict=True):
        out = result.output
        assert result.found, f"{node.name}:\n{out[-5000:]}"
        assert_ipxe_loaded(out, node, image, "NBI")
        assert "ramses-nbi: warning" not in out, out[-4000:]
        assert re.search(r"^ramses-nbi: starting Linux\nLinux version 2\.4\.18 ", lines(out), re.MULTILINE), \
            out[-4000:]
        # ip= and nfsroot= were filled in by our first stage from the ROM's DHCP reply: the class's base
        cmdline = kernel_cmdline(out)
        assert f"ip={node.ip}:{SERVER}::{NETMASK}:{node.name}" in cmdline.split(), cmdline
        assert f"nfsroot={base},v3" in cmdline.split(), cmdline
        assert "Looking up port of RPC 100005/3 on 192.0.2.1" in out, out[-4000:]
        assert_rc_ran(out, node, box24)
        assert re.search(rf"DHCPACK on {re.escape(node.ip)} to {node.mac}", box24.box.log("dhcpd"))


def test_elf_image_boots_with_the_kernels_own_dhcp(box24: Box) -> None:
    kernel = box24.project.dir / "build" / "client" / "artifacts" / "bzImage"
    assert box24.cli("mkelf-linux", "--ip=dhcp", "--append=console=ttyS0", f"--output={box24.tftpboot / ELF.image}",
                     str(kernel)).returncode == 0
    result = box24.boot(ELF, "rtl8139", RC_DONE)
    out = result.output
    assert result.found, out[-5000:]
    assert_ipxe_loaded(out, ELF, ELF.image, "ELF")
    assert "ramses-nbi: warning" not in out, out[-4000:]  # nothing =rom to fill: nothing dropped
    assert re.search(r"^ramses-nbi: starting Linux", lines(out), re.MULTILINE)  # our ELF first stage
    cmdline = kernel_cmdline(out)
    assert cmdline.split()[-2:] == ["ip=dhcp", "console=ttyS0"] and "nfsroot=" not in cmdline, cmdline
    # the kernel's own DHCP: address, host name and server from the node's host entry
    assert f"IP-Config: Got DHCP answer from {SERVER}, my address is {ELF.ip}" in out, out[-4000:]
    assert f"bootserver={SERVER}, rootserver={SERVER}, rootpath={box24.srv}/base/client,v3" in out
    assert_rc_ran(out, ELF, box24)


def probe(out: str, what: str) -> str:
    m = re.search(rf"RAMSES-PROBE {what} (.*)", lines(out))
    assert m, lines(out)[-5000:]
    return m.group(1).strip()


def boot_modern(box: Box, nodes: list[Node], tag: str = "") -> list[str]:
    """Boot *nodes* at once to multi-user; check what every modern node shows; their consoles."""
    box.rom("e1000")  # the 6.1 client config has e1000, not rtl8139
    with ThreadPoolExecutor(len(nodes)) as pool:
        results = list(pool.map(lambda n: box.boot(n, "e1000", PROBE_DONE, memory="256", timeout=600, tag=tag),
                                nodes))
    outs = []
    for node, result in zip(nodes, results, strict=True):
        out = result.output
        assert result.found, f"{node.name}:\n{out[-6000:]}"
        assert_ipxe_loaded(out, node, MODERN_IMAGE, "NBI")
        text = lines(out)
        assert "Linux version 6.1" in text and "ramses-init:" not in text, text[-5000:]
        assert "Reached target" in text and "Multi-User System" in text, text[-5000:]
        assert "FAILED" not in text and "Timed out" not in text, text[-5000:]  # every unit started
        assert probe(out, "host") == f"{node.name} {node.name}"
        assert probe(out, "addr") == f"{node.ip}/24"
        assert probe(out, "resolve node03") == MODERN[0].ip and probe(out, "resolve node05") == MODERN[1].ip
        assert probe(out, "resolve server") == SERVER
        assert probe(out, "ssh") == "active" and probe(out, "getty") == "active"
        assert probe(out, "root").startswith(f"{SERVER}:{box.srv}/base/client ro,"), probe(out, "root")
        assert probe(out, "own") == f"{SERVER}:{box.layer(node)}"
        outs.append(out)
    return outs


def test_modern_nodes_reach_multi_user_from_the_shared_root_and_keep_var_apart(box61: Box) -> None:
    first, second = MODERN
    mark = box61.layer(first) / "var/tmp/ramses-mark"
    key = box61.layer(first) / "etc/ssh/ssh_host_ed25519_key.pub"
    key_before = key.read_bytes()

    out1, out2 = boot_modern(box61, MODERN)  # both at once
    assert probe(out1, "mark") == "absent" and probe(out2, "mark") == "absent"
    ids = probe(out1, "machine-id"), probe(out2, "machine-id")
    assert ids[0] != ids[1]
    assert mark.read_text() == "written by node03\n"  # in node03's own directory on the server
    assert (box61.layer(second) / "var/tmp/ramses-mark").read_text() == "written by node05\n"

    reset = box61.cli("node-reset", first.name)
    assert reset.returncode == 0 and not mark.exists(), reset.stdout + reset.stderr
    assert key.read_bytes() == key_before

    out3, out4 = boot_modern(box61, MODERN, tag="-after-reset")  # both again
    assert probe(out3, "mark") == "absent"  # node03's was gone with the reset
    assert probe(out4, "mark") == "present written by node05"  # node05 kept its own, never saw node03's
    assert (probe(out3, "machine-id"), probe(out4, "machine-id")) == ids  # the same nodes: identity kept
    status = box61.cli("status")
    assert f"root client: {box61.srv}/base/client + {box61.layer(first)}" in status.stdout


def test_the_root_records_what_it_was_built_from(box61: Box) -> None:
    stamp = json.loads((box61.project.dir / "build/noderoots/root-client.json").read_text())
    assert re.fullmatch(r"[0-9a-f]{32}", stamp["identity"])  # the digest of what the tree is made of
    assert set(DEFAULT_PACKAGES[RootKind.DEBIAN]) <= set(stamp["packages"])  # every package asked for, with
    assert stamp["packages"]["systemd"] and stamp["packages"]["openssh-server"]  # its version
