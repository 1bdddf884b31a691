"""`doit` inside the test process, as a real run would go.

The dodo file is executed afresh for every run (so ramses.toml is read again and the project
lock taken again), doit's own ``DoitMain`` runs with the run's argv, environment and working
directory, and its output is captured at the file-descriptor level (children such as make
write there too). At the end, what a process exit does is done: every file descriptor the run
left open on a file is closed (this releases the project lock, held until the process ends), signal
handlers, the environment, argv and the working directory are restored.

What only a separate process can show (the exit status of a signal, two runs at once, a
terminal, a traceback printed by the interpreter) stays with a subprocess:
``Project.doit(..., process=True)``.
"""

from __future__ import annotations

import contextlib
import functools
import gc
import importlib.metadata
import io
import os
import runpy
import signal
import subprocess
import sys
import tempfile
import traceback
from collections.abc import Iterator
from pathlib import Path

SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def run(dodo: Path, args: list[str], cwd: Path, env: dict[str, str], timeout: float = 300) -> subprocess.CompletedProcess:
    """`python -m doit -f DODO ARGS` in CWD with ENV, without starting a process; like
    subprocess.run, subprocess.TimeoutExpired after *timeout* seconds."""
    argv = ["doit", *args]
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        with _process_like(cwd, env, argv), _captured(out, err) as stdout, _deadline(argv, timeout):
            rc = _main(dodo, args, stdout)
        return subprocess.CompletedProcess(argv, rc, _text(out), _text(err))


def _main(dodo: Path, args: list[str], stdout: io.TextIOBase) -> int:
    import doit.cmd_run
    import doit.plugin
    from doit.doit_cmd import DoitMain

    # `doit run` binds its output stream to sys.stdout when doit is imported: point it here
    saved = doit.cmd_run.opt_outfile["default"]
    doit.cmd_run.opt_outfile["default"] = stdout
    saved_plugins = doit.plugin.entry_points_impl
    doit.plugin.entry_points_impl = lambda: _entry_points
    try:
        rc = DoitMain(_loader(dodo), config_filenames=("pyproject.toml", "doit.cfg")).run(args)
        return int(rc or 0)  # `python -m doit` exits with sys.exit(rc): None (doit clean) is 0
    except SystemExit as exc:  # load_project's documented exits (settings invalid, project unusable)
        return exc.code if isinstance(exc.code, int) else 1
    except subprocess.TimeoutExpired:
        raise
    except Exception:  # what the interpreter would print before exiting 1
        traceback.print_exc()
        return 1
    finally:
        doit.cmd_run.opt_outfile["default"] = saved
        doit.plugin.entry_points_impl = saved_plugins


@functools.cache
def _entry_points(group: str) -> tuple[importlib.metadata.EntryPoint, ...]:
    """doit's plugin entry points (commands, loaders, backends, reporters), read from the installed
    packages' metadata once per test process, not 8 times per run (a scan of every installed
    distribution, most of an in-process run's own time): a `doit` process reads them once at its
    start, and what is installed does not change while the tests run."""
    return tuple(importlib.metadata.entry_points(group=group))


def _loader(dodo: Path):  # -> doit.cmd_base.NamespaceTaskLoader
    from doit.cmd_base import NamespaceTaskLoader

    class DodoFile(NamespaceTaskLoader):
        """doit's own DodoTaskLoader, but the file is executed afresh (not a cached import), after
        doit parsed the command line (as there, `doit.get_var` works while the file runs)."""

        def setup(self, opt_values: dict) -> None:
            self.namespace = runpy.run_path(str(dodo), run_name="dodo")

    return DodoFile()


@contextlib.contextmanager
def _process_like(cwd: Path, env: dict[str, str], argv: list[str]) -> Iterator[None]:
    saved_env, saved_argv, saved_cwd = dict(os.environ), sys.argv, os.getcwd()
    saved_handlers = {s: signal.getsignal(s) for s in SIGNALS}
    open_before = _open_fds()
    gc.freeze()  # what exists before the run stays out of the collection at its end (see below)
    os.environ.clear()
    os.environ.update(env)
    sys.argv = argv
    os.chdir(cwd)
    try:
        yield
    finally:
        os.chdir(saved_cwd)
        sys.argv = saved_argv
        os.environ.clear()
        os.environ.update(saved_env)
        for s, handler in saved_handlers.items():
            signal.signal(s, handler)
        _drop_doit_globals()  # before the sweep below: sqlite closes its own descriptors
        gc.unfreeze()
        for fd in _open_fds() - open_before:  # the process would end here: its files close
            with contextlib.suppress(OSError):
                if os.readlink(f"/proc/self/fd/{fd}").startswith("/"):  # not a socket or pipe: the
                    os.close(fd)  # mirror's server thread shares this process


def _drop_doit_globals() -> None:
    """doit keeps the run's dependency manager (and so its sqlite connection) in a global: a
    command that does not close it (`doit list`) would leave a connection whose descriptor the
    sweep closes by number; when the next run replaces the global, sqlite closes that number
    again, and it may then be the next run's database (sqlite3 "disk I/O error").

    The collection looks at the objects the run made: everything older was frozen when the run
    started (gc.freeze), so it costs a few milliseconds, not a walk over the whole test process."""
    from doit.globals import Globals

    Globals.dep_manager = None
    gc.collect()


@contextlib.contextmanager
def _captured(out: tempfile._TemporaryFileWrapper, err: tempfile._TemporaryFileWrapper) -> Iterator[io.TextIOBase]:
    sys.stdout.flush()
    sys.stderr.flush()
    saved_fds = os.dup(1), os.dup(2)
    saved_streams = sys.stdout, sys.stderr
    os.dup2(out.fileno(), 1)
    os.dup2(err.fileno(), 2)
    sys.stdout = io.TextIOWrapper(io.FileIO(1, "w", closefd=False), write_through=True)
    sys.stderr = io.TextIOWrapper(io.FileIO(2, "w", closefd=False), write_through=True)
    try:
        yield sys.stdout
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        sys.stdout, sys.stderr = saved_streams
        os.dup2(saved_fds[0], 1)
        os.dup2(saved_fds[1], 2)
        for fd in saved_fds:
            os.close(fd)


@contextlib.contextmanager
def _deadline(argv: list[str], seconds: float) -> Iterator[None]:
    def expired(signum: int, frame: object) -> None:
        raise subprocess.TimeoutExpired(argv, seconds)

    saved = signal.signal(signal.SIGALRM, expired)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, saved)


def _open_fds() -> set[int]:
    return {int(fd) for fd in os.listdir("/proc/self/fd")}


def _text(fh: tempfile._TemporaryFileWrapper) -> str:
    fh.seek(0)
    return fh.read().decode(errors="replace")
