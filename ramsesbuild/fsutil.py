"""Small filesystem helpers shared by every stage: nothing half-written is left in place.

Imported at every start of doit and of the CLI, so it imports only what every caller needs
(hashlib and shutil on first use; temp names are made here, without the tempfile module).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import IO

CHUNK = 1 << 20
# Every temporary name ends with this, so the next run can remove what a killed one left
# (sweep_temp) without ever touching files that are not ours (tftpboot may be shared).
TEMP_MARK = ".ramses-tmp"


def temp_name(name: str, tag: str = "") -> str:
    """A hidden temp name for *name*, recognisable by :func:`sweep_temp`."""
    return f".{name}.{tag}{TEMP_MARK}" if tag else f".{name}{TEMP_MARK}"


def _temp_path(directory: Path, name: str, suffix: str) -> str:
    return os.path.join(directory, f".{name}.{os.urandom(6).hex()}{suffix}")


def _mkstemp(directory: Path, name: str, suffix: str) -> tuple[int, str]:
    """A new hidden ``.<name>.<random><suffix>`` file, mode 0600 (what tempfile.mkstemp does)."""
    for _ in range(100):
        path = _temp_path(directory, name, suffix)
        try:
            return os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600), path
        except FileExistsError:
            continue
    raise FileExistsError(f"{directory}: no free temporary name for {name}")


def _mkdtemp(directory: Path, name: str, suffix: str) -> Path:
    """A new hidden ``.<name>.<random><suffix>`` directory, mode 0700 (tempfile.mkdtemp)."""
    for _ in range(100):
        path = _temp_path(directory, name, suffix)
        try:
            os.mkdir(path, 0o700)
            return Path(path)
        except FileExistsError:
            continue
    raise FileExistsError(f"{directory}: no free temporary name for {name}")


@contextlib.contextmanager
def atomic_writer(path: Path, mode: str = "wb", perms: int | None = None) -> Iterator[IO]:
    """Open a temp file beside *path*; on clean exit fsync and rename it over *path*.

    On an exception the temp file is removed and *path* is untouched.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = _mkstemp(path.parent, path.name, TEMP_MARK)
    try:
        with os.fdopen(fd, mode) as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        if perms is not None:
            os.chmod(tmp, perms)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def atomic_write_bytes(path: Path, data: bytes, perms: int | None = None) -> None:
    with atomic_writer(path, "wb", perms) as fh:
        fh.write(data)


def atomic_write_text(path: Path, text: str, perms: int | None = None) -> None:
    atomic_write_bytes(path, text.encode(), perms)


def write_if_changed(path: Path, data: bytes, perms: int = 0o644) -> bool:
    """Atomically write *data* unless *path* already holds exactly it (keeps mtimes stable)."""
    path = Path(path)
    try:
        if path.read_bytes() == data:
            return False
    except FileNotFoundError:
        pass
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
    dst = Path(dst)
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = _mkdtemp(dst.parent, dst.name, suffix + TEMP_MARK)
    try:
        yield tmp
        replace_dir(tmp, dst)
    except BaseException:
        import shutil

        shutil.rmtree(tmp, ignore_errors=True)
        raise


def replace_dir(tmp: Path, dst: Path) -> None:
    """Swap a fully built directory *tmp* into place at *dst* (old one removed after the swap)."""
    import shutil

    old = dst.with_name(temp_name(dst.name, "old"))
    if old.exists():
        shutil.rmtree(old)
    if dst.exists():
        os.replace(dst, old)
    os.replace(tmp, dst)
    if old.exists():
        shutil.rmtree(old)


def sweep_temp(dirs: list[Path]) -> list[Path]:
    """Remove temp names (files or whole trees) an interrupted run left in *dirs*.

    Only direct entries named ``.*.ramses-tmp`` are touched; call it while holding the
    project lock, so no running step still owns them. Returns what was removed.
    """
    removed = []
    for d in dirs:
        try:
            entries = list(os.scandir(d))
        except OSError:
            continue
        for e in entries:
            if not (e.name.startswith(".") and e.name.endswith(TEMP_MARK)):
                continue
            path = Path(e.path)
            try:
                if e.is_dir(follow_symlinks=False):
                    import shutil

                    shutil.rmtree(path)
                else:
                    path.unlink()
            except OSError:
                continue
            removed.append(path)
    return removed
