"""The per-format rules (ramsesbuild.valuerules): every format has its fields and a reader, every
key that reaches a generated file declares where; whole-string matching, ASCII-only DNS names,
protocol length limits; for any value a field accepts, the text it writes reads back unchanged
with the format's own grammar (tests/lib/formats.py) or its real reader (sh)."""

from __future__ import annotations

import json
import string

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ramsesbuild import valuerules as vr
from ramsesbuild.errors import BootConfigError
from ramsesbuild.schemas.nodes import NODES_TOML
from ramsesbuild.schemas.ramses import NetbootTable, PathsTable
from ramsesbuild.valuerules import FIELDS, Format

from ..lib.formats import (
    READERS,
    kea_option_data,
    nginx_tokens,
    parse_dhcpd,
    parse_exports,
    parse_ipxe,
    sh_values,
    split_cmdline,
)

# ------------------------------------------------------------------ declared once, everywhere


def test_every_format_has_fields_and_a_reader():
    assert {f.format for f in FIELDS} == set(Format) == set(READERS)
    assert len({(f.format, f.name) for f in FIELDS}) == len(FIELDS)


def _keys():
    for _, section in NODES_TOML.walk():
        yield from ((f"nodes.toml {section.TITLE}", k) for k in section.own_keys())
    for section in (NetbootTable, PathsTable):
        yield from ((f"ramses.toml {section.TITLE}", k) for k in section.own_keys())


def test_every_key_says_which_outputs_it_reaches():
    """A new key in nodes.toml, [netboot] or [paths] must say where its value goes (reaches=(),
    when nowhere), so it cannot skip the rules of a format; every field it names is declared."""
    undeclared = [f"{where} {k.name}" for where, k in _keys() if k.reaches is None]
    assert undeclared == []
    assert {f for _, k in _keys() for f in k.reaches or ()} <= set(FIELDS)


# ------------------------------------------------------------------ refusals, with the reason

LOOKALIKE = "\u0430"  # Cyrillic a

REFUSED = [
    # issue 19: a trailing newline in name, mac and image splits dhcpd.conf and iPXE lines
    (vr.DHCPD_HOST, "node01\n", "line break at character 7"),
    (vr.IPXE_SCRIPT_NAME, "node01\n", "line break"),
    (vr.DHCPD_MAC, "52:54:00:12:34:56\n", "not six lower-case hex pairs"),
    (vr.DHCPD_FILENAME, "vmlinuz\n", "line break"),
    (vr.IPXE_FILE, "vmlinuz\n", "line break"),
    # a trailing backslash in nfsroot escapes the closing quote
    (vr.DHCPD_ROOT_PATH, "/tftpboot/n1\\", "backslash"),
    (vr.EXPORTS_PATH, "/tftpboot/n1\\", "'\\\\' at character 13"),
    (vr.CMDLINE_NFSROOT, "192.0.2.1:/tftpboot/n1\\\n", "line break"),
    # NUL, newlines and look-alike letters in domain, export_options, nfs_options, ipxe_chain, append
    (vr.DHCPD_DOMAIN, "cluster.example\0", "control character '\\x00'"),
    (vr.DHCPD_DOMAIN, "cluster.example\nshared-network x", "line break"),
    (vr.DHCPD_DOMAIN, f"cluster.ex{LOOKALIKE}mple", "non-ASCII character 'а' (U+0430)"),
    (vr.KEA_OPTION, "cluster.example\0", "NUL"),
    (vr.EXPORTS_OPTIONS, "rw,no_root_squash\0", "control character"),
    (vr.EXPORTS_OPTIONS, "rw\n/ *(rw)", "line break"),
    (vr.EXPORTS_OPTIONS, f"rw,no_root_squ{LOOKALIKE}sh", "non-ASCII"),
    (vr.CMDLINE_NFSROOT, "192.0.2.1:/r,vers=3\0", "control character"),
    (vr.DHCPD_ROOT_PATH, "/r,vers=3\ntcp", "line break"),
    (vr.DHCPD_ROOT_PATH, f"/r,v{LOOKALIKE}rs=3", "non-ASCII"),
    (vr.DHCPD_FILENAME, "undionly.kpxe\0", "control character"),
    (vr.DHCPD_FILENAME, "undionly.kpxe\n", "line break"),
    (vr.KEA_BOOT_FILE, "undionly.kpxe\0", "NUL"),
    (vr.IPXE_FILE, f"undionly.kp{LOOKALIKE}e", "non-ASCII"),
    (vr.IPXE_ARGUMENTS, "console=ttyS0\nshell", "line break"),
    (vr.CMDLINE_PARAMETERS, "console=ttyS0\0", "control character"),
    (vr.CMDLINE_PARAMETERS, f"c{LOOKALIKE}nsole=ttyS0", "non-ASCII"),
    (vr.CMDLINE_PARAMETERS, 'init="/bin/sh -c x"', "double quote"),
    # lengths from the protocols
    (vr.DHCPD_ROOT_PATH, "/" + "r" * 399, "it is 400 bytes; DHCP option 17 carries at most 255"),
    (vr.EXPORTS_PATH, "/a//b", "not a plain path"),
    (vr.CMDLINE_NFSROOT, "192.0.2.1:/" + "r" * 400, "Linux 2.4 keeps of nfsroot= at most 255"),
    (vr.DHCPD_HOST, "a" * 300, "1 to 63 characters"),
    (vr.DHCPD_DOMAIN, "a" * 300 + ".example", "it is 308 bytes; a DNS name has at most 253"),
    (vr.DHCPD_DOMAIN, "a" * 64 + ".example", "is not a DNS label"),
    (vr.DHCPD_FILENAME, "a" * 128, "it is 128 bytes; the BOOTP file field carries at most 127"),
    (vr.KEA_BOOT_FILE, "é" * 64, "it is 128 bytes"),
    (vr.KEA_INTERFACE, "eth0-with-a-long-name", "Linux interface name has at most 15"),
    # what iPXE, the kernel, nginx and sh would read as syntax
    (vr.IPXE_ARGUMENTS, "x=${net0/ip}", "${"),
    (vr.IPXE_ARGUMENTS, "quiet #comment", "starts with #"),
    (vr.IPXE_ARGUMENTS, "quiet || shell", "operator"),
    (vr.IPXE_ARGUMENTS, "quiet\\", "continuation"),
    (vr.CMDLINE_NFSROOT, "192.0.2.1:/tftpboot/%d", "other than one %s"),
    (vr.NGINX_PATH, "/vmlinuz-$uri", "'$'"),
    (vr.TFTPD_DIRECTORY, "/srv/$(touch /tmp/owned)", "'$'"),
    (vr.TFTPD_DIRECTORY, '/srv/"x', "'\"'"),
    (vr.DHCPD_HOST, "Node01", "lower-case"),
    (vr.DHCPD_HOST, "-node", "no - at either end"),
]


@pytest.mark.parametrize("field, value, reason", REFUSED, ids=[f"{f.format}-{f.name}-{v[:12]!r}" for f, v, _ in REFUSED])
def test_what_a_format_cannot_carry_is_refused_with_the_reason(field, value, reason):
    refusal = field.refusal(value)
    assert refusal is not None and refusal.startswith(f"{field} cannot carry it: ") and reason in refusal, refusal
    with pytest.raises(BootConfigError, match="cannot carry it"):
        field.text(value, "value")


ACCEPTED = [
    (vr.DHCPD_HOST, "node01", "node01"), (vr.DHCPD_HOST_NAME, "node01", '"node01"'),
    (vr.DHCPD_DOMAIN, "Cluster.Example", '"Cluster.Example"'),
    (vr.DHCPD_FILENAME, "ipxe/node01.ipxe", '"ipxe/node01.ipxe"'),
    (vr.DHCPD_FILENAME, "a" * 127, '"' + "a" * 127 + '"'),
    (vr.DHCPD_ROOT_PATH, "/tftpboot/192.0.2.11,vers=3,tcp", '"/tftpboot/192.0.2.11,vers=3,tcp"'),
    (vr.KEA_OPTION, "/r/n1,vers=3", '"/r/n1\\\\,vers=3"'),
    (vr.EXPORTS_OPTIONS, "rw,no_root_squash,sec=sys:krb5", "rw,no_root_squash,sec=sys:krb5"),
    (vr.CMDLINE_NFSROOT, "192.0.2.1:/tftpboot/%s,vers=3", "192.0.2.1:/tftpboot/%s,vers=3"),
    (vr.IPXE_ARGUMENTS, "console=ttyS0,9600n8 -- single", "console=ttyS0,9600n8 -- single"),
    (vr.NGINX_PATH, '/a"b', '"/a\\"b"'), (vr.TFTPD_DIRECTORY, "/srv/tftp boot", '"/srv/tftp boot"'),
    (vr.KEA_INTERFACE, "*", '"*"'), (vr.KEA_INTERFACE, "enp0s3", '"enp0s3"'),
]


@pytest.mark.parametrize("field, value, written", ACCEPTED)
def test_accepted_values_are_written(field, value, written):
    assert field.refusal(value) is None and field.text(value, "value") == written


def test_whole_strings_only():
    """A $-anchored pattern matches before a trailing newline: every check is whole-string."""
    for check in (vr.dns_label, vr.dns_name, vr.mac_input, vr.mac, vr.ipv4, vr.ipv4_network, vr.nfs_path,
                  vr.nfs_options, vr.tftp_file, vr.ifname, vr.kernel_word):
        good = {vr.dns_label: "n1", vr.dns_name: "a.example", vr.mac_input: "52:54:00:00:00:01",
                vr.mac: "52:54:00:00:00:01", vr.ipv4: "192.0.2.1", vr.ipv4_network: "192.0.2.0/24",
                vr.nfs_path: "/r/n1", vr.nfs_options: "rw", vr.tftp_file: "vmlinuz", vr.ifname: "eth0",
                vr.kernel_word: "dhcp"}[check]
        assert check(good) is None and check(good + "\n") is not None, check


# ------------------------------------------------------------------ properties: written, read back

ODD = list(string.ascii_letters + string.digits + " \"'\\\n\r\t\0\x7f$#{}|&%,;()/.:=-_@~+*?[]!<>`")
ODD += ["\u0430", "\u043e", "é", "€", "\u00a0", "\u2028", "\U0001f600"]
texts = st.text(st.one_of(st.sampled_from(ODD), st.characters(exclude_categories=["Cs"])), max_size=80)
words = st.text(st.sampled_from(ODD), max_size=60)


@settings(max_examples=150, deadline=None)
@given(texts)
def test_any_text_a_field_accepts_reads_back_unchanged(value):
    """One text through every field that takes any text: written, then read back with the
    format's grammar (dhcpd strings, Kea JSON and option lists, nginx tokens); DNS names ASCII."""
    for field in (vr.DHCPD_FILENAME, vr.DHCPD_ROOT_PATH, vr.DHCPD_HOST_NAME, vr.DHCPD_DOMAIN):
        if field.refusal(value) is None:
            _, hosts = parse_dhcpd(f"host n1 {{ x {field.write(value)}; }}")
            assert hosts[0].settings["x"] == [value]
            assert value.isascii() and "\n" not in value and len(value.encode()) <= 255
    for field in (vr.KEA_BOOT_FILE, vr.KEA_HOSTNAME, vr.KEA_INTERFACE):
        if field.refusal(value) is None:
            assert json.loads(field.write(value)) == value
    if vr.KEA_OPTION.refusal(value) is None:
        assert kea_option_data(json.loads(vr.KEA_OPTION.write(value))) == value
    if vr.NGINX_PATH.refusal(value) is None:
        assert nginx_tokens(f"location = {vr.NGINX_PATH.write(value)} {{ }}") == ["location", "=", value, "{", "}"]
    if vr.dns_label(value) is None:
        assert value.isascii() and 1 <= len(value) <= 63 and value == value.lower()
    if vr.dns_name(value) is None:
        assert value.isascii() and len(value) <= 253 and all(1 <= len(x) <= 63 for x in value.split("."))


@settings(max_examples=100, deadline=None)
@given(words, words)
def test_exports_lines_read_back(path, options):
    if vr.EXPORTS_PATH.refusal(path) is None and vr.EXPORTS_OPTIONS.refusal(options) is None:
        assert parse_exports(f"# comment\n{path}  192.0.2.11({options})\n") == [(path, [("192.0.2.11", options)])]
        assert len(path) <= 255 and path.isascii()


@settings(max_examples=100, deadline=None)
@given(words)
def test_kernel_arguments_read_back_from_an_ipxe_script_and_the_kernel(value):
    if vr.IPXE_ARGUMENTS.refusal(value) is None and vr.CMDLINE_PARAMETERS.refusal(value) is None:
        script = f"#!ipxe\n# a comment\nkernel /vmlinuz root=/dev/nfs {value}\nboot\n"
        assert parse_ipxe(script) == [["kernel", "/vmlinuz", "root=/dev/nfs", *value.split()], ["boot"]]
        assert split_cmdline(value) == value.split()


def test_tftpd_directory_reads_back_through_sh(tmp_path):
    """The real sh sources every accepted value back unchanged (one sh for all of them)."""
    accepted: list[str] = []

    @settings(max_examples=100, deadline=None)
    @given(texts)
    def collect(value):
        if vr.TFTPD_DIRECTORY.refusal(value) is None and len(accepted) < 100:
            accepted.append(value)

    collect()
    files = []
    for i, value in enumerate(accepted):
        files.append(tmp_path / f"tftpd-{i}")
        files[-1].write_text(f"TFTP_DIRECTORY={vr.TFTPD_DIRECTORY.write(value)}\n")
    assert [v[0] for v in sh_values(files, ("TFTP_DIRECTORY",))] == accepted
