"""make_paramstring: the mknbi 1.0 and 1.4.4 command-line rules (mknbi.md §2.4, §3.5)."""

from __future__ import annotations

import pytest

from ramsesbuild.errors import ImageError
from ramsesbuild.nbi.cmdline import CmdlineSpec, make_paramstring, resolve_names

HOSTS = {"localhost": "127.0.0.1", "server": "192.0.2.1", "10.1": "10.0.0.1"}


def fake_resolver(name: str) -> str | None:
    return HOSTS.get(name)


def p10(**kw: object) -> str:
    return make_paramstring(CmdlineSpec(**kw), "1.0", fake_resolver)[0]  # type: ignore[arg-type]


def p14(**kw: object) -> str:
    return make_paramstring(CmdlineSpec(**kw), "1.4", fake_resolver)[0]  # type: ignore[arg-type]


@pytest.mark.parametrize("kw, want", [  # the oracle table of mknbi.md §2.4
    ({}, "auto rw root=/dev/nfs"),
    ({"rootdir": "/"}, "auto rw root=/dev/nfs nfsroot=/"),
    ({"ip": "rom", "rootdir": "rom"}, "auto rw root=/dev/nfs nfsroot=rom ip=rom"),
    ({"rootdir": "kernel", "ip": "kernel"}, "auto rw root=/dev/nfs"),
    ({"rootdir": "/dev/ram0", "ip": "rom", "append": "console=ttyS0 vga=normal"},
     "auto rw root=/dev/ram0 ip=rom console=ttyS0 vga=normal"),
    ({"ip": "localhost:localhost::255.255.255.0:client", "rootdir": "kernel"},
     "auto rw root=/dev/nfs ip=127.0.0.1:127.0.0.1::255.255.255.0:client"),
    ({"ip": "1.2.3.4:5.6.7.8:9.9.9.9"}, "auto rw root=/dev/nfs ip=1.2.3.4:5.6.7.8:9.9.9.9"),
    ({"ip": "dhcp"}, "auto rw root=/dev/nfs ip=dhcp"),  # 1.0 knows only rom/kernel: resolve_names -> kept
    ({"param": "anything at all", "rootdir": "/x"}, "anything at all"),
])
def test_mknbi_10_rules(kw: dict, want: str) -> None:
    assert p10(**kw) == want


@pytest.mark.parametrize("kw, want", [
    ({}, "rw root=/dev/nfs"),
    ({"rootmode": "ro", "rootdir": "/srv/c"}, "ro root=/dev/nfs nfsroot=/srv/c"),
    ({"ip": "dhcp", "rdbase": "top"}, "rw root=/dev/nfs ip=dhcp rdbase=top"),
    ({"ip": "server:server:10.1:255.0.0.0:n5:eth0", "append": "quiet"},
     "rw root=/dev/nfs ip=192.0.2.1:192.0.2.1:10.0.0.1:255.0.0.0:n5:eth0 quiet"),
    ({"ip": "rom", "rootdir": "rom", "rdbase": "0x2000000"}, "rw root=/dev/nfs nfsroot=rom ip=rom rdbase=0x2000000"),
])
def test_mknbi_144_rules(kw: dict, want: str) -> None:
    assert p14(**kw) == want


def test_warnings() -> None:
    _, w = make_paramstring(CmdlineSpec(), "1.4", fake_resolver)
    assert w == ["Warning: The --ip option was not used; you may need it if you use NFSroot."]
    assert make_paramstring(CmdlineSpec(have_ramdisk=True), "1.4", fake_resolver)[1] == []
    assert make_paramstring(CmdlineSpec(), "1.0", fake_resolver)[1] == []
    text, w = resolve_names("nowhere:server:x:255.0.0.0:h", fake_resolver)
    assert text == "nowhere:192.0.2.1:x:255.0.0.0:h"
    assert w == ["Warning: nowhere cannot be resolved to an IP address", "Warning: x cannot be resolved to an IP address"]
    assert resolve_names("a:b", fake_resolver)[1][0].startswith("a:b: invalid specification")


def test_empty_field_is_kept_and_default_resolver_handles_numbers() -> None:
    from ramsesbuild.nbi.cmdline import default_resolver
    assert default_resolver("") is None
    assert default_resolver("127.1") == "127.0.0.1"
    assert resolve_names("10.0.0.5::::h", default_resolver)[0] == "10.0.0.5::::h"


@pytest.mark.parametrize("kw, dialect, match", [
    ({"rdbase": "middle"}, "1.4", "rdbase"),
    ({"rootmode": "rx"}, "1.4", "rootmode"),
    ({"rdmode": "sometimes"}, "1.0", "rdmode"),
])
def test_invalid_values(kw: dict, dialect: str, match: str) -> None:
    with pytest.raises(ImageError, match=match):
        make_paramstring(CmdlineSpec(**kw), dialect, fake_resolver)


def test_param_skips_validation_like_mknbi() -> None:
    assert make_paramstring(CmdlineSpec(param="x", rdbase="bogus"), "1.4", fake_resolver) == ("x", [])
