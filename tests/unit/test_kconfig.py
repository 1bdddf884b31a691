"""Fragment parsing (family sections, optional lines), merging and the did-it-land check."""

from __future__ import annotations

import pytest

from ramsesbuild.errors import KconfigError
from ramsesbuild.kconfig import check, effective, merge, parse_fragment, read_config, symbol_finder

from ..lib.support import REPO

FRAG = """\
# comment
CONFIG_A=y
# CONFIG_B is not set
CONFIG_S="console=ttyS0"
CONFIG_N=4096
#@ family k24
CONFIG_OLD=y
#@ family modern
CONFIG_NEW=m
CONFIG_NICE=y #@ optional
#@ family all
CONFIG_C=n
"""


def test_family_sections_and_optional(tmp_path):
    f = tmp_path / "frag.conf"
    f.write_text(FRAG)
    k24 = parse_fragment(f, "k24")
    modern = parse_fragment(f, "modern")
    assert [r.symbol for r in k24] == ["CONFIG_A", "CONFIG_B", "CONFIG_S", "CONFIG_N", "CONFIG_OLD", "CONFIG_C"]
    assert [r.symbol for r in modern] == ["CONFIG_A", "CONFIG_B", "CONFIG_S", "CONFIG_N", "CONFIG_NEW", "CONFIG_NICE",
                                          "CONFIG_C"]
    nice = modern[5]
    assert nice.optional and nice.value == "y" and nice.origin == f"{f}:10"
    assert modern[-1].value is None  # =n means "must not be set"


@pytest.mark.parametrize("line", ["CONFIG_X=maybe", "CONFIG_X", "SOMETHING=y", 'CONFIG_X="unterminated'])
def test_malformed_line_names_file_and_line(tmp_path, line):
    f = tmp_path / "bad.conf"
    f.write_text(f"CONFIG_OK=y\n{line}\n")
    with pytest.raises(KconfigError, match=f"{f}:2: "):
        parse_fragment(f, "k24")


def test_missing_fragment_file(tmp_path):
    with pytest.raises(KconfigError, match="fragment file not found"):
        parse_fragment(tmp_path / "nope.conf", "k24")


def test_redefinition_reported_with_both_origins(tmp_path):
    a, b = tmp_path / "a.conf", tmp_path / "b.conf"
    a.write_text("CONFIG_X=y\n")
    b.write_text("# CONFIG_X is not set\n")
    reqs, notes = effective(parse_fragment(a, "k24") + parse_fragment(b, "k24"))
    assert len(reqs) == 1 and reqs[0].value is None
    assert notes == [f"{b}:1: # CONFIG_X is not set overrides CONFIG_X=y from {a}:1"]


def test_merge_replaces_and_appends():
    base = "CONFIG_A=m\n# CONFIG_B is not set\nCONFIG_KEEP=y\n"
    f_reqs = parse_fragment_text("CONFIG_A=y\nCONFIG_B=y\nCONFIG_NEWSYM=y\n")
    merged = merge(base, f_reqs)
    assert read_config(merged) == {"CONFIG_A": "y", "CONFIG_B": "y", "CONFIG_KEEP": "y", "CONFIG_NEWSYM": "y"}


def parse_fragment_text(text, tmp=None):
    import pathlib
    import tempfile

    d = pathlib.Path(tempfile.mkdtemp())
    (d / "f.conf").write_text(text)
    return parse_fragment(d / "f.conf", "k24")


def test_check_lists_every_miss_with_reason(tmp_path):
    (tmp_path / "Kconfig").write_text("config HIDDEN\n\tbool\n")
    reqs = parse_fragment_text("CONFIG_A=y\nCONFIG_DROPPED=y\n# CONFIG_FORCED is not set\nCONFIG_HIDDEN=y\n"
                               "CONFIG_TYPO=y\nCONFIG_SOFT=y #@ optional\n")
    final = "CONFIG_A=y\n# CONFIG_DROPPED is not set\nCONFIG_FORCED=y\n"
    required, optional = check(reqs, final, symbol_finder(tmp_path))
    text = "\n".join(m.describe() for m in required)
    assert [m.request.symbol for m in required] == ["CONFIG_DROPPED", "CONFIG_FORCED", "CONFIG_HIDDEN", "CONFIG_TYPO"]
    assert "f.conf:2: CONFIG_DROPPED=y requested, .config has it unset (a dependency is not met" in text
    assert "f.conf:3: # CONFIG_FORCED is not set requested, .config has CONFIG_FORCED=y" in text
    assert "CONFIG_HIDDEN=y requested, .config has it unset (absent from .config: a menu" in text
    assert "CONFIG_TYPO=y requested, .config has it unset (no such symbol in this kernel" in text
    assert [m.request.symbol for m in optional] == ["CONFIG_SOFT"]


@pytest.mark.parametrize("family", ["k24", "modern"])
@pytest.mark.parametrize("name", ["RamsesServer.conf", "RamsesCluster.conf"])
def test_shipped_fragments_parse(name, family):
    reqs = parse_fragment(REPO / "kconfigs" / name, family)
    assert any(r.symbol == "CONFIG_VORTEX" and r.value == "y" for r in reqs)
