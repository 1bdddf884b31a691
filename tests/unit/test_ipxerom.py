"""ramsesbuild.ipxerom: which ROM is for which NIC, $RAMSES_IPXE_ROM, the per-machine cache.
(The real build from $RAMSES_IPXE_TARBALL runs in the slow suite, through the ipxe_roms fixture.)"""

from __future__ import annotations

import io
import struct
import tarfile
from pathlib import Path

import pytest

from ramsesbuild import ipxerom
from ramsesbuild.errors import BootTestError


def fake_rom(path: Path, vendor: int, device: int) -> Path:
    """A PCI option ROM header: 55 AA, pointer at 0x18 to a "PCIR" structure with the IDs."""
    data = bytearray(512)
    data[0:3] = b"\x55\xaa\x01"
    struct.pack_into("<H", data, 0x18, 0x40)
    data[0x40:0x44] = b"PCIR"
    struct.pack_into("<HH", data, 0x44, vendor, device)
    path.write_bytes(bytes(data))
    return path


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv(ipxerom.ENV_ROM, raising=False)
    return tmp_path / "cache" / "ramsesbuild" / "ipxe"


def test_nic_is_read_from_the_rom_itself(tmp_path):
    rtl = fake_rom(tmp_path / "whatever.bin", 0x10EC, 0x8139)
    e1000 = fake_rom(tmp_path / "10ec8139.rom", 0x8086, 0x100E)  # the name does not matter
    assert ipxerom.nic_for_rom(rtl).qemu_device == "rtl8139"
    assert ipxerom.nic_for_rom(e1000).qemu_device == "e1000"
    other = fake_rom(tmp_path / "other.rom", 0x1234, 0x5678)
    assert ipxerom.nic_for_rom(other) is None
    (tmp_path / "text").write_text("not a rom")
    assert ipxerom.rom_pci_id(tmp_path / "text") is None
    assert ipxerom.rom_pci_id(tmp_path / "missing") is None


def test_env_rom_comes_before_the_cache(tmp_path, cache):
    cached = ipxerom.cache_dir("ab" * 32)
    cached.mkdir(parents=True)
    fake_rom(cached / "10ec8139.rom", 0x10EC, 0x8139)
    fake_rom(cached / "8086100e.rom", 0x8086, 0x100E)
    assert ipxerom.find_roms({}) == {"rtl8139": cached / "10ec8139.rom", "e1000": cached / "8086100e.rom"}
    mine = fake_rom(tmp_path / "my.rom", 0x10EC, 0x8139)
    assert ipxerom.find_roms({ipxerom.ENV_ROM: str(mine)})["rtl8139"] == mine
    assert ipxerom.find_roms({ipxerom.ENV_ROM: str(mine)})["e1000"] == cached / "8086100e.rom"


def test_cache_is_keyed_by_tarball_and_config(cache):
    d = ipxerom.cache_dir("cd" * 32)
    assert d.parent == cache / ("cd" * 32)
    assert d.name == ipxerom.config_key() and len(d.name) == 12


def test_bad_env_rom_is_one_clear_error(tmp_path, cache):
    with pytest.raises(BootTestError, match="no such file"):
        ipxerom.check_given_roms({ipxerom.ENV_ROM: str(tmp_path / "nope.rom")})
    (tmp_path / "junk.rom").write_bytes(b"junk")
    with pytest.raises(BootTestError, match="not a PCI option ROM.*10ec8139.rom"):
        ipxerom.check_given_roms({ipxerom.ENV_ROM: str(tmp_path / "junk.rom")})


def test_not_an_ipxe_tarball_is_refused_and_leaves_nothing(tmp_path, cache):
    tarball = tmp_path / "other.tar.gz"
    with tarfile.open(tarball, "w:gz") as tf:
        info = tarfile.TarInfo("linux/Makefile")
        info.size = 3
        tf.addfile(info, io.BytesIO(b"all"))
    with pytest.raises(BootTestError, match="no ipxe/src/Makefile"):
        ipxerom.build_roms(tarball)
    leftovers = [p for p in cache.rglob("*") if p.is_file()] if cache.exists() else []
    assert leftovers == []
    assert not any(p.name.startswith(".build-") for p in cache.rglob("*")) if cache.exists() else True
