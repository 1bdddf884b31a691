"""ramses.toml parsing: the shipped file loads, and mistakes give one actionable message."""

from __future__ import annotations

import pytest

from ramsesbuild.errors import SettingsError
from ramsesbuild.settings import load

from .support import REPO

MINIMAL = """
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
    p.write_text(text)
    return p


def test_shipped_settings_load():
    s = load(REPO / "ramses.toml")
    assert s.version == "2.4.18" and s.arch == "i386"
    assert s.source.signature == "linux-2.4.18.tar.sign"
    assert s.source.mirrors[0].startswith("https://cdn.kernel.org/")
    assert s.profiles["client"].fragments == (REPO / "kconfigs" / "RamsesCluster.conf",)
    assert s.netboot.output_name(s.version) == "vmlinuz-2.4.18-cluster"
    assert s.netboot.append == "ramdisk_size=1024"
    assert s.netboot.mba  # node03 in the shipped nodes.toml is a 3Com MBA node


def test_minimal_settings_and_defaults(tmp_path):
    s = load(write(tmp_path, MINIMAL))
    assert s.build_dir == tmp_path / "build" and s.netboot.tftpboot == tmp_path / "tftpboot"
    assert s.profiles["server"].base == "defconfig" and s.profiles["client"].base == "tinyconfig"
    assert s.make_jobs() >= 1
    assert s.netboot.mba is False


@pytest.mark.parametrize("change, message", [
    (('version = "6.1"', 'version = "9.9"'), r'no \[source."9.9"\] table \(known: 6.1\)'),
    (('sha256 = "4d41', 'sha256 = "zz41'), "sha256 must be 64 hex digits"),
    (('unsigned = "Debian package"', ''), 'set unsigned = "<why'),
    (('unsigned = "Debian package"', 'signature = "x.tar.sign"'), "no signers/keys"),
    (('mirrors = ["file:///usr/src/"]', 'mirrors = []'), "mirrors is empty"),
    (('[profile.client]\nbase = "tinyconfig"\nfragments = ["kconfigs/RamsesCluster.conf"]', ''),
     r"missing \[profile.client\]"),
    (('[netboot]', '[netboot]\nformat = "zip"'), "format must be nbi, elf or raw"),
    (('[netboot]', '[netboot]\nmba = "yes"'), "mba must be true or false, got 'yes'"),
    (('[netboot]', '[netboot]\nmba = true\nformat = "raw"'),
     "mba = true makes the 3Com MBA image from the NBI image, but format = 'raw'"),
])
def test_mistakes_are_named(tmp_path, change, message):
    with pytest.raises(SettingsError, match=message):
        load(write(tmp_path, MINIMAL.replace(*change)))


def test_missing_and_malformed_file(tmp_path):
    with pytest.raises(SettingsError, match="settings file not found"):
        load(tmp_path / "nope.toml")
    with pytest.raises(SettingsError, match="not valid TOML"):
        load(write(tmp_path, "[kernel\n"))


def test_bad_signer_fingerprint(tmp_path):
    text = MINIMAL.replace('unsigned = "Debian package"',
                           'signature = "x.tar.sign"\nsigners = ["C4790F9D"]\nkeys = ["k.asc"]')
    with pytest.raises(SettingsError, match="not a 40-hex-digit fingerprint"):
        load(write(tmp_path, text))
