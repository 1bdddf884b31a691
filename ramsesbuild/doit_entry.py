"""What a project's dodo.py calls: load the settings, take the project lock, give doit its
config and tasks. Problems end in one line and a documented exit code, never a traceback:

    0  done                       1  a task failed, or the project cannot be used (message)
    2  ramses.toml is invalid     3  doit usage error (unknown task or option; doit's own)
    130, 143, 129: ended by Ctrl-C, SIGTERM, SIGHUP (the process ends by the signal itself)
"""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .settings import Settings

EXIT_SETTINGS = 2


def _var(name: str, env: str) -> str | None:
    from doit import get_var

    value = get_var(name)
    return value if value is not None else os.environ.get(env)


def write_roots(s: Settings) -> list[Path]:
    """The directories the pipeline writes below (each may itself be a link: the user's choice)."""
    return [s.build_dir, s.download_dir, s.tftpboot,
            *(p.netboot.tftpboot for p in s.profiles.values() if p.netboot is not None)]


def load_project(default_settings: Path | None = None) -> tuple[dict[str, Any], Callable[[], Iterator[dict[str, Any]]]]:
    """DOIT_CONFIG and the task generator of the project whose settings are $RAMSES_CONFIG, else
    *default_settings*, else ramses.toml in the working directory (doit runs a dodo.py in its own
    directory: the two lines `ramsesbuild init` writes, scaffold.DODO)."""
    from . import interrupt
    from . import settings as _settings
    from . import tasks as _tasks
    from .doitdb import heal
    from .errors import RamsesError, SettingsError
    from .fsutil import guard
    from .lock import ProjectLock
    from .log import say
    from .paths import BuildPaths

    interrupt.install()  # Ctrl-C, SIGTERM, SIGHUP: one line, make stopped with the run, exit by the signal
    try:
        path = Path(os.environ.get("RAMSES_CONFIG") or default_settings or "ramses.toml").resolve()
        s = _settings.load(path)
        guard(write_roots(s))  # below these, no write ever goes through a symlink
        jobs = _var("jobs", "RAMSES_JOBS")
        if jobs is not None:
            if not jobs.isdigit():
                raise SettingsError(f"jobs={jobs!r}: give a number of make jobs (0 = all cores)")
            s = s.with_jobs(int(jobs))
        no_wait = (_var("wait", "RAMSES_WAIT") or "").lower() in ("no", "0", "false") or \
            os.environ.get("RAMSES_NO_WAIT", "") not in ("", "0")
        if _tasks._command_of(sys.argv[1:]) == "run":  # not for list, info, clean, forget, ...
            from .inputs import check_inputs

            check_inputs(s)  # every file the settings name, before anything is fetched
        # doit keeps the paths it is given; run in the project root and give it relative ones,
        # so a build/ restored from a CI cache into another checkout path stays up to date.
        os.chdir(s.root)
        lock = ProjectLock(BuildPaths(s).lock)
        config = _tasks.doit_config(s, wait=not no_wait, lock=lock)
        db = heal(Path(config["dep_file"]), repair=lock.fd is not None, say=say)  # before doit opens it
        if db is not None:
            config["dep_file"] = db
    except SettingsError as exc:
        print(f"ramsesbuild: {exc}", file=sys.stderr)
        raise SystemExit(EXIT_SETTINGS) from None
    except RamsesError as exc:
        print(f"ramsesbuild: {exc}", file=sys.stderr)
        raise SystemExit(1) from None
    except KeyboardInterrupt as exc:  # before any task: loading settings, waiting for the lock
        interrupt.end_by_signal(getattr(exc, "signum", signal.SIGINT))

    def task_ramses() -> Iterator[dict[str, Any]]:
        """(all pipeline tasks; listed individually by `doit list`)"""
        yield from _tasks.generate(s)

    return config, task_ramses
