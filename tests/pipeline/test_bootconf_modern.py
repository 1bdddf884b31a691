"""Today's nodes in the generated boot configuration (issue 21): UEFI PXE and HTTP boot, HTTP
transfer, Kea, the web server's site, the nodes.toml keys that choose them (with their errors at
file:line), and the escaping/refusal rule of each new format.

Golden files: tests/data/golden/bootconf-modern/ (RAMSES_UPDATE_GOLDEN=1 rewrites them; review
the diff). Real tools check the output when installed: kea-dhcp4 -t, dhcpd -t, and nginx -t plus
a real nginx in a private network namespace (root).
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import urllib.parse
from pathlib import Path

import pytest

from ramsesbuild import bootconf, valuerules
from ramsesbuild.bootconf import kea, web
from ramsesbuild.errors import BootConfigError
from ramsesbuild.vocabulary import BootMethod, DhcpServer, Firmware, Transfer

from ..lib.bootconf_support import make_settings, run_doit
from ..lib.support import DATA, nodes_toml

GOLDEN = DATA / "golden" / "bootconf-modern"
IMAGE = "vmlinuz-2.4.18-cluster"
UEFI_IMAGE = "vmlinuz-6.1-uefi"
TFTP_ROOT = Path("/srv/tftp")


def modern_text(dhcp: str = "isc") -> str:
    """Five nodes, one of each kind: Etherboot (direct), BIOS PXE chained to iPXE, 3Com MBA,
    UEFI fetching over TFTP, UEFI fetching over HTTP with an initrd and a per-node layer."""
    uefi = f'firmware = "uefi"\nimage = "{UEFI_IMAGE}"\nappend = "console=ttyS0"'
    return nodes_toml(
        "etherboot01", 'bios02:method = "ipxe"', '3com03:rom = "3com"', f"uefi04:{uefi}",
        f'uefi05:{uefi}\ntransfer = "http"\ninitrd = ["initrd-6.1.cpio.gz", "layers/{{name}}.cpio"]',
    ).replace("[network]\n", '[network]\ngateway = "192.0.2.254"\ndomain = "cluster.example"\n').replace(
        "[[node]]", f'[boot]\nipxe_chain = "undionly.kpxe"\ndhcp = "{dhcp}"\nnfs_options = "vers=3,tcp"\n'
                    "[[node]]", 1)


def modern_inventory(tmp_path: Path, dhcp: str = "isc") -> bootconf.Inventory:
    path = tmp_path / "nodes.toml"
    path.write_text(modern_text(dhcp))
    return bootconf.load(path, IMAGE)


def rendered(inv: bootconf.Inventory, out: Path) -> dict[str, str]:
    bootconf.write_config(dataclasses.replace(inv, output=out / "bootconf"), TFTP_ROOT)
    bootconf.write_tftp(inv, out / "tftpboot")
    return {str(p.relative_to(out)): p.read_text() for p in sorted(out.rglob("*")) if p.is_file()}


def test_golden_files(tmp_path):
    got = {}
    for dhcp in ("isc", "kea"):
        got.update({f"{dhcp}/{k}": v for k, v in rendered(modern_inventory(tmp_path, dhcp), tmp_path / dhcp).items()})
    expected_dir = GOLDEN / "expected"
    if os.environ.get("RAMSES_UPDATE_GOLDEN"):
        shutil.rmtree(expected_dir, ignore_errors=True)
        for rel, text in got.items():
            (expected_dir / rel).parent.mkdir(parents=True, exist_ok=True)
            (expected_dir / rel).write_text(text)
    expected = {str(p.relative_to(expected_dir)): p.read_text() for p in sorted(expected_dir.rglob("*")) if p.is_file()}
    assert sorted(got) == sorted(expected)
    for rel in expected:
        assert got[rel] == expected[rel], f"{rel} differs from {expected_dir / rel}"


def test_what_each_node_kind_gets(tmp_path):
    inv = modern_inventory(tmp_path)
    eb, bios, mba, uefi_tftp, uefi_http = inv.nodes
    assert inv.boot_filename(eb) == IMAGE and inv.boot_filename(mba) == f"{IMAGE}-imggen"
    assert inv.boot_filename(bios) == "ipxe/bios02.ipxe"
    assert inv.boot_filename(uefi_http) == "http://192.0.2.1/ipxe/uefi05.ipxe"  # its script, over HTTP
    assert [n.name for n in inv.web_nodes] == ["uefi04", "uefi05"]  # UEFI HTTP boot needs the loader by HTTP
    assert web.web_files(inv) == ["initrd-6.1.cpio.gz", "ipxe/uefi05.ipxe", "layers/uefi05.cpio", "snponly.efi",
                                  UEFI_IMAGE]
    tftp_script = bootconf.render_ipxe(inv, uefi_tftp)
    assert f"kernel /{UEFI_IMAGE} root=/dev/nfs " in tftp_script and "initrd" not in tftp_script
    http_script = bootconf.render_ipxe(inv, uefi_http).splitlines()
    assert http_script[2].startswith(f"kernel http://192.0.2.1/{UEFI_IMAGE} root=/dev/nfs ")
    # on UEFI the kernel's EFI stub loads the initrds by name (iPXE 2019) or through LoadFile2 (newer)
    assert http_script[2].endswith("ip=dhcp initrd=initrd-6.1.cpio.gz initrd=uefi05.cpio console=ttyS0")
    assert http_script[3:] == ["initrd http://192.0.2.1/initrd-6.1.cpio.gz",
                               "initrd http://192.0.2.1/layers/uefi05.cpio", "boot"]
    bios_args = bootconf.kernel_args(inv, dataclasses.replace(bios, initrds=("initrd.img",)))
    assert "initrd=" not in bios_args  # BIOS iPXE hands the initrd over itself


def test_uefi_initrds_with_one_file_name_are_refused(tmp_path):
    inv = modern_inventory(tmp_path)
    node = dataclasses.replace(inv.nodes[4], initrds=("a/base.cpio", "b/base.cpio"))
    with pytest.raises(BootConfigError, match="node uefi05: initrds base.cpio share a file name"):
        bootconf.render_ipxe(inv, node)


def test_switching_dhcp_server_removes_the_other_generated_file(tmp_path):
    out = tmp_path / "bootconf"
    isc = dataclasses.replace(modern_inventory(tmp_path, "isc"), output=out)
    bootconf.write_config(isc, TFTP_ROOT)
    (out / "kea-dhcp4.conf.orig").write_text("the admin's own file")
    assert sorted(p.name for p in out.iterdir()) == ["dhcpd.conf", "exports", "kea-dhcp4.conf.orig",
                                                     "nginx-boot.conf", "tftpd-hpa"]
    changed = bootconf.write_config(dataclasses.replace(isc, dhcp=DhcpServer.KEA), TFTP_ROOT)
    assert sorted(p.name for p in changed) == ["dhcpd.conf", "kea-dhcp4.conf"]  # written, removed
    assert sorted(p.name for p in out.iterdir()) == ["exports", "kea-dhcp4.conf", "kea-dhcp4.conf.orig",
                                                     "nginx-boot.conf", "tftpd-hpa"]
    bios_only = dataclasses.replace(isc, dhcp=DhcpServer.KEA, nodes=isc.nodes[:3])  # nobody fetches by HTTP
    bootconf.write_config(bios_only, TFTP_ROOT)
    assert not (out / "nginx-boot.conf").exists()


# ------------------------------------------------------------------ the nodes.toml keys

def load_modern(tmp_path: Path, text: str) -> bootconf.Inventory:
    path = tmp_path / "nodes.toml"
    path.write_text(text)
    return bootconf.load(path, IMAGE)


def test_keys_and_their_defaults(tmp_path):
    inv = load_modern(tmp_path, nodes_toml("n1", 'n2:firmware = "uefi"', 'n3:method = "ipxe"\ninitrd = "rd.img"'))
    n1, n2, n3 = inv.nodes
    assert (n1.firmware, n1.method, n1.transfer, n1.initrds) == (Firmware.BIOS, BootMethod.DIRECT, Transfer.TFTP, ())
    assert (n2.firmware, n2.method) == (Firmware.UEFI, BootMethod.IPXE)  # a UEFI node needs no method line
    assert n3.initrds == ("rd.img",)  # one file name is a list of one
    assert (inv.dhcp, inv.efi_loader, inv.http_port, inv.interface) == (DhcpServer.ISC, "snponly.efi", 80, None)
    assert inv.http_base == "http://192.0.2.1"


def test_boot_defaults_per_node_overrides_and_templates(tmp_path):
    """[boot] is the default for every node (a node class, when all its nodes share it), a node
    overrides it; transfer is for ipxe nodes: a direct node in an http [boot] fetches by TFTP."""
    text = nodes_toml("u1", "u2", 'b3:firmware = "bios"\nmethod = "ipxe"\ntransfer = "tftp"\ninitrd = []',
                      'eb4:firmware = "bios"').replace(
        "[[node]]", '[boot]\nfirmware = "uefi"\ntransfer = "http"\ninitrd = ["base.cpio.gz", "layers/{name}-{mac}.cpio"]\n'
                    'dhcp = "kea"\nefi_loader = "efi/ipxe-snp.efi"\nhttp_port = 8080\n[[node]]', 1).replace(
        'server = "192.0.2.1"\n', 'server = "192.0.2.1"\ninterface = "br-cluster"\n')
    inv = load_modern(tmp_path, text)
    u1, u2, b3, _ = inv.nodes
    assert [(n.firmware, n.method, n.transfer) for n in inv.nodes] == [
        (Firmware.UEFI, BootMethod.IPXE, Transfer.HTTP), (Firmware.UEFI, BootMethod.IPXE, Transfer.HTTP),
        (Firmware.BIOS, BootMethod.IPXE, Transfer.TFTP), (Firmware.BIOS, BootMethod.DIRECT, Transfer.TFTP)]
    assert u2.initrds == ("base.cpio.gz", "layers/u2-52-54-00-12-34-02.cpio") and b3.initrds == ()
    assert inv.script_location(u1) == "http://192.0.2.1:8080/ipxe/u1.ipxe"
    script = bootconf.render_ipxe(inv, u2)
    assert "initrd=base.cpio.gz initrd=u2-52-54-00-12-34-02.cpio" in script
    assert "initrd http://192.0.2.1:8080/layers/u2-52-54-00-12-34-02.cpio\n" in script
    files = bootconf.config_files(inv, TFTP_ROOT)
    assert sorted(p.name for p in files) == ["exports", "kea-dhcp4.conf", "nginx-boot.conf", "tftpd-hpa"]
    conf = kea_json(files[inv.output / "kea-dhcp4.conf"])["Dhcp4"]
    assert conf["interfaces-config"]["interfaces"] == ["br-cluster"]
    classes = {c["name"]: c for c in conf["client-classes"]}
    assert classes["ramses-uefi-pxe"]["boot-file-name"] == "efi/ipxe-snp.efi"
    assert classes["ramses-uefi-http"]["boot-file-name"] == "http://192.0.2.1:8080/efi/ipxe-snp.efi"
    site = files[inv.output / "nginx-boot.conf"]
    assert "listen 192.0.2.1:8080;" in site and 'location = "/efi/ipxe-snp.efi" { }' in site
    assert "/ipxe/b3.ipxe" not in site  # b3 fetches by TFTP


# (the text after the nodes' [[node]] u1 lines, the expected message, the line it must point at ("": the last))
KEY_ERRORS = [
    ('firmware = "efi"', "node 'u1' ([[node]] #1): firmware = 'efi' is not one of bios, uefi", ""),
    ('firmware = "uefi"\nmethod = "direct"', 'firmware = "uefi" boots through the EFI iPXE, which needs method = '
     "\"ipxe\", not 'direct'", ""),
    ('rom = "3com"\nfirmware = "uefi"', 'firmware = "uefi" contradicts rom = "3com": a 3Com MBA is a BIOS boot ROM', ""),
    ('transfer = "ftp"', "transfer = 'ftp' is not one of tftp, http", ""),
    ('transfer = "http"', 'transfer = "http" is for method = "ipxe" nodes', ""),
    ("initrd = 3", "initrd must be a file name or a list of them, not the number 3", ""),
    ('method = "ipxe"\ninitrd = ["rd.img", "{host}.img"]', "initrd = '{host}.img': unknown placeholder {host}", ""),
    ('method = "ipxe"\ninitrd = ["../rd.img"]', "initrd = '../rd.img' must be a file name relative to the tftp root",
     ""),
    ('firmware = "uefi"\ninitrd = ["a/base.cpio", "b/base.cpio"]', "initrds base.cpio share a file name", ""),
    ('[boot]\ndhcp = "dnsmasq"', "[boot] dhcp = 'dnsmasq' is not one of isc, kea", ""),
    ('[boot]\nefi_loader = "/usr/lib/ipxe/snponly.efi"', "[boot] efi_loader = '/usr/lib/ipxe/snponly.efi': it is not a "
     "file name relative to the tftp root", ""),
    ("[boot]\nhttp_port = 0", "[boot] http_port must be >= 1, not 0", ""),
    ("[boot]\nhttp_port = 65536", "[boot] http_port must be <= 65535, not 65536", ""),
    ('[boot]\nhttp_port = "80"', "[boot] http_port must be an integer, not the string '80'", ""),
    ('[boot]\nfirmware = "uefi"\n[[node]]\nname = "n2"\nmac = "52:54:00:12:34:99"\nip = "192.0.2.99"\n'
     'method = "direct"', "node 'n2' ([[node]] #2): firmware = \"uefi\" boots through the EFI iPXE", ""),
    ('[boot]\nfirmware = "uefi"\ntransfer = "http"\n[[node]]\nname = "n2"\nmac = "52:54:00:12:34:99"\n'
     'ip = "192.0.2.99"\nrom = "3com"', 'firmware = "uefi" contradicts rom = "3com"', 'firmware = "uefi"'),
]


@pytest.mark.parametrize("extra, message, at", KEY_ERRORS, ids=[f"{i}-{e[1][:30]}" for i, e in enumerate(KEY_ERRORS)])
def test_key_errors_name_file_line(tmp_path, extra, message, at):
    text = nodes_toml("u1") + extra + "\n"
    with pytest.raises(BootConfigError) as exc:
        load_modern(tmp_path, text)
    msg = str(exc.value)
    assert message in msg, msg
    lines = text.splitlines()
    at = at or extra.split("\n")[-1]
    line = len(lines) - lines[::-1].index(at)  # the last line equal to *at*
    assert msg.startswith(f"{tmp_path / 'nodes.toml'}:{line}: "), msg


@pytest.mark.parametrize("value, message", [
    ('"eth 1"', "interface = 'eth 1': kea-dhcp4.conf (interfaces-config) cannot carry it: it is not a Linux "
     "interface name"),
    ('"a-very-long-name0"', "it is 17 bytes; a Linux interface name has at most 15"),
    ("1", "[network] interface must be a string, not the number 1"),
])
def test_interface_errors(tmp_path, value, message):
    text = nodes_toml("u1").replace('server = "192.0.2.1"\n', f'server = "192.0.2.1"\ninterface = {value}\n')
    with pytest.raises(BootConfigError) as exc:
        load_modern(tmp_path, text)
    assert message in str(exc.value) and str(exc.value).startswith(f"{tmp_path / 'nodes.toml'}:4: "), exc.value


def test_boot_config_warns_of_missing_loaders(tmp_path, capsys):
    """boot-config (real doit) names the iPXE loaders DHCP hands out that are not in the tftp
    root, the nodes that need them and where Debian has them; quiet once they are there."""
    s = make_settings(tmp_path)
    tftp = tmp_path / "tftpboot"
    tftp.mkdir()
    for image in (IMAGE, UEFI_IMAGE):
        (tftp / image).write_bytes(b"image")
    nodes = tmp_path / "nodes.toml"
    nodes.write_text(nodes_toml("n1", f'u2:firmware = "uefi"\nimage = "{UEFI_IMAGE}"', 'b3:method = "ipxe"',
                                f'u4:firmware = "uefi"\nimage = "{UEFI_IMAGE}"\ntransfer = "http"').replace(
        "[[node]]", '[boot]\nipxe_chain = "undionly.kpxe"\n[[node]]', 1))
    rc, out = run_doit(capsys, s, nodes, "boot-config")
    assert rc == 0, out
    log = (s.log_dir / "boot-config.log").read_text()
    assert (f"warning: UEFI nodes (u2, u4) get snponly.efi, not (yet) in {tftp}: apt-get install ipxe; "
            f"cp /usr/lib/ipxe/snponly.efi {tftp}/snponly.efi") in log, log
    assert (f"warning: BIOS PXE nodes (b3) get undionly.kpxe, not (yet) in {tftp}: apt-get install ipxe; "
            f"cp /usr/lib/ipxe/undionly.kpxe {tftp}/undionly.kpxe") in log, log
    assert log.count("warning:") == 2, log

    (tftp / "snponly.efi").write_bytes(b"efi")
    (tftp / "undionly.kpxe").write_bytes(b"pxe")
    nodes.write_text(nodes.read_text().replace('[boot]\n', '[boot]\nefi_loader = "efi/snp.efi"\n'))
    rc, out = run_doit(capsys, s, nodes, "boot-config")
    log = (s.log_dir / "boot-config.log").read_text()
    assert rc == 0 and "BIOS PXE" not in log, log
    assert (f"warning: UEFI nodes (u2, u4) get efi/snp.efi, not (yet) in {tftp}: put the iPXE loader there "
            "(Debian's ipxe ships snponly.efi, ipxe.efi, undionly.kpxe in /usr/lib/ipxe)") in log, log
    (tftp / "efi").mkdir()
    (tftp / "efi" / "snp.efi").write_bytes(b"efi")
    nodes.write_text(nodes.read_text() + "\n")
    rc, out = run_doit(capsys, s, nodes, "boot-config")
    assert rc == 0 and "warning" not in (s.log_dir / "boot-config.log").read_text()


# ------------------------------------------------------------------ Kea: classes do what they say

def kea_json(text: str) -> dict:
    """The JSON Kea reads (it allows // comments, which Python's json does not)."""
    return json.loads("\n".join(line for line in text.splitlines() if not line.startswith("//")))


def test_kea_reservations_and_classes(tmp_path):
    conf = kea_json(kea.render_kea(modern_inventory(tmp_path, "kea")))["Dhcp4"]
    subnet = conf["subnet4"][0]
    res = {r["hostname"]: r for r in subnet["reservations"]}
    assert res["etherboot01"]["boot-file-name"] == IMAGE and res["3com03"]["boot-file-name"] == f"{IMAGE}-imggen"
    # a reservation's boot-file-name beats every class in Kea: chained nodes have none, and a class
    # from the reservation selects their loader
    assert "boot-file-name" not in res["uefi05"] and res["uefi05"]["client-classes"] == ["ramses-uefi"]
    assert res["bios02"]["client-classes"] == ["ramses-bios-chain"]
    assert {o["name"]: o["data"] for o in res["uefi04"]["option-data"]} == {
        "host-name": "uefi04", "root-path": "/tftpboot/192.0.2.14\\,vers=3\\,tcp"}  # Kea's list syntax
    classes = {c["name"]: c for c in conf["client-classes"]}
    assert classes["ramses-ipxe-uefi05"]["boot-file-name"] == "http://192.0.2.1/ipxe/uefi05.ipxe"
    assert "pkt4.mac == 0x525400123405" in classes["ramses-ipxe-uefi05"]["test"]
    assert classes["ramses-uefi-http"]["boot-file-name"] == "http://192.0.2.1/snponly.efi"
    assert classes["ramses-uefi-http"]["option-data"][0]["data"] == "HTTPClient"
    assert "option[93].hex == 0x0010" in classes["ramses-uefi-http"]["test"]
    assert "option[93].hex == 0x0007" in classes["ramses-uefi-pxe"]["test"]
    assert classes["ramses-bios-pxe"]["boot-file-name"] == "undionly.kpxe"
    assert subnet["require-client-classes"] == ["ramses-uefi-http", "ramses-uefi-pxe", "ramses-bios-pxe"]
    assert all(c.get("only-if-required") for n, c in classes.items() if n in subnet["require-client-classes"])
    assert conf["hooks-libraries"][0]["library"].endswith("/libdhcp_bootp.so")  # the 3Com node may use BOOTP
    names = list(classes)  # a class is defined before a test names it
    for i, c in enumerate(conf["client-classes"]):
        assert all(names.index(m) < i for m in re.findall(r"member\('([^']+)'\)", c.get("test", "")))


def kea_binary() -> str | None:
    return shutil.which("kea-dhcp4") or (shutil.which("/usr/sbin/kea-dhcp4"))


needs_kea = pytest.mark.skipif(not kea_binary(), reason="kea-dhcp4 not found (apt-get install kea-dhcp4-server)")


def kea_check(path: Path) -> subprocess.CompletedProcess:
    assert kea_binary()
    return subprocess.run([kea_binary(), "-t", str(path)], capture_output=True, text=True, timeout=30)


@needs_kea
def test_kea_accepts_the_generated_config(tmp_path):
    conf = tmp_path / "kea-dhcp4.conf"
    conf.write_text(kea.render_kea(modern_inventory(tmp_path, "kea")))
    proc = kea_check(conf)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    conf.write_text(conf.read_text().replace('"52:54:00:12:34:02"', '"52:54:00:12:34:01"'))  # a duplicate MAC
    proc = kea_check(conf)
    assert proc.returncode != 0 and "52:54:00:12:34:01" in proc.stdout + proc.stderr


def test_isc_dhcpd_accepts_the_uefi_config(tmp_path):
    dhcpd = os.environ.get("RAMSES_DHCPD") or shutil.which("dhcpd")
    if not dhcpd:
        pytest.skip("ISC dhcpd not found (apt-get install isc-dhcp-server)")
    conf = tmp_path / "dhcpd.conf"
    conf.write_text(bootconf.render_dhcpd(modern_inventory(tmp_path)))
    proc = subprocess.run([dhcpd, "-t", "-cf", str(conf)], capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0 and "WARNING" not in proc.stderr, proc.stderr


# ------------------------------------------------------------------ one rule per format, hostile values

HOSTILE = {"newline": "a\nb", "quote": 'a"b', "backslash": "a\\b", "non-ascii": "nœud-€", "tab-cr": "a\t\rb",
           "braces-semicolon": "a;}{b", "del": "a\x7fb", "comma": "a,b"}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_kea_text_round_trips(name):
    value = HOSTILE[name]
    literal = valuerules.kea_text(value, "value", 255)
    assert json.loads(literal) == value
    assert all(int(h, 16) <= 0xFF for h in re.findall(r"\\u([0-9a-fA-F]{4})", literal))  # Kea: \u00XX only


@pytest.mark.parametrize("value, message", [
    ("a\0b", "contains a NUL character"),
    ("x" * 128, "is 128 bytes; a DHCP client gets at most 127"),
    ("é" * 64, "is 128 bytes"),  # bytes, not characters
    ("a\udc80", "not valid Unicode"),
])
def test_kea_text_refusals(value, message):
    with pytest.raises(BootConfigError, match=re.escape(message)):
        valuerules.kea_text(value, "boot file", valuerules.KEA_FILE_MAX)


@pytest.mark.parametrize("value, data", [("/r/n1,vers=3,tcp", "/r/n1\\,vers=3\\,tcp"), ("a\\b", "a\\\\b"),
                                         ("a\\,b", "a\\\\\\,b"), ("nœud", "nœud")])
def test_kea_option_data_escapes_its_list_syntax(value, data):
    """Kea reads option data as a comma-separated list (with \\ escapes): a bare comma would end
    the value. Real Kea and a real DHCP client check this in tests/slow/test_dhcp_roundtrip.py."""
    assert json.loads(valuerules.kea_option_text(value, "root path")) == data


@pytest.mark.parametrize("value", ["", " lead", "trail ", "\tx"])
def test_kea_option_data_refuses_what_kea_trims(value):
    with pytest.raises(BootConfigError, match="empty or starts or ends with white space"):
        valuerules.kea_option_text(value, "root path")


@needs_kea
def test_kea_reads_hostile_values(tmp_path):
    """Every value the rule lets through is a configuration kea-dhcp4 accepts."""
    options = [{"name": "root-path", "data": kea.Lit(valuerules.kea_option_text(v, k))} for k, v in sorted(HOSTILE.items())]
    conf = {"Dhcp4": {"interfaces-config": {"interfaces": ["*"]}, "subnet4": [
        {"id": i + 1, "subnet": f"192.0.{i}.0/24", "reservations": [
            {"hw-address": f"52:54:00:00:00:{i:02x}", "ip-address": f"192.0.{i}.5",
             "boot-file-name": kea.Lit(valuerules.kea_text(HOSTILE[k], k, 127)), "option-data": [options[i]]}]}
        for i, k in enumerate(sorted(HOSTILE))]}}
    path = tmp_path / "kea.conf"
    path.write_text(kea.emit(conf))
    proc = kea_check(path)
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_nginx_text_escapes(name):
    token = valuerules.nginx_text(HOSTILE[name], "path")
    assert token.startswith('"') and token.endswith('"') and "\n" not in token and '"' not in token[1:-1].replace(
        '\\"', "")


@pytest.mark.parametrize("value, message", [
    ("/a$host", "contains '$'"),
    ("/a\0b", "contains a NUL character"),
    ("/" + "x" * 4000, "is 4001 bytes; nginx reads at most 4000"),
    ("/a\udc80", "not valid Unicode"),
])
def test_nginx_text_refusals(value, message):
    with pytest.raises(BootConfigError, match=re.escape(message)):
        valuerules.nginx_text(value, "file")


def test_hostile_file_names_never_reach_a_site(tmp_path):
    inv = modern_inventory(tmp_path)
    node = dataclasses.replace(inv.nodes[4], image="vmlinuz-$uri")
    with pytest.raises(BootConfigError, match="contains '\\$'"):
        web.render_nginx(dataclasses.replace(inv, nodes=(node,)), TFTP_ROOT)


# ------------------------------------------------------------------ real nginx, private namespace

FETCH = r"""
import sys, urllib.request, urllib.error
for path in sys.argv[1:]:
    try:
        with urllib.request.urlopen("http://192.0.2.1/" + path, timeout=10) as r:
            print(r.status, r.read().decode().rstrip("\n"))
    except urllib.error.HTTPError as e:
        print(e.code)
"""


def nginx_in_netns(tmp_path: Path, site: str, paths: list[str]) -> subprocess.CompletedProcess:
    """Run nginx from a main config that includes *site*, inside a new network namespace holding
    192.0.2.1 on lo, and GET each of *paths* (already URL-quoted) there: one line per path, the
    status and the body. Nothing listens outside the namespace."""
    if os.geteuid() != 0:
        pytest.skip("nginx in a private network namespace needs root")
    if not shutil.which("nginx"):
        pytest.skip("nginx not found (apt-get install nginx-light)")
    (tmp_path / "site.conf").write_text(site)
    (tmp_path / "nginx.conf").write_text(
        f"daemon off; master_process off; user root; pid {tmp_path}/nginx.pid; error_log {tmp_path}/error.log;\n"
        "events { worker_connections 64; }\n"
        f"http {{ access_log {tmp_path}/access.log; client_body_temp_path {tmp_path}/body;\n"
        f"  proxy_temp_path {tmp_path}/proxy; fastcgi_temp_path {tmp_path}/fcgi; uwsgi_temp_path {tmp_path}/uwsgi;\n"
        f"  scgi_temp_path {tmp_path}/scgi; include {tmp_path}/site.conf; }}\n")
    inner = (f"set -e; ip link set lo up; ip addr add 192.0.2.1/32 dev lo; nginx -q -t -c {tmp_path}/nginx.conf; "
             f"nginx -c {tmp_path}/nginx.conf & trap 'kill $!' EXIT; "
             "for i in $(seq 50); do (echo > /dev/tcp/192.0.2.1/80) 2>/dev/null && break; sleep 0.1; done; "
             f'{shlex.quote(sys.executable)} -c "$FETCH" "$@"')
    return subprocess.run(["unshare", "--net", "bash", "-c", inner, "fetch", *paths], capture_output=True, text=True,
                          timeout=60, env={**os.environ, "FETCH": FETCH})


def test_nginx_serves_exactly_the_listed_files(tmp_path):
    root = tmp_path / "tftp"
    inv = modern_inventory(tmp_path)
    for rel in [*web.web_files(inv), "etc/shadow", "vmlinuz-2.4.18-cluster"]:  # the last two: not for HTTP
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(f"content of {rel}\n")
    paths = ["snponly.efi", "ipxe/uefi05.ipxe", "etc/shadow", "vmlinuz-2.4.18-cluster", "ipxe/", ""]
    proc = nginx_in_netns(tmp_path, web.render_nginx(inv, root), paths)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == ["200 content of snponly.efi", "200 content of ipxe/uefi05.ipxe",
                                        "404", "404", "404", "404"]


def test_nginx_reads_hostile_paths_as_written(tmp_path):
    """The escaping rule is nginx's own: a file whose name holds a quote, a backslash, non-ASCII
    text or a brace is served under exactly that name (and a near miss is not)."""
    root = tmp_path / "tftp"
    root.mkdir()
    names = ['q"uote', "back\\slash", "back\\nslash", "trailing\\", "nœud-€", "a;}{b", "tab\there"]
    for name in names:
        (root / name).write_text(name)
    site = ("server { listen 192.0.2.1:80; " + f"root {valuerules.nginx_text(str(root), 'root')}; "
            + " ".join(f"location = {valuerules.nginx_text('/' + n, 'file')} {{ }}" for n in names)
            + " location / { return 404; } }\n")
    proc = nginx_in_netns(tmp_path, site, [*(urllib.parse.quote(n) for n in names), "back%5C%5Cslash"])
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split("\n") == [*(f"200 {n}" for n in names), "404", ""]
