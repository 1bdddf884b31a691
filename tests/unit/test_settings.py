"""ramses.toml parsing: the shipped file loads, and every mistake gives one message naming
file:line: unknown keys and tables (with a suggestion), wrong types, unknown placeholders,
output paths outside tftpboot, bad bytes."""

from __future__ import annotations

import pytest

from ramsesbuild.errors import SettingsError
from ramsesbuild.settings import load

from ..lib.support import REPO

MINIMAL = """\
[kernel]
version = "6.1"
[source."6.1"]
tarball = "linux-source-6.1.tar.xz"
mirrors = ["file:///usr/src/"]
sha256 = "4d415b3d364834fd818270e88813e90323bbfce4f519a0e6bd4940ddcd7df693"
unsigned = "Debian package"
[profile.server]
fragments = ["kconfigs/RamsesServer.conf"]
[profile.client]
base = "tinyconfig"
fragments = ["kconfigs/RamsesCluster.conf"]
[netboot]
"""


def write(tmp_path, text):
    p = tmp_path / "ramses.toml"
    p.write_bytes(text.encode() if isinstance(text, str) else text)
    return p


def line_of(text: str, needle: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), 1) if needle in line)


def test_shipped_settings_load():
    s = load(REPO / "ramses.toml")
    assert s.version == "2.4.18" and s.arch == "i386"
    assert s.source.signature == "linux-2.4.18.tar.sign"
    assert s.source.mirrors[0].startswith("https://cdn.kernel.org/")
    assert list(s.profiles) == ["server", "client"]
    client = s.profiles["client"]
    assert client.fragments == (REPO / "kconfigs" / "RamsesCluster.conf",)
    assert client.netboot is not None and s.profiles["server"].netboot is None
    assert client.netboot.output_name(s.version) == "vmlinuz-2.4.18-cluster"
    assert client.netboot.append == "ramdisk_size=1024"
    assert s.patch_dir() == REPO / "patches" / "2.4.18"
    assert client.netboot.mba  # node03 in the shipped nodes.toml is a 3Com MBA node


def test_shipped_settings_for_every_shipped_source(tmp_path):
    """Every [source] entry of the shipped file is valid (e.g. the dpkg-checked Debian 6.1 one)."""
    text = (REPO / "ramses.toml").read_text().replace('version = "2.4.18"', 'version = "6.1"', 1)
    s = load(write(tmp_path, text))
    assert s.source.dpkg == "linux-source-6.1" and s.source.sha256 is None


def test_minimal_settings_and_defaults(tmp_path):
    s = load(write(tmp_path, MINIMAL))
    assert s.build_dir == tmp_path / "build" and s.tftpboot == tmp_path / "tftpboot"
    assert s.profiles["server"].base == "defconfig" and s.profiles["client"].base == "tinyconfig"
    assert s.profiles["client"].netboot.output_name("6.1") == "vmlinuz-6.1-client"
    assert s.make_jobs() >= 1
    assert s.patch_dir() == tmp_path / "patches" / "6.1"
    assert s.profiles["client"].netboot.mba is False


@pytest.mark.parametrize("change, message", [
    (('version = "6.1"', 'version = "9.9"'), r'no \[source."9.9"\] table \(known: 6.1\)'),
    (('sha256 = "4d41', 'sha256 = "zz41'), "sha256 must be 64 hex digits"),
    (('unsigned = "Debian package"', ''), 'set unsigned = "<why'),
    (('unsigned = "Debian package"', 'signature = "x.tar.sign"'), "no signers/keys"),
    (('mirrors = ["file:///usr/src/"]', 'mirrors = []'), "mirrors must not be empty"),
    (('[profile.client]\nbase = "tinyconfig"\nfragments = ["kconfigs/RamsesCluster.conf"]', ''),
     r"profiles lists 'client', but there is no \[profile.client\]"),
    (('[netboot]', '[netboot]\nformat = "zip"'), "format = 'zip' is not one of nbi, elf, raw"),
])
def test_mistakes_are_named(tmp_path, change, message):
    with pytest.raises(SettingsError, match=message):
        load(write(tmp_path, MINIMAL.replace(*change)))


@pytest.mark.parametrize("change, needle, message", [
    # unknown keys and tables, with file:line and the closest known name
    (('[netboot]', '[netboot]\napend = "x"'), "apend", 'unknown key \'apend\' (did you mean "append"?)'),
    (('[kernel]', '[kernel]\njbos = 4'), "jbos", 'unknown key \'jbos\' (did you mean "jobs"?)'),
    (('[kernel]', '[paths]\ntftpbot = "/srv"\n[kernel]'), "tftpbot", '(did you mean "tftpboot"?)'),
    (('[netboot]', '[netbot]'), "[netbot]", 'unknown table \'netbot\' (did you mean "netboot"?)'),
    (('[profile.client]', '[profile.client]\nformt = "elf"'), "formt", "unknown key 'formt'"),
    (('[netboot]', '[netboot]\n[profile.client.netboot]\nfromat = "elf"'), "fromat",
     'unknown key \'fromat\' (did you mean "format"?)'),
    # wrong types
    (('[kernel]', '[kernel]\njobs = "4"'), "jobs", "jobs must be an integer, not the string '4'"),
    (('[kernel]', '[kernel]\njobs = -1'), "jobs", "jobs must be >= 0"),
    (('[kernel]', '[kernel]\nmake_vars = ["KCFLAGS=-g"]'), "make_vars", "make_vars must be a table of strings"),
    (('[kernel]', '[kernel]\nmake_vars = { KCFLAGS = 1 }'), "make_vars", "make_vars.KCFLAGS must be a string"),
    (('[netboot]', '[netboot]\nappend = 3'), "append", "append must be a string, not the number 3"),
    (('[netboot]', '[netboot]\nmba = "yes"'), "mba", "mba must be true or false"),
    (('fragments = ["kconfigs/RamsesServer.conf"]', 'fragments = "kconfigs/RamsesServer.conf"'),
     'fragments = "kconfigs/RamsesServer.conf"', "fragments must be a list of strings"),
    (('[profile.server]', '[profile.server]\nbase = 1'), "base = 1", "base must be a string"),
    (('[kernel]\nversion = "6.1"', '[kernel]\nversion = 6.1'), "version = 6.1", "version must be a string"),
    # placeholders and paths
    (('[netboot]', '[netboot]\noutput = "vmlinuz-{versoin}"'), "versoin",
     'unknown placeholder {versoin} (did you mean "version"?)'),
    (('[netboot]', '[netboot]\noutput = "vmlinuz-{version"'), "vmlinuz-{version", "bad template"),
    (('[netboot]', '[netboot]\noutput = "../../x"'), "../../x", "not a file name inside the tftpboot directory"),
    (('[netboot]', '[netboot]\noutput = "/etc/x"'), "/etc/x", "not a file name inside the tftpboot directory"),
    (('[profile.server]', '[profile.Server2]\n[profile.server]'), "Server2", "lower-case letters"),
    (('[netboot]', '[netboot]\nformat = "elf"\nmba = true'), "mba = true", 'mba = true needs format = "nbi"'),
    (('[netboot]', '[netboot]\nprofiles = ["client", "server"]\noutput = "vmlinuz"'), 'output = "vmlinuz"',
     "would both install 'vmlinuz'"),
])
def test_strict_reader_names_file_line(tmp_path, change, needle, message):
    text = MINIMAL.replace(*change)
    with pytest.raises(SettingsError) as info:
        load(write(tmp_path, text))
    msg = str(info.value)
    assert message in msg
    assert msg.startswith(f"{tmp_path / 'ramses.toml'}:{line_of(text, needle)}: "), msg
    assert "\n" not in msg


def test_non_utf8_byte_is_named_with_its_line(tmp_path):
    data = MINIMAL.encode().replace(b'[netboot]', b'[netboot]\nappend = "caf\xe9"')
    with pytest.raises(SettingsError, match=r"ramses.toml:14: byte 0xe9 is not UTF-8"):
        load(write(tmp_path, data))


def test_missing_and_malformed_file(tmp_path):
    with pytest.raises(SettingsError, match=r"file not found; copy ramses\.toml"):
        load(tmp_path / "nope.toml")
    with pytest.raises(SettingsError, match=r"ramses.toml:1: not valid TOML"):
        load(write(tmp_path, "[kernel\n"))


def test_bad_signer_fingerprint(tmp_path):
    text = MINIMAL.replace('unsigned = "Debian package"',
                           'signature = "x.tar.sign"\nsigners = ["C4790F9D"]\nkeys = ["k.asc"]')
    with pytest.raises(SettingsError, match="not a 40-hex-digit fingerprint"):
        load(write(tmp_path, text))


def test_node_classes_are_any_profile_with_its_own_netboot(tmp_path):
    text = MINIMAL + """
[profile.gateway]
base = "tinyconfig"
fragments = ["kconfigs/Gateway.conf"]
[profile.gateway.netboot]
output = "vmlinuz-{version}-gw"
format = "elf"
"""
    s = load(write(tmp_path, text))
    assert list(s.profiles) == ["server", "client", "gateway"]
    assert [p.name for p in s.netboot_profiles] == ["client", "gateway"]
    gw = s.profiles["gateway"].netboot
    assert gw.output_name("6.1") == "vmlinuz-6.1-gw" and gw.format == "elf"
    assert s.profiles["client"].netboot.format == "nbi"  # [netboot] defaults stay for the others


def test_dpkg_source_needs_no_pin(tmp_path):
    text = MINIMAL.replace('sha256 = "4d415b3d364834fd818270e88813e90323bbfce4f519a0e6bd4940ddcd7df693"\n'
                           'unsigned = "Debian package"', 'dpkg = "linux-source-6.1"')
    s = load(write(tmp_path, text))
    assert s.source.dpkg == "linux-source-6.1" and s.source.sha256 is None
    assert str(s.source.local_file()) == "/usr/src/linux-source-6.1.tar.xz"
    bad = text.replace('mirrors = ["file:///usr/src/"]', 'mirrors = ["https://example.invalid/"]')
    with pytest.raises(SettingsError, match="needs a file:// mirror first"):
        load(write(tmp_path, bad))


def test_unpack_limits(tmp_path):
    s = load(write(tmp_path, MINIMAL + '[unpack]\nmax_bytes = "2G"\nmax_members = 1000\n'))
    assert s.unpack_limits.max_bytes == 2 << 30 and s.unpack_limits.max_members == 1000
    with pytest.raises(SettingsError, match="max_bytes must be a size"):
        load(write(tmp_path, MINIMAL + '[unpack]\nmax_bytes = "lots"\n'))


def test_profile_names_may_contain_hyphens(tmp_path):
    from ramsesbuild.tasks import generate

    text = MINIMAL + '[profile.compute-gpu]\nbase = "tinyconfig"\n[profile.compute-gpu.netboot]\noutput = "gpu"\n'
    s = load(write(tmp_path, text))
    assert [p.name for p in s.netboot_profiles] == ["client", "compute-gpu"]
    names = {t["basename"] + (f":{t['name']}" if t.get("name") else "") for t in generate(s)}
    assert {"config-compute-gpu", "kernel-compute-gpu", "netboot-image:compute-gpu"} <= names


@pytest.mark.parametrize("name, message", [
    ("Server2", "name 'Server2' starts with the upper-case letter 'S' (write 's'); profile names are lower-case "
                "letters, digits, - and _, starting with a letter, at most 32 characters (they become task names "
                "such as kernel-<name> and build/<name>)"),
    ("gpuNode", "name 'gpuNode' contains the upper-case letter 'N' (write 'n');"),
    ("2nd", "name '2nd' starts with the digit '2';"),
    ("-gpu", "name '-gpu' starts with '-';"),
    ('"gpu.x"', "name 'gpu.x' contains '.';"),
    ('"gpu x"', "name 'gpu x' contains a space;"),
    ("a" * 33, f"name '{'a' * 33}' is 33 characters long;"),
    ("source", "name 'source' is reserved for build/source; choose another profile name"),
    ("logs", "name 'logs' is reserved for build/logs;"),
])
def test_a_refused_profile_name_says_what_is_wrong(tmp_path, name, message):
    text = MINIMAL + f"[profile.{name}]\n"
    with pytest.raises(SettingsError) as exc:
        load(write(tmp_path, text))
    assert str(exc.value).startswith(f"{tmp_path / 'ramses.toml'}:{len(text.splitlines())}: "
                                     f"[profile.{name}] {message}"), str(exc.value)
