"""Slow, root: the Ramses cluster in a box - the whole recipe, booted through a real NBI boot ROM
into real systems from the generated node roots.

In a private network namespace (tools/cluster/clusterbox.py: only lo at the start, then a
bridge with the server address 192.0.2.1/24 and tap devices; nothing listens on the host):

* the pipeline builds the 2.4.18 server and client kernels from a file:// mirror of
  $RAMSES_K24_TARBALL, signed by a throw-away key (test_k24_build's session fixture);
* roots.toml gives the project two node classes (docs/node-roots.md): "client" (Linux 2.4:
  klibc-utils:i386 from Debian through mmdebstrap, our /sbin/init and diskless rc) and "modern"
  (Debian bookworm i386 through mmdebstrap: systemd, nfs-common, openssh-server), whose nodes
  boot the 6.1 client kernel; `doit root-client root-modern node-layers` builds both base roots
  and every node's own directory, `doit netboot-image boot-config` the image, dhcpd.conf and the
  exports (base roots read-only to the subnet, each node's directory to that node alone);
* ISC dhcpd, tftpd-hpa and nfs-ganesha (+ rpcbind) run from exactly those generated files;
* qemu-system-i386 nodes with an iPXE ROM built with IMAGE_NBI/IMAGE_ELF (the ipxe_roms
  fixture) on the taps go DHCP -> TFTP -> NBI -> our first stage -> Linux -> the shared NFS
  root -> /sbin/init mounts the node's own directory -> the rc (2.4) or systemd (6.1).

node01 and node02 boot the pipeline's 2.4.18 NBI image at the same time (rtl8139) and run the
rc, which prints their host names and /etc/hosts. node03 and node05 boot the modern (6.1)
client kernel as NBI (e1000) into systemd's multi-user target, where a probe unit (the class's
override files) prints the node's name, address, what /etc/hosts resolves and whether a file
is under /var/tmp, then writes one there: node05 does not see node03's, and after
`ramsesbuild node-reset node03` and a reboot node03 does not see its own either (its ssh host
key and machine-id stay). node04 boots the 2.4.18 client kernel as an ELF image from
`ramsesbuild mkelf-linux`: the ROM's ELF loader passes no DHCP reply to our first stage, so the
kernel does DHCP itself (ip=dhcp) and gets its address, host name and server from the node's
host entry, and its NFS root from the root-path option. Linux 2.4.18 uses that option verbatim
as the directory to mount, so boot-config writes it without a "server:" part
("192.0.2.1:/dir,v3" made its MOUNT fail with EACCES; 2.6 and later strip the part).
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

from ..lib.guest import QemuResult, run_qemu
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
MODERN2 = Node("node05", "52:54:00:12:34:05", "192.0.2.15", "rtap4", "vmlinuz-6.1-cluster")
ELF = Node("node04", "52:54:00:12:34:04", "192.0.2.14", "rtap3", "vmlinuz-2.4.18-cluster.elf")
NODES = [*PAIR, MODERN, ELF, MODERN2]
RC_DONE = "RAMSES-RC-DONE"
PROBE_DONE = "RAMSES-PROBE-DONE"
# the 2.4 class's command: what /etc/rc runs last on node01, node02 and node04
RC_COMMAND = """echo "RAMSES-RC-HOST $(uname -n)"
echo RAMSES-RC-HOSTS
cat /etc/hosts
echo RAMSES-RC-CMDLINE $(cat /proc/cmdline)
echo RAMSES-RC-DONE
reboot"""
PROBE_UNIT = """[Unit]
Description=cluster-in-a-box probe (tests/test_cluster_box.py)
After=multi-user.target

[Service]
Type=oneshot
StandardOutput=tty
StandardError=tty
TTYPath=/dev/console
ExecStart=/usr/local/sbin/ramses-probe

[Install]
WantedBy=multi-user.target
"""
PROBE = """#!/bin/sh
echo "RAMSES-PROBE host $(hostname) $(cat /etc/hostname)"
echo "RAMSES-PROBE addr $(ip -4 -o addr show dev eth0 | awk '{print $4}')"
for n in node03 node05 server; do echo "RAMSES-PROBE resolve $n $(getent hosts $n | awk '{print $1}')"; done
if [ -e /var/tmp/ramses-mark ]; then echo "RAMSES-PROBE mark present $(cat /var/tmp/ramses-mark)"
else echo "RAMSES-PROBE mark absent"; fi
echo "written by $(hostname)" > /var/tmp/ramses-mark
echo "RAMSES-PROBE machine-id $(cat /etc/machine-id)"
echo "RAMSES-PROBE ssh $(systemctl is-active ssh.service)"
echo "RAMSES-PROBE root $(findmnt -n -o SOURCE,OPTIONS /)"
echo "RAMSES-PROBE-DONE"
systemctl --no-block reboot
"""


def roots_toml(srv: Path, overrides: Path) -> str:
    return "\n".join(["[roots]", f'dir = "{srv}/roots"', f'nodes = "{srv}/nodes"', f'keys = "{srv}/keys"', "",
                      "[roots.class.client]", 'kind = "klibc"', f"command = {json.dumps(RC_COMMAND)}", "",
                      "[roots.class.modern]", 'kind = "debian"', f'image = "{MODERN.image}"',
                      f'overrides = "{overrides}"', ""])


def probe_overrides(top: Path) -> Path:
    """The modern class's override files: the probe unit, enabled, and its script."""
    unit = top / "etc/systemd/system/ramses-probe.service"
    unit.parent.mkdir(parents=True, exist_ok=True)
    unit.write_text(PROBE_UNIT)
    wants = top / "etc/systemd/system/multi-user.target.wants"
    wants.mkdir(parents=True, exist_ok=True)
    (wants / unit.name).symlink_to(f"/etc/systemd/system/{unit.name}")
    script = top / "usr/local/sbin/ramses-probe"
    script.parent.mkdir(parents=True, exist_ok=True)
    script.write_text(PROBE)
    script.chmod(0o755)
    return top


def nodes_toml() -> str:
    out = ["# cluster-in-a-box test inventory (documentation network 192.0.2.0/24)",
           "[network]", 'subnet = "192.0.2.0/24"', f'server = "{SERVER}"', 'domain = "box.example"', "",
           "[boot]", 'nfs_options = "v3"', ""]
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
    srv: Path
    work: Path

    @property
    def tftpboot(self) -> Path:
        return self.project.dir / "tftpboot"

    def layer(self, node: Node) -> Path:
        return self.srv / "nodes" / node.name

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


def chain_lines(output: str) -> list[str]:
    """The serial-console lines that show each link of the chain (for the log and the report)."""
    keep = re.compile(r"iPXE \d|net0: |Next server|Filename|Root path|tftp://|\[NBI\]|\[ELF\]|ramses-nbi|"
                      r"Linux version|Kernel command line|IP-Config|Looking up port|VFS: Mounted root|"
                      r"RAMSES-|ramses-|Reached target|OpenBSD Secure Shell|login:|"
                      r"^\d+\.\d+\.\d+\.\d+\s|Root-NFS|nfs: server|^\s+(device|host|bootserver)=")
    return [line.rstrip("\r") for line in output.replace("\x1b", "").splitlines() if keep.search(line)]


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
    for tool, pkg in (("mmdebstrap", "mmdebstrap"), ("arch-test", "arch-test"), ("ssh-keygen", "openssh-client")):
        if not shutil.which(tool):
            pytest.skip(f"node roots need {tool}: apt-get install {pkg}")


@pytest.fixture(scope="module")
def cluster(cluster_host, ipxe_roms, k24_real_project, tmp_path_factory):
    """The box, serving the generated roots. The roots live in the session's 2.4.18 project, so
    mmdebstrap runs once per session (doit's root-<class> tasks are up to date after that)."""
    proj = k24_real_project
    work = tmp_path_factory.mktemp("cluster")
    srv = proj.dir / "srv"
    (proj.dir / "roots.toml").write_text(roots_toml(srv, probe_overrides(proj.dir / "overrides" / "modern")))
    (proj.dir / "nodes.toml").write_text(nodes_toml())
    proj.doit("netboot-image", "boot-config", "root-client", "root-modern", "node-layers", timeout=1200)
    with clusterbox.ClusterBox(proj.dir / "build" / "bootconf", work / "box", taps=len(NODES)) as box:
        yield Cluster(proj, box, ipxe_roms, srv, work)
    for name in ("dhcpd", "tftpd", "ganesha"):
        print(f"\n===== {name} log (tail)\n" + box.log(name)[-1500:])


def assert_ipxe_loaded(out: str, node: Node, image: str, kind: str) -> None:
    assert re.search(rf"net0: {re.escape(node.ip)}/{re.escape(NETMASK)}", out), out[-4000:]  # DHCP
    assert f"Next server: {SERVER}" in out and f"Filename: {image}" in out, out[-4000:]
    assert re.search(rf"{re.escape(image)} : \d+ bytes \[{kind}\]", out), out[-4000:]  # TFTP, recognised


def lines(out: str) -> str:
    return out.replace("\r", "")


def assert_rc_ran(out: str, node: Node, cluster: Cluster) -> None:
    """The 2.4 root: the shared base over NFS, /sbin/init mounted the node's own directory, the rc
    set the host name and ran the class's command, which showed /etc/hosts."""
    text = lines(out)
    assert "VFS: Mounted root (nfs filesystem)" in text, out[-4000:]
    assert "ramses-init:" not in text, out[-4000:]  # no complaint from /sbin/init
    assert f"ramses-rc: {node.name} {node.ip}/24, Linux 2.4.18, root from {SERVER}, class client" in text, \
        out[-4000:]
    assert f"RAMSES-RC-HOST {node.name}\n" in text, out[-4000:]
    hosts = text[text.index("RAMSES-RC-HOSTS"):text.index(RC_DONE)]
    for other in NODES:
        assert f"{other.ip}\t{other.name}.box.example {other.name}\n" in hosts, hosts
    assert f"{SERVER}\tserver.box.example server\n" in hosts, hosts


def kernel_cmdline(out: str) -> str:
    m = re.search(r"RAMSES-RC-CMDLINE (.*)", out)
    assert m, out[-4000:]
    return m.group(1).strip()


def test_two_2_4_nodes_boot_the_shared_klibc_root_and_run_the_rc(cluster: Cluster) -> None:
    image = "vmlinuz-2.4.18-cluster"
    assert (cluster.tftpboot / image).is_file()
    exports = (cluster.project.dir / "build" / "bootconf" / "exports").read_text()
    assert f"{cluster.srv}/roots/client  192.0.2.0/24(ro," in exports, exports
    assert f"{cluster.layer(PAIR[0])}     192.0.2.11(rw," in exports, exports
    with ThreadPoolExecutor(len(PAIR)) as pool:
        results = list(pool.map(lambda n: cluster.boot(n, "rtl8139", RC_DONE), PAIR))
    for node, result in zip(PAIR, results, strict=False):
        out = result.output
        assert result.found, f"{node.name}:\n{out[-5000:]}"
        assert_ipxe_loaded(out, node, image, "NBI")
        assert "ramses-nbi: warning" not in out, out[-4000:]
        assert re.search(r"^ramses-nbi: starting Linux\nLinux version 2\.4\.18 ", lines(out), re.MULTILINE), \
            out[-4000:]
        # ip= and nfsroot= were filled in by our first stage from the ROM's DHCP reply: the class's base
        cmdline = kernel_cmdline(out)
        assert f"ip={node.ip}:{SERVER}::{NETMASK}:{node.name}" in cmdline.split(), cmdline
        assert f"nfsroot={cluster.srv}/roots/client,v3" in cmdline.split(), cmdline
        assert "Looking up port of RPC 100005/3 on 192.0.2.1" in out, out[-4000:]
        assert_rc_ran(out, node, cluster)
        assert re.search(rf"DHCPACK on {re.escape(node.ip)} to {node.mac}", cluster.box.log("dhcpd"))


def probe(out: str, what: str) -> str:
    m = re.search(rf"RAMSES-PROBE {what} (.*)", lines(out))
    assert m, lines(out)[-5000:]
    return m.group(1).strip()


def boot_modern(cluster: Cluster, node: Node, tag: str = "") -> str:
    result = cluster.boot(node, "e1000", PROBE_DONE, memory="256", timeout=420, tag=tag)
    out = result.output
    assert result.found, out[-6000:]
    assert_ipxe_loaded(out, node, MODERN.image, "NBI")
    text = lines(out)
    assert "Linux version 6.1" in text and "ramses-init:" not in text, text[-5000:]
    assert "Reached target" in text and "Multi-User System" in text, text[-5000:]
    assert probe(out, "host") == f"{node.name} {node.name}"
    assert probe(out, "addr") == f"{node.ip}/24"
    assert probe(out, "resolve node03") == MODERN.ip and probe(out, "resolve node05") == MODERN2.ip
    assert probe(out, "resolve server") == SERVER
    assert probe(out, "ssh") == "active"
    assert probe(out, "root").startswith(f"{SERVER}:{cluster.srv}/roots/modern ro,"), probe(out, "root")
    return out


def test_modern_nodes_reach_multi_user_from_the_shared_root_and_keep_var_apart(
        cluster: Cluster, request: pytest.FixtureRequest) -> None:
    cluster.rom("e1000")  # the 6.1 client config has e1000, not rtl8139
    kernel = request.getfixturevalue("modern_client_kernel")
    image = cluster.tftpboot / MODERN.image
    subprocess.run([sys.executable, "-m", "ramsesbuild.cli", "mknbi-linux", "--ip=rom", "--rootdir=rom",
                    "--append=console=ttyS0 ro", f"--output={image}", str(kernel)], check=True,
                   env={**os.environ, "PYTHONPATH": str(REPO)})
    mark = cluster.layer(MODERN) / "var/tmp/ramses-mark"
    key = cluster.layer(MODERN) / "etc/ssh/ssh_host_ed25519_key.pub"
    key_before = key.read_bytes()

    out = boot_modern(cluster, MODERN)
    assert probe(out, "mark") == "absent"
    machine_id = probe(out, "machine-id")
    assert mark.read_text() == "written by node03\n"  # in node03's own directory on the server
    assert not (cluster.layer(MODERN2) / "var/tmp/ramses-mark").exists()

    out2 = boot_modern(cluster, MODERN2)
    assert probe(out2, "mark") == "absent"  # node03's file is not node05's
    assert probe(out2, "machine-id") != machine_id

    reset = subprocess.run([sys.executable, "-m", "ramsesbuild.cli", "node-reset", "--config",
                            str(cluster.project.settings_path), MODERN.name], capture_output=True, text=True,
                           env={**os.environ, "PYTHONPATH": str(REPO)}, check=False)
    print(reset.stdout + reset.stderr)
    assert reset.returncode == 0 and not mark.exists(), reset.stdout + reset.stderr
    assert key.read_bytes() == key_before

    out3 = boot_modern(cluster, MODERN, tag="-after-reset")
    assert probe(out3, "mark") == "absent"
    assert probe(out3, "machine-id") == machine_id  # the same node: identity kept


def test_elf_image_boots_with_the_kernels_own_dhcp(cluster: Cluster) -> None:
    kernel = cluster.project.dir / "build" / "client" / "artifacts" / "bzImage"
    image = cluster.tftpboot / ELF.image
    subprocess.run([sys.executable, "-m", "ramsesbuild.cli", "mkelf-linux", "--ip=dhcp",
                    "--append=console=ttyS0", f"--output={image}", str(kernel)], check=True,
                   env={**os.environ, "PYTHONPATH": str(REPO)})
    result = cluster.boot(ELF, "rtl8139", RC_DONE)
    out = result.output
    assert result.found, out[-5000:]
    assert_ipxe_loaded(out, ELF, ELF.image, "ELF")
    assert "ramses-nbi: warning" not in out, out[-4000:]  # nothing =rom to fill: nothing dropped
    assert re.search(r"^ramses-nbi: starting Linux", lines(out), re.MULTILINE)  # our ELF first stage
    cmdline = kernel_cmdline(out)
    assert cmdline.split()[-2:] == ["ip=dhcp", "console=ttyS0"] and "nfsroot=" not in cmdline, cmdline
    # the kernel's own DHCP: address, host name and server from the node's host entry
    assert f"IP-Config: Got DHCP answer from {SERVER}, my address is {ELF.ip}" in out, out[-4000:]
    assert f"bootserver={SERVER}, rootserver={SERVER}, rootpath={cluster.srv}/roots/client,v3" in out
    assert "Looking up port of RPC 100005/3 on 192.0.2.1" in out, out[-4000:]
    assert_rc_ran(out, ELF, cluster)
