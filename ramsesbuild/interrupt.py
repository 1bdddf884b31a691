"""Ctrl-C, SIGTERM and SIGHUP end a doit run with one line, and nothing keeps running after it.

:func:`install` (at every doit start) turns the three signals into :class:`Interrupted`, raised
in the main thread wherever it is, so every ``with``/``finally`` on the way cleans up as for any
error (temporary files and trees removed, decompressors stopped), doit saves the records of the
tasks that completed, and the process then ends *by the same signal*: a shell reports 130, 143
or 129, and a script running doit stops too. The user sees one line:

    ramsesbuild: interrupted during compile-client; run again to continue (SIGTERM)

make runs in its own process group (:func:`own_group`): Ctrl-C in a terminal reaches only the
run's own group, and SIGTERM/SIGHUP only doit, so the handler passes the signal on to make's
group, waits for it to end (SIGKILL after a grace period) and only then lets the run end and
release the project lock. Signals are process-wide by nature: the state here is the process's.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import time
from collections.abc import Iterator
from types import FrameType, TracebackType
from typing import TYPE_CHECKING, ClassVar

if TYPE_CHECKING:
    import subprocess

SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
GRACE = 10.0  # seconds make's group gets to stop before SIGKILL


class Interrupted(KeyboardInterrupt):
    """A stop signal arrived. A KeyboardInterrupt, so `except Exception` never swallows it and
    callers that handle Ctrl-C (pytest, an in-process doit) handle it too."""

    def __init__(self, signum: int):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


class _Run:
    """This process's run: what it is doing, which signal stopped it, make's process groups."""

    doing: ClassVar[str] = ""
    signum: ClassVar[int | None] = None
    stopped_doing: ClassVar[str] = ""  # what it was doing when the signal came
    groups: ClassVar[set[int]] = set()
    installed: ClassVar[bool] = False


def install() -> None:
    """Handle SIGINT, SIGTERM and SIGHUP from now on (again at every run: a caller running doit
    in its own process may have put its handlers back)."""
    _Run.signum, _Run.stopped_doing = None, ""
    for sig in SIGNALS:
        signal.signal(sig, _handler)
    if _Run.installed:
        return
    previous = sys.excepthook

    def hook(kind: type[BaseException], exc: BaseException, tb: TracebackType | None) -> None:
        if isinstance(exc, KeyboardInterrupt):
            end_by_signal(getattr(exc, "signum", signal.SIGINT))
        previous(kind, exc, tb)

    sys.excepthook = hook
    _Run.installed = True


def _handler(signum: int, frame: FrameType | None) -> None:
    if _Run.signum is not None:
        return  # already stopping: the cleanup on the way out must not be cut short
    _Run.signum, _Run.stopped_doing = signum, _Run.doing
    for group in list(_Run.groups):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(group, signum)
    raise Interrupted(signum)


@contextlib.contextmanager
def doing(what: str) -> Iterator[None]:
    """Name what the run is doing, for the line an interrupt prints ("during compile-client")."""
    before, _Run.doing = _Run.doing, what
    try:
        yield
    finally:
        _Run.doing = before


def stopped_line() -> str | None:
    """The one line, once a signal stopped the run (None before)."""
    if _Run.signum is None:
        return None
    what = f" {_Run.stopped_doing}" if _Run.stopped_doing else ""
    return f"interrupted{what}; run again to continue ({signal.Signals(_Run.signum).name})"


def end_by_signal(signum: int) -> None:
    """Print the line, then end this process by *signum* itself (default action), so the
    caller sees 128 + signum from a shell. Never returns."""
    if _Run.signum is None:
        _Run.signum, _Run.stopped_doing = signum, _Run.doing
    print(f"ramsesbuild: {stopped_line()}", file=sys.stderr, flush=True)
    with contextlib.suppress(Exception):
        sys.stdout.flush()
    signal.signal(signum, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, [signum])
    os.kill(os.getpid(), signum)
    os._exit(128 + signum)  # not reached: the signal ends the process


@contextlib.contextmanager
def own_group(proc: subprocess.Popen[str]) -> Iterator[None]:
    """*proc* was started with process_group=0: it and its children (make, gcc) stop with the run.
    On any exception (an interrupt above all) the group gets the signal, GRACE seconds to end,
    then SIGKILL; it is reaped before the exception goes on, so the lock is free after."""
    _Run.groups.add(proc.pid)
    try:
        yield
    except BaseException:
        _stop_group(proc, _Run.signum or signal.SIGTERM)
        raise
    finally:
        _Run.groups.discard(proc.pid)


def _stop_group(proc: subprocess.Popen[str], signum: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signum)
    deadline = time.monotonic() + GRACE
    while time.monotonic() < deadline and not _exited(proc.pid):
        time.sleep(0.05)
    # the leader is still unreaped (a zombie at most), so its group id cannot be reused yet:
    # whatever is left in the group (a gcc that ignored the signal) is killed for sure
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


def _exited(pid: int) -> bool:
    """Has *pid* exited? Without reaping it (WNOWAIT)."""
    try:
        info = os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
    except ChildProcessError:
        return True
    return info is not None
