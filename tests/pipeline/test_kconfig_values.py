"""Fragments are data: a hostile kconfig value never runs on the build machine and is refused
before any make, naming its file and line. The fake 2.4 tree's scripts/Configure sources .config
with the shell like the real one (tests/slow/test_k24_configure.py shows the real 2.4.18 does),
so an accepted `$(...)` would run there."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from ..lib.hardening import k24_copy, no_leftovers, screen
from ..lib.support import FAKE

# ------------------------------------------------------------------ through the real doit


@pytest.fixture
def k24_patched(tmp_path_factory, signer, tmp_path):
    return k24_copy(tmp_path_factory, signer, tmp_path, "patch")


@pytest.mark.parametrize("line, says", [
    ('CONFIG_LOCALVERSION="$(touch {marker})"', "CONFIG_LOCALVERSION: the string holds $ at character 1"),
    ('CONFIG_LOCALVERSION="`touch {marker}`"', "the string holds ` (backquote)"),
    ('CONFIG_LOCALVERSION="x\\"; touch {marker}; \\""', 'the string holds \\" (an escaped quote)'),
    ("CONFIG_SMP=y;touch {marker}", "is not a kconfig value"),
    ("CONFIG_SMP=m", "CONFIG_SMP=m: CONFIG_SMP is a bool (Kconfig.fake): give y or n"),
    ("CONFIG_BLK_DEV_RAM_SIZE=0x1000", "CONFIG_BLK_DEV_RAM_SIZE is a int (Kconfig.fake)"),
])
def test_hostile_fragment_value_never_runs_and_names_the_line(k24_patched, tmp_path, line, says):
    p = k24_patched
    marker = tmp_path / "owned"
    frag = p.dir / "kconfigs" / "RamsesCluster.conf"
    lines = frag.read_text().splitlines()
    frag.write_text("\n".join([*lines, line.format(marker=marker)]) + "\n")
    out = p.doit("config-client", check=False)
    text = screen(out)
    assert out.returncode == 1, text
    assert f"{frag}:{len(lines) + 1}: " in text and says in text, text
    assert not marker.exists()  # nothing ran, here or in make
    assert p.make_calls() == []  # refused before any make
    frag.write_text("\n".join(lines) + "\n")  # fixed: the next run builds and leaves nothing
    assert p.doit("config-client", check=False).returncode == 0
    no_leftovers(p)


def test_hostile_full_config_base_never_runs(k24_patched, tmp_path):
    p = k24_patched
    marker = tmp_path / "owned"
    base = p.dir / "kconfigs" / "full.config"
    good = (FAKE / "k24" / "arch" / "i386" / "defconfig").read_text()
    base.write_text(good + f'CONFIG_LOCALVERSION="$(touch {marker})"\n')
    p.settings_path.write_text(p.settings_path.read_text().replace(
        'base = "defconfig"\nfragments = ["kconfigs/RamsesCluster.conf"]',
        'base = "kconfigs/full.config"\nfragments = ["kconfigs/RamsesCluster.conf"]'))
    out = p.doit("config-client", check=False)
    text = screen(out)
    n = len(good.splitlines()) + 1
    assert out.returncode == 1 and f"kconfigs/full.config:{n}: CONFIG_LOCALVERSION: the string holds $" in text, text
    assert not marker.exists() and p.make_calls() == []


def test_the_fake_configure_sources_config_like_2_4(tmp_path):
    """What the doit tests rely on: an unchecked value in .config would run in the fake tree."""
    tree = tmp_path / "tree"
    shutil.copytree(FAKE / "k24", tree)
    shutil.copytree(FAKE / "common", tree, dirs_exist_ok=True)
    marker = tmp_path / "owned"
    (tree / ".config").write_text(f'CONFIG_SMP=y\nCONFIG_LOCALVERSION="$(touch {marker})"\n')
    subprocess.run(["make", "-s", "ARCH=i386", "oldconfig"], cwd=tree, input="\n" * 200, text=True,
                   capture_output=True, check=True)
    assert marker.exists()
