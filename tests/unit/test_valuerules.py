"""The per-format rules (ramsesbuild.valuerules): whole-string matching, ASCII-only DNS names,
protocol length limits; for any value a rule accepts, the rendered text reads back unchanged."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ramsesbuild.valuerules import (
    BOOTP_FILE_MAX,
    RULES,
    Refusal,
    dhcpd_domain_name,
    dhcpd_filename,
    dhcpd_host_name,
    dhcpd_root_path,
    dhcpd_string,
    dns_label,
    dns_name,
    exports_line,
    ipv4,
    ipxe_argument,
    kernel_cmdline,
    kernel_parameter,
    mac_address,
    nfs_options,
    nfs_path,
    nfsroot_parameter,
    tftp_path,
)

REFUSED = [
    # the classes of issue 19: a trailing newline, NUL, look-alike letters, a trailing backslash,
    # quotes, lengths past the protocol's
    (dns_label, "node01\n"), (dns_label, "node01\0"), (dns_label, "nоde01"),  # Cyrillic о
    (dns_label, "-node"), (dns_label, "Node01"), (dns_label, "a" * 64), (dns_label, ""),
    (dns_name, "cluster.example\n"), (dns_name, "clüster.example"), (dns_name, "a..b"),
    (dns_name, ".".join(["a" * 63] * 4)), (dns_name, "x" * 300),
    (dhcpd_string, 'a"b'), (dhcpd_string, "a\\"), (dhcpd_string, "a\nb"), (dhcpd_string, "x" * 256),
    (dhcpd_filename, "ipxe/node01.ipxe\n"), (dhcpd_filename, "/abs"), (dhcpd_filename, "../x"),
    (dhcpd_filename, "a" * (BOOTP_FILE_MAX + 1)),
    (dhcpd_root_path, "/tftpboot/x\\"), (dhcpd_root_path, "/tftpboot/x,vers=3 tcp"),
    (dhcpd_root_path, "/" + "r" * 400),
    (dhcpd_host_name, "node 1"), (dhcpd_domain_name, 'ex"ample'),
    (mac_address, "52:54:00:12:34:56\n"), (mac_address, "53:54:00:12:34:56"), (mac_address, "52:54:00:12:34"),
    (ipv4, "192.0.2.1\n"), (ipv4, "192.0.2.01"), (ipv4, "::1"),
    (nfs_path, "relative"), (nfs_path, "/a b"), (nfs_path, "/a#b"), (nfs_path, "/a,b"), (nfs_path, "/a(b)"),
    (nfs_path, "/a/../etc"), (nfs_path, "/" + "r" * 400), (nfs_path, "/tftpboot/\u0430"),
    (nfs_options, "rw, sync"), (nfs_options, "rw,(x)"), (nfs_options, "rw,"), (nfs_options, "rw\n"),
    (tftp_path, "vmlinuz\n"), (tftp_path, "a/../b"), (tftp_path, "${x}"), (tftp_path, "a b"),
    (ipxe_argument, "console=ttyS0 init=/bin/sh"), (ipxe_argument, "x=${net0/ip}"), (ipxe_argument, "a||b"),
    (ipxe_argument, "a\nshell"),
    (kernel_parameter, "a b"), (kernel_parameter, 'a="b c"'), (kernel_parameter, "a\0"), (kernel_parameter, ""),
]


@pytest.mark.parametrize("rule, value", REFUSED, ids=[f"{r.__name__}-{v[:20]!r}" for r, v in REFUSED])
def test_hostile_values_are_refused_with_a_reason(rule, value):
    result = rule(value)
    assert isinstance(result, Refusal) and result.reason, result


ACCEPTED = [
    (dns_label, "node01", "node01"), (dns_name, "Cluster.Example", "cluster.example"),
    (dhcpd_filename, "ipxe/node01.ipxe", '"ipxe/node01.ipxe"'),
    (dhcpd_root_path, "/tftpboot/192.0.2.11,vers=3,tcp", '"/tftpboot/192.0.2.11,vers=3,tcp"'),
    (dhcpd_host_name, "node01", '"node01"'), (mac_address, "52-54-00-12-34-0A", "52:54:00:12:34:0a"),
    (ipv4, "192.0.2.11", "192.0.2.11"), (nfs_options, "rw,no_root_squash", "rw,no_root_squash"),
    (ipxe_argument, "console=ttyS0,9600n8", "console=ttyS0,9600n8"),
]


@pytest.mark.parametrize("rule, value, text", ACCEPTED)
def test_accepted_values_render(rule, value, text):
    assert rule(value) == text


def test_lines_and_limits():
    assert exports_line("/tftpboot/192.0.2.11", "192.0.2.11", "rw,no_root_squash") == \
        "/tftpboot/192.0.2.11  192.0.2.11(rw,no_root_squash)"
    assert nfsroot_parameter("192.0.2.1", "/tftpboot/n1", "vers=3") == "nfsroot=192.0.2.1:/tftpboot/n1,vers=3"
    assert isinstance(nfsroot_parameter("192.0.2.1", "/" + "r" * 250, "vers=3,tcp"), Refusal)
    assert kernel_cmdline(["root=/dev/nfs", "ip=dhcp"], "2.4") == "root=/dev/nfs ip=dhcp"
    assert isinstance(kernel_cmdline(["x=" + "a" * 300], "2.4"), Refusal)
    assert kernel_cmdline(["x=" + "a" * 300], "modern") == "x=" + "a" * 300
    assert dhcpd_filename("a" * BOOTP_FILE_MAX) == f'"{"a" * BOOTP_FILE_MAX}"'
    assert {r.format for r in RULES} == {"dns", "dhcpd.conf", "exports", "ipxe", "cmdline"}


def _unquote(text: str) -> str:
    assert text.startswith('"') and text.endswith('"') and text.count('"') == 2
    return text[1:-1]


@given(st.text(max_size=300))
def test_any_accepted_dhcpd_string_reads_back_unchanged(value):
    result = dhcpd_string(value)
    if not isinstance(result, Refusal):
        assert "\n" not in result and _unquote(result) == value and len(value.encode()) <= 255


@given(st.text(max_size=80))
def test_any_accepted_host_name_is_one_ascii_label(value):
    result = dns_label(value)
    if not isinstance(result, Refusal):
        assert result == value and value.isascii() and 1 <= len(value) <= 63 and "\n" not in value


@given(st.text(max_size=300))
def test_any_accepted_nfs_path_is_one_plain_word_within_limits(value):
    result = nfs_path(value)
    if not isinstance(result, Refusal):
        assert result == value and value.isascii() and len(value) <= 255
        assert not any(c.isspace() or c in "\"'#,()\\" for c in value)


@given(st.lists(st.text(max_size=40), max_size=8))
def test_any_accepted_command_line_splits_back_into_its_parameters(params):
    result = kernel_cmdline(params, "modern")
    if not isinstance(result, Refusal):
        assert result.split(" ") == params if params else result == ""
