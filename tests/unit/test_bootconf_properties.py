"""Property tests over every nodes.toml field and [netboot] append: for any inventory the
reader accepts, every generated file parses with its format's own grammar (tests/lib/formats.py)
and, where installed, with the real checker (dhcpd -t, kea-dhcp4 -t, nginx -t, sh), and each
node's values come back unchanged; anything else is refused with one line naming nodes.toml's
line of the key at fault. The same for [netboot] append: through ramses.toml into a real NBI
image, whose command-line segment reads back.

Inventories are drawn valid, then (in about half the examples) one field is replaced by a
hostile value: the good one with a newline, NUL, quote, backslash, look-alike letter ... put
in, made longer than its protocol allows, or arbitrary text. The external checkers run once
per batch (nginx: one configuration holding every example's site) on a bounded number of
examples, so the whole file takes a few seconds.
"""

from __future__ import annotations

import dataclasses
import os
import re
import shutil
import string
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ramsesbuild import bootconf
from ramsesbuild.bootconf import kea, web
from ramsesbuild.errors import BootConfigError, SettingsError
from ramsesbuild.vocabulary import BootMethod, Transfer

from ..lib.formats import (
    dhcpd_tokens,
    ipxe_comments,
    kea_option_data,
    nginx_locations,
    nginx_root,
    parse_dhcpd,
    parse_exports,
    parse_ipxe,
    parse_kea,
    sh_values,
    split_cmdline,
)

IMAGE = "vmlinuz-2.4.18-cluster"
TFTP_ROOT = Path("/srv/tftp root")  # a space: tftpd-hpa and nginx must quote it
ODD = [*" \"'\\\n\r\t\0\x7f$#{}|&%,;()=:/@~+*?`", "\u0430", "\u043e", "é", "\u00a0", "\u2028", "\U0001f600"]
SUBNETS = {"192.0.2.0/24": "192.0.2", "198.51.100.0/24": "198.51.100", "203.0.113.0/24": "203.0.113"}


def toml_string(value: str) -> str:
    """A TOML basic string holding exactly *value* (control characters and DEL escaped; U+2028
    and the like raw, so file:line must count only \\n)."""
    out = []
    for c in value:
        if c in '"\\':
            out.append("\\" + c)
        elif ord(c) < 0x20 or ord(c) == 0x7F:
            out.append(f"\\u{ord(c):04X}")
        else:
            out.append(c)
    return '"' + "".join(out) + '"'


# ------------------------------------------------------------------ inventories, valid then one field hostile

LOWER, DIGITS = string.ascii_lowercase, string.digits


def _word(first: str, rest: str, most: int) -> st.SearchStrategy[str]:
    return st.builds(lambda a, b: a + b, st.sampled_from(first), st.text(rest, max_size=most))


label = st.builds(lambda a, b: (a + b).rstrip("-") or a, st.sampled_from(LOWER + DIGITS),
                  st.text(LOWER + DIGITS + "-", max_size=9))
domain = st.builds(lambda first, rest: ".".join([first, *rest]),
                   label.map(lambda x: x.capitalize()), st.lists(label, max_size=3))
_segment = _word(string.ascii_letters + DIGITS + "_+-", string.ascii_letters + DIGITS + "._+-", 11)
tftp_file = st.lists(_segment, min_size=1, max_size=3).map("/".join)
_option = st.builds(lambda name, value: name + (f"={value}" if value else ""), _word(LOWER, LOWER + DIGITS + "_", 7),
                    st.one_of(st.none(), st.text(LOWER + DIGITS + ".:/@-", min_size=1, max_size=5)))
options = st.lists(_option, min_size=1, max_size=4).map(",".join)
append = st.lists(st.text(string.ascii_letters + DIGITS + "_.=,:/+-", min_size=1, max_size=12), min_size=1,
                  max_size=5).map(" ".join)
nfsroot = st.builds(lambda dirs, leaf: "/" + "/".join(dirs) + "/" + leaf,
                    st.lists(_word(LOWER + DIGITS, LOWER + DIGITS + "._+@=~-", 9), min_size=1, max_size=3),
                    st.sampled_from(["{name}", "{ip}", "{mac}", "n-{name}"]))


Place = tuple[object, ...]  # ("network", "domain"), ("boot", "append"), ("node", 0, "name")
DANGER = ["\n", "\0", "\\", '"', "\u0430", " ", "#", "$", "\r", ","]


@dataclass(frozen=True)
class Drawn:
    doc: dict  # a valid inventory: {"network": {...}, "boot": {...}, "node": [{...}, ...]}
    hostile: dict[Place, str]  # one hostile value per place, each tried alone


@st.composite
def hostile_values(draw: st.DrawFn, good: str) -> str:
    how = draw(st.sampled_from(["end", "end", "start", "middle", "middle", "long", "text"]))
    if how == "long":
        return good + draw(st.sampled_from(["a", "r", "-", "/r"])) * draw(st.sampled_from([64, 128, 256, 400]))
    if how == "text":
        return draw(st.text(st.one_of(st.sampled_from(ODD), st.sampled_from(string.printable)), max_size=24))
    odd = draw(st.one_of(st.sampled_from(DANGER), st.sampled_from(ODD)))
    at = {"end": len(good), "start": 0}.get(how) if how != "middle" else draw(st.integers(0, len(good)))
    assert at is not None
    return good[:at] + odd + good[at:]


def table_of(doc: dict, place: Place) -> dict:
    return doc["node"][place[1]] if place[0] == "node" else doc[place[0]]  # type: ignore[index]


DEFAULTS = {"nfsroot": "/tftpboot/{ip}", "export_options": "rw", "image": IMAGE, "gateway": "192.0.2.254",
            "domain": "example"}


@st.composite
def inventories(draw: st.DrawFn) -> Drawn:
    subnet = draw(st.sampled_from(sorted(SUBNETS)))
    net = SUBNETS[subnet]
    network: dict[str, object] = {"subnet": subnet, "server": f"{net}.1"}
    if draw(st.booleans()):
        network["gateway"] = f"{net}.254"
    if draw(st.booleans()):
        network["domain"] = draw(domain)
    boot: dict[str, object] = {"method": draw(st.sampled_from(["direct", "ipxe"]))}
    for key, strategy in (("nfsroot", nfsroot), ("nfs_options", options), ("export_options", options),
                          ("append", append), ("initrd", tftp_file), ("ipxe_chain", tftp_file), ("image", tftp_file)):
        if draw(st.booleans()):
            boot[key] = draw(strategy)
    names = draw(st.lists(label, min_size=1, max_size=3, unique=True))
    nodes = []
    for i, name in enumerate(names):
        node: dict[str, object] = {"name": name, "mac": f"52:54:00:00:{i // 256:02x}:{i % 256 + 1:02x}",
                                   "ip": f"{net}.{11 + i}"}
        for key, strategy in (("method", st.sampled_from(["direct", "ipxe"])), ("image", tftp_file),
                              ("append", append), ("nfsroot", nfsroot), ("initrd", tftp_file)):
            if draw(st.integers(0, 3)) == 0:
                node[key] = draw(strategy)
        nodes.append(node)
    doc = {"network": network, "boot": boot, "node": nodes}
    places: list[Place] = [("network", k) for k in ("subnet", "server", "gateway", "domain")]
    places += [("boot", k) for k in ("nfsroot", "nfs_options", "export_options", "append", "initrd", "ipxe_chain",
                                     "image")]
    places += [("node", i, k) for i in range(len(nodes)) for k in ("name", "mac", "ip", "image", "append", "nfsroot")]
    hostile = {}
    for place in places:
        key = str(place[-1])
        good = str(table_of(doc, place).get(key, DEFAULTS.get(key, "x")))
        hostile[place] = draw(hostile_values(good))
    return Drawn(doc, hostile)


def with_value(doc: dict, place: Place, value: str) -> dict:
    new = {"network": dict(doc["network"]), "boot": dict(doc["boot"]), "node": [dict(n) for n in doc["node"]]}
    table_of(new, place)[str(place[-1])] = value
    return new


def write_nodes_toml(doc: dict) -> str:
    lines = []
    for table in ("network", "boot"):
        lines.append(f"[{table}]")
        lines += [f"{k} = {toml_string(str(v))}" for k, v in doc[table].items()]
    for node in doc["node"]:
        lines.append("[[node]]")
        lines += [f"{k} = {toml_string(str(v))}" for k, v in node.items()]
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------------ what must hold


def refused_at_its_line(text: str, path: Path, exc: BootConfigError, hostile: bool) -> None:
    """One line, naming nodes.toml's line of a key the message talks about (or a table)."""
    msg = str(exc)
    assert hostile, f"a valid inventory was refused: {msg}\n{text}"
    assert "\n" not in msg, msg
    m = re.match(rf"{re.escape(str(path))}:(\d+): ", msg)
    assert m, msg
    line = text.split("\n")[int(m.group(1)) - 1]
    key = line.split("=", 1)[0].strip()
    assert line.startswith("[") or re.search(rf"\b{re.escape(key)}\b", msg), (msg, line)


def read_back(inv: bootconf.Inventory, files: dict[str, str]) -> None:
    """Every node's values, read back from every file with the format's grammar."""
    net = inv.network
    opts = f",{inv.nfs_options}" if inv.nfs_options else ""
    lines = {name: text.rstrip("\n").split("\n") for name, text in files.items()}
    assert len(lines["exports"]) == 1 + len(inv.nodes) and len(lines["tftpd-hpa"]) == 6
    assert all(t.isascii() and t.isprintable() for kind, t in dhcpd_tokens(files["dhcpd.conf"]) if kind == "string")
    globals_, hosts = parse_dhcpd(files["dhcpd.conf"])
    assert globals_.get("option domain-name") == ([net.domain] if net.domain else None)
    assert [h.name for h in hosts] == [n.name for n in inv.nodes]
    conf = parse_kea(files["kea-dhcp4.conf"])["Dhcp4"]
    reservations = conf["subnet4"][0]["reservations"]
    if net.domain:
        assert kea_option_data(conf["option-data"][0]["data"]) == net.domain
    exports = parse_exports(files["exports"])
    for node, host, res, export in zip(inv.nodes, hosts, reservations, exports, strict=True):
        root_path = f"{node.nfsroot}{opts}"
        assert host.settings["hardware ethernet"] == [node.mac]
        assert host.settings["fixed-address"] == [str(node.ip)]
        assert host.settings["option host-name"] == [node.name]
        assert host.settings["option root-path"] == [root_path]
        assert inv.boot_filename(node) in host.settings["filename"]
        if inv.ipxe_chain and node.method is BootMethod.IPXE:
            assert host.settings["filename"] == [inv.boot_filename(node), inv.ipxe_chain]
        assert (res["hw-address"], res["ip-address"], res["hostname"]) == (node.mac, str(node.ip), node.name)
        data = {o["name"]: kea_option_data(o["data"]) for o in res["option-data"]}
        assert data == {"host-name": node.name, "root-path": root_path}
        assert res.get("boot-file-name", inv.boot_filename(node)) == inv.boot_filename(node)
        assert export == (node.nfsroot, [(str(node.ip), inv.export_options)])
        if node.method is not BootMethod.IPXE:
            continue
        script = files[f"ipxe/{node.name}.ipxe"]
        assert len(lines[f"ipxe/{node.name}.ipxe"]) == 4 + len(node.initrds)
        commands = parse_ipxe(script)
        assert ipxe_comments(script)[0].startswith(f"{node.name} {node.mac} {node.ip}: ")
        assert commands[0][:2] == ["kernel", f"/{node.image}"]
        params = split_cmdline(" ".join(commands[0][2:]))
        assert params == commands[0][2:] and len(" ".join(params)) <= inv.cmdline_max
        assert f"nfsroot={net.server}:{root_path}" in params
        assert params[len(params) - len(node.append.split()):] == node.append.split()
        assert commands[1:] == [*(["initrd", f"/{rd}"] for rd in node.initrds), ["boot"]]
    web_inv = over_http(inv)
    assert nginx_locations(files["nginx"]) == ["/" + f for f in web.web_files(web_inv)]
    assert nginx_root(files["nginx"]) == str(TFTP_ROOT)


def over_http(inv: bootconf.Inventory) -> bootconf.Inventory:
    """The same nodes fetching over HTTP, for the web server's site (transfer is not a key yet)."""
    return dataclasses.replace(inv, nodes=tuple(dataclasses.replace(n, transfer=Transfer.HTTP)
                                                if n.method is BootMethod.IPXE else n for n in inv.nodes))


def render(inv: bootconf.Inventory) -> dict[str, str]:
    files = {"dhcpd.conf": bootconf.render_dhcpd(inv), "kea-dhcp4.conf": kea.render_kea(inv),
             "exports": bootconf.render_exports(inv), "tftpd-hpa": bootconf.render_tftpd(inv, TFTP_ROOT),
             "nginx": web.render_nginx(over_http(inv), TFTP_ROOT)}
    files.update({f"ipxe/{n.name}.ipxe": bootconf.render_ipxe(inv, n) for n in inv.nodes
                  if n.method is BootMethod.IPXE})
    return files


# ------------------------------------------------------------------ the real checkers, once per batch


def dhcpd_binary() -> str | None:
    return os.environ.get("RAMSES_DHCPD") or shutil.which("dhcpd") or shutil.which("/usr/sbin/dhcpd")


def kea_binary() -> str | None:
    return shutil.which("kea-dhcp4") or shutil.which("/usr/sbin/kea-dhcp4")


def run_checkers(tmp: Path, accepted: list[dict[str, str]]) -> list[str]:
    """Run every installed checker; returns the checkers that were not installed."""
    missing = []
    dhcpd, kea_bin = dhcpd_binary(), kea_binary()
    for i, files in enumerate(accepted):
        (tmp / f"dhcpd-{i}.conf").write_text(files["dhcpd.conf"])
        (tmp / f"kea-{i}.conf").write_text(files["kea-dhcp4.conf"])
        (tmp / f"tftpd-{i}").write_text(files["tftpd-hpa"])
    if dhcpd:
        for i in range(len(accepted)):
            proc = subprocess.run([dhcpd, "-t", "-cf", str(tmp / f"dhcpd-{i}.conf")], capture_output=True, text=True,
                                  timeout=30)
            assert proc.returncode == 0, (proc.stderr, accepted[i]["dhcpd.conf"])
    else:
        missing.append("dhcpd (apt-get install isc-dhcp-server)")
    if kea_bin:  # the richest examples: the most nodes and files
        richest = sorted(range(len(accepted)), key=lambda i: -len(accepted[i]))[:6]
        for i in richest:
            proc = subprocess.run([kea_bin, "-t", str(tmp / f"kea-{i}.conf")], capture_output=True, text=True,
                                  timeout=30)
            assert proc.returncode == 0, (proc.stdout + proc.stderr, accepted[i]["kea-dhcp4.conf"])
    else:
        missing.append("kea-dhcp4 (apt-get install kea-dhcp4-server)")
    values = sh_values([tmp / f"tftpd-{i}" for i in range(len(accepted))], ("TFTP_DIRECTORY", "TFTP_ADDRESS"))
    assert {v[0] for v in values} <= {str(TFTP_ROOT)}
    missing += nginx_check(tmp, [f["nginx"] for f in accepted])
    return missing


def nginx_check(tmp: Path, sites: list[str]) -> list[str]:
    """nginx -t over one configuration holding every site, in a private network namespace where
    every address is local (nginx binds its listen addresses even to test)."""
    if not shutil.which("nginx"):
        return ["nginx (apt-get install nginx-light)"]
    if os.geteuid() != 0 or not shutil.which("unshare"):
        return ["nginx -t (needs root for a private network namespace)"]
    (tmp / "sites.conf").write_text("\n".join(sites))
    (tmp / "nginx.conf").write_text(f"pid {tmp}/nginx.pid; error_log {tmp}/error.log;\nevents {{ }}\n"
                                    f"http {{ access_log off; include {tmp}/sites.conf; }}\n")
    inner = f"ip link set lo up && ip route add local 0.0.0.0/0 dev lo && nginx -q -t -c {tmp}/nginx.conf -p {tmp}"
    proc = subprocess.run(["unshare", "--net", "sh", "-c", inner], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    return []


# ------------------------------------------------------------------ the tests


def test_any_accepted_inventory_renders_files_that_parse_and_read_back(tmp_path):
    accepted: list[dict[str, str]] = []
    refused = 0
    path = tmp_path / "nodes.toml"

    @settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                      HealthCheck.function_scoped_fixture])
    @given(inventories(), st.sampled_from([255, 2047]))
    def check(drawn: Drawn, cmdline_max: int) -> None:
        nonlocal refused
        for place, value in [(None, None), *drawn.hostile.items()]:
            doc = drawn.doc if place is None else with_value(drawn.doc, place, value)
            text = write_nodes_toml(doc)
            try:
                inv = bootconf.loads(path, text.encode(), IMAGE, {}, cmdline_max)
            except BootConfigError as exc:
                refused_at_its_line(text, path, exc, place is not None)
                refused += 1
                continue
            files = render(inv)
            read_back(inv, files)
            if len(accepted) < 40:
                accepted.append(files)

    check()
    assert accepted and refused, (len(accepted), refused)  # both sides were exercised
    print("STATS", len(accepted), refused)
    missing = run_checkers(tmp_path, accepted)
    if missing:
        pytest.skip(f"rendered files read back; not checked by: {', '.join(missing)}")


# ------------------------------------------------------------------ [netboot] append, into a real NBI image

RAMSES_TOML = """[kernel]
version = "{version}"
[source."{version}"]
tarball = "linux.tar.xz"
mirrors = ["file:///nonexistent/"]
sha256 = "{sha}"
unsigned = "property test: nothing is fetched"
[profile.client]
[netboot]
append = {append}
"""


def test_netboot_append_reaches_the_image_unchanged(tmp_path):
    from ramsesbuild import settings as settings_mod
    from ramsesbuild.nbi import MknbiOptions, build_image
    from ramsesbuild.nbi.nbiformat import parse_header_block

    from ..lib.nbi_fakes import write_fake_kernel

    kernel = write_fake_kernel(tmp_path / "bzImage", setup_sects=4, cmdline_size=2047)
    cfg = tmp_path / "ramses.toml"
    built = 0

    @settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                      HealthCheck.function_scoped_fixture])
    @given(st.one_of(append, st.builds(lambda a, b: a + b, append, st.sampled_from(ODD)),
                     st.builds(lambda a: a + " x" * 150, append), st.text(st.sampled_from(ODD + list("ab= ")),
                                                                            max_size=20)),
           st.sampled_from(["2.4.18", "6.1"]))
    def check(value: str, version: str) -> None:
        nonlocal built
        text = RAMSES_TOML.format(version=version, sha="0" * 64, append=toml_string(value))
        cfg.write_text(text)
        try:
            s = settings_mod.load(cfg)
        except SettingsError as exc:
            msg = str(exc)
            assert "\n" not in msg and msg.startswith(f"{cfg}:10: "), msg  # append's line
            return
        nb = s.profiles["client"].netboot
        assert nb is not None and nb.append == value
        out = tmp_path / f"image-{built % 4}"
        build_image(kernel, out, MknbiOptions(format=nb.format, append=nb.append, ip=nb.ip, rootdir=nb.rootdir,
                                              initrd=nb.initrd, layout=nb.layout, first32=nb.first32))
        built += 1
        data = out.read_bytes()
        parsed = parse_header_block(data[:512])
        assert parsed is not None
        off = 512
        for seg in parsed.segments:
            if seg.tag == 17:
                cmdline = data[off:off + seg.imglen].rstrip(b"\0").decode("ascii")
            off += seg.imglen
        params = split_cmdline(cmdline)
        assert params[len(params) - len(value.split()):] == value.split()
        assert len(cmdline) <= (255 if version.startswith("2.4") else 2047)

    check()
    assert built
