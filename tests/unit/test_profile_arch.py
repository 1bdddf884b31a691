"""[profile.<name>] arch: a node class builds its own ARCH (an x86_64 UEFI class beside the i386
server and client, in one ramses.toml), inheriting [kernel] arch when it sets none."""

from __future__ import annotations

import pytest

from ramsesbuild.errors import SettingsError
from ramsesbuild.settings import load

from .test_settings import MINIMAL, write

UEFI = """[profile.uefi]
arch = "x86_64"
base = "tinyconfig"
fragments = ["kconfigs/RamsesCluster.conf", "kconfigs/RamsesUefi.conf"]
[profile.uefi.netboot]
format = "raw"
output = "vmlinuz-{version}-uefi"
"""


def test_a_profile_inherits_kernel_arch_unless_it_sets_its_own(tmp_path):
    s = load(write(tmp_path, MINIMAL + UEFI))
    assert {n: p.arch for n, p in s.profiles.items()} == {"server": "i386", "client": "i386", "uefi": "x86_64"}
    assert s.netboot_images() == {"client": "vmlinuz-6.1-client", "uefi": "vmlinuz-6.1-uefi"}
    s = load(write(tmp_path, MINIMAL.replace('version = "6.1"', 'version = "6.1"\narch = "x86_64"')))
    assert {p.arch for p in s.profiles.values()} == {"x86_64"}


@pytest.mark.parametrize("old, new, message", [
    ('arch = "x86_64"', "arch = 64", "[profile.uefi] arch must be a string, not the number 64"),
    ('arch = "x86_64"', 'arch = ""', "[profile.uefi] arch must not be empty"),
    ('output = "vmlinuz-{version}-uefi"', 'output = "vmlinuz-{version}-uefi"\narch = "x86_64"',
     "unknown key 'arch'"),  # the netboot table has no arch: the kernel does
])
def test_profile_arch_errors_name_file_line(tmp_path, old, new, message):
    text = MINIMAL + UEFI.replace(old, new)
    with pytest.raises(SettingsError) as exc:
        load(write(tmp_path, text))
    assert message in str(exc.value), exc.value
    lines = text.splitlines()
    line = len(lines) - lines[::-1].index(new.splitlines()[-1])  # the last line equal to it
    assert str(exc.value).startswith(f"{tmp_path / 'ramses.toml'}:{line}:"), exc.value
