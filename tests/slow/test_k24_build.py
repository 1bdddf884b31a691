"""Slow: the real Linux 2.4.18 through the pipeline with patches/, then booted in qemu.

Needs RAMSES_K24_TARBALL=/path/to/linux-2.4.18.tar.bz2 (CI cannot download kernel.org). The
test serves that file from a file:// mirror, pins it by its sha256 and signs its uncompressed
tar with a throw-away key, kernel.org style, so `doit` verifies it as it would a real release.
Builds the server and client kernels and modules with `doit`, then boots the client kernel

* from an ext2 initrd (qemu user networking with restrict=on, DHCP through the NIC), and
* with its root file system on NFS (nfs-ganesha + rpcbind on the loopback of a private
  network namespace: tools/k24/nfsboot.py),

on both qemu NICs the client has drivers for (ne2k_pci, rtl8139), reading the serial console
for the lines tests/lib/k24/init.c prints from user space. The server kernel (SMP) boots from the
initrd too. Warnings per kernel are printed (run with -s to see them).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from ramsesbuild.kconfig import parse_fragment, read_config

from ..lib.guest import run_qemu
from ..lib.k24.guest24 import DONE, NFSBOOT, build_init, check_markers, ext2_initrd, populate_root
from ..lib.support import SHIPPED

pytestmark = pytest.mark.slow
NICS = ["ne2k_pci", "rtl8139"]


def test_source_was_verified_by_signature(k24_real_project, signer):
    """The pipeline checked the throw-away key's signature on the uncompressed tar."""
    import json

    state = json.loads((k24_real_project.dir / "build" / "state" / "verified.json").read_text())
    assert signer.fingerprint in json.dumps(state), state


@pytest.fixture(scope="session")
def k24_guest(tmp_path_factory):
    work = tmp_path_factory.mktemp("k24-guest")
    init = build_init(work / "init")
    root = populate_root(work / "root", init)
    return {"init": init, "root": root, "initrd": ext2_initrd(root, work / "initrd.ext2")}


def artifacts(proj, profile: str) -> Path:
    return proj.dir / "build" / profile / "artifacts"


@pytest.mark.parametrize("profile,fragment", [("server", "RamsesServer.conf"), ("client", "RamsesCluster.conf")])
def test_config_holds_every_requested_option(k24_real_project, profile, fragment):
    cfg = read_config((artifacts(k24_real_project, profile) / "config").read_text())
    missing = [r.origin for r in parse_fragment(SHIPPED / "kconfigs" / fragment, "k24")
               if not r.optional and cfg.get(r.symbol) != r.value]
    assert missing == []
    assert cfg.get("CONFIG_MODVERSIONS") is None  # genksyms (modutils) is not in Debian


@pytest.mark.parametrize("profile", ["server", "client"])
def test_kernel_built_without_errors(k24_real_project, profile):
    log = (k24_real_project.dir / "build" / "logs" / f"compile-{profile}.log").read_text(errors="replace")
    errors = [line for line in log.splitlines() if re.search(r"(error:|Error: |\*\*\* \[|undefined reference)", line)]
    assert errors == []
    warnings = re.findall(r"warning: .*?\[(-W[\w=-]+)\]", log)
    counts: dict[str, int] = {}
    for w in warnings:
        counts[w] = counts.get(w, 0) + 1
    print(f"\n{profile}: {len(warnings)} compiler warnings: {sorted(counts.items(), key=lambda kv: -kv[1])}")
    image = (artifacts(k24_real_project, profile) / "bzImage").read_bytes()
    assert image[0x202:0x206] == b"HdrS" and image[0x1FE:0x200] == b"\x55\xaa"
    assert len(image) > 500_000


@pytest.mark.parametrize("profile", ["server", "client"])
def test_modules_installed_into_staging(k24_real_project, profile):
    base = k24_real_project.dir / "build" / profile / "staging" / "lib" / "modules" / "2.4.18"
    mods = sorted(base.rglob("*.o"))
    assert mods, f"no modules under {base}"
    for m in mods:
        head = m.read_bytes()[:20]
        assert head[:4] == b"\x7fELF" and head[4] == 1 and head[16] == 1, f"{m}: not an ELF32 relocatable"


def _boot_initrd(kernel: Path, initrd: Path, nic: str | None, log: Path, append: str = ""):
    net = ["-netdev", "user,id=n0,restrict=on", "-device", f"{nic},netdev=n0"] if nic else ["-nic", "none"]
    return run_qemu(["qemu-system-i386", "-m", "64", "-nographic", "-no-reboot", "-monitor", "none",
                     "-kernel", str(kernel), "-initrd", str(initrd),
                     "-append", f"console=ttyS0 root=/dev/ram0 rw init=/init panic=1 {append}".strip(), *net],
                    DONE, timeout=90, log=log)


def _need_qemu():
    if not shutil.which("qemu-system-i386"):
        pytest.skip("qemu-system-i386 missing: apt-get install qemu-system-x86")


@pytest.mark.parametrize("nic", NICS)
def test_client_boots_from_initrd_with_dhcp(k24_real_project, k24_guest, tmp_path, nic):
    _need_qemu()
    boot = _boot_initrd(artifacts(k24_real_project, "client") / "bzImage", k24_guest["initrd"], nic,
                        tmp_path / "serial.log", append="ip=dhcp")
    out = boot.output
    assert "Linux version 2.4.18" in out, out[-3000:]
    assert "IP-Config: Got DHCP answer from 10.0.2.2, my address is 10.0.2.15" in out, out[-3000:]
    assert "VFS: Mounted root (ext2 filesystem)" in out, out[-3000:]
    assert check_markers(out) == [], out[-3000:]
    # the ramdisk as root (devfs, which the 2.4 client has for its node root, names it /dev/rd/0)
    assert re.search(r"^RAMSES-K24-ROOT /dev/(root|rd/0) ext2\r?$", out, re.M), out[-3000:]


def test_server_boots_from_initrd(k24_real_project, k24_guest, tmp_path):
    _need_qemu()
    # noapic: the SMP kernel's IO-APIC timer check counts timer ticks in a calibrated busy loop,
    # which a loaded host running qemu TCG can starve ("IO-APIC + timer doesn't work!" panic,
    # seen in CI-like runs); through the 8259 PIC the boot does not depend on host load.
    boot = _boot_initrd(artifacts(k24_real_project, "server") / "bzImage", k24_guest["initrd"], None,
                        tmp_path / "serial.log", append="noapic")
    assert "Linux version 2.4.18" in boot.output, boot.output[-3000:]
    assert check_markers(boot.output) == [], boot.output[-3000:]


@pytest.mark.parametrize("nic", NICS)
def test_client_boots_with_nfs_root(k24_real_project, k24_guest, tmp_path, nic):
    _need_qemu()
    if os.geteuid() != 0:
        pytest.skip("the NFS-root boot needs root (network namespace, NFS server ports)")
    sys.path.insert(0, str(NFSBOOT.parent))
    import nfsboot

    missing = nfsboot.missing_tools()
    if missing:
        pytest.skip(f"NFS-root boot needs {', '.join(missing)} (apt-get install rpcbind nfs-ganesha nfs-ganesha-vfs)")
    export = populate_root(tmp_path / "nfsroot", k24_guest["init"])  # (copytree would read /dev/console)
    log = tmp_path / "serial.log"
    run = subprocess.run([sys.executable, str(NFSBOOT), "--kernel", str(artifacts(k24_real_project, "client") / "bzImage"),
                          "--export", str(export), "--log", str(log), "--nic", nic, "--timeout", "120",
                          "--until", DONE, "--workdir", str(tmp_path)],
                         capture_output=True, text=True, timeout=200)
    out = log.read_text(errors="replace") if log.exists() else ""
    assert run.returncode == 0, f"nfsboot rc={run.returncode}\n{run.stderr}\n{out[-3000:]}"
    assert "Looking up port of RPC 100005/3 on 10.0.2.2" in out, out[-3000:]
    assert "VFS: Mounted root (nfs filesystem)" in out, out[-3000:]
    assert check_markers(out) == [], out[-3000:]
    assert "RAMSES-K24-ROOT /dev/root nfs" in out
    assert not (export / "ramses-k24-probe").exists()  # init wrote, read back and removed it over NFS
