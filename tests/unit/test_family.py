"""Kernel family detection from the tree's Makefile; rules come from families.toml."""

from __future__ import annotations

from pathlib import Path

import pytest

from ramsesbuild.errors import FamilyError
from ramsesbuild.family import TreeVersion, detect, load_families


def tree(tmp_path, version, patchlevel, sublevel, extra=""):
    t = tmp_path / f"linux-{version}.{patchlevel}"
    t.mkdir()
    (t / "Makefile").write_text(f"VERSION = {version}\nPATCHLEVEL = {patchlevel}\nSUBLEVEL = {sublevel}\n"
                                f"EXTRAVERSION = {extra}\n\nall:\n")
    return t


@pytest.mark.parametrize("v, family", [((2, 4, 18), "k24"), ((2, 4, 37), "k24"), ((6, 1, 192), "modern"),
                                       ((3, 7, 0), "modern"), ((4, 19, 1), "modern")])
def test_detect(tmp_path, v, family):
    fam, version = detect(tree(tmp_path, *v))
    assert fam.name == family and str(version) == ".".join(map(str, v))


@pytest.mark.parametrize("v", [(2, 6, 32), (2, 2, 26), (3, 6, 11)])
def test_unsupported_versions_are_clear_errors(tmp_path, v):
    with pytest.raises(FamilyError, match="matches no kernel family.*add a family table"):
        detect(tree(tmp_path, *v))


def test_not_a_kernel_tree(tmp_path):
    with pytest.raises(FamilyError, match="no top-level Makefile"):
        detect(tmp_path)
    (tmp_path / "Makefile").write_text("all:\n\techo hi\n")
    with pytest.raises(FamilyError, match="not a Linux kernel Makefile"):
        detect(tmp_path)


def test_rules_are_data():
    fams = {f.name: f for f in load_families()}
    k24, modern = fams["k24"], fams["modern"]
    assert k24.dep and not k24.out_of_tree and k24.oldconfig == "oldconfig"
    assert not modern.dep and modern.out_of_tree and modern.oldconfig == "olddefconfig"
    assert k24.resolved_make_vars("i386", Path("/b/src"))["CC"] == "gcc -m32 -fmacro-prefix-map=/b/src/="
    with pytest.raises(FamilyError, match="not 'x86_64'"):
        k24.resolved_make_vars("x86_64", Path("/b/src"))
    assert k24.base_recipe("defconfig") == "copy:arch/i386/defconfig"
    with pytest.raises(FamilyError, match="not available for the k24 family"):
        k24.base_recipe("tinyconfig")


@pytest.mark.parametrize("spec, ok", [("2.4.18", True), ("2.4", True), ("2", True), ("2.4.1", False),
                                      ("2.4.180", False), ("6.1", False), ("2.4.x", False)])
def test_tree_version_matches_settings_version(spec, ok):
    assert TreeVersion(2, 4, 18, "-rc1").matches(spec) is ok


def test_first_build_estimate_and_rebuild_key(tmp_path):
    from ramsesbuild.pkgdata import DATA

    fams = {f.name: f for f in load_families()}
    # =y and =m count; unset options and string values do not
    config = "CONFIG_A=y\nCONFIG_B=m\n# CONFIG_C is not set\nCONFIG_D=\"x\"\n"
    assert fams["k24"].estimate_units(config * 50) == 100 * fams["k24"].units_per_100_options // 100
    assert fams["modern"].estimate_units("".join(f"CONFIG_O{i}=y\n" for i in range(1000))) \
        == 10 * fams["modern"].units_per_100_options
    assert fams["modern"].estimate_units("") == 1
    # what does not change make's output is not part of the rebuild key: comments, descriptions,
    # tool packages and the estimate itself
    edited = tmp_path / "families.toml"
    text = (DATA / "families.toml").read_text()
    edited.write_text("# a comment\n" + text.replace("units_per_100_options = 380", "units_per_100_options = 10")
                      .replace('perl = "perl" }', 'perl = "perl-base" }', 1))
    key = {f.name: f.identity() for f in load_families(edited)}
    assert key == {f.name: f.identity() for f in load_families()}
    edited.write_text(text.replace('CC = "gcc -m32 ', 'CC = "gcc -m32 -O1 ', 1))
    assert {f.name: f.identity() for f in load_families(edited)} != key
