"""unpack: a hostile-tar corpus that must be refused cleanly with nothing written anywhere,
and normal tarballs that must come out exactly as GNU tar extracts them.

Every hostile case runs against a destination that already holds a good tree and asserts:
one UnpackError line, the whole test directory (the old tree, a sentinel directory beside
it, an "outside" directory the attacks aim at) unchanged to the byte, mode and mtime, and no
temporary directory left behind.
"""

from __future__ import annotations

import bz2
import functools
import gzip
import hashlib
import io
import lzma
import os
import shutil
import stat
import subprocess
import sys
import tarfile
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

import pytest

from ramsesbuild.errors import UnpackError
from ramsesbuild.log import TaskLog
from ramsesbuild.tarstream import DECOMPRESSORS, Member, TarStream
from ramsesbuild.unpack import UnpackLimits, check_member, unpack

from ..lib.support import REPO, make_fake_tarball
from ..lib.tools import need, need_private_mounts

MTIME = 1_000_000_000


# ------------------------------------------------------------------ building archives

@dataclass
class E:
    """One archive entry: kind is file|dir|sym|link|fifo|chr|blk."""

    name: str
    kind: str = "file"
    data: bytes | str = b""
    target: str = ""
    mode: int | None = None
    mtime: float = MTIME
    pax: dict[str, str] = field(default_factory=dict)


def tar_bytes(entries: list[E] | tuple[E, ...], fmt: int = tarfile.GNU_FORMAT) -> bytes:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=fmt) as tf:
        for e in entries:
            info = tarfile.TarInfo(e.name)
            info.mtime = e.mtime
            info.pax_headers = dict(e.pax)
            info.type = {"file": tarfile.REGTYPE, "dir": tarfile.DIRTYPE, "sym": tarfile.SYMTYPE,
                         "link": tarfile.LNKTYPE, "fifo": tarfile.FIFOTYPE, "chr": tarfile.CHRTYPE,
                         "blk": tarfile.BLKTYPE}[e.kind]
            info.mode = e.mode if e.mode is not None else (0o755 if e.kind == "dir" else 0o644)
            info.linkname = e.target
            data = e.data.encode() if isinstance(e.data, str) else e.data
            if e.kind == "file":
                info.size = len(data)
                tf.addfile(info, io.BytesIO(data))
            else:
                tf.addfile(info)
    return raw.getvalue()


COMPRESS = {"gz": lambda b: gzip.compress(b, 1), "bz2": lambda b: bz2.compress(b, 1),
            "xz": lambda b: lzma.compress(b, preset=0), "tar": lambda b: b}  # fast levels: tests


UNPACKERS = {"xz": "xz", "bz2": "bzip2", "zst": "zstd"}  # what unpack runs for them (gzip is essential)


def need_unpacker(comp: str) -> None:
    if comp in UNPACKERS:
        need(UNPACKERS[comp])


def write_tar(path: Path, entries: list[E] | tuple[E, ...], comp: str = "gz", fmt: int = tarfile.GNU_FORMAT) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(COMPRESS[comp](tar_bytes(entries, fmt)))
    return path


GOOD = [E("linux", "dir"), E("linux/Makefile", data="VERSION = 2\n"),
        E("linux/include", "dir"), E("linux/include/asm-i386", "dir"),
        E("linux/include/asm-i386/x.h", data="x"), E("linux/include/asm", "sym", target="asm-i386")]


# ------------------------------------------------------------------ the arena


def snapshot(root: Path, skip: tuple[str, ...], mtime_free: tuple[Path, ...]) -> dict[str, tuple]:
    """Every entry below *root* (not following symlinks): type, mode, mtime, content."""
    out: dict[str, tuple] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        if Path(dirpath) == root:
            dirnames[:] = [d for d in dirnames if d not in skip]
            filenames = [f for f in filenames if f not in skip]
        for name in dirnames + filenames:
            p = Path(dirpath, name)
            st = os.lstat(p)
            if stat.S_ISREG(st.st_mode):
                body: object = hashlib.sha256(p.read_bytes()).hexdigest()
            elif stat.S_ISLNK(st.st_mode):
                body = os.readlink(p)
            else:
                body = None
            mtime = None if p in mtime_free else st.st_mtime_ns
            out[str(p.relative_to(root))] = (stat.S_IFMT(st.st_mode), stat.S_IMODE(st.st_mode),
                                             st.st_nlink, mtime, body)
    return out


@dataclass
class Arena:
    """tmp/project/build/client/src (the destination, holding a good tree), a sentinel
    directory beside it, tmp/outside/flag (what the attacks aim at), tarballs and logs."""

    tmp: Path
    log: TaskLog

    @property
    def dest(self) -> Path:
        return self.tmp / "project" / "build" / "client" / "src"

    @property
    def outside(self) -> Path:
        return self.tmp / "outside"

    def up_to_tmp(self, start: Path) -> str:
        """A relative path of '..' from *start* (a directory in the tree) to self.tmp."""
        return "/".join([".."] * len(start.relative_to(self.tmp).parts))

    def tarball(self, entries: list[E], comp: str = "gz", name: str = "k.tar") -> Path:
        return write_tar(self.tmp / "tarballs" / f"{name}.{comp}", entries, comp)

    def state(self) -> dict[str, tuple]:
        return snapshot(self.tmp, ("tarballs", "logs"), (self.dest.parent,))


@pytest.fixture
def arena(tmp_path):
    with TaskLog(tmp_path / "logs" / "unpack.log") as log:
        a = Arena(tmp_path, log)
        a.outside.mkdir()
        (a.outside / "flag").write_text("outside\n")
        sentinel = a.dest.parent / "sentinel"
        sentinel.mkdir(parents=True)
        (sentinel / "flag").write_text("sentinel\n")
        unpack(a.tarball(GOOD, name="good"), a.dest, log)
        yield a


def assert_refused(arena: Arena, tarball: Path, match: str, limits: UnpackLimits | None = None) -> str:
    before = arena.state()
    with pytest.raises(UnpackError, match=match) as info:
        unpack(tarball, arena.dest, arena.log, limits)
    message = str(info.value)
    assert "\n" not in message and message.startswith(str(tarball)), message
    assert arena.state() == before  # nothing outside, the old tree intact, no temp directory
    assert sorted(p.name for p in arena.dest.parent.iterdir()) == ["sentinel", "src"]
    return message


# ------------------------------------------------------------------ hostile corpus

def _dotdot_name(a: Arena) -> list[E]:
    return [E("linux", "dir"), E("linux/" + a.up_to_tmp(a.dest) + "/outside/evil", data="x")]


def _absolute_name(a: Arena) -> list[E]:
    return [E("linux", "dir"), E(str(a.outside / "evil"), data="x")]


def _symlink_absolute(a: Arena) -> list[E]:
    return [E("linux", "dir"), E("linux/esc", "sym", target=str(a.outside)),
            E("linux/esc/evil", data="x")]


def _symlink_relative(a: Arena) -> list[E]:
    return [E("linux", "dir"), E("linux/esc", "sym", target=a.up_to_tmp(a.dest) + "/outside"),
            E("linux/esc/evil", data="x")]


def _dot_trick(a: Arena) -> tuple[list[E], str]:
    """sub/dot -> . makes dot/dot/../.. look like sub lexically, while it is sub's parent's
    parent for the kernel: 'up' points outside although every lexical check says inside."""
    ups = len((a.dest / "sub").relative_to(a.tmp).parts)
    target = "/".join(["dot"] * ups + [".."] * ups + ["outside"])
    return [E("linux", "dir"), E("linux/sub", "dir"), E("linux/sub/dot", "sym", target="."),
            E("linux/sub/up", "sym", target=target)], target


def _write_through_inner_symlink(a: Arena) -> list[E]:
    entries, _ = _dot_trick(a)
    return [*entries, E("linux/sub/up/evil", data="x"), E("linux/sub/up/flag", data="overwritten")]


def _hardlink_through_inner_symlink(a: Arena) -> list[E]:
    entries, _ = _dot_trick(a)
    return [*entries, E("linux/hl", "link", target="linux/sub/up/flag")]


def _inner_symlink_pointing_out(a: Arena) -> list[E]:
    entries, _ = _dot_trick(a)
    return entries


def _realpath_overflow(a: Arena) -> list[E]:
    """The CVE-2025-4517 pattern: a chain of symlinks to long directory names whose expansion
    passes PATH_MAX, so os.path.realpath stops resolving and treats the rest lexically; a
    link at its end points back up, 'escape' climbs from there out of the tree; then a hard
    link to an outside file through it, a write through that hard link, and a new file."""
    steps = "abcdefghijklmnop"
    dest_len = len(str(a.dest.parent)) + len("/.src.12345678.unpacking/sub/")
    # rounded up, plus one: the expansion passes PATH_MAX whatever the length of the test's own path
    component = "d" * min(255, -(-(os.pathconf(a.tmp, "PC_PATH_MAX") - dest_len) // (len(steps) + 1)) + 1)
    entries = [E("linux", "dir"), E("linux/sub", "dir")]
    path = "linux/sub"
    for step in steps:
        entries.append(E(f"{path}/{component}", "dir", mode=0o777))
        entries.append(E(f"{path}/{step}", "sym", target=component))
        path = f"{path}/{component}"
    chain = "/".join(steps)
    entries.append(E(f"linux/sub/{chain}/{'l' * 254}", "sym", target="/".join([".."] * len(steps))))
    ups = len((a.dest / "sub").relative_to(a.tmp).parts)
    escape = f"{chain}/{'l' * 254}/" + "/".join([".."] * ups) + "/outside"
    entries += [E("linux/sub/escape", "sym", target=escape),
                E("linux/sub/flaglink", "link", target="linux/sub/escape/flag"),
                E("linux/sub/flaglink", data="overwritten"),
                E("linux/sub/escape/newfile", data="new")]
    return entries


def _symlink_replaced_by_dir(a: Arena) -> list[E]:
    return [E("linux", "dir"), E("linux/sub", "dir"), E("linux/s", "sym", target="sub"),
            E("linux/s", "dir", mode=0o777, mtime=12345)]


def _symlink_loop(a: Arena) -> list[E]:
    return [E("linux", "dir"), E("linux/x", "sym", target="y"), E("linux/y", "sym", target="x")]


def _symlink_chain_too_deep(a: Arena) -> list[E]:
    return ([E("linux", "dir"), E("linux/end", data="x")]
            + [E(f"linux/l{i}", "sym", target=f"l{i + 1}") for i in range(45)]
            + [E("linux/l45", "sym", target="end")])


def _name_too_long(a: Arena) -> list[E]:
    return [E("linux", "dir"), E("linux/" + "/".join(["d" * 200] * 21) + "/f", data="x")]


def _hardlink_to_later_member(a: Arena) -> list[E]:
    return [E("linux", "dir"), E("linux/hl", "link", target="linux/later"), E("linux/later", data="x")]


def _hardlink_to_dir(a: Arena) -> list[E]:
    return [E("linux", "dir"), E("linux/d", "dir"), E("linux/hl", "link", target="linux/d")]


def _hardlink_dotdot(a: Arena) -> list[E]:
    return [E("linux", "dir"), E("linux/hl", "link", target="linux/" + a.up_to_tmp(a.dest) + "/outside/flag")]


def _special(kind: str):
    return lambda a: [E("linux", "dir"), E("linux/dev", kind)]


def _duplicate(first: str, second: str):
    def entries(a: Arena) -> list[E]:
        def make(kind: str) -> E:
            return {"file": E("linux/x", data="x"), "dir": E("linux/x", "dir"),
                    "sym": E("linux/x", "sym", target="y")}[kind]
        return [E("linux", "dir"), E("linux/y", "dir"), make(first), make(second)]
    return entries


def _second_top(a: Arena) -> list[E]:
    return [E("linux", "dir"), E("linux/a", data="x"), E("other/file", data="x")]


def _pax_dotdot(a: Arena) -> list[E]:
    long = "linux/" + "x" * 120 + "/../" + a.up_to_tmp(a.dest) + "/../outside/evil"
    return [E("linux", "dir"), E(long, data="x")]


HOSTILE = {
    "dotdot-name": (_dotdot_name, r"'\.\.' would write outside the tree"),
    "absolute-name": (_absolute_name, r"absolute path"),
    "symlink-absolute": (_symlink_absolute, r"symlink to the absolute path .* points outside"),
    "symlink-relative-escape": (_symlink_relative, r"linux/esc.*(points outside|write through)"),
    "write-through-inner-symlink": (_write_through_inner_symlink, r"linux/sub/up is a symlink: refusing"),
    "hardlink-through-inner-symlink": (_hardlink_through_inner_symlink, r"hard link to 'linux/sub/up/flag'"),
    "inner-symlink-points-out": (_inner_symlink_pointing_out, r"'linux/sub/up': symlink to .* points outside"),
    "realpath-overflow-CVE-2025-4517": (_realpath_overflow, r"linux/sub/a is a symlink: refusing to write through it"),
    "symlink-replaced-by-dir": (_symlink_replaced_by_dir, r"would replace a symlink with a directory"),
    "symlink-loop": (_symlink_loop, r"symlink loop"),
    "symlink-chain-too-deep": (_symlink_chain_too_deep, r"'linux/l0': symlink chain longer than 40 links"),
    "name-longer-than-PATH_MAX": (_name_too_long, r"name or link target longer than 4095 characters"),
    "hardlink-to-later-member": (_hardlink_to_later_member, r"not extracted before it"),
    "hardlink-to-dir": (_hardlink_to_dir, r"a directory, not a regular file"),
    "hardlink-dotdot": (_hardlink_dotdot, r"'\.\.' would write outside|target is outside"),
    "fifo": (_special("fifo"), r"fifo \(a source tarball holds only"),
    "char-device": (_special("chr"), r"character device"),
    "block-device": (_special("blk"), r"block device"),
    "dup-file-file": (_duplicate("file", "file"), r"replace a file with a file"),
    "dup-dir-file": (_duplicate("dir", "file"), r"replace a directory with a file"),
    "dup-dir-symlink": (_duplicate("dir", "sym"), r"replace a directory with a symlink"),
    "dup-file-symlink": (_duplicate("file", "sym"), r"replace a file with a symlink"),
    "dup-symlink-file": (_duplicate("sym", "file"), r"replace a symlink with a file"),
    "dup-file-dir": (_duplicate("file", "dir"), r"replace a file with a directory"),
    "second-top-directory": (_second_top, r"outside the top directory 'linux'"),
    "pax-long-name-dotdot": (_pax_dotdot, r"'\.\.' would write outside the tree"),
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hostile_member_is_refused_and_nothing_changes(arena, case):
    build, match = HOSTILE[case]
    assert_refused(arena, arena.tarball(build(arena)), match)


def test_realpath_overflow_pattern_really_overflows(arena):
    """The CVE case is only a test if its chain is longer than PATH_MAX once expanded."""
    entries = _realpath_overflow(arena)
    expanded = sum(len(e.name.rsplit("/", 1)[1]) + 1 for e in entries if e.kind == "dir" and "ddd" in e.name)
    assert len(str(arena.dest)) + expanded + 255 > os.pathconf(arena.tmp, "PC_PATH_MAX")


def test_pax_global_header_cannot_rename_members(arena):
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT,
                      pax_headers={"path": "linux/../../evil"}) as tf:
        info = tarfile.TarInfo("linux/a")
        tf.addfile(info, io.BytesIO(b""))
    tb = arena.tmp / "tarballs" / "g.tar"
    tb.write_bytes(raw.getvalue())
    assert_refused(arena, tb, r"pax global header .* sets path")


# ------------------------------------------------------------------ limits and damage

def _zero_member(mib: int) -> list[E]:
    return [E("linux", "dir"), E("linux/zero", data=bytes(mib << 20))]


def test_decompression_bomb_hits_the_byte_cap(arena):
    need_unpacker("bz2")
    tb = arena.tarball(_zero_member(64), comp="bz2", name="bomb")
    assert tb.stat().st_size < 4096
    msg = assert_refused(arena, tb, r"expands to more than 1048576 bytes \(UnpackLimits.max_bytes\)",
                         UnpackLimits(max_bytes=1 << 20))
    assert "linux/zero" in msg


def test_member_count_cap(arena):
    entries = [E("linux", "dir")] + [E(f"linux/f{i}", data="x") for i in range(50)]
    assert_refused(arena, arena.tarball(entries), r"more than 20 members \(UnpackLimits.max_members\)",
                   UnpackLimits(max_members=20))


def test_truncated_tar_stream(arena):
    need_unpacker("xz")
    raw = tar_bytes([*GOOD, E("linux/big", data=os.urandom(20000))])
    cut = raw.index(b"linux/big") + 512 + 5000  # well inside the data of linux/big
    tb = arena.tmp / "tarballs" / "cut.tar.xz"
    tb.write_bytes(lzma.compress(raw[:cut]))  # a valid xz stream of a cut tar
    assert_refused(arena, tb, r"the archive is truncated \(it ends inside member 'linux/big'\)")


@pytest.mark.parametrize("comp, tool", [("xz", "xz"), ("bz2", "[lp]?bzip2"), ("gz", "(pi)?gz(ip)?")])
def test_truncated_compressed_file(arena, comp, tool):
    need_unpacker(comp)
    tb = arena.tarball([*GOOD, E("linux/big", data=os.urandom(50000))], comp=comp)
    tb.write_bytes(tb.read_bytes()[:-200])
    assert_refused(arena, tb, rf"the compressed data is corrupt or truncated \({tool}: .*\); "
                              "delete it and run again to re-download")


def test_corrupt_compressed_stream(arena):
    need_unpacker("xz")
    tb = arena.tarball([*GOOD, E("linux/big", data=os.urandom(50000))], comp="xz")
    data = bytearray(tb.read_bytes())
    data[len(data) // 2] ^= 0xFF
    tb.write_bytes(bytes(data))
    assert_refused(arena, tb, r"the compressed data is corrupt or truncated \(xz: .*\)")


def test_corrupt_tar_header(arena):
    raw = bytearray(tar_bytes(GOOD))
    raw[600] ^= 0x55  # inside the second header
    tb = arena.tmp / "tarballs" / "bad.tar.gz"
    tb.write_bytes(gzip.compress(bytes(raw)))
    assert_refused(arena, tb, r"corrupt archive: bad checksum in the header at byte 512")


def test_negative_size_is_corrupt(arena):
    raw = bytearray(tar_bytes(GOOD))
    header = raw[512:1024]  # linux/Makefile
    header[124:136] = b"\xff" * 12  # base-256 -1
    header[148:156] = b"        "
    header[148:156] = b"%06o\0 " % sum(header)
    raw[512:1024] = header
    tb = arena.tmp / "tarballs" / "neg.tar.gz"
    tb.write_bytes(gzip.compress(bytes(raw)))
    assert_refused(arena, tb, r"corrupt archive: negative size in the header at byte 512")


def test_garbage_with_gzip_magic(arena):
    tb = arena.tmp / "tarballs" / "junk.tar.gz"
    tb.write_bytes(b"\x1f\x8b\x08\x00garbage" * 10)
    assert_refused(arena, tb, r"the compressed data is corrupt or truncated \((pi)?gz(ip)?: .*\)")


def test_missing_decompressor_names_the_package(arena, monkeypatch):
    tb = arena.tarball(GOOD, comp="bz2")
    empty = arena.tmp / "emptybin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    assert_refused(arena, tb, r"cannot decompress it: bzip2 is not installed \(apt-get install bzip2\)")


def unpack_on_private_tmpfs(tmp_path: Path, tarball: Path, then: str) -> tuple[str, str]:
    """Unpack into <tmp>/small/build/src, where <tmp>/small is a 1 MiB tmpfs mounted in a
    private mount namespace (gone with the process); *then* runs after the mount. Returns
    the error line and the listing of build/ afterwards."""
    need_private_mounts()
    small = tmp_path / "small"
    small.mkdir()
    script = f"""
import os, sys
from pathlib import Path
from ramsesbuild.errors import UnpackError
from ramsesbuild.log import TaskLog
from ramsesbuild.unpack import unpack
dest = Path({str(small)!r}) / "build" / "src"
with TaskLog(Path({str(tmp_path)!r}) / "unpack.log") as log:
    try:
        unpack(Path({str(tarball)!r}), dest, log)
    except UnpackError as exc:
        print(exc)
print(sorted(os.listdir(dest.parent)))
"""
    env = dict(os.environ, PYTHONPATH=str(REPO))
    r = subprocess.run(["unshare", "--mount", "--propagation", "private", "sh", "-ec",
                        (f'mount -t tmpfs -o size=1m tmpfs "{small}"; mkdir "{small}/build"; {then}\n'
                         f'exec "{sys.executable}" -c "$0"'), script],
                       check=False, capture_output=True, text=True, env=env, timeout=60)
    if r.returncode != 0 and "mount" in r.stderr:
        pytest.skip(f"cannot mount a private tmpfs here: {r.stderr.strip()}")
    assert r.returncode == 0, r.stderr
    message, listing = r.stdout.splitlines()
    return message, listing


def test_disk_full_says_so_and_where(tmp_path):
    """The 4 MiB member does not fit in 1 MiB."""
    tb = write_tar(tmp_path / "k.tar.gz", [*GOOD, E("linux/big", data=bytes(4 << 20))], "gz")
    message, listing = unpack_on_private_tmpfs(tmp_path, tb, "true")
    assert message == (f"{tb}: disk full while unpacking into {tmp_path}/small/build (member 'linux/big'): "
                       "No space left on device; free space on that file system and run again")
    assert listing == "[]"  # the temp directory was removed


def test_read_only_build_directory(tmp_path):
    tb = write_tar(tmp_path / "k.tar.gz", GOOD, "gz")
    message, listing = unpack_on_private_tmpfs(tmp_path, tb, f'mount -o remount,ro "{tmp_path}/small"')
    assert message == (f"{tb}: cannot unpack into {tmp_path}/small/build/src: Read-only file system; "
                       f"make {tmp_path}/small/build writable and run again")
    assert listing == "[]"


# ------------------------------------------------------------------ good archives


def tree(root: Path, mtimes_of: set[str] | None = None) -> dict[str, tuple]:
    """Type, mode, content/target and mtime of everything below root (and root itself);
    directory mtimes only for the directories in *mtimes_of* (None: all)."""
    out = {}
    for p in [root, *sorted(root.rglob("*"))]:
        rel = str(p.relative_to(root))
        st = os.lstat(p)
        if stat.S_ISREG(st.st_mode):
            body: object = p.read_bytes()
        elif stat.S_ISLNK(st.st_mode):
            body = os.readlink(p)
        else:
            body = None
        keep_mtime = not stat.S_ISDIR(st.st_mode) or mtimes_of is None or rel in mtimes_of
        out[rel] = (stat.S_IFMT(st.st_mode), stat.S_IMODE(st.st_mode), st.st_nlink,
                    st.st_mtime_ns if keep_mtime else None, body)
    return out


def gnu_tar(tarball: Path, into: Path) -> None:
    into.mkdir()
    subprocess.run(["tar", "-x", "--delay-directory-restore", "-f", str(tarball), "-C", str(into)], check=True)


def _text(seed: int, size: int) -> bytes:
    """Compressible but not trivial: fast to compress, every file different."""
    return b"".join(b"%d:%d " % (seed, n) for n in range(size // 4 + 1))[:size]


@functools.cache
def rich_entries() -> tuple[E, ...]:
    """Directories listed before and after their contents, out-of-tree-order siblings (the
    way Debian's linux-source lists Documentation/arm/samsung/), symlinks of every sane kind,
    hard links, long names (GNU and pax), sub-second pax mtimes, modes, sizes around the
    block, chunk and splice boundaries."""
    long_dir = "linux-6.1.99/" + "/".join(["averyveryverylongdirectoryname"] * 5)
    big = bytes(range(256)) * (3 * 4096 + 7)  # 3 MiB + 1792 bytes: spliced, crosses chunks
    entries = [
        E("linux-6.1.99", "dir", mtime=1_600_000_000),
        E("linux-6.1.99/arch", "dir", mtime=1_600_000_001),
        E("linux-6.1.99/arch/x86", "dir", mtime=1_600_000_002),
        E("linux-6.1.99/arch/x86/include", "dir", mtime=1_600_000_003),
        E("linux-6.1.99/arch/samsung", "dir", mtime=1_600_000_004),
        E("linux-6.1.99/arch/samsung-s3c", "dir", mtime=1_600_000_005),
        E("linux-6.1.99/arch/samsung-s3c/a.c", data="a\n", mtime=1_600_000_006),
        E("linux-6.1.99/arch/samsung/b.c", data="b\n", mtime=1_600_000_007),
        E("linux-6.1.99/arch/x86/include/asm.h", data="#define X 1\n", mtime=1_500_000_000),
        E("linux-6.1.99/include", "dir", mtime=1_600_000_008),
        E("linux-6.1.99/include/asm", "sym", target="../arch/x86/include", mtime=1_600_000_009),
        E("linux-6.1.99/include/dangling", "sym", target="generated/autoconf.h", mtime=1_600_000_010),
        E("linux-6.1.99/include/chain", "sym", target="asm/asm.h", mtime=1_600_000_011),
        E("linux-6.1.99/include/self", "sym", target=".", mtime=1_600_000_012),
        E("linux-6.1.99/include/root", "sym", target="..", mtime=1_600_000_013),
        E("linux-6.1.99/scripts", "dir", mode=0o750, mtime=1_600_000_014),
        E("linux-6.1.99/scripts/run.sh", data="#!/bin/sh\n", mode=0o755, mtime=1_600_000_015),
        E("linux-6.1.99/scripts/private", data="p", mode=0o600, mtime=1_600_000_016),
        E("linux-6.1.99/scripts/readonly", data="r", mode=0o444, mtime=1_600_000_017),
        E("linux-6.1.99/scripts/hard", "link", target="linux-6.1.99/scripts/run.sh"),
        E("linux-6.1.99/empty", data=b"", mtime=1_600_000_018),
        E("linux-6.1.99/big.bin", data=big, mtime=1_600_000_019),
        E(f"{long_dir}/" + "n" * 120 + ".c", data="long\n", mtime=1_600_000_020),
        E("linux-6.1.99/pax", data="pax\n", pax={"mtime": "1600000021.123456789"}),
        E("linux-6.1.99/Documentation", "dir", mtime=1_600_000_022),
    ]
    entries[1:1] = [E("/".join(long_dir.split("/")[:i]), "dir", mtime=1_400_000_000 + i) for i in range(2, 7)]
    entries += [E(f"linux-6.1.99/Documentation/f{i:03d}", data=_text(i, (i * 7919) % 70_000),
                  mtime=1_600_000_100 + i) for i in range(150)]
    return tuple(entries)


@pytest.mark.parametrize("comp", ["xz", "bz2", "gz", "tar"])
def test_rich_tarball_extracts_exactly_like_gnu_tar(tmp_path, comp):
    need_unpacker(comp)
    tb = tmp_path / f"rich.tar.{comp}"
    tb.write_bytes(rich_compressed(comp))
    gnu_tar(tb, tmp_path / "ref")
    with TaskLog(tmp_path / "log") as log:
        assert unpack(tb, tmp_path / "src", log) == "linux-6.1.99"
    assert tree(tmp_path / "src") == tree(tmp_path / "ref" / "linux-6.1.99")


def _zstd(data: bytes) -> bytes:
    return subprocess.run(["zstd", "-q", "-c"], input=data, stdout=subprocess.PIPE, check=True).stdout


@functools.cache
def rich_tar() -> bytes:
    """The rich tarball (GNU format, 8 MiB), built once per test process: every test that
    extracts it reads the same bytes (building and compressing it cost more than extracting)."""
    return tar_bytes(rich_entries(), tarfile.GNU_FORMAT)


@functools.cache
def rich_compressed(comp: str) -> bytes:
    """rich_tar() compressed as *comp* (gz, bz2, xz, zst, or tar for none), once per test process."""
    return _zstd(rich_tar()) if comp == "zst" else COMPRESS[comp](rich_tar())


@pytest.mark.parametrize("command", [c for d in DECOMPRESSORS for c in d.commands], ids=lambda c: c[0])
def test_every_decompressor_gives_the_same_tree(tmp_path, monkeypatch, command):
    """Each command the pipeline may pick (parallel ones first when installed), alone on PATH."""
    fmt = next(d for d in DECOMPRESSORS if command in d.commands)
    tool = shutil.which(command[0])
    need(command[0], *(["zstd"] if fmt.name == "zstd" else []))
    raw = rich_tar()
    tb = tmp_path / f"rich.tar.{fmt.name}"
    tb.write_bytes(rich_compressed({"xz": "xz", "bzip2": "bz2", "gzip": "gz", "zstd": "zst"}[fmt.name]))
    (tmp_path / "ref.tar").write_bytes(raw)
    gnu_tar(tmp_path / "ref.tar", tmp_path / "ref")
    only = tmp_path / "bin"
    only.mkdir()
    (only / command[0]).symlink_to(tool)
    monkeypatch.setenv("PATH", str(only))
    with TaskLog(tmp_path / "log") as log:
        unpack(tb, tmp_path / "src", log)
    assert f"with {only / command[0]} " in (tmp_path / "log").read_text()
    assert tree(tmp_path / "src") == tree(tmp_path / "ref" / "linux-6.1.99")


def test_pax_format_extracts_exactly_like_gnu_tar(tmp_path):
    need_unpacker("xz")
    tb = write_tar(tmp_path / "rich.tar.xz", rich_entries(), "xz", fmt=tarfile.PAX_FORMAT)
    gnu_tar(tb, tmp_path / "ref")
    with TaskLog(tmp_path / "log") as log:
        unpack(tb, tmp_path / "src", log)
    assert tree(tmp_path / "src") == tree(tmp_path / "ref" / "linux-6.1.99")
    assert (tmp_path / "src" / "pax").stat().st_mtime_ns == 1_600_000_021_123_456_789


@pytest.mark.parametrize("kind", ["k24", "modern"])
def test_fake_kernel_tarball_extracts_like_gnu_tar(tmp_path, kind):
    need_unpacker("bz2" if kind == "k24" else "xz")
    tb = make_fake_tarball(kind, tmp_path, extra={"include/linux/version.h": b"/* extra */\n"})
    gnu_tar(tb, tmp_path / "ref")
    (top,) = os.listdir(tmp_path / "ref")
    with TaskLog(tmp_path / "log") as log:
        assert unpack(tb, tmp_path / "src", log) == top
    # the fake tarballs list no directories but the top one: GNU tar and unpack both give
    # the others the current time, so their mtimes are not compared
    assert tree(tmp_path / "src", {"."}) == tree(tmp_path / "ref" / top, {"."})


def test_modes_lose_setuid_and_group_other_write(tmp_path):
    entries = [E("linux", "dir", mode=0o777), E("linux/d", "dir", mode=0o2775),
               E("linux/d/s", data="x", mode=0o4777), E("linux/d/g", data="x", mode=0o664),
               E("linux/ro", "dir", mode=0o555), E("linux/ro/f", data="x", mode=0o444)]
    tb = write_tar(tmp_path / "m.tar.gz", entries)
    with TaskLog(tmp_path / "log") as log:
        unpack(tb, tmp_path / "src", log)
    modes = {p: stat.S_IMODE(os.lstat(tmp_path / "src" / p).st_mode) for p in (".", "d", "d/s", "d/g", "ro", "ro/f")}
    assert modes == {".": 0o755, "d": 0o755, "d/s": 0o755, "d/g": 0o644, "ro": 0o755, "ro/f": 0o444}


def test_good_tree_replaces_the_old_one_atomically(tmp_path):
    need_unpacker("xz")
    with TaskLog(tmp_path / "log") as log:
        unpack(write_tar(tmp_path / "a.tar.gz", [*GOOD, E("linux/old", data="old")]), tmp_path / "src", log)
        top = unpack(write_tar(tmp_path / "b.tar.xz", GOOD, "xz"), tmp_path / "src", log)
    assert top == "linux"
    assert sorted(os.listdir(tmp_path / "src")) == ["Makefile", "include"]
    assert (tmp_path / "src" / "include" / "asm").readlink() == Path("asm-i386")
    assert sorted(os.listdir(tmp_path)) == ["a.tar.gz", "b.tar.xz", "log", "src"]
    assert "extracted 6 members" in (tmp_path / "log").read_text()


def test_archive_root_dot_entries_and_implicit_parents(tmp_path):
    entries = [E(".", "dir"), E("./linux/a/b/c.txt", data="c"), E("./linux/a/b/l", "sym", target="c.txt")]
    with TaskLog(tmp_path / "log") as log:
        assert unpack(write_tar(tmp_path / "d.tar.gz", entries), tmp_path / "src", log) == "linux"
    assert (tmp_path / "src" / "a" / "b" / "l").read_text() == "c"


def test_empty_archive(tmp_path):
    tb = tmp_path / "e.tar.gz"
    tb.write_bytes(gzip.compress(bytes(1024)))
    with TaskLog(tmp_path / "log") as log, pytest.raises(UnpackError, match="the archive is empty"):
        unpack(tb, tmp_path / "src", log)
    assert sorted(os.listdir(tmp_path)) == ["e.tar.gz", "log"]


def test_large_member_count_and_size_within_limits(tmp_path):
    entries = [E("linux", "dir")] + [E(f"linux/f{i}", data="x") for i in range(20)]
    with TaskLog(tmp_path / "log") as log:
        unpack(write_tar(tmp_path / "n.tar.gz", entries), tmp_path / "src", log,
               UnpackLimits(max_bytes=64 * 512, max_members=21))
    assert len(os.listdir(tmp_path / "src")) == 20


@pytest.mark.parametrize("comp", ["tar", "gz"])
def test_stream_reader_with_odd_chunks_agrees_with_tarfile(tmp_path, comp):
    """Headers and data straddling every possible read boundary, GNU and pax names."""
    entries = [*rich_entries(), E("linux-6.1.99/" + "p" * 150, data="pax name\n")]
    for fmt in (tarfile.GNU_FORMAT, tarfile.PAX_FORMAT):
        tb = write_tar(tmp_path / f"r{fmt}.tar.{comp}", entries, comp, fmt)
        got = []
        out = tmp_path / "data"
        with TarStream(tb, 1 << 30, chunk=700) as stream:
            for m in stream.members():
                data = b""
                if m.kind == "file":
                    with open(out, "wb") as fh:
                        stream.copy_data(fh.fileno(), m.name)
                    data = out.read_bytes()
                got.append((m.name.rstrip("/"), m.kind, m.size, m.mode, m.mtime_ns, m.linkname, data))
            stream.finish()
        want = []
        with tarfile.open(tb) as tf:
            for ti in tf:
                kind = {tarfile.REGTYPE: "file", tarfile.DIRTYPE: "dir", tarfile.SYMTYPE: "symlink",
                        tarfile.LNKTYPE: "hardlink"}[ti.type]
                fh = tf.extractfile(ti) if ti.isfile() else None
                want.append((ti.name, kind, ti.size, ti.mode, int(Decimal(str(ti.pax_headers.get("mtime", ti.mtime))) * 10**9),
                             ti.linkname, fh.read() if fh else b""))
        assert got == want


# ------------------------------------------------------------------ check_member (lexical)

@pytest.mark.parametrize("name, kind, linkname, result", [
    ("linux/a/./b//c", "file", "", "linux/a/b/c"),
    ("./linux/", "dir", "", "linux"),
    ("linux/a/../../evil", "file", "", r"'\.\.' would write outside the tree"),
    ("/etc/evil", "file", "", "absolute path"),
    ("linux/x\0y", "file", "", "NUL byte"),
    ("linux/abs", "symlink", "/etc/passwd", r"symlink to the absolute path '/etc/passwd' points outside"),
    ("linux/abs", "hardlink", "/etc/passwd", r"hard link to the absolute path"),
    ("linux/empty", "symlink", "", "symlink with an empty target"),
    ("linux/fifo", "fifo", "", r"fifo \(a source tarball holds only"),
    ("linux/sparse", "sparse file", "", "sparse file"),
])
def test_check_member(name, kind, linkname, result):
    member = Member(name, kind, 0, 0o644, 0, linkname)
    if result.startswith("linux"):
        assert check_member(member, Path("k.tar")) == result
    else:
        with pytest.raises(UnpackError, match=result):
            check_member(member, Path("k.tar"))
