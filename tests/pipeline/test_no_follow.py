"""No write ever goes through a link: at every path the pipeline writes (downloads and their
.partial files, stamps, logs and their rotation, the lock, artefacts, files in the tree, the
tftpboot image and its .old, the boot configuration, the summary) a planted symlink is one clear
line and its target is never written; the directories below build/, downloads/ and tftpboot/
are not followed either."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from ramsesbuild.errors import LinkError
from ramsesbuild.fsutil import atomic_write_text, guard, sha256_file, sweep_temp, write_if_changed

from ..lib.hardening import k24_copy, no_leftovers, screen
from ..lib.support import Mirror, nodes_toml

IMAGE = "tftpboot/vmlinuz-2.4.18-cluster"


@pytest.fixture
def k24_built(tmp_path_factory, signer, tmp_path):
    return k24_copy(tmp_path_factory, signer, tmp_path)


@pytest.fixture
def outside(tmp_path):
    d = tmp_path / "outside"
    d.mkdir()
    (d / "victim").write_bytes(b"not yours\n")
    return d


# (link planted at; to an existing file, a directory, or a name that does not exist yet (the
# classic attack: a write through it would create the file); doit args that write there; rc;
# what makes the step run again: doit args, or "nodes")
CASES = [
    ("build/state/verified.json", "missing", ["verify"], 1, None),  # a stamp (a missing target)
    ("build/client/artifacts/config", "missing", ["config-client"], 1, None),  # write_if_changed
    ("build/client/artifacts/bzImage", "missing", ["compile-client"], 1, None),  # atomic copy
    ("build/client/src/.version", "file", ["compile-client"], 1, "forget compile-client"),  # in the tree
    ("build/client/state", "dir", ["compile-client"], 1, "forget compile-client"),  # a directory on the way
    ("build/client/staging", "dir", ["modules-client"], 1, "forget modules-client"),  # a swapped-in tree
    ("build/.lock", "file", ["kernel-client"], 1, None),
    ("build/logs/verify.log", "missing", ["verify"], 0, "forget verify"),  # the task goes on
    ("build/logs/verify.log.1", "file", ["verify"], 0, "forget verify"),  # rotation
    ("build/logs", "dir", ["verify"], 0, "forget verify"),
    ("build/summary.json", "missing", ["config-client"], 0, "forget config-client"),
    (IMAGE, "missing", ["netboot-image"], 1, None),
    (IMAGE + ".old", "file", ["netboot-image"], 1, "forget netboot-image"),  # would be hard-linked
    ("build/bootconf/dhcpd.conf", "missing", ["boot-config"], 1, "nodes"),
    ("tftpboot/ipxe", "dir", ["boot-tftp"], 1, "nodes"),
]


@pytest.mark.parametrize("where, kind, args, rc, prepare", CASES, ids=[c[0] for c in CASES])
def test_a_planted_link_is_one_line_and_never_written_through(k24_built, outside, where, kind, args, rc, prepare):
    p = k24_built
    if prepare == "nodes":
        (p.dir / "nodes.toml").write_text(nodes_toml("node01:method = \"ipxe\""))
    elif prepare:
        p.doit(*prepare.split())  # the step will run again
    image = sha256_file(p.dir / IMAGE)
    link = p.dir / where
    if link.is_dir():
        shutil.rmtree(link)
    else:
        link.unlink(missing_ok=True)
    link.parent.mkdir(parents=True, exist_ok=True)
    target = {"dir": outside, "file": outside / "victim", "missing": outside / "created"}[kind]
    link.symlink_to(target)
    before = {q.name: q.read_bytes() for q in outside.iterdir()}
    out = p.doit(*args, check=False)
    text = screen(out)
    assert out.returncode == rc, text
    line = f"{link} is a symbolic link (to {target})"
    assert line in text and "never writes through a link" in text, text
    assert {q.name: q.read_bytes() for q in outside.iterdir()} == before  # nothing written there
    if where != IMAGE:
        assert sha256_file(p.dir / IMAGE) == image  # the nodes' image untouched
    link.unlink()  # removed as the line says: the next run works and leaves nothing behind
    again = p.doit(*args, check=False)
    assert again.returncode == 0, screen(again)
    assert "symbolic link" not in again.stdout + again.stderr
    no_leftovers(p)


def test_resumed_download_never_appends_through_a_planted_partial(k24_built, outside, tmp_path):
    """The resume path opens the .partial file for appending: a link there must not be followed."""
    p = k24_built
    mirror = Mirror(tmp_path / "http")
    try:
        shutil.copy(p.dir / "downloads" / p.tarball, mirror.root / p.tarball)
        p.settings_path.write_text(p.settings_path.read_text().replace(p.mirror_url, mirror.url))
        (p.dir / "downloads" / p.tarball).unlink()
        partial = p.dir / "downloads" / f".{p.tarball}.partial"
        partial.symlink_to(outside / "victim")  # 10 bytes "already downloaded"
        out = p.doit("fetch", check=False)
        text = screen(out)
        assert out.returncode == 1, text
        assert f"{partial} is a symbolic link (to {outside / 'victim'})" in text
        assert (outside / "victim").read_bytes() == b"not yours\n" and mirror.requests == []
        partial.unlink()
        assert p.doit("fetch", check=False).returncode == 0
        no_leftovers(p)
    finally:
        mirror.close()


def test_downloads_dir_itself_may_be_a_link_the_users_choice(k24_built, tmp_path):
    p = k24_built
    elsewhere = tmp_path / "big-disk" / "downloads"
    shutil.move(p.dir / "downloads", elsewhere)
    (p.dir / "downloads").symlink_to(elsewhere)
    (elsewhere / p.tarball).unlink()
    out = p.doit("fetch", check=False)
    assert out.returncode == 0, screen(out)
    assert (elsewhere / p.tarball).is_file()


# ------------------------------------------------------------------ the helpers, directly

def test_helpers_refuse_links_below_a_guarded_root_only(tmp_path, outside):
    root = tmp_path / "build"
    (root / "sub").mkdir(parents=True)
    (root / "link").symlink_to(outside)
    (root / "file").symlink_to(outside / "victim")
    guard([root])
    try:
        for call in (lambda: atomic_write_text(root / "link" / "x", "data"),
                     lambda: atomic_write_text(root / "file", "data"),
                     lambda: write_if_changed(root / "file", b"not yours\n"),
                     lambda: atomic_write_text(root / "link" / "deeper" / "x", "data")):
            with pytest.raises(LinkError, match="is a symbolic link"):
                call()
        assert sorted(os.listdir(outside)) == ["victim"] and (outside / "victim").read_bytes() == b"not yours\n"
        atomic_write_text(root / "sub" / "new" / "x", "data")  # directories are made as before
        assert (root / "sub" / "new" / "x").read_text() == "data"
        (outside / ".stale.ramses-tmp").write_text("not ours to sweep")
        assert sweep_temp([root / "link", root / "sub"]) == []  # never swept through a link
        assert (outside / ".stale.ramses-tmp").exists()
    finally:
        guard([])
    atomic_write_text(root / "file", "replaced")  # outside the guarded roots: the link is replaced
    assert not (root / "file").is_symlink() and (outside / "victim").read_bytes() == b"not yours\n"


def test_install_keeps_old_when_a_run_was_interrupted_between_old_and_new(k24_built):
    """Interrupted after the .old link and before the new image: image and .old are one file.
    A rename between two links of one file is a no-op that would leave the temp name."""
    p = k24_built
    image = p.dir / IMAGE
    old = image.with_name(image.name + ".old")
    old.unlink(missing_ok=True)
    os.link(image, old)
    p.settings_path.write_text(p.settings_path.read_text().replace("ramdisk_size=1024", "ramdisk_size=2048"))
    first = image.read_bytes()
    out = p.doit("netboot-image", check=False)
    assert out.returncode == 0, screen(out)
    assert old.read_bytes() == first and image.read_bytes() != first
    assert list(Path(image.parent).glob(".*")) == []  # no temp name left, not even for a sweep
    no_leftovers(p)


def test_reinstalling_the_same_image_keeps_old_meaningful(k24_built):
    p = k24_built
    image = p.dir / IMAGE
    old = image.with_name(image.name + ".old")
    old.write_bytes(b"the image before\n")
    p.doit("forget", "netboot-image")
    out = p.doit("netboot-image")
    assert "already this image, left as it is" in (p.dir / "build/logs/netboot-image-client.log").read_text()
    assert old.read_bytes() == b"the image before\n", out.stdout
