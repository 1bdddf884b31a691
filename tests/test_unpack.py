"""unpack: refuse unsafe members with a clear error and leave nothing half-extracted."""

from __future__ import annotations

import io
import tarfile

import pytest

from ramsesbuild.errors import UnpackError
from ramsesbuild.log import TaskLog
from ramsesbuild.unpack import unpack


@pytest.fixture
def log(tmp_path):
    with TaskLog(tmp_path / "logs" / "unpack.log") as lg:
        yield lg


def make_tar(path, members):
    """members: list of (name, kind, payload) where kind is file|dir|sym|link|fifo."""
    with tarfile.open(path, "w:gz") as tf:
        for name, kind, payload in members:
            info = tarfile.TarInfo(name)
            if kind == "file":
                data = payload.encode()
                info.size = len(data)
                tf.addfile(info, io.BytesIO(data))
                continue
            info.type = {"dir": tarfile.DIRTYPE, "sym": tarfile.SYMTYPE, "link": tarfile.LNKTYPE,
                         "fifo": tarfile.FIFOTYPE}[kind]
            if kind in ("sym", "link"):
                info.linkname = payload
            tf.addfile(info)
    return path


GOOD = [("linux", "dir", ""), ("linux/Makefile", "file", "VERSION = 2\n"),
        ("linux/include/asm", "sym", "asm-i386"), ("linux/include/asm-i386/x.h", "file", "x")]


def test_good_tree_is_extracted_with_top_dir_stripped(tmp_path, log):
    tb = make_tar(tmp_path / "k.tar.gz", GOOD + [("linux/Documentation/README", "link", "linux/Makefile")])
    top = unpack(tb, tmp_path / "src", log)
    assert top == "linux"
    assert (tmp_path / "src" / "Makefile").read_text() == "VERSION = 2\n"
    assert (tmp_path / "src" / "include" / "asm").is_symlink()
    assert (tmp_path / "src" / "Documentation" / "README").read_text() == "VERSION = 2\n"


@pytest.mark.parametrize("bad, message", [
    (("linux/../../evil", "file", "x"), "'\\.\\.' would write outside the tree"),
    (("/etc/evil", "file", "x"), "absolute path '/etc/evil'"),
    (("linux/escape", "sym", "../../etc/passwd"), "symlink 'linux/escape' -> '../../etc/passwd': it points outside"),
    (("linux/abs", "sym", "/etc/passwd"), "points outside the tree"),
    (("linux/sibling", "sym", "../other"), "points outside the tree"),
    (("linux/hard", "link", "/etc/passwd"), "hard link .*target outside the tree"),
    (("linux/fifo", "fifo", ""), "special file"),
    (("other/file", "file", "x"), "outside the top directory 'linux'"),
])
def test_unsafe_member_is_refused_and_nothing_left(tmp_path, log, bad, message):
    tb = make_tar(tmp_path / "k.tar.gz", GOOD + [bad])
    dest = tmp_path / "src"
    with pytest.raises(UnpackError, match=message):
        unpack(tb, dest, log)
    assert not dest.exists()
    assert [p.name for p in tmp_path.iterdir() if "unpacking" in p.name] == []
    assert not (tmp_path.parent / "evil").exists()


def test_failed_unpack_keeps_previous_tree(tmp_path, log):
    dest = tmp_path / "src"
    unpack(make_tar(tmp_path / "good.tar.gz", GOOD), dest, log)
    with pytest.raises(UnpackError):
        unpack(make_tar(tmp_path / "bad.tar.gz", GOOD + [("linux/../x", "file", "")]), dest, log)
    assert (dest / "Makefile").exists()


def test_corrupt_archive(tmp_path, log):
    tb = tmp_path / "k.tar.gz"
    tb.write_bytes(b"\x1f\x8b\x08\x00garbage" * 10)
    with pytest.raises(UnpackError, match="cannot extract .*re-download"):
        unpack(tb, tmp_path / "src", log)
