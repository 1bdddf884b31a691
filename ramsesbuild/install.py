"""Install an artefact where nodes load it (the tftpboot directory), keeping the replaced one.

The previous image becomes ``<name>.old`` through a hard link, then the new one is renamed into
place: the nodes always find a complete image under either name. Nothing is written through a
symlink: a link at the image's name or at ``.old`` is refused (a link there would make the
``.old`` step hard-link, and so serve over TFTP, whatever file it points to), and every step
works through the directory's descriptor. An image identical to the installed one is left alone,
so ``.old`` keeps meaning "the image before the last change".
"""

from __future__ import annotations

import contextlib
import os
import stat
from pathlib import Path

from .errors import InstallError
from .fsutil import atomic_copy, open_parent, refuse_link, sha256_file, temp_name
from .log import TaskLog


def install(artifact: Path, dest: Path, log: TaskLog) -> bool:
    """Put *artifact* at *dest* atomically; the image being replaced becomes dest.old.
    Returns False when *dest* already holds exactly *artifact* (nothing changed)."""
    try:
        dfd, name, _ = open_parent(dest)
        try:
            old = name + ".old"
            for n in (name, old):
                refuse_link(dfd, n, dest.with_name(n))
            current = _stat(dfd, name)
            if current is not None:
                if _same_content(artifact, dest, current):
                    log.line(f"{dest}: already this image, left as it is")
                    return False
                _keep_old(dfd, name, old, current)
                log.line(f"previous image kept as {dest.with_name(old)}")
        finally:
            os.close(dfd)
        atomic_copy(artifact, dest)
    except PermissionError as exc:
        raise InstallError(
            f"cannot write {exc.filename or dest}: {exc.strerror}. Run with write access to the tftpboot "
            "directory or set [paths] tftpboot in ramses.toml"
        ) from None
    log.line(f"installed {dest}")
    return True


def _stat(dfd: int, name: str) -> os.stat_result | None:
    try:
        st = os.stat(name, dir_fd=dfd, follow_symlinks=False)
    except FileNotFoundError:
        return None
    if not stat.S_ISREG(st.st_mode):
        raise InstallError(f"{name}: not a regular file in the tftpboot directory; move it away and run again")
    return st


def _same_content(artifact: Path, dest: Path, current: os.stat_result) -> bool:
    return os.stat(artifact).st_size == current.st_size and sha256_file(artifact) == sha256_file(dest)


def _keep_old(dfd: int, name: str, old: str, current: os.stat_result) -> None:
    """Make *old* a hard link to the current image. When it already is one (a run interrupted
    after this step), there is nothing to do: a rename between two links of one file would be a
    no-op that leaves the temporary name behind."""
    kept = _stat(dfd, old)
    if kept is not None and (kept.st_dev, kept.st_ino) == (current.st_dev, current.st_ino):
        return
    tmp = temp_name(name, "old")
    with contextlib.suppress(FileNotFoundError):
        os.unlink(tmp, dir_fd=dfd)
    try:
        os.link(name, tmp, src_dir_fd=dfd, dst_dir_fd=dfd, follow_symlinks=False)
        os.replace(tmp, old, src_dir_fd=dfd, dst_dir_fd=dfd)
    finally:  # rename(2) between links of one file does nothing; an interrupt may come in between
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp, dir_fd=dfd)
