"""Small filesystem helpers shared by every stage: nothing half-written is left in place, and
nothing is ever written through a symbolic link.

No write through a link: :func:`guard` names the directories the pipeline writes below (the
build, download, tftpboot directories: they themselves may be links, the user's choice). Below
them every directory is opened one component at a time with ``O_NOFOLLOW`` (created when
missing), files are created with ``O_EXCL|O_NOFOLLOW`` or opened with ``O_NOFOLLOW``, renames go
through directory descriptors, and a symlink found on the way is a :class:`LinkError` naming it:
one line, nothing written. Outside those directories (the CLI tools' own outputs) a file is
still replaced by rename, never written through.

Imported at every start of doit and of the CLI, so it imports only what every caller needs
(hashlib and shutil on first use; temp names are made here, without the tempfile module).
"""

from __future__ import annotations

import contextlib
import errno
import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO

from .errors import LinkError

CHUNK = 1 << 20
# Every temporary name ends with this, so the next run can remove what a killed one left
# (sweep_temp) without ever touching files that are not ours (tftpboot may be shared).
TEMP_MARK = ".ramses-tmp"
_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC
_NEW_FILE = os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC


class _Guard:
    """The directories below which no symlink is followed (set per doit start by :func:`guard`)."""

    roots: tuple[str, ...] = ()


def guard(roots: Iterable[Path]) -> None:
    """Never follow a symlink below *roots* (replaces the previous set; absolute, lexical)."""
    _Guard.roots = tuple(sorted({os.path.abspath(r) for r in roots}, key=len, reverse=True))


def _root_of(directory: str) -> str | None:
    for root in _Guard.roots:
        if directory == root or directory.startswith(root + os.sep):
            return root
    return None


def link_error(path: str | os.PathLike[str], inside: str | None = None) -> LinkError:
    """The one line for a symlink found where the pipeline writes."""
    try:
        target = os.readlink(path)
    except OSError:
        target = "?"
    where = f", inside {inside}" if inside else ""
    return LinkError(f"{path} is a symbolic link (to {target}){where}: ramsesbuild never writes through a link; "
                     f"remove it (rm {path}) and run again")


def _open_dir_below(root: str, directory: str, create: bool) -> int:
    """A descriptor of *directory* (at or below *root*), each component below *root* opened with
    O_NOFOLLOW (made when missing and *create*); a symlink on the way is a LinkError."""
    if create:
        os.makedirs(root, exist_ok=True)
    fd = os.open(root, _DIR)
    rel = os.path.relpath(directory, root)
    path = root
    try:
        for part in [] if rel == "." else rel.split(os.sep):
            path = os.path.join(path, part)
            try:
                nfd = os.open(part, _DIR | os.O_NOFOLLOW, dir_fd=fd)
            except FileNotFoundError:
                if not create:
                    raise
                with contextlib.suppress(FileExistsError):
                    os.mkdir(part, 0o777, dir_fd=fd)
                nfd = os.open(part, _DIR | os.O_NOFOLLOW, dir_fd=fd)
            except OSError as exc:
                if exc.errno in (errno.ELOOP, errno.ENOTDIR) and os.path.islink(path):
                    raise link_error(path, root) from None
                raise
            os.close(fd)
            fd = nfd
    except BaseException:
        os.close(fd)
        raise
    return fd


def open_parent(path: str | os.PathLike[str], create: bool = True) -> tuple[int, str, bool]:
    """(descriptor of *path*'s directory, the file's name, guarded?). The directory is made when
    missing (*create*); below a guarded root no symlink is followed on the way."""
    directory, name = os.path.split(os.path.abspath(path))
    root = _root_of(directory)
    if root is None:
        if create:
            os.makedirs(directory, exist_ok=True)
        return os.open(directory, _DIR), name, False
    return _open_dir_below(root, directory, create), name, True


def open_dir(path: str | os.PathLike[str], create: bool = False) -> int:
    """A descriptor of directory *path* (made when missing and *create*); below a guarded root no
    symlink is followed on the way."""
    directory = os.path.abspath(path)
    root = _root_of(directory)
    if root is None:
        if create:
            os.makedirs(directory, exist_ok=True)
        return os.open(directory, _DIR)
    return _open_dir_below(root, directory, create)


def ensure_dir(path: str | os.PathLike[str]) -> Path:
    """Make directory *path* (and its parents) without following a symlink below a guarded root."""
    os.close(open_dir(path, create=True))
    return Path(path)


def refuse_link(dir_fd: int, name: str, path: str | os.PathLike[str]) -> None:
    """A LinkError if *name* in *dir_fd* is a symlink (*path* names it for the message)."""
    try:
        st = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    except FileNotFoundError:
        return
    import stat

    if stat.S_ISLNK(st.st_mode):
        raise link_error(path)


def open_nofollow(path: str | os.PathLike[str], flags: int, mode: int = 0o644) -> int:
    """os.open(*path*, *flags* | O_NOFOLLOW) through :func:`open_parent`: a symlink at *path*, or
    (below a guarded root) on the way to it, is a LinkError instead of being followed."""
    dfd, name, _ = open_parent(path, create=bool(flags & os.O_CREAT))
    try:
        return os.open(name, flags | os.O_NOFOLLOW | os.O_CLOEXEC, mode, dir_fd=dfd)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise link_error(path) from None
        raise
    finally:
        os.close(dfd)


def temp_name(name: str, tag: str = "") -> str:
    """A hidden temp name for *name*, recognisable by :func:`sweep_temp`."""
    return f".{name}.{tag}{TEMP_MARK}" if tag else f".{name}{TEMP_MARK}"


def _temp_name(name: str, suffix: str) -> str:
    return f".{name}.{os.urandom(6).hex()}{suffix}"


def _mkstemp(dir_fd: int, name: str, suffix: str) -> tuple[int, str]:
    """A new hidden ``.<name>.<random><suffix>`` file in *dir_fd*, mode 0600 (tempfile.mkstemp)."""
    for _ in range(100):
        tmp = _temp_name(name, suffix)
        try:
            return os.open(tmp, _NEW_FILE, 0o600, dir_fd=dir_fd), tmp
        except FileExistsError:
            continue
    raise FileExistsError(f"no free temporary name for {name}")


def _mkdtemp(dir_fd: int, name: str, suffix: str) -> str:
    """A new hidden ``.<name>.<random><suffix>`` directory in *dir_fd*, mode 0700 (tempfile.mkdtemp)."""
    for _ in range(100):
        tmp = _temp_name(name, suffix)
        try:
            os.mkdir(tmp, 0o700, dir_fd=dir_fd)
            return tmp
        except FileExistsError:
            continue
    raise FileExistsError(f"no free temporary name for {name}")


@contextlib.contextmanager
def atomic_writer(path: Path, mode: str = "wb", perms: int | None = None) -> Iterator[IO]:
    """Open a temp file beside *path*; on clean exit fsync and rename it over *path*.

    On an exception the temp file is removed and *path* is untouched. Below a guarded root, a
    symlink at *path* or on the way to it is a LinkError (nothing is written).
    """
    dfd, name, guarded = open_parent(path)
    try:
        if guarded:
            refuse_link(dfd, name, path)
        fd, tmp = _mkstemp(dfd, name, TEMP_MARK)
        try:
            with os.fdopen(fd, mode) as fh:
                yield fh
                fh.flush()
                os.fsync(fh.fileno())
                if perms is not None:
                    os.fchmod(fh.fileno(), perms)
            os.replace(tmp, name, src_dir_fd=dfd, dst_dir_fd=dfd)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp, dir_fd=dfd)
            raise
    finally:
        os.close(dfd)


def atomic_write_bytes(path: Path, data: bytes, perms: int | None = None) -> None:
    with atomic_writer(path, "wb", perms) as fh:
        fh.write(data)


def atomic_write_text(path: Path, text: str, perms: int | None = None) -> None:
    atomic_write_bytes(path, text.encode(), perms)


def write_if_changed(path: Path, data: bytes, perms: int = 0o644) -> bool:
    """Atomically write *data* unless *path* already holds exactly it (keeps mtimes stable)."""
    try:
        fd = open_nofollow(path, os.O_RDONLY)
    except FileNotFoundError:
        pass
    else:
        with os.fdopen(fd, "rb") as fh:
            if fh.read(len(data) + 1) == data:
                return False
    atomic_write_bytes(path, data, perms)
    return True


def atomic_copy(src: Path, dst: Path, perms: int | None = 0o644) -> None:
    """Copy *src* to *dst* through a temp file in dst's directory, then rename."""
    import shutil

    with open(src, "rb") as fin, atomic_writer(Path(dst), "wb", perms) as fout:
        shutil.copyfileobj(fin, fout, CHUNK)


# sha256 of the files hashed in this process, by identity (device, inode, size, mtime, ctime).
# The verify step hashes the tarball and doit then records verify's file_dep: remembering the
# digest reads 140 MB once instead of twice (ramsesbuild.depcheck). A file written in the
# meantime has another mtime and ctime (doit's own up-to-date rule trusts an unchanged mtime).
_DIGESTS: dict[tuple[int, ...], str] = {}


def _identity(st: os.stat_result) -> tuple[int, ...]:
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


def sha256_file(path: str | os.PathLike[str]) -> str:
    import hashlib

    known = _DIGESTS.get(_identity(os.stat(path)))
    if known is not None:
        return known
    with open(path, "rb") as fh:
        before = _identity(os.fstat(fh.fileno()))
        h = hashlib.sha256()
        while chunk := fh.read(CHUNK):
            h.update(chunk)
        digest = h.hexdigest()
        if _identity(os.fstat(fh.fileno())) == before:  # not written to while it was read
            if len(_DIGESTS) >= 64:
                _DIGESTS.clear()
            _DIGESTS[before] = digest
    return digest


@contextlib.contextmanager
def atomic_dir(dst: Path, suffix: str = "") -> Iterator[Path]:
    """Yield an empty temp directory beside *dst*; on clean exit swap it into place as *dst*.

    On an exception the temp directory is removed and *dst* is left as it was.
    """
    import shutil

    dst = Path(dst)
    dfd, name, guarded = open_parent(dst)
    try:
        if guarded:
            refuse_link(dfd, name, dst)
        tmp = _mkdtemp(dfd, name, suffix + TEMP_MARK)
        try:
            yield dst.with_name(tmp)
            _swap_dir(dfd, tmp, name)
        except BaseException:
            shutil.rmtree(tmp, dir_fd=dfd, ignore_errors=True)
            raise
    finally:
        os.close(dfd)


def replace_dir(tmp: Path, dst: Path) -> None:
    """Swap a fully built directory *tmp* (beside *dst*) into place at *dst*."""
    dfd, name, _ = open_parent(dst)
    try:
        _swap_dir(dfd, Path(tmp).name, name)
    finally:
        os.close(dfd)


def _swap_dir(dfd: int, tmp: str, name: str) -> None:
    """Rename directory *tmp* to *name* in *dfd*; the old one (if any) is removed after the swap.
    A symlink at *name* is replaced, never followed."""
    old = temp_name(name, "old")
    _remove_entry(dfd, old)
    try:
        os.replace(name, old, src_dir_fd=dfd, dst_dir_fd=dfd)
    except FileNotFoundError:
        old = ""
    os.replace(tmp, name, src_dir_fd=dfd, dst_dir_fd=dfd)
    if old:
        _remove_entry(dfd, old)


def _remove_entry(dfd: int, name: str) -> None:
    """Remove *name* in *dfd*: a directory tree (rmtree never follows a link), or anything else."""
    import shutil
    import stat

    try:
        st = os.stat(name, dir_fd=dfd, follow_symlinks=False)
    except FileNotFoundError:
        return
    if stat.S_ISDIR(st.st_mode):
        shutil.rmtree(name, dir_fd=dfd)
    else:
        os.unlink(name, dir_fd=dfd)


def sweep_temp(dirs: list[Path]) -> list[Path]:
    """Remove temp names (files or whole trees) an interrupted run left in *dirs*.

    Only direct entries named ``.*.ramses-tmp`` are touched; call it while holding the
    project lock, so no running step still owns them. A directory reached through a symlink
    (below a guarded root) is skipped, never swept. Returns what was removed.
    """
    removed = []
    for d in dirs:
        try:
            dfd = open_dir(d)
        except (OSError, LinkError):
            continue
        try:
            with os.scandir(dfd) as entries:
                names = [e.name for e in entries if e.name.startswith(".") and e.name.endswith(TEMP_MARK)]
            for name in names:
                try:
                    _remove_entry(dfd, name)
                except OSError:
                    continue
                removed.append(Path(d) / name)
        finally:
            os.close(dfd)
    return removed


def unlink_file(path: Path) -> None:
    """Remove file *path* if present; a symlink there is a LinkError (a planted link is reported,
    not silently replaced), and so is one on the way below a guarded root."""
    try:
        dfd, name, _ = open_parent(path, create=False)
    except FileNotFoundError:
        return
    try:
        refuse_link(dfd, name, path)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(name, dir_fd=dfd)
    finally:
        os.close(dfd)


def remove(path: Path) -> None:
    """Remove *path* (a file, a link, or a whole tree) without following a symlink on the way."""
    dfd, name, _ = open_parent(path, create=False)
    try:
        _remove_entry(dfd, name)
    finally:
        os.close(dfd)
