"""Slow, root: what the Kea rule writes is what a DHCP client receives. A real kea-dhcp4 in a private
network namespace answers a real DHCP client (busybox udhcpc) once per hostile value, through
a veth pair on 192.0.2.0/24: boot-file-name and the root-path option arrive byte for byte.

This is the check that found Kea's second reading of option data: a comma ended the value there
(a root path "/dir,v3" reached the node as "/dir" and its NFS mount failed)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from ramsesbuild.bootconf import kea
from ramsesbuild.valuerules import KEA_FILE_MAX, kea_option_text, kea_text

pytestmark = pytest.mark.slow

VALUES = ["/nfsroot/n1,vers=3,tcp", "a,b", ",start", "end,", "x,,y", "back\\slash", "back\\,comma", "two\\\\", 'q"uote',
          "nœud-€", "tab\there", "a;}{b"]

SCRIPT = """#!/bin/sh
[ "$1" = bound ] && printf '%s' "$rootpath" > "$OUT/root.$CASE" && printf '%s' "$boot_file" > "$OUT/file.$CASE"
exit 0
"""


def test_hostile_values_reach_a_dhcp_client_unchanged(tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root (a private network namespace)")
    for tool, pkg in (("kea-dhcp4", "kea-dhcp4-server"), ("busybox", "busybox-static")):
        if not shutil.which(tool):
            pytest.skip(f"{tool} not found (apt-get install {pkg})")
    reservations = [{"hw-address": f"52:54:00:00:01:{i:02x}", "ip-address": f"192.0.2.{20 + i}",
                     "boot-file-name": kea.Lit(kea_text(v, "file", KEA_FILE_MAX)),
                     "option-data": [{"name": "root-path", "data": kea.Lit(kea_option_text(v, "root")),
                                      "always-send": True}]} for i, v in enumerate(VALUES)]
    conf = {"Dhcp4": {"interfaces-config": {"interfaces": ["vk0"]},
                      "lease-database": {"type": "memfile", "persist": False},
                      "subnet4": [{"id": 1, "subnet": "192.0.2.0/24", "reservations": reservations}]}}
    (tmp_path / "kea.conf").write_text(kea.emit(conf))
    (tmp_path / "bound.sh").write_text(SCRIPT)
    (tmp_path / "bound.sh").chmod(0o755)
    asks = "\n".join(f"ip link set vc0 down; ip link set vc0 address 52:54:00:00:01:{i:02x}; ip link set vc0 up; "
                     f"OUT={tmp_path} CASE={i} timeout 10 busybox udhcpc -i vc0 -n -q -f -s {tmp_path}/bound.sh "
                     ">/dev/null 2>&1 || true" for i in range(len(VALUES)))
    inner = f"""set -e
ip link set lo up
ip link add vk0 type veth peer name vc0
ip addr add 192.0.2.1/24 dev vk0; ip link set vk0 up; ip link set vc0 up
mount --make-rprivate /; mount -t tmpfs ramses-kea /run; mkdir -p /run/kea /var/lib/kea
mount -t tmpfs ramses-kea-leases /var/lib/kea
KEA_PIDFILE_DIR={tmp_path} KEA_LOCKFILE_DIR={tmp_path} kea-dhcp4 -c {tmp_path}/kea.conf > {tmp_path}/kea.log 2>&1 &
trap 'kill $!' EXIT
for i in $(seq 50); do grep -q DHCP4_STARTED {tmp_path}/kea.log && break; sleep 0.1; done
{asks}
"""
    proc = subprocess.run(["unshare", "--net", "--mount", "sh", "-c", inner], capture_output=True, timeout=300)
    assert proc.returncode == 0, proc.stderr.decode(errors="replace") + (tmp_path / "kea.log").read_text()[-3000:]
    for i, value in enumerate(VALUES):
        got = [(tmp_path / f"{kind}.{i}").read_bytes().decode() if (tmp_path / f"{kind}.{i}").exists() else None
               for kind in ("root", "file")]
        assert got == [value, value], f"{value!r}: {got}\n{(tmp_path / 'kea.log').read_text()[-2000:]}"
