"""Slow: `ramsesbuild boot-test` on images built from the pipeline's real 2.4.18 client kernel.

* the pipeline's NBI image (ip=rom, rootdir=rom) through the NBI-capable iPXE ROM: the ROM loads
  it, Linux starts and configures IP from the ROM's DHCP reply; qemu's DHCP has no root path,
  so the report says root was not mounted and shows the first stage's warning about it;
* an NBI image with an ext2 initrd: every stage up to init-ran;
* an ELF image with the same initrd through Debian's stock iPXE (no NBI ROM): init-ran.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from ..lib.k24.guest24 import DONE, build_init, ext2_initrd, populate_root
from ..lib.support import REPO

pytestmark = pytest.mark.slow


def boot_test(*args: str, env: dict[str, str] | None = None, timeout: int = 300) -> subprocess.CompletedProcess:
    proc = subprocess.run([sys.executable, "-m", "ramsesbuild.cli", "boot-test", *args], capture_output=True,
                          text=True, check=False, timeout=timeout,
                          env={**(env or os.environ), "PYTHONPATH": str(REPO)})
    print(f"\n$ ramsesbuild boot-test {' '.join(args)}\n{proc.stdout}{proc.stderr}")
    return proc


@pytest.fixture(scope="module")
def client(k24_real_project, tmp_path_factory):
    if not shutil.which("qemu-system-x86_64"):
        pytest.skip("qemu-system-x86_64 missing: apt-get install qemu-system-x86")
    if os.geteuid() != 0:
        pytest.skip("the initrd needs a /dev/console device node (mknod needs root)")
    k24_real_project.doit("netboot-image", timeout=600)
    work = tmp_path_factory.mktemp("boot-test")
    initrd = ext2_initrd(populate_root(work / "root", build_init(work / "init")), work / "initrd.ext2")
    return {"kernel": k24_real_project.dir / "build" / "client" / "artifacts" / "bzImage",
            "image": k24_real_project.dir / "tftpboot" / "vmlinuz-2.4.18-cluster", "initrd": initrd, "work": work}


def wrap(client: dict[str, Path], tool: str, name: str, *opts: str) -> Path:
    out = client["work"] / name
    subprocess.run([sys.executable, "-m", "ramsesbuild.cli", tool, *opts, f"--output={out}", str(client["kernel"]),
                    str(client["initrd"])], check=True, env={**os.environ, "PYTHONPATH": str(REPO)})
    return out


def test_pipeline_nbi_image_reports_each_stage(client, ipxe_roms):
    rom = str(ipxe_roms["rtl8139"])
    ok = boot_test(str(client["image"]), "--rom", rom, "--until", "ip-configured", "--timeout", "90")
    assert ok.returncode == 0, ok.stdout + ok.stderr
    lines = ok.stdout.splitlines()
    assert any(line.startswith("  [ok] rom-loaded") and line.endswith("[NBI]") for line in lines), ok.stdout
    assert any(line.startswith("  [ok] kernel-started") and "Linux version 2.4.18" in line for line in lines)
    assert any(line.startswith("  [ok] ip-configured") for line in lines), ok.stdout
    assert "note: ramses-nbi: warning: DHCP reply has no root-path (opt 17): dropped nfsroot=rom" in ok.stdout
    assert lines[-1] == "boot-test: reached ip-configured"
    short = boot_test(str(client["image"]), "--rom", rom, "--until", "root-mounted", "--timeout", "25")
    assert short.returncode == 1, short.stdout
    assert "  [--] root-mounted    not reached" in short.stdout
    assert short.stdout.splitlines()[-1].startswith("boot-test: did not reach root-mounted (last stage: ip-configured)")


def test_nbi_image_with_initrd_reaches_init(client, ipxe_roms):
    image = wrap(client, "mknbi-linux", "initrd.nbi", "--rootdir=/dev/ram0", "--append=console=ttyS0 init=/init")
    ok = boot_test(str(image), "--rom", str(ipxe_roms["rtl8139"]), "--marker", DONE, "--timeout", "90",
                   "--log", str(client["work"] / "nbi-initrd.log"))
    assert ok.returncode == 0, ok.stdout + ok.stderr
    for stage in ("rom-loaded", "kernel-started", "root-mounted", "init-ran"):
        assert f"  [ok] {stage}" in ok.stdout, ok.stdout
    assert "  [  ] ip-configured   not on the console" in ok.stdout  # no ip= and no DHCP in this image
    assert "VFS: Mounted root (ext2 filesystem)" in ok.stdout


def test_elf_image_through_debian_ipxe(client, tmp_path):
    if not Path("/usr/lib/ipxe/qemu/efi-rtl8139.rom").exists():
        pytest.skip("Debian's iPXE missing: apt-get install ipxe-qemu")
    image = wrap(client, "mkelf-linux", "initrd.elf", "--ip=dhcp", "--rootdir=/dev/ram0",
                 "--append=console=ttyS0 init=/init")
    env = {k: v for k, v in os.environ.items() if k != "RAMSES_IPXE_ROM"}
    env["XDG_CACHE_HOME"] = str(tmp_path / "no-cached-roms")  # so the stock ROM is the one used
    ok = boot_test(str(image), "--timeout", "90", env=env)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "Debian's iPXE (efi-rtl8139.rom, no NBI)" in ok.stdout
    assert "[ELF]" in ok.stdout and "IP-Config: Got DHCP answer" in ok.stdout, ok.stdout
    assert "  [ok] init-ran" in ok.stdout
