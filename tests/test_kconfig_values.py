"""Fragments are data: every kconfig value is matched, as a whole, against kconfig's syntax for
its symbol's type before any make runs, and nothing a fragment or a base config says is ever
executed. The fake 2.4 tree's scripts/Configure sources .config with the shell like the real
one, so an accepted `$(...)` would run there (the slow test shows the real 2.4.18 does)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from ramsesbuild.errors import KconfigError
from ramsesbuild.kconfig import merge, parse_fragment
from ramsesbuild.ksymbols import TYPES, Declared, check_config_text, scan_tree, value_problem

from .hardening_support import k24_copy, no_leftovers, screen
from .support import FAKE

# ------------------------------------------------------------------ the value syntax, per type

VALID = {
    "bool": ["y", "n"],
    "tristate": ["y", "m", "n"],
    "int": ["0", "4096", "-1", "-0"],
    "hex": ["0x100000", "0XfF", "ff", "0"],
    "string": ['""', '"console=ttyS0,9600n8 root=/dev/nfs"', '"a#b (c) {d} [e] <f> ~!@%^&*=+|;:\',.?/"'],
}
INVALID = {
    "bool": ["m", "Y", "yes", "1", "y ", " y", "y\n", '"y"', ""],
    "tristate": ["M", "ym", "m\n", ""],
    "int": ["0123", "1e3", "0x10", "--1", "4096\n", "٣", "1_000", ""],
    "hex": ["0x", "0xg1", "x10", "0x10\n", "0x１", ""],
    "string": ['"$(touch /tmp/owned)"', '"`id`"', '"a\\"; touch /tmp/owned; \\""', '"a\\\\"', '"$HOME"',
               '"caf\u00e9"', '"tab\there"', '"nl\nhere"', '"open', 'unquoted', '"a" "b"', '"a"x'],
}


@pytest.mark.parametrize("kind, value", [(k, v) for k, vs in VALID.items() for v in vs])
def test_valid_values_of_each_type(kind, value):
    assert value_problem("CONFIG_X", value, Declared(frozenset({kind}), "Kconfig")) is None
    assert value_problem("CONFIG_X", value, None) is None  # undeclared: any type's syntax


@pytest.mark.parametrize("kind, value", [(k, v) for k, vs in INVALID.items() for v in vs])
def test_invalid_values_of_each_type_are_refused_whole_string(kind, value):
    problem = value_problem("CONFIG_X", value, Declared(frozenset({kind}), "arch/i386/config.in"))
    assert problem, value
    if kind != "string" or not value.startswith('"'):
        assert f"CONFIG_X is a {kind} (arch/i386/config.in): give {TYPES[kind].example}" in problem


@pytest.mark.parametrize("value, says", [
    ('"$(touch /tmp/owned)"', "holds $ at character 1"),
    ('"`id`"', "holds ` (backquote) at character 1"),
    ('"a\\"; touch x; \\""', 'holds \\" (an escaped quote) at character 2'),
    ('"C:\\\\x"', "holds \\ (a backslash) at character 3"),
    ('"caf\u00e9"', "holds 'é' at character 4"),
])
def test_string_refusals_name_the_character_and_why(value, says):
    problem = value_problem("CONFIG_X", value, None)
    assert problem is not None and says in problem, problem
    if "$" in value or "`" in value or "\\" in value:
        assert "scripts/Configure runs .config through the shell" in problem


def test_fragment_line_refused_with_file_line_and_fix(tmp_path):
    frag = tmp_path / "Cluster.conf"
    frag.write_text('CONFIG_A=y\nCONFIG_CMDLINE="$(touch /tmp/owned)" #@ optional\n')
    with pytest.raises(KconfigError) as err:
        parse_fragment(frag, "k24")
    assert str(err.value).startswith(f"{frag}:2: CONFIG_CMDLINE: the string holds $ at character 1")
    assert "strings are printable ASCII without $" in str(err.value)


@pytest.mark.parametrize("text", [
    "CONFIG_A=y\rtouch /tmp/owned\n",  # a shell sees one line: the assignment, then a command
    "CONFIG_A=y;touch /tmp/owned\n",
    "CONFIG_A=y touch /tmp/owned\n",
    " CONFIG_A=$(id)\n",
    "CONFIG_A=y\u2028CONFIG_B=y\n",
])
def test_fragment_lines_are_split_as_the_shell_splits_them(tmp_path, text):
    frag = tmp_path / "f.conf"
    frag.write_bytes(text.encode())
    with pytest.raises(KconfigError, match=f"{frag}:1: "):
        parse_fragment(frag, "k24")


def test_base_config_lines_are_data_too():
    declared = {"CONFIG_SMP": Declared(frozenset({"bool"}), "arch/i386/config.in")}
    check_config_text("# comment with $(anything) \r in it\nCONFIG_SMP=y\n\n# CONFIG_X is not set\n", "base", declared)
    for text, where in [("CONFIG_SMP=m\n", "base:1: CONFIG_SMP: CONFIG_SMP is a bool"),
                        ("CONFIG_A=y\ntouch /tmp/owned\n", "base:2: touch /tmp/owned is not a .config line"),
                        ('CONFIG_A=y\nCONFIG_B="$(id)"\n', "base:2: CONFIG_B: the string holds $"),
                        ("CONFIG_A=y\r\n", "base:1: ")]:
        with pytest.raises(KconfigError) as err:
            check_config_text(text, "base", declared)
        assert str(err.value).startswith(where), str(err.value)


def test_merge_keeps_a_comment_with_a_carriage_return_one_line():
    merged = merge("# a\rCONFIG_X=$(id)\nCONFIG_A=y\n", [])
    assert merged.split("\n")[0] == "# a\rCONFIG_X=$(id)"  # still one comment line for the shell


def test_types_come_from_the_tree():
    symbols = scan_tree(FAKE / "common")
    assert symbols.declared["CONFIG_SMP"].types == {"bool"}
    assert symbols.declared["CONFIG_VORTEX"].types == {"tristate"}
    assert symbols.declared["CONFIG_LOCALVERSION"].types == {"string"}
    assert symbols.declared["CONFIG_PHYSICAL_START"].types == {"hex"}


def test_types_from_2_4_config_in_and_modern_kconfig(tmp_path):
    (tmp_path / "arch").mkdir()
    (tmp_path / "arch" / "config.in").write_text(
        "bool 'SMP' CONFIG_SMP\n"
        "if [ \"$CONFIG_NET\" = \"y\" ]; then\n"
        "   dep_tristate '  3c59x' CONFIG_VORTEX $CONFIG_NET\n"
        "   int 'Max' CONFIG_MAX 4\n"
        "fi\n"
        "define_bool CONFIG_JBD $CONFIG_EXT3_FS\n"
        "choice 'Processor family' \\\n"
        "\t\"386 CONFIG_M386 \\\n"
        "\t 486 CONFIG_M486\" 386\n"
        "string 'Name' CONFIG_NAME \"x\"\n")
    (tmp_path / "Kconfig").write_text(
        "config LOCALVERSION\n\tstring \"Local version\"\n\nmenuconfig NETDEVICES\n\n\tbool \"Net\"\n"
        "config BASE\n\thex\n\tdefault 0x1000\nconfig NR_CPUS\n\tint \"CPUs\" if SMP\n"
        "config KVM\n\tdef_tristate y\n")
    d = scan_tree(tmp_path).declared
    assert {s: set(v.types) for s, v in d.items()} == {
        "CONFIG_SMP": {"bool"}, "CONFIG_VORTEX": {"tristate"}, "CONFIG_MAX": {"int"},
        "CONFIG_JBD": {"tristate"}, "CONFIG_M386": {"bool"}, "CONFIG_M486": {"bool"}, "CONFIG_NAME": {"string"},
        "CONFIG_LOCALVERSION": {"string"}, "CONFIG_NETDEVICES": {"bool"}, "CONFIG_BASE": {"hex"},
        "CONFIG_NR_CPUS": {"int"}, "CONFIG_KVM": {"tristate"}}
    assert d["CONFIG_VORTEX"].where == "arch/config.in"


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


@pytest.mark.slow
def test_the_real_2_4_18_configure_runs_what_config_says(tmp_path):
    """The attack is real: 2.4.18's `make oldconfig` sources .config with the shell."""
    from ramsesbuild.log import TaskLog
    from ramsesbuild.unpack import unpack

    from .k24.guest24 import real_tarball

    tarball = real_tarball("run the real 2.4.18 scripts/Configure")
    tree = tmp_path / "linux"
    with TaskLog(tmp_path / "unpack.log") as log:
        unpack(tarball, tree, log)
    marker = tmp_path / "owned"
    config = (tree / "arch/i386/defconfig").read_text() + f'CONFIG_X="$(touch {marker})"\n'
    (tree / ".config").write_text(config)
    subprocess.run(["make", "ARCH=i386", "SHELL=/bin/bash", "oldconfig"], cwd=tree, input="\n" * 5000, text=True,
                   capture_output=True, timeout=300, env={**os.environ, "LANG": "C"})
    assert marker.exists()
    with pytest.raises(KconfigError, match=r"\.config:\d+: CONFIG_X: the string holds \$"):
        check_config_text(config, str(tree / ".config"), scan_tree(tree).declared)
    assert Path(tree / "arch/i386/defconfig").exists()
