"""Per-task log files (build/logs/<task>.log) and the console voice of the pipeline."""

from __future__ import annotations

import collections
import datetime as _dt
import sys
from pathlib import Path
from typing import IO


class TaskLog:
    """Append-only log of one task run. Everything a step prints or runs goes here."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if self.path.exists():  # keep the previous run for comparison
            self.path.replace(self.path.with_suffix(".log.1"))
        self._fh: IO[str] = open(self.path, "w", encoding="utf-8", errors="replace")
        self._tail: collections.deque[str] = collections.deque(maxlen=40)

    def write(self, text: str) -> None:
        self._fh.write(text)
        for line in text.splitlines():
            self._tail.append(line)
        self._fh.flush()

    def line(self, text: str) -> None:
        self.write(text.rstrip("\n") + "\n")

    def section(self, title: str) -> None:
        stamp = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        self.line(f"==== {stamp} {title}")

    def tail(self, n: int = 25) -> str:
        return "\n".join(list(self._tail)[-n:])

    def close(self) -> None:
        self._fh.close()

    def __enter__(self) -> "TaskLog":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def say(text: str) -> None:
    """A short status line for the user (stderr, so doit shows it at any verbosity)."""
    print(text, file=sys.stderr, flush=True)


def log_name(task: str) -> str:
    return task.replace(":", "-") + ".log"
