"""One run per project at a time: an exclusive fcntl lock on build/.lock, holding the holder's
pid and command line. A second run waits (saying for whom) or, with wait=no, fails at once.

The lock file descriptor is passed on to make (:func:`inherited`, subprocess's ``pass_fds``;
every other descriptor is closed in children): if the doit process is killed outright
(SIGKILL), a still-running make keeps the project locked until it ends, so a new run never
builds into a tree that an orphan is still writing. (Ctrl-C, SIGTERM and SIGHUP stop make with
the run: ramsesbuild.interrupt.)
"""

from __future__ import annotations

import fcntl
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from .errors import LockError, os_error_message
from .fsutil import open_nofollow


class _Held:
    """The lock this process holds (process-wide, like the lock itself): descriptor -> the
    file's (device, inode), to tell it from a later file that got the same number."""

    fds: ClassVar[dict[int, tuple[int, int]]] = {}


def inherited() -> tuple[int, ...]:
    """The descriptors a long-running child (make) must keep open: the project lock."""
    held = []
    for fd, ident in list(_Held.fds.items()):
        try:
            st = os.fstat(fd)
        except OSError:
            st = None
        if st is None or (st.st_dev, st.st_ino) != ident:
            del _Held.fds[fd]  # closed behind our back (a caller running doit in its own process)
        else:
            held.append(fd)
    return tuple(sorted(held))


@dataclass
class ProjectLock:
    path: Path
    fd: int | None = None

    def acquire(self, wait: bool, say: Callable[[str], None]) -> None:
        try:
            fd = open_nofollow(self.path, os.O_RDWR | os.O_CREAT, 0o644)  # never a link's target
        except OSError as exc:
            raise LockError(os_error_message(exc, "creating the project lock")) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _holder(fd)
            if not wait:
                os.close(fd)
                raise LockError(f"{self.path.parent}: another run is using this project ({holder}); "
                                "wait for it to finish, or run without wait=no to queue behind it") from None
            say(f"ramsesbuild: waiting for the other run on {self.path.parent} to finish ({holder})")
            from .interrupt import doing

            try:
                with doing("while waiting for the other run"):
                    fcntl.flock(fd, fcntl.LOCK_EX)
            except BaseException:
                os.close(fd)
                raise
        os.set_inheritable(fd, True)
        info = f"pid {os.getpid()}: {' '.join(['doit', *sys.argv[1:]])}, since {time.strftime('%H:%M:%S')}\n"
        try:
            os.ftruncate(fd, 0)
            os.pwrite(fd, info.encode(), 0)
        except OSError:
            pass  # the lock holds without the note (e.g. disk full)
        self.fd = fd
        st = os.fstat(fd)
        _Held.fds[fd] = (st.st_dev, st.st_ino)

    def release(self) -> None:
        if self.fd is not None:
            _Held.fds.pop(self.fd, None)
            os.close(self.fd)
            self.fd = None


def _holder(fd: int) -> str:
    try:
        text = os.pread(fd, 4096, 0).decode(errors="replace").strip()
    except OSError:
        text = ""
    if not text:
        return "holder unknown"
    pid = text.removeprefix("pid ").split(":", 1)[0]
    if pid.isdigit() and not os.path.exists(f"/proc/{pid}"):
        text += f"; pid {pid} has ended, and a make it started still holds the lock until it ends"
    return text
