"""Patches never create or follow links out of the tree: the tree is checked before the series
and after each patch (GNU patch itself never follows a symlink in a path it writes, but a
git-style patch may create a symlink to anywhere)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from ramsesbuild.errors import PatchError
from ramsesbuild.log import TaskLog
from ramsesbuild.patch import apply_series, links_leaving

from ..lib.hardening import k24_copy, no_leftovers, screen


def symlink_patch(name: str, target: str) -> str:
    """A git-style patch creating the symlink *name* -> *target*."""
    return (f"diff --git a/{name} b/{name}\nnew file mode 120000\n--- /dev/null\n+++ b/{name}\n"
            f"@@ -0,0 +1 @@\n+{target}\n\\ No newline at end of file\n")


def edit_patch(name: str, before: str, after: str) -> str:
    return f"--- a/{name}\n+++ b/{name}\n@@ -1 +1 @@\n-{before}\n+{after}\n"


@pytest.fixture
def outside(tmp_path):
    d = tmp_path / "outside"
    d.mkdir()
    (d / "victim").write_text("secret\n")
    return d


@pytest.fixture
def k24_patched(tmp_path_factory, signer, tmp_path):
    return k24_copy(tmp_path_factory, signer, tmp_path, "patch")


def write_series(p, patches: dict[str, str]) -> Path:
    pdir = p.dir / "patches" / p.version
    pdir.mkdir(parents=True, exist_ok=True)
    for name, text in patches.items():
        (pdir / name).write_text(text)
    (pdir / "series").write_text("".join(f"{name}\n" for name in patches))
    return pdir


@pytest.mark.parametrize("name, target", [
    ("evil", "{outside}"),  # absolute
    ("drivers/net/up", "../../../../outside"),  # relative, climbing out of build/client/src
    ("include/hop", "../drivers/../../../outside/victim"),
])
def test_patch_creating_a_link_out_of_the_tree_is_refused_and_the_tree_removed(k24_patched, outside, name, target):
    p = k24_patched
    target = target.format(outside=outside)
    pdir = write_series(p, {"0001-link.patch": symlink_patch(name, target)})
    out = p.doit("patch", check=False)
    text = screen(out)
    assert out.returncode == 1, text
    assert f"{pdir / '0001-link.patch'} creates the symlink {name} -> {target}, which leads outside the tree" in text
    assert "The tree was removed (the next run unpacks it afresh)" in text
    for profile in ("server", "client"):  # the first tree refused stops the run: it is gone
        src = p.dir / "build" / profile / "src"
        assert not src.exists() or not links_leaving(src)
    assert (outside / "victim").read_text() == "secret\n"
    (pdir / "series").write_text("")  # patch dropped: unpacked afresh, then built
    again = p.doit("patch", check=False)
    assert again.returncode == 0, screen(again)
    assert "unpack:client" in again.stdout and not links_leaving(p.dir / "build" / "client" / "src")
    no_leftovers(p)


def test_link_planted_in_the_tree_is_refused_before_any_patch_writes(k24_patched, outside):
    p = k24_patched
    src = p.dir / "build" / "client" / "src"
    (src / "drivers" / "planted").symlink_to(outside)
    write_series(p, {"0001-edit.patch": edit_patch("drivers/planted/victim", "secret", "owned")})
    out = p.doit("patch:client", check=False)
    text = screen(out)
    assert out.returncode == 1, text
    assert f"{src} holds the symlink drivers/planted -> {outside}, which leads outside the tree" in text
    assert (outside / "victim").read_text() == "secret\n" and not src.exists()


def test_links_inside_the_tree_are_fine(k24_patched):
    p = k24_patched
    write_series(p, {"0001-link.patch": symlink_patch("include/asm", "asm-i386")
                     + symlink_patch("arch/i386/boot/main.c", "../../../init/main.c")})
    out = p.doit("patch:client", check=False)
    assert out.returncode == 0, screen(out)
    assert (p.dir / "build/client/src/include/asm").is_symlink()


def test_gnu_patch_does_not_write_through_a_link_it_just_created(tmp_path, outside):
    """One patch that creates `evil -> outside` and then edits `evil/victim`: the dry run fails
    (the link does not exist yet), and GNU patch would not follow it anyway."""
    tree, pdir = tmp_path / "tree", tmp_path / "patches"
    tree.mkdir()
    pdir.mkdir()
    (pdir / "0001-both.patch").write_text(symlink_patch("evil", str(outside)) + edit_patch("evil/victim", "secret",
                                                                                           "owned"))
    (pdir / "series").write_text("0001-both.patch\n")
    with TaskLog(tmp_path / "patch.log") as log, pytest.raises(PatchError, match="does not apply cleanly"):
        apply_series(tree, pdir, tmp_path / "state", log)
    assert (outside / "victim").read_text() == "secret\n"
    # and without our dry run: GNU patch refuses to follow the link
    (tree / "evil").symlink_to(outside)
    run = subprocess.run(["patch", "-p1", "--batch", "--reject-file=-", "-d", str(tree), "-i",
                          str(pdir / "0001-both.patch")], capture_output=True, text=True)
    assert run.returncode != 0 and (outside / "victim").read_text() == "secret\n", run.stdout
