"""Per-task log files (build/logs/<task>.log) and the console voice of the pipeline."""

from __future__ import annotations

import collections
import contextlib
import datetime as _dt
import os
import sys
from pathlib import Path
from typing import IO

from .errors import LinkError


class TaskLog:
    """Append-only log of one task run. Everything a step prints or runs goes here.

    A log that cannot be written (disk full, read-only) never fails the task by itself: the
    last lines are still kept in memory for the error message, and :attr:`problem` says why
    the file is incomplete.
    """

    def __init__(self, path: Path):
        self.path = Path(path)
        self.problem: str | None = None
        self._tail: collections.deque[str] = collections.deque(maxlen=40)
        self._fh: IO[str] | None = None
        try:
            self._fh = self._open()
        except LinkError as exc:  # never written through; the task itself goes on
            self.problem = f"log not written: {exc}"
            say(f"ramsesbuild: {exc}")
        except OSError as exc:
            self.problem = f"log {self.path} could not be written: {exc.strerror or exc}"

    def _open(self) -> IO[str]:
        """A new, empty log file; the previous one becomes .log.1. Both are renamed or created,
        never opened through a symlink: a link at either name is a LinkError."""
        from .fsutil import open_nofollow, open_parent, refuse_link

        dfd, name, _ = open_parent(self.path)
        try:
            old = name.removesuffix(".log") + ".log.1"
            for n in (name, old):
                refuse_link(dfd, n, self.path.parent / n)
            with contextlib.suppress(FileNotFoundError):  # keep the previous run for comparison
                os.replace(name, old, src_dir_fd=dfd, dst_dir_fd=dfd)
        finally:
            os.close(dfd)
        fd = open_nofollow(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        return os.fdopen(fd, "w", encoding="utf-8", errors="replace")

    def write(self, text: str) -> None:
        for line in text.splitlines():
            self._tail.append(line)
        if self._fh is None:
            return
        try:
            self._fh.write(text)
            self._fh.flush()
        except OSError as exc:
            self.problem = f"log {self.path} is incomplete: {exc.strerror or exc}"
            self._close_quietly()

    def line(self, text: str) -> None:
        self.write(text.rstrip("\n") + "\n")

    def section(self, title: str) -> None:
        stamp = _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        self.line(f"==== {stamp} {title}")

    def tail(self, n: int = 25) -> str:
        return "\n".join(list(self._tail)[-n:])

    def text(self) -> str:
        """What was written so far (the file when it is intact, else the kept tail)."""
        if self.problem is None:
            try:
                return self.path.read_text(errors="replace")
            except OSError:
                pass
        return "\n".join(self._tail)

    def where(self) -> str:
        return self.problem or f"log: {self.path}"

    def _close_quietly(self) -> None:
        try:
            if self._fh is not None:
                self._fh.close()
        except OSError:
            pass
        self._fh = None

    def close(self) -> None:
        self._close_quietly()

    def __enter__(self) -> TaskLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def say(text: str) -> None:
    """A short status line for the user (stderr, so doit shows it at any verbosity)."""
    print(text, file=sys.stderr, flush=True)


def log_name(task: str) -> str:
    return task.replace(":", "-") + ".log"
