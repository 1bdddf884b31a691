"""The Linux 2.4.18 patch series against the real tree (slow: it unpacks the real 2.4.18).

With RAMSES_K24_TARBALL=/path/to/linux-2.4.18.tar.bz2 (CI cannot download kernel.org; see
docs/howto/linux-2.4.18.md): the series applies to a freshly extracted tree with no fuzz and no offsets and
reverses cleanly, and the rewriters in tools/k24/ regenerate the mechanical patches 0002-0004
exactly (0003/0004 scan the whole tree: minutes).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest

from ..lib.k24.guest24 import real_tarball
from ..unit.test_k24_series import PATCHES, fastcall, funcconcat, mlstr, series_names

pytestmark = pytest.mark.slow

# Python < 3.11.4 (Debian bookworm has 3.11.2) has no extraction filters
EXTRACT_DATA = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}


@pytest.fixture(scope="module")
def vanilla_tree(tmp_path_factory) -> Path:
    tarball = real_tarball("check the series against the real tree")
    dest = tmp_path_factory.mktemp("k24-vanilla")
    with tarfile.open(tarball) as tf:
        tf.extractall(dest, **EXTRACT_DATA)
    (top,) = list(dest.iterdir())
    assert (top / "Makefile").read_text().startswith("VERSION = 2\nPATCHLEVEL = 4\nSUBLEVEL = 18\n")
    return top


def _apply(tree: Path, name: str) -> str:
    p = subprocess.run(["patch", "-p1", "--fuzz=0", "--forward", "--batch", "--no-backup-if-mismatch",
                        "-d", str(tree), "-i", str(PATCHES / name)], capture_output=True, text=True)
    assert p.returncode == 0, f"{name} does not apply:\n{p.stdout}{p.stderr}"
    return p.stdout


def test_series_applies_to_pristine_2418_without_fuzz_or_offsets(vanilla_tree, tmp_path):
    tree = tmp_path / "linux"
    shutil.copytree(vanilla_tree, tree, symlinks=True)
    for name in series_names():
        out = _apply(tree, name)
        assert not re.search(r"fuzz|offset|Reversed|already applied", out, re.I), f"{name}:\n{out}"
    # and it reverses cleanly, newest first, back to the pristine tree
    for name in reversed(series_names()):
        p = subprocess.run(["patch", "-p1", "-R", "--fuzz=0", "--batch", "--no-backup-if-mismatch",
                            "-d", str(tree), "-i", str(PATCHES / name)], capture_output=True, text=True)
        assert p.returncode == 0, f"{name} does not reverse:\n{p.stdout}{p.stderr}"
    diff = subprocess.run(["diff", "-r", "-q", str(vanilla_tree), str(tree)], capture_output=True, text=True)
    assert diff.returncode == 0, diff.stdout[-2000:]


def _patched_up_to(vanilla: Path, dest: Path, last: str) -> Path:
    shutil.copytree(vanilla, dest, symlinks=True)
    for name in series_names():
        _apply(dest, name)
        if name.startswith(last):
            break
    return dest


def _touched(num: str) -> list[str]:
    (patch,) = [PATCHES / n for n in series_names() if n.startswith(num)]
    return sorted(set(re.findall(r"^diff --git a/(\S+) ", patch.read_text(encoding="latin-1"), re.M)))


def _i386_sources(tree: Path) -> list[str]:
    out = []
    for p in tree.rglob("*"):
        if p.suffix in (".c", ".h") and p.is_file():
            rel = str(p.relative_to(tree))
            if re.match(r"(arch/(?!i386/)|include/asm-(?!i386/))", rel):
                continue
            out.append(rel)
    return sorted(out)


def test_mlstr_regenerates_patch_0002(vanilla_tree, tmp_path):
    before = _patched_up_to(vanilla_tree, tmp_path / "a", "0001")
    expect = _patched_up_to(vanilla_tree, tmp_path / "b", "0002")
    files = _touched("0002")
    assert mlstr.main([str(before / f) for f in files]) == 0
    for f in files:
        assert (before / f).read_bytes() == (expect / f).read_bytes(), f


def test_no_multiline_string_left_after_0002(vanilla_tree, tmp_path):
    expect = _patched_up_to(vanilla_tree, tmp_path / "b", "0002")
    left = [f for f in _i386_sources(expect) if mlstr.rewrite((expect / f).read_text(encoding="latin-1"))[1]]
    assert left == [], left


@pytest.mark.parametrize("num,module", [("0003", fastcall), ("0004", funcconcat)])
def test_tool_regenerates_mechanical_patch(vanilla_tree, tmp_path, num, module):
    prev = f"{int(num) - 1:04d}"
    before = _patched_up_to(vanilla_tree, tmp_path / "a", prev)
    expect = _patched_up_to(vanilla_tree, tmp_path / "b", num)
    files = _i386_sources(before)
    assert module.main([str(before), *files]) == 0
    touched = set(_touched(num))
    hand = {"include/linux/kernel.h"} if num == "0003" else set()  # the fastcall macro itself
    for f in files:
        if f in hand:
            continue
        assert (before / f).read_bytes() == (expect / f).read_bytes(), f
    assert touched - hand <= set(files)
