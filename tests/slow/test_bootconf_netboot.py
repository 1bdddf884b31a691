"""Slow: a modern client kernel netboots in QEMU through the boot configuration we generate.

The kernel is the pipeline-built i386 bzImage (fixture modern_client_kernel); RAMSES_TEST_KERNEL
may point at another bzImage instead (e.g. Debian's vmlinuz-6.1.0-*-amd64, unpacked with
`apt-get download linux-image-6.1.0-NN-amd64 && dpkg -x`).

Flow: nodes.toml -> real `doit boot-config boot-tftp` -> the node's DHCP filename is read back
from the generated dhcpd.conf and handed to QEMU's user-mode DHCP (bootfile=), whose TFTP
serves the tftpboot directory (kernel installed under the pipeline's image name, initramfs,
generated iPXE script). QEMU's stock iPXE ROM (e1000, the node's MAC) fetches the script, the
script loads the kernel with the generated command line, the initramfs /init prints a marker.

Proves: the generated filename, iPXE script, kernel and initrd paths and kernel command line
work end to end with a real iPXE and a real kernel. Does not prove: ISC dhcpd serving the file
(QEMU's DHCP stands in; `dhcpd -t` checks the syntax elsewhere), root-path/NFS root, exports or
tftpd-hpa (no NFS or tftpd server runs here), or Etherboot/NBI or 3Com MBA boots.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest

from ramsesbuild import bootconf

from ..lib.bootconf_support import make_settings, run_doit
from ..lib.guest import initramfs, run_qemu

pytestmark = pytest.mark.slow

QEMU = "qemu-system-x86_64"  # boots i386 and x86_64 bzImages alike
MAC = "52:54:00:12:34:56"
MARKER = "RAMSES-MARKER: netbooted through the generated boot config"
NODES = f"""
[network]
subnet = "192.168.10.0/24"
server = "192.168.10.1"

[boot]
nfsroot = "/nfsroot/{{name}}"
initrd = "initrd/test.cpio"

[[node]]
name = "legacy"
mac = "52:54:00:12:34:01"
ip = "192.168.10.11"

[[node]]
name = "node42"
mac = "{MAC}"
ip = "192.168.10.42"
method = "ipxe"
append = "console=ttyS0 panic=1"
"""


def client_kernel(request) -> tuple[Path, bool]:
    """(bzImage, built by the pipeline?)"""
    if os.environ.get("RAMSES_TEST_KERNEL"):
        return Path(os.environ["RAMSES_TEST_KERNEL"]), False
    try:
        return Path(request.getfixturevalue("modern_client_kernel")), True
    except pytest.FixtureLookupError:
        pytest.skip("no modern_client_kernel fixture; set RAMSES_TEST_KERNEL to a bzImage")


def dhcp_filename(dhcpd_conf: str, mac: str) -> str:
    """The filename the generated dhcpd.conf gives the host with hardware address *mac*."""
    m = re.search(rf"host \S+ {{\n\s+hardware ethernet {mac};\n(?:.*\n)*?\s+filename \"([^\"]+)\";", dhcpd_conf)
    assert m, f"no host with {mac} in dhcpd.conf:\n{dhcpd_conf}"
    return m[1]


def test_node_netboots_modern_kernel_via_generated_ipxe_config(request, tmp_path, capsys):
    if not shutil.which(QEMU):
        pytest.skip(f"{QEMU} not installed (apt-get install qemu-system-x86 ipxe-qemu)")
    kernel, from_pipeline = client_kernel(request)

    s = make_settings(tmp_path, version="6.1", fmt="raw")
    tftp = s.tftpboot
    tftp.mkdir()
    shutil.copy(kernel, tftp / s.profiles["client"].netboot.output_name(s.version))  # where netboot-image installs it
    (tftp / "initrd").mkdir()
    shutil.copy(initramfs(tmp_path / "guest", MARKER), tftp / "initrd" / "test.cpio")
    nodes = tmp_path / "nodes.toml"
    nodes.write_text(NODES)

    rc, out = run_doit(capsys, s, nodes, "boot-config", "boot-tftp")
    assert rc == 0, out
    inv = bootconf.load(nodes, s.profiles["client"].netboot.output_name(s.version))
    node = next(n for n in inv.nodes if n.mac == MAC)
    bootfile = dhcp_filename((inv.output / "dhcpd.conf").read_text(), MAC)
    assert bootfile == "ipxe/node42.ipxe" and (tftp / bootfile).is_file()

    boot = run_qemu(
        [QEMU, "-m", "512", "-nographic", "-no-reboot", "-boot", "n",
         "-netdev", f"user,id=n0,restrict=on,tftp={tftp},bootfile={bootfile}",
         "-device", f"e1000,netdev=n0,mac={MAC}"],
        MARKER, timeout=290, log=tmp_path / "serial.log")
    log = boot.output
    tail = log[-3000:]
    assert MAC in log, tail  # iPXE's net0 line: the node's NIC
    assert re.search(rf"{re.escape(bootfile)}\.\.\. ok", log), tail  # iPXE fetched our script
    assert f"Kernel command line: {bootconf.kernel_args(inv, node)}" in log, tail
    assert "nfsroot=192.168.10.1:/nfsroot/node42" in log
    if from_pipeline:  # e1000 and IP_PNP_DHCP are built in: the kernel configures the node's NIC
        assert "IP-Config: Complete" in log, tail
        assert f"hwaddr={MAC}" in log, tail
    assert MARKER in log, tail  # the initramfs from the iPXE script ran
