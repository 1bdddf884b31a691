"""Kconfig value syntax per type (ramsesbuild.ksymbols): whole-string matching, strings that no
shell could run, lines split as the shell splits them, types read from the tree's Kconfig files."""

from __future__ import annotations

import pytest

from ramsesbuild.errors import KconfigError
from ramsesbuild.kconfig import merge, parse_fragment
from ramsesbuild.ksymbols import TYPES, Declared, check_config_text, scan_tree, value_problem

from ..lib.support import FAKE

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
