"""Integrity never rests on editable state: the bytes unpacked are the bytes verified (unpack
hashes the stream it reads against the pin, or dpkg's record), and a verification record that
disagrees with the pin or with the file it describes is checked again, not trusted."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

import pytest

from ramsesbuild.errors import UnpackError
from ramsesbuild.fsutil import sha256_file
from ramsesbuild.log import TaskLog
from ramsesbuild.unpack import Expected, unpack

from ..lib.hardening import k24_copy, no_leftovers, screen, tree_digest
from ..lib.support import make_fake_tarball
from .test_pipeline import ran


@pytest.fixture
def k24_built(tmp_path_factory, signer, tmp_path):
    return k24_copy(tmp_path_factory, signer, tmp_path)


def substitute(p, tmp_path: Path) -> tuple[Path, str]:
    """Replace the downloaded tarball with another one (an EVIL file added) of the same mtime,
    as an attacker or a confused admin would; returns (the tarball, its sha256)."""
    evil_dir = tmp_path / "evil"
    evil_dir.mkdir()
    evil = make_fake_tarball("k24", evil_dir, extra={"EVIL": b"unverified code\n"})
    tarball = p.dir / "downloads" / p.tarball
    st = tarball.stat()
    shutil.copy(evil, tarball)
    os.utime(tarball, ns=(st.st_atime_ns, st.st_mtime_ns))  # doit: "same mtime = unchanged"
    return tarball, sha256_file(evil)


def test_substituted_tarball_with_its_sha256_in_the_record_is_refused(k24_built, tmp_path):
    """The attack of issue 19: before, the next doit unpacked the unverified tarball, rc 0."""
    p = k24_built
    verified = p.dir / "build/state/verified.json"
    tree = p.dir / "build/client/src"
    before = tree_digest(tree)
    tarball, evil_sha = substitute(p, tmp_path)
    record = json.loads(verified.read_text())
    verified.write_text(json.dumps({**record, "sha256": evil_sha}))
    out = p.doit("kernel-client", check=False)
    text = screen(out)
    assert out.returncode == 1, text
    assert f"{tarball}: measured sha256 {evil_sha}, but ramses.toml pins {p.sha256}" in text
    assert tree_digest(tree) == before and not (tree / "EVIL").exists()
    assert sha256_file(p.dir / "tftpboot/vmlinuz-2.4.18-cluster")  # still there, untouched below
    tarball.unlink()  # as the message says: fetched and verified afresh, then nothing to rebuild
    again = p.doit("kernel-client", check=False)
    assert again.returncode == 0, screen(again)
    assert ran(again) == ["fetch", "verify"] and not (tree / "EVIL").exists()
    no_leftovers(p)


def test_substituted_tarball_with_a_forged_record_and_identity_is_never_unpacked(k24_built, tmp_path):
    """Every state file edited to agree (the pinned sha256 kept in the record, the identity
    rewritten for the new file): verify is skipped, but unpack hashes what it reads."""
    p = k24_built
    tree = p.dir / "build/client/src"
    tarball, evil_sha = substitute(p, tmp_path)
    ident = p.dir / "build/state/verified-file.json"
    st = tarball.stat()
    ident.write_text(json.dumps({"dev": st.st_dev, "ino": st.st_ino, "size": st.st_size, "mtime_ns": st.st_mtime_ns,
                                 "ctime_ns": st.st_ctime_ns}))  # the forger writes what verify would
    shutil.rmtree(tree)  # something makes unpack run: here, a deleted tree
    out = p.doit("unpack:client", check=False)
    text = screen(out)
    assert out.returncode == 1, text
    assert "-- verify" in out.stdout  # the forged state was believed here...
    assert (f"{tarball}: the bytes read for unpacking have sha256 {evil_sha}, but the sha256 pinned in "
            f'ramses.toml [source."2.4.18"] says {p.sha256}') in text  # ...but not by unpack
    assert not tree.exists()
    no_leftovers(p)  # the half-unpacked temporary tree is gone


@pytest.mark.parametrize("edit", ["sha256", "signer", "tarball", "garbage"])
def test_a_tampered_record_alone_is_checked_again_not_kept(k24_built, edit):
    p = k24_built
    verified = p.dir / "build/state/verified.json"
    good = verified.read_text()
    record = json.loads(good)
    if edit == "garbage":
        verified.write_text("{ not json")
    else:
        verified.write_text(json.dumps({**record, edit: "0" * 64 if edit == "sha256" else "X" * 40}))
    out = p.doit("kernel-client", check=False)
    assert out.returncode == 0, screen(out)
    assert ran(out) == ["verify"]  # verified again, nothing else...
    assert json.loads(verified.read_text()) == record  # ...and recorded truthfully


def test_the_file_touched_since_verification_is_verified_again(k24_built):
    """Bit rot or a copy over it (any change of inode, size or ctime): re-checked, one read."""
    p = k24_built
    tarball = p.dir / "downloads" / p.tarball
    st = tarball.stat()
    data = bytearray(tarball.read_bytes())
    data[len(data) // 2] ^= 0x01  # one bit flipped on disk
    tarball.write_bytes(bytes(data))
    os.utime(tarball, ns=(st.st_atime_ns, st.st_mtime_ns))
    out = p.doit("kernel-client", check=False)
    text = screen(out)
    assert out.returncode == 1 and "measured sha256" in text and "delete it and run again" in text, text
    assert not (p.dir / "build/state/verified.json").exists()  # nothing stays marked verified


def test_a_restored_copy_is_checked_by_content_and_nothing_runs(k24_built):
    """A CI cache restore gives the tarball a new inode and ctime: its bytes are hashed once
    against the pin, the record's identity is brought up to date, and nothing runs."""
    p = k24_built
    tarball = p.dir / "downloads" / p.tarball
    copy = tarball.with_name("copy")
    shutil.copy2(tarball, copy)
    copy.replace(tarball)
    out = p.doit(check=False)
    assert out.returncode == 0, screen(out)
    assert ran(out) == []
    recorded = json.loads((p.dir / "build/state/verified-file.json").read_text())
    assert recorded["ino"] == tarball.stat().st_ino


# ------------------------------------------------------------------ unpack itself

@pytest.mark.parametrize("compressed", [True, False])
def test_unpack_swaps_in_only_the_tree_of_the_expected_bytes(tmp_path, compressed):
    good = make_fake_tarball("k24", tmp_path)
    if not compressed:
        import bz2

        plain = tmp_path / "linux.tar"
        plain.write_bytes(bz2.decompress(good.read_bytes()))
        good = plain
    dest = tmp_path / "src"
    with TaskLog(tmp_path / "unpack.log") as log:
        unpack(good, dest, log, expect=Expected("sha256", sha256_file(good), "the pin"))
        before = tree_digest(dest)
        md5 = hashlib.md5(good.read_bytes()).hexdigest()
        unpack(good, dest, log, expect=Expected("md5", md5, "dpkg's record"))
        with pytest.raises(UnpackError) as err:
            unpack(good, dest, log, expect=Expected("sha256", "0" * 64, "the sha256 pinned in ramses.toml"))
    assert f"have sha256 {sha256_file(good)}, but the sha256 pinned in ramses.toml says {'0' * 64}" in str(err.value)
    assert tree_digest(dest) == before
    assert [x.name for x in tmp_path.iterdir() if x.name.startswith(".")] == []


def test_dpkg_anchor_is_dpkgs_own_record():
    from ramsesbuild.settings import Source
    from ramsesbuild.verify import unpack_anchor

    tarball = Path("/usr/src/linux-source-6.1.tar.xz")
    if not shutil.which("dpkg-query") or not tarball.is_file():
        pytest.skip(f"needs {tarball} from the Debian package linux-source-6.1 (apt-get install linux-source-6.1)")
    source = Source(version="6.1", tarball=tarball.name, mirrors=(f"file://{tarball.parent}/",), sha256=None,
                    dpkg="linux-source-6.1")
    anchor = unpack_anchor(source)
    md5sums = Path("/var/lib/dpkg/info/linux-source-6.1.md5sums").read_text()
    assert anchor.algorithm == "md5" and f"{anchor.digest}  usr/src/linux-source-6.1.tar.xz" in md5sums
    assert "dpkg's record of /usr/src/linux-source-6.1.tar.xz" in anchor.anchor
