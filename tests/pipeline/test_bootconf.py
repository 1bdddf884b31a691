"""nodes.toml -> dhcpd.conf, exports, tftpd-hpa and iPXE scripts: golden files, errors, doit tasks.

Golden files live in tests/data/golden/bootconf/; after an intended change of the generated text,
rerun with RAMSES_UPDATE_GOLDEN=1 and review the diff.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from ramsesbuild import bootconf
from ramsesbuild.errors import BootConfigError

from ..lib.bootconf_support import make_settings, run_doit
from ..lib.support import DATA, REPO

GOLDEN = DATA / "golden" / "bootconf"
IMAGE = "vmlinuz-2.4.18-cluster"
TFTP_ROOT = Path("/tftpboot")


def generate(inventory: Path, out: Path, tftp_root: Path) -> dict[str, str]:
    """Run the real writers with the output dir and tftp root moved under *out*."""
    work = out / "nodes.toml"
    work.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(inventory, work)
    inv = bootconf.load(work, IMAGE)
    bootconf.write_config(inv, tftp_root)
    bootconf.write_tftp(inv, out / "tftpboot")
    files = {str(p.relative_to(out)): p.read_text() for p in sorted(out.rglob("*")) if p.is_file()}
    del files["nodes.toml"]
    return files


def test_golden_files(tmp_path):
    got = generate(GOLDEN / "nodes.toml", tmp_path, TFTP_ROOT)
    expected_dir = GOLDEN / "expected"
    if os.environ.get("RAMSES_UPDATE_GOLDEN"):
        shutil.rmtree(expected_dir, ignore_errors=True)
        for rel, text in got.items():
            (expected_dir / rel).parent.mkdir(parents=True, exist_ok=True)
            (expected_dir / rel).write_text(text)
    expected = {str(p.relative_to(expected_dir)): p.read_text()
                for p in sorted(expected_dir.rglob("*")) if p.is_file()}
    assert sorted(got) == sorted(expected)
    for rel in expected:
        assert got[rel] == expected[rel], f"{rel} differs from {expected_dir / rel}"


def test_golden_inventory_semantics():
    inv = bootconf.load(GOLDEN / "nodes.toml", IMAGE)
    n1, n2, legacy, mba = inv.nodes
    assert n1.mac == "52:54:00:aa:00:01"  # normalised from 52-54-00-AA-00-01
    assert inv.boot_filename(n1) == "ipxe/n1.ipxe" and n1.image == IMAGE  # pipeline image by default
    assert n2.image == "kernels/bzImage-n2" and n2.append == "console=tty0"
    assert inv.boot_filename(legacy) == IMAGE  # a direct node boots the image itself
    assert (mba.rom, mba.image) == ("3com", IMAGE)  # a 3Com MBA node boots the MBA image of it
    assert inv.boot_filename(mba) == mba.boot_image == "vmlinuz-2.4.18-cluster-imggen"
    assert legacy.rom == n1.rom == "etherboot"
    assert inv.root_path(n1) == "192.0.2.1:/nfsroot/n1,vers=3,tcp"
    assert legacy.nfsroot == "/tftpboot/192.0.2.254"
    assert bootconf.kernel_args(inv, n1) == ("root=/dev/nfs nfsroot=192.0.2.1:/nfsroot/n1,vers=3,tcp rw ip=dhcp "
                                             "console=ttyS0,115200 panic=10")
    assert inv.output == GOLDEN / "out"


def dhcpd_binary() -> str | None:
    return os.environ.get("RAMSES_DHCPD") or shutil.which("dhcpd")


@pytest.mark.skipif(not dhcpd_binary(), reason="ISC dhcpd not found (apt-get install isc-dhcp-server, or set "
                                               "RAMSES_DHCPD to a dhcpd binary, e.g. from `dpkg -x`)")
@pytest.mark.parametrize("inventory", [GOLDEN / "nodes.toml", REPO / "nodes.toml"], ids=["golden", "repo"])
def test_isc_dhcpd_accepts_the_generated_config(tmp_path, inventory):
    conf = tmp_path / "dhcpd.conf"
    conf.write_text(bootconf.render_dhcpd(bootconf.load(inventory, IMAGE)))
    proc = subprocess.run([dhcpd_binary(), "-t", "-cf", str(conf)], capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0, proc.stderr
    assert "WARNING" not in proc.stderr, proc.stderr
    conf.write_text(conf.read_text().replace("hardware ethernet 52:54:00:", "hardware ethernet 52:54:zz:", 1))
    assert subprocess.run([dhcpd_binary(), "-t", "-cf", str(conf)], capture_output=True).returncode != 0


def test_repo_example_inventory():
    inv = bootconf.load(REPO / "nodes.toml", IMAGE)
    assert len(inv.nodes) == 4
    assert not inv.network.subnet.is_global  # a private network, only written into config files
    assert [n.method for n in inv.nodes].count("ipxe") == 1
    assert inv.boot_filename(inv.nodes[0]) == IMAGE
    node03 = inv.nodes[2]
    assert node03.rom == "3com" and inv.boot_filename(node03) == f"{IMAGE}-imggen"  # as the recipe's dhcpd.conf
    assert "192.168.10.11(rw,no_root_squash)" in bootconf.render_exports(inv)


# ------------------------------------------------------------------ inventory errors

BASE = """\
[network]
subnet = "192.0.2.0"
netmask = "255.255.255.0"
server = "192.0.2.1"
gateway = "192.0.2.2"

[boot]
nfsroot = "/tftpboot/{ip}"

[[node]]
name = "n1"
mac = "52:54:00:00:00:01"
ip = "192.0.2.11"

[[node]]
name = "n2"
mac = "52:54:00:00:00:02"
ip = "192.0.2.12"
"""


def load_text(tmp_path: Path, text: str) -> bootconf.Inventory:
    p = tmp_path / "nodes.toml"
    p.write_text(text)
    return bootconf.load(p, IMAGE)


def test_base_inventory_is_valid(tmp_path):
    assert [n.name for n in load_text(tmp_path, BASE).nodes] == ["n1", "n2"]


# (old text, new text, expected message, the line the error must point at ("" = last line of new))
BAD = [
    ('mac = "52:54:00:00:00:02"', 'mac = "52:54:00:00:02"', "[[node]] #2): mac '52:54:00:00:02' is not a MAC address", ""),
    ('mac = "52:54:00:00:00:02"', 'mac = "52:54-00:00:00:02"', "is not a MAC address", ""),
    ('mac = "52:54:00:00:00:02"', 'mac = "52:54:00:00:00:0g"', "is not a MAC address", ""),
    ('mac = "52:54:00:00:00:02"', 'mac = "01:00:5e:00:00:02"', "multicast/broadcast", ""),
    ('mac = "52:54:00:00:00:02"', 'mac = "ff:ff:ff:ff:ff:ff"', "multicast/broadcast", ""),
    ('mac = "52:54:00:00:00:02"', 'mac = "00:00:00:00:00:00"', "all zeros", ""),
    ('mac = "52:54:00:00:00:02"', 'mac = "52-54-00-00-00-01"',
     "node 'n2' ([[node]] #2): duplicate MAC 52:54:00:00:00:01, already used by node 'n1' ([[node]] #1)", ""),
    ('ip = "192.0.2.12"', 'ip = "192.0.2.11"', "duplicate IP 192.0.2.11, already used by node 'n1'", ""),
    ('ip = "192.0.2.12"', 'ip = "192.0.3.12"', "ip 192.0.3.12 is outside the subnet 192.0.2.0/24", ""),
    ('ip = "192.0.2.12"', 'ip = "192.0.2.255"', "is the broadcast address", ""),
    ('ip = "192.0.2.12"', 'ip = "192.0.2.0"', "is the network address", ""),
    ('ip = "192.0.2.12"', 'ip = "192.0.2.1"', "is the [network] server's address", ""),
    ('ip = "192.0.2.12"', 'ip = "192.0.2.2"', "is the [network] gateway's address", ""),
    ('ip = "192.0.2.12"', 'ip = "192.0.2.300"', "is not an IPv4 address", ""),
    ('name = "n2"', 'name = "n1"', "duplicate name n1", ""),
    ('name = "n2"', 'name = "Node_2"', "is not a host name", ""),
    ('name = "n2"', 'namme = "n2"', "unknown key 'namme'", ""),
    ('server = "192.0.2.1"', 'server = "198.51.100.1"', "[network] server 198.51.100.1 is outside the subnet", ""),
    ('netmask = "255.255.255.0"', 'netmask = "255.255.0.0"', "host bits set", 'subnet = "192.0.2.0"'),
    ('subnet = "192.0.2.0"', 'subnet = "192.0.2.0/25"', "contradicts", 'netmask = "255.255.255.0"'),
    ('gateway = "192.0.2.2"', 'gateway = "gw"', "[network] gateway 'gw' is not an IPv4 address", ""),
    ('nfsroot = "/tftpboot/{ip}"', 'nfsroot = "/tftpboot/shared"', "duplicate NFS root /tftpboot/shared", "[[node]]"),
    ('nfsroot = "/tftpboot/{ip}"', 'nfsroot = "/tftpboot/{host}"', "[boot] nfsroot = '/tftpboot/{host}': unknown placeholder {host}; allowed: {name}, {ip}, {mac}", ""),
    ('nfsroot = "/tftpboot/{ip}"', 'nfsroot = "tftpboot/{ip}"', "must be an absolute path", ""),
    ('nfsroot = "/tftpboot/{ip}"', 'nfsroot = "/tftpboot/{ip}"\nmethod = "pxe"', "[boot] method = 'pxe' is not one of direct, ipxe", ""),
    ('nfsroot = "/tftpboot/{ip}"', 'nfsroot = "/tftpboot/{ip}"\nexport_options = "rw, no_root_squash"',
     "without spaces", ""),
    ('nfsroot = "/tftpboot/{ip}"', 'nfsroot = "/tftpboot/{ip}"\nipxe_chain = "/undionly.kpxe"',
     "relative to the tftp root", ""),
    ('ip = "192.0.2.12"', 'ip = "192.0.2.12"\nimage = "../etc/passwd"', "[[node]] #2): image = '../etc/passwd'", ""),
    ('ip = "192.0.2.12"', 'ip = "192.0.2.12"\ninitrd = "in itrd"', "relative to the tftp root", ""),
    ('ip = "192.0.2.12"', 'ip = "192.0.2.12"\nappend = "a\\"b"', "without double quotes", ""),
    ('ip = "192.0.2.12"', 'ip = "192.0.2.12"\nrom = "3c905"', "node 'n2' ([[node]] #2): rom = '3c905' is not one of etherboot, 3com", ""),
    ('nfsroot = "/tftpboot/{ip}"', 'nfsroot = "/tftpboot/{ip}"\nrom = "intel"', "[boot] rom = 'intel' is not one of etherboot, 3com", ""),
    ('ip = "192.0.2.12"', 'ip = "192.0.2.12"\nmethod = "ipxe"\nrom = "3com"',
     'rom = "3com" boots the MBA image with the ROM\'s TCP/IP method, which needs method = "direct"', ""),
]


@pytest.mark.parametrize("old, new, message, at", BAD, ids=[f"{i}-{b[2][:24]}" for i, b in enumerate(BAD)])
def test_inventory_errors_name_file_line_and_node(tmp_path, old, new, message, at):
    assert BASE.count(old) == 1
    text = BASE.replace(old, new)
    with pytest.raises(BootConfigError) as exc:
        load_text(tmp_path, text)
    msg = str(exc.value)
    assert message in msg
    lines = text.splitlines()
    at = at or new.split("\n")[-1]
    line = len(lines) - lines[::-1].index(at)  # the last line equal to *at*
    assert msg.startswith(f"{tmp_path / 'nodes.toml'}:{line}: "), msg


@pytest.mark.parametrize("text, message", [
    ("", "missing [network] table"),
    ("[network]\nserver = \"192.0.2.1\"\n", "needs subnet"),
    ("[network]\nsubnet = \"192.0.2.0/24\"\n", "needs server"),
    ("[network]\nsubnet = \"192.0.2.0/24\"\nserver = \"192.0.2.1\"\n", "no [[node]] entries"),
    ("[netwrok]\n", "nodes.toml:1: unknown table 'netwrok' (did you mean \"network\"?)"),
    ("[network\n", "not valid TOML"),
    ('[network]\nsubnet = "192.0.2.0/31"\nserver = "192.0.2.1"\n', "no room"),
])
def test_inventory_structure_errors(tmp_path, text, message):
    with pytest.raises(BootConfigError, match=re.escape(message)):
        load_text(tmp_path, text)


def test_missing_inventory(tmp_path):
    with pytest.raises(BootConfigError, match="node inventory not found"):
        bootconf.load(tmp_path / "nodes.toml", IMAGE)


def test_bad_inventory_writes_nothing(tmp_path):
    p = tmp_path / "nodes.toml"
    p.write_text(BASE.replace('ip = "192.0.2.12"', 'ip = "192.0.2.11"'))
    with pytest.raises(BootConfigError):
        bootconf.write_config(bootconf.load(p, IMAGE), TFTP_ROOT)
    assert not (tmp_path / "build").exists()


def test_stale_ipxe_scripts_are_pruned_but_foreign_files_kept(tmp_path):
    p = tmp_path / "nodes.toml"
    p.write_text(BASE.replace("[boot]\n", '[boot]\nmethod = "ipxe"\n'))
    root = tmp_path / "tftpboot"
    changed, removed = bootconf.write_tftp(bootconf.load(p, IMAGE), root)
    assert sorted(x.name for x in changed) == ["n1.ipxe", "n2.ipxe"] and removed == []
    (root / "ipxe" / "mine.ipxe").write_text("#!ipxe\nboot\n")  # written by hand: not ours
    p.write_text(p.read_text().rsplit("[[node]]", 1)[0])  # n2 leaves the cluster
    changed, removed = bootconf.write_tftp(bootconf.load(p, IMAGE), root)
    assert changed == [] and [x.name for x in removed] == ["n2.ipxe"]
    assert sorted(x.name for x in (root / "ipxe").iterdir()) == ["mine.ipxe", "n1.ipxe"]


# ------------------------------------------------------------------ the doit tasks, run by doit

def executed(output: str) -> list[str]:
    return re.findall(r"^\.  (\S+)", output, re.M)


def test_doit_tasks_generate_then_noop_then_rerun_on_change(tmp_path, capsys):
    s = make_settings(tmp_path)
    nodes = tmp_path / "nodes.toml"
    nodes.write_text(BASE.replace("[[node]]\nname = \"n2\"", "[[node]]\nmethod = \"ipxe\"\nname = \"n2\""))
    (tmp_path / "tftpboot").mkdir()
    (tmp_path / "tftpboot" / IMAGE).write_bytes(b"image")

    rc, out = run_doit(capsys, s, nodes, "boot-config", "boot-tftp")
    assert rc == 0, out
    assert executed(out) == ["boot-config", "boot-tftp"]
    conf = tmp_path / "build" / "bootconf"
    assert sorted(p.name for p in conf.iterdir()) == ["dhcpd.conf", "exports", "tftpd-hpa"]
    assert f'TFTP_DIRECTORY="{tmp_path / "tftpboot"}"' in (conf / "tftpd-hpa").read_text()
    assert 'filename "vmlinuz-2.4.18-cluster";' in (conf / "dhcpd.conf").read_text()
    script = tmp_path / "tftpboot" / "ipxe" / "n2.ipxe"
    assert "kernel /vmlinuz-2.4.18-cluster root=/dev/nfs" in script.read_text()
    log = (s.log_dir / "boot-config.log").read_text()
    assert "2 nodes on 192.0.2.0/24" in log and "warning" not in log

    rc, out = run_doit(capsys, s, nodes, "boot-config", "boot-tftp")
    assert rc == 0 and executed(out) == [], out  # nothing changed: nothing runs

    nodes.write_text(nodes.read_text() + '\n[[node]]\nname = "n3"\nmac = "52:54:00:00:00:03"\nip = "192.0.2.13"\n'
                     'image = "missing.img"\n')
    rc, out = run_doit(capsys, s, nodes, "boot-config", "boot-tftp")
    assert rc == 0 and executed(out) == ["boot-config", "boot-tftp"], out
    assert "host n3 {" in (conf / "dhcpd.conf").read_text()
    assert "warning: node n3 boots missing.img" in (s.log_dir / "boot-config.log").read_text()

    nodes.write_text(nodes.read_text().replace('image = "missing.img"', 'rom = "3com"'))
    rc, out = run_doit(capsys, s, nodes, "boot-config")
    assert rc == 0 and 'filename "vmlinuz-2.4.18-cluster-imggen";' in (conf / "dhcpd.conf").read_text()
    assert ("warning: node n3 boots vmlinuz-2.4.18-cluster-imggen, not (yet) in "
            f"{tmp_path / 'tftpboot'} (3Com MBA image: set ramses.toml [netboot] mba = true)"
            in (s.log_dir / "boot-config.log").read_text())

    rc, out = run_doit(capsys, s, nodes, "clean", "boot-tftp")
    assert not rc and not script.exists()  # doit clean returns None on success


def test_broken_inventory_lists_but_fails_with_the_message(tmp_path, capsys):
    s = make_settings(tmp_path)
    nodes = tmp_path / "nodes.toml"
    nodes.write_text(BASE.replace('mac = "52:54:00:00:00:02"', 'mac = "52:54:00:00:00"'))
    rc, out = run_doit(capsys, s, nodes, "list")
    assert rc == 0 and "boot-config" in out and "boot-tftp" in out
    rc, out = run_doit(capsys, s, nodes, "boot-config")
    assert rc != 0
    assert "is not a MAC address" in out and f"{nodes}:17:" in out
    assert not (tmp_path / "build" / "bootconf").exists()
