"""Slow: the real Debian linux-source-6.1 kernel through the pipeline, booted in qemu."""

from __future__ import annotations

import re
import shutil

import pytest

from ramsesbuild.kconfig import parse_fragment, read_config

from ..lib.guest import initramfs, run_qemu
from ..lib.support import SHIPPED

pytestmark = pytest.mark.slow
MARKER = "RAMSES-MARKER: userspace reached on the client kernel"


def test_client_config_holds_every_requested_option(modern_client_project):
    cfg = read_config((modern_client_project.dir / "build/client/artifacts/config").read_text())
    for req in parse_fragment(SHIPPED / "kconfigs" / "RamsesCluster.conf", "modern"):
        if not req.optional:
            assert cfg.get(req.symbol) == req.value, req.origin


def test_second_run_is_a_noop(modern_client_project):
    out = modern_client_project.doit()
    assert re.findall(r"^\.  (\S+)", out.stdout, re.M) == []
    assert "-- compile-client" in out.stdout


def test_client_kernel_boots_to_userspace_with_dhcp(modern_client_kernel, tmp_path):
    if not shutil.which("qemu-system-i386"):
        pytest.skip("qemu-system-i386 missing: apt-get install qemu-system-x86")
    initrd = initramfs(tmp_path / "guest", MARKER)
    boot = run_qemu(["qemu-system-i386", "-m", "256", "-nographic", "-no-reboot",
                     "-kernel", str(modern_client_kernel), "-initrd", str(initrd),
                     "-append", "console=ttyS0 ip=dhcp panic=1",
                     "-netdev", "user,id=n0,restrict=on", "-device", "e1000,netdev=n0"],
                    MARKER, timeout=140, log=tmp_path / "serial.log")
    assert "Linux version 6.1" in boot.output, boot.output[-2000:]
    assert "IP-Config: Complete" in boot.output, boot.output[-2000:]
    assert MARKER in boot.output, boot.output[-2000:]


def test_installed_netboot_image_is_the_client_kernel(modern_client_project):
    p = modern_client_project
    installed = p.dir / "tftpboot" / "vmlinuz-6.1-cluster"
    assert installed.is_file() and installed.stat().st_size > 500_000


def test_plain_doit_builds_everything_with_the_shipped_kconfigs(modern_real_project):
    """docs/howto/debian-6.1.md's recipe: a plain `doit` gives both kernels, modules, image, boot config."""
    p = modern_real_project
    out = p.run.stdout
    for task in ("compile-server", "compile-client", "modules-server", "modules-client",
                 "netboot-image:client", "boot-config"):
        assert f".  {task}" in out, out[-3000:]
    b = p.dir / "build"
    server_cfg = read_config((b / "server/artifacts/config").read_text())
    for req in parse_fragment(SHIPPED / "kconfigs" / "RamsesServer.conf", "modern"):
        if not req.optional:
            assert server_cfg.get(req.symbol) == req.value, req.origin
    assert 'filename "vmlinuz-6.1-cluster";' in (b / "bootconf" / "dhcpd.conf").read_text()
    verified = (b / "state" / "verified.json").read_text()
    assert '"package": "linux-source-6.1 ' in verified  # trusted through dpkg --verify, no pin
    assert "== ramsesbuild summary" in out and "netboot  nbi  tftpboot/vmlinuz-6.1-cluster" in out
    print("\n" + out[out.index("== ramsesbuild summary"):])
