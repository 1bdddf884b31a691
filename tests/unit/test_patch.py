"""patch: series order, dry-run first, no fuzz, idempotent, reversal when the series changes."""

from __future__ import annotations

import subprocess

import pytest

from ramsesbuild.errors import PatchError
from ramsesbuild.log import TaskLog
from ramsesbuild.patch import apply_series, read_series


@pytest.fixture
def log(tmp_path):
    with TaskLog(tmp_path / "logs" / "patch.log") as lg:
        yield lg


ORIG = "".join(f"line {i}\n" for i in range(1, 30))


def diff(tmp_path, name, before, after, fname="file.c"):
    a, b = tmp_path / "a" / fname, tmp_path / "b" / fname
    for p, text in ((a, before), (b, after)):
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)
    out = subprocess.run(["diff", "-u", f"a/{fname}", f"b/{fname}"], cwd=tmp_path, capture_output=True, text=True).stdout
    return out


@pytest.fixture
def setup(tmp_path):
    tree = tmp_path / "tree"
    tree.mkdir()
    (tree / "file.c").write_text(ORIG)
    pdir = tmp_path / "patches"
    pdir.mkdir()
    one = ORIG.replace("line 3\n", "line 3 fixed\n")
    two = one.replace("line 20\n", "line 20 fixed\n")
    (pdir / "0001-one.patch").write_text("Why: fixes line 3.\n\n" + diff(tmp_path, "one", ORIG, one))
    (pdir / "0002-two.patch").write_text("Why: fixes line 20.\n\n" + diff(tmp_path, "two", one, two))
    (pdir / "series").write_text("# our series\n0001-one.patch\n0002-two.patch -p1\n")
    return tree, pdir, tmp_path / "state", two


def test_applies_in_order_and_is_idempotent(setup, log):
    tree, pdir, state, expected = setup
    assert [a["name"] for a in apply_series(tree, pdir, state, log)] == ["0001-one.patch", "0002-two.patch"]
    assert (tree / "file.c").read_text() == expected
    apply_series(tree, pdir, state, log)  # nothing new: no change, no error
    assert (tree / "file.c").read_text() == expected


def test_already_applied_but_unrecorded_is_recognised(setup, log):
    tree, pdir, state, expected = setup
    subprocess.run(["patch", "-p1", "-d", str(tree), "-i", str(pdir / "0001-one.patch")], check=True, capture_output=True)
    apply_series(tree, pdir, state, log)
    assert (tree / "file.c").read_text() == expected


def test_series_change_reverses_dropped_patch(setup, log):
    tree, pdir, state, _ = setup
    apply_series(tree, pdir, state, log)
    (pdir / "series").write_text("0002-two.patch\n")  # 0001 dropped: both reversed, 0002 re-applied
    apply_series(tree, pdir, state, log)
    assert (tree / "file.c").read_text() == ORIG.replace("line 20\n", "line 20 fixed\n")
    (pdir / "series").write_text("")
    apply_series(tree, pdir, state, log)
    assert (tree / "file.c").read_text() == ORIG


def test_changed_patch_content_is_reapplied(setup, log):
    tree, pdir, state, _ = setup
    apply_series(tree, pdir, state, log)
    p2 = pdir / "0002-two.patch"
    p2.write_text(p2.read_text().replace("+line 20 fixed", "+line 20 fixed again"))
    apply_series(tree, pdir, state, log)
    assert "line 20 fixed again\n" in (tree / "file.c").read_text()
    assert "line 3 fixed\n" in (tree / "file.c").read_text()


def test_fuzz_is_refused(setup, log):
    tree, pdir, state, _ = setup
    # change a context line of patch 0001: it would apply with fuzz, which we refuse
    (tree / "file.c").write_text(ORIG.replace("line 1\n", "line one\n"))
    with pytest.raises(PatchError, match="no fuzz allowed"):
        apply_series(tree, pdir, state, log)


def test_missing_patch_file_names_series_line(setup):
    _, pdir, _, _ = setup
    (pdir / "series").write_text("0001-one.patch\n0003-gone.patch\n")
    with pytest.raises(PatchError, match=r"series:2: 0003-gone.patch is listed but .* does not exist"):
        read_series(pdir)


def test_tree_changed_by_hand_cannot_be_reversed(setup, log):
    tree, pdir, state, _ = setup
    apply_series(tree, pdir, state, log)
    (tree / "file.c").write_text("rewritten\n")
    (pdir / "series").write_text("0001-one.patch\n")
    with pytest.raises(PatchError, match="changed by hand"):
        apply_series(tree, pdir, state, log)
