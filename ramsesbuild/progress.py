"""Progress a person can see: a tqdm bar in a terminal, and plain, rate-limited lines (no
control characters) in a CI log or a pipe.

doit runs python actions with sys.stderr replaced by a writer that keeps the real stream's
isatty(); the bar is drawn on the process's real stderr (``sys.__stderr__``) so that doit's
output capture never swallows or reorders it.
"""

from __future__ import annotations

import os
import sys
import time
from types import TracebackType
from typing import IO, Any

DEFAULT_INTERVAL = 10.0  # seconds between plain progress lines


def _stream() -> IO[str]:
    return sys.__stderr__ if sys.__stderr__ is not None else sys.stderr


def is_terminal(stream: IO[str] | None = None) -> bool:
    s = stream or _stream()
    try:
        return s.isatty() and os.environ.get("TERM", "") != "dumb"
    except (AttributeError, ValueError):
        return False


def _columns(stream: IO[str]) -> int:
    try:
        return os.get_terminal_size(stream.fileno()).columns
    except (OSError, ValueError, AttributeError):
        return 0


def _interval() -> float:
    try:
        return max(0.0, float(os.environ.get("RAMSES_PROGRESS_INTERVAL", DEFAULT_INTERVAL)))
    except ValueError:
        return DEFAULT_INTERVAL


class Progress:
    """``with Progress("make bzImage", total=1834, unit="unit") as p: p.update(1)``.

    *total* may be None (unknown): the bar then counts without a percentage; an *estimated*
    total is shown as ``~N`` and grows with the count when the estimate was short. *bytes_*
    formats counts as KiB/MiB. The plain form prints at most one line per RAMSES_PROGRESS_INTERVAL
    seconds (default 10) and a final line, so CI logs stay short.
    """

    def __init__(self, desc: str, total: int | None = None, unit: str = "", bytes_: bool = False,
                 initial: int = 0, stream: IO[str] | None = None, estimated: bool = False):
        self.desc, self.total, self.unit, self.bytes = desc, total, unit, bytes_
        self.estimated = estimated
        self.n = initial
        self.stream = stream or _stream()
        self.started = time.monotonic()
        self._last_line = self.started
        self._bar: Any = None
        if is_terminal(self.stream):
            from tqdm import tqdm

            # A terminal that reports 0 columns (a fresh pty, some multiplexers) would make tqdm
            # draw an empty line: fall back to 80 columns there.
            width = _columns(self.stream)
            self._bar = tqdm(total=total, initial=initial, desc=desc, unit="B" if bytes_ else f" {unit}",
                             unit_scale=bytes_, unit_divisor=1024, file=self.stream, leave=False,
                             mininterval=0.25, ncols=None if width else 80, dynamic_ncols=bool(width))

    def update(self, n: int = 1) -> None:
        self.n += n
        if self.estimated and self.total and self.n > self.total:
            self.total = self.n  # the estimate was short: stay at 100% until the step ends
            if self._bar is not None:
                self._bar.total = self.n
        if self._bar is not None:
            self._bar.update(n)
            return
        now = time.monotonic()
        if now - self._last_line >= _interval():
            self._last_line = now
            self._line()

    def _fmt(self, n: int) -> str:
        if self.bytes:
            from .sizes import human

            return human(n)
        return f"{n}{' ' + self.unit if self.unit else ''}"

    def _line(self, final: bool = False) -> None:
        elapsed = time.monotonic() - self.started
        done = self._fmt(self.n)
        if self.total and not (final and self.estimated):  # a finished count needs no estimate
            pct = min(100, int(100 * self.n / self.total)) if self.total else 0
            what = f"{done} of {'~' if self.estimated else ''}{self._fmt(self.total)} ({pct}%)"
        else:
            what = done
        state = "done" if final else "..."
        self.stream.write(f"   {self.desc}: {what}, {elapsed:.0f} s {state}\n")
        self.stream.flush()

    def close(self) -> None:
        long = time.monotonic() - self.started >= min(_interval(), 2.0)
        if self._bar is not None:
            self._bar.close()
            self._bar = None
            if long:
                self._line(final=True)  # the bar vanishes; a long step leaves one line behind
        elif time.monotonic() - self.started >= _interval():
            self._line(final=True)  # long steps end with a line; quick ones stay silent

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()
