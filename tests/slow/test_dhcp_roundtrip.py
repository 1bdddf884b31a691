"""Slow, root: what the generated DHCP configuration says is what a DHCP client receives.

What the Kea rule writes is what a DHCP client receives. A real kea-dhcp4 in a private
network namespace answers a real DHCP client (busybox udhcpc) once per hostile value, through
a veth pair on 192.0.2.0/24: boot-file-name and the root-path option arrive byte for byte.

This is the check that found Kea's second reading of option data: a comma ended the value there
(a root path "/dir,v3" reached the node as "/dir" and its NFS mount failed)."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
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


# ------------------------------------------------------------------ a 3Com MBA node through Kea

BOOTP_CLIENT = r'''
"""A BOOTP request as a boot ROM's TCP/IP method sends it (no DHCP message type: RFC 951 with
RFC 1497's magic cookie), broadcast on one interface; prints the reply's fields as JSON."""
import json, os, socket, struct, sys
iface, mac = sys.argv[1], bytes.fromhex(sys.argv[2].replace(":", ""))
xid = os.getpid()
req = struct.pack("!BBBBIHH4s4s4s4s16s64s128s", 1, 1, 6, 0, xid, 0, 0x8000, bytes(4), bytes(4), bytes(4), bytes(4),
                  mac.ljust(16, b"\0"), bytes(64), bytes(128)) + bytes([99, 130, 83, 99, 255])
req = req.ljust(300, b"\0")
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
s.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, iface.encode())
s.bind(("0.0.0.0", 68))
r = socket.socket(socket.AF_PACKET, socket.SOCK_DGRAM, socket.htons(0x0800))  # like a ROM: frames, no IP stack
r.bind((iface, 0))
r.settimeout(2)
for attempt in range(5):
    s.sendto(req, ("255.255.255.255", 67))
    try:
        while True:
            frame = r.recv(2048)
            ihl = (frame[0] & 15) * 4
            if frame[9] == 17 and struct.unpack("!H", frame[ihl + 2:ihl + 4])[0] == 68:
                data = frame[ihl + 8:]
                if data[0] == 2 and struct.unpack("!I", data[4:8])[0] == xid:
                    dst = socket.inet_ntoa(frame[16:20])
                    break
    except socket.timeout:
        continue
    opts, i = {}, 240
    while i < len(data) and data[i] != 255:
        if data[i] == 0:
            i += 1
            continue
        opts[data[i]] = data[i + 2:i + 2 + data[i + 1]].decode("latin-1")
        i += 2 + data[i + 1]
    print(json.dumps({"to": dst, "yiaddr": socket.inet_ntoa(data[16:20]), "siaddr": socket.inet_ntoa(data[20:24]),
                      "file": data[108:236].rstrip(b"\0").decode(), "cookie": list(data[236:240]),
                      "options": {str(k): v for k, v in opts.items()}}))
    sys.exit(0)
sys.exit("no BOOTP reply")
'''

UDHCPC_SCRIPT = """#!/bin/sh
[ "$1" = bound ] && printf '%s\\n' "$ip" "$siaddr" "$boot_file" "$hostname" "$rootpath" > "$OUT"
exit 0
"""


def test_3com_mba_node_through_kea_by_bootp_and_dhcp(tmp_path: Path) -> None:
    """nodes.toml with a 3Com MBA node (and the other kinds) and dhcp = "kea": boot-config's
    kea-dhcp4.conf passes `kea-dhcp4 -t` (inside the namespace: Kea checks [network] interface),
    then the real kea-dhcp4, from that file unchanged, answers
    the MBA's MAC both ways its TCP/IP method may ask: a BOOTP request (through the BOOTP hook the
    file loads for 3Com nodes; the reply carries no DHCP message type) and a DHCP exchange (busybox
    udhcpc): address, next server, the -imggen MBA image, host name and NFS root path."""
    import json

    from ramsesbuild import bootconf

    from ..lib.support import nodes_toml

    if os.geteuid() != 0:
        pytest.skip("needs root (a private network namespace)")
    for tool, pkg in (("kea-dhcp4", "kea-dhcp4-server"), ("busybox", "busybox-static")):
        if not shutil.which(tool):
            pytest.skip(f"{tool} not found (apt-get install {pkg})")
    text = nodes_toml("eb01", 'mba02:rom = "3com"', 'uefi03:firmware = "uefi"\nimage = "vmlinuz-6.1-uefi"').replace(
        'server = "192.0.2.1"\n', 'server = "192.0.2.1"\ninterface = "vk0"\n[boot]\ndhcp = "kea"\n'
                                  f'output = "{tmp_path / "bootconf"}"\n')
    (tmp_path / "nodes.toml").write_text(text)
    inv = bootconf.load(tmp_path / "nodes.toml", "vmlinuz-2.4.18-cluster")
    bootconf.write_config(inv, tmp_path / "tftpboot")
    conf = tmp_path / "bootconf" / "kea-dhcp4.conf"
    assert "libdhcp_bootp.so" in conf.read_text()
    (tmp_path / "bootp.py").write_text(BOOTP_CLIENT)
    (tmp_path / "bound.sh").write_text(UDHCPC_SCRIPT)
    (tmp_path / "bound.sh").chmod(0o755)
    mac = inv.nodes[1].mac
    inner = f"""set -e
ip link set lo up
ip link add vk0 type veth peer name vc0
ip addr add 192.0.2.1/24 dev vk0; ip link set vk0 up; ip link set vc0 address {mac}; ip link set vc0 up
mount --make-rprivate /; mount -t tmpfs ramses-kea /run; mkdir -p /run/kea /var/lib/kea
mount -t tmpfs ramses-kea-leases /var/lib/kea
kea-dhcp4 -t {conf} > {tmp_path}/kea-t.log 2>&1  # once vk0 exists: Kea checks the interface
KEA_PIDFILE_DIR={tmp_path} KEA_LOCKFILE_DIR={tmp_path} kea-dhcp4 -c {conf} > {tmp_path}/kea.log 2>&1 &
trap 'kill $!' EXIT
for i in $(seq 100); do grep -q DHCP4_STARTED {tmp_path}/kea.log && break; sleep 0.1; done
timeout 30 {sys.executable} {tmp_path}/bootp.py vc0 {mac} > {tmp_path}/bootp.json
OUT={tmp_path}/dhcp.txt timeout 30 busybox udhcpc -i vc0 -n -q -f -s {tmp_path}/bound.sh >/dev/null 2>&1
"""
    proc = subprocess.run(["unshare", "--net", "--mount", "sh", "-c", inner], capture_output=True, timeout=300)
    log = (tmp_path / "kea-t.log").read_text() + (tmp_path / "kea.log").read_text()
    assert proc.returncode == 0, proc.stderr.decode(errors="replace") + log[-3000:]
    bootp = json.loads((tmp_path / "bootp.json").read_text())
    print("BOOTP reply:", bootp)
    assert (bootp["yiaddr"], bootp["siaddr"], bootp["file"]) == ("192.0.2.12", "192.0.2.1",
                                                                 "vmlinuz-2.4.18-cluster-imggen")
    assert bootp["cookie"] == [99, 130, 83, 99] and "53" not in bootp["options"]  # a BOOTP reply, not DHCP
    assert bootp["options"]["12"] == "mba02" and bootp["options"]["17"] == "/tftpboot/192.0.2.12"
    first = next(line for line in log.splitlines() if "DHCP4_LEASE_ALLOC" in line)
    assert "192.0.2.12 has been allocated for infinity seconds" in first, log[-3000:]  # the hook's BOOTP lease
    dhcp = (tmp_path / "dhcp.txt").read_text().splitlines()
    print("DHCP (udhcpc):", dhcp)
    assert dhcp == ["192.0.2.12", "192.0.2.1", "vmlinuz-2.4.18-cluster-imggen", "mba02", "/tftpboot/192.0.2.12"]


# ------------------------------------------------------------------ every firmware's DHCP answer, ISC and Kea

ENV_SCRIPT = """#!/bin/sh
[ "$1" = bound ] && env > "$OUT"
exit 0
"""

PXE_BIOS = ("-V", "PXEClient:Arch:00000:UNDI:002001", "-x", "0x5d:0000")
PXE_UEFI = ("-V", "PXEClient:Arch:00007:UNDI:003016", "-x", "0x5d:0007")
HTTP_UEFI = ("-V", "HTTPClient:Arch:00016:UNDI:003001", "-x", "0x5d:0010", "-O", "60")
IPXE = ("-x", "0x4d:69505845")  # user class "iPXE"
# (node, who asks, its udhcpc options, the boot file it must get, the vendor class echoed or None)
ASKS = [
    ("bios02", "BIOS PXE ROM", PXE_BIOS, "undionly.kpxe", None),
    ("bios02", "iPXE (chained)", IPXE, "ipxe/bios02.ipxe", None),
    ("uefi04", "UEFI PXE", PXE_UEFI, "snponly.efi", None),
    ("uefi04", "iPXE (EFI)", IPXE, "ipxe/uefi04.ipxe", None),
    ("uefi05", "UEFI HTTP boot", HTTP_UEFI, "http://192.0.2.1/snponly.efi", "HTTPClient"),
    ("uefi05", "iPXE (EFI, http)", IPXE, "http://192.0.2.1/ipxe/uefi05.ipxe", None),
    ("mba03", "3Com MBA (DHCP)", (), "vmlinuz-2.4.18-cluster-imggen", None),
]


@pytest.mark.parametrize("dhcp", ["isc", "kea"])
def test_every_firmware_gets_its_file_from_the_generated_config(tmp_path: Path, dhcp: str) -> None:
    """One nodes.toml (a BIOS PXE node chained to iPXE, UEFI nodes by TFTP and by HTTP, a 3Com
    node), boot-config's dhcpd.conf or kea-dhcp4.conf unchanged in the real server, and a real
    DHCP client (udhcpc) asking as each firmware asks (option 93, vendor class, user class iPXE):
    each gets the file its boot chain needs next (docs/boot.md's table, row "DHCP hands it")."""
    from ramsesbuild import bootconf

    from ..lib.support import nodes_toml

    if os.geteuid() != 0:
        pytest.skip("needs root (a private network namespace)")
    server = {"isc": ("dhcpd", "isc-dhcp-server"), "kea": ("kea-dhcp4", "kea-dhcp4-server")}[dhcp]
    for tool, pkg in (server, ("busybox", "busybox-static")):
        if not shutil.which(tool):
            pytest.skip(f"{tool} not found (apt-get install {pkg})")
    uefi = 'firmware = "uefi"\nimage = "vmlinuz-6.1-uefi"'
    text = nodes_toml("eb01", 'bios02:method = "ipxe"', 'mba03:rom = "3com"', f"uefi04:{uefi}",
                      f'uefi05:{uefi}\ntransfer = "http"').replace(
        'server = "192.0.2.1"\n', f'server = "192.0.2.1"\ninterface = "vk0"\n[boot]\ndhcp = "{dhcp}"\n'
                                  f'ipxe_chain = "undionly.kpxe"\noutput = "{tmp_path / "bootconf"}"\n')
    (tmp_path / "nodes.toml").write_text(text)
    inv = bootconf.load(tmp_path / "nodes.toml", "vmlinuz-2.4.18-cluster")
    bootconf.write_config(inv, tmp_path / "tftpboot")
    conf = tmp_path / "bootconf" / inv.dhcp.config_name
    macs = {n.name: n.mac for n in inv.nodes}
    (tmp_path / "env.sh").write_text(ENV_SCRIPT)
    (tmp_path / "env.sh").chmod(0o755)
    if dhcp == "kea":
        start = (f"kea-dhcp4 -t {conf} > {tmp_path}/server.log 2>&1\n"
                 f"KEA_PIDFILE_DIR={tmp_path} KEA_LOCKFILE_DIR={tmp_path} kea-dhcp4 -c {conf} >> {tmp_path}/server.log 2>&1 &\n"
                 "trap 'kill $!' EXIT\n"
                 f"for i in $(seq 100); do grep -q DHCP4_STARTED {tmp_path}/server.log && break; sleep 0.1; done\n")
    else:
        start = (f"touch {tmp_path}/leases; dhcpd -4 -f -d -cf {conf} -lf {tmp_path}/leases -pf {tmp_path}/dhcpd.pid "
                 f"vk0 > {tmp_path}/server.log 2>&1 &\ntrap 'kill $!' EXIT\n"
                 f"for i in $(seq 100); do grep -q 'Sending on' {tmp_path}/server.log && break; sleep 0.1; done\n")
    asks = "\n".join(
        f"ip link set vc0 down; ip link set vc0 address {macs[node]}; ip link set vc0 up; "
        f"OUT={tmp_path}/ask.{i} timeout 20 busybox udhcpc -i vc0 -n -q -f -t 5 -T 1 -s {tmp_path}/env.sh "
        f"{' '.join(shlex.quote(a) for a in args)} >/dev/null 2>&1 || true"
        for i, (node, _, args, _, _) in enumerate(ASKS))
    inner = f"""set -e
ip link set lo up
ip link add vk0 type veth peer name vc0
ip addr add 192.0.2.1/24 dev vk0; ip link set vk0 up; ip link set vc0 up
mount --make-rprivate /; mount -t tmpfs ramses-dhcp /run; mkdir -p /run/kea /var/lib/kea
mount -t tmpfs ramses-dhcp-leases /var/lib/kea
{start}{asks}
"""
    proc = subprocess.run(["unshare", "--net", "--mount", "sh", "-c", inner], capture_output=True, timeout=600)
    log = (tmp_path / "server.log").read_text(errors="replace")
    assert proc.returncode == 0, proc.stderr.decode(errors="replace") + log[-3000:]
    got = []
    for i, (node, who, _, _, _) in enumerate(ASKS):
        path = tmp_path / f"ask.{i}"
        env = dict(line.split("=", 1) for line in path.read_text().splitlines() if "=" in line) if path.exists() else {}
        got.append((node, who, env.get("boot_file"), env.get("opt60") or env.get("vendor")))
        print(f"{dhcp}: {who:17} {node}: file {env.get('boot_file')!r}, ip {env.get('ip')}, vendor class "
              f"{got[-1][3]!r}")
    assert [g[2] for g in got] == [a[3] for a in ASKS], log[-3000:]
    for (_, who, _, _, echo), g in zip(ASKS, got, strict=True):
        if echo:  # UEFI HTTP boot ignores an offer without it
            assert g[3] == echo, (who, g)
