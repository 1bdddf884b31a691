"""What a project's dodo.py calls: load the settings, take the project lock, give doit its
config and tasks. Problems end in one line and a documented exit code, never a traceback:

    0  done                       1  a task failed, or the project cannot be used (message)
    2  ramses.toml is invalid     3  doit usage error (unknown task or option; doit's own)
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

EXIT_SETTINGS = 2


def _var(name: str, env: str) -> str | None:
    from doit import get_var

    value = get_var(name)
    return value if value is not None else os.environ.get(env)


def load_project(default_settings: Path) -> tuple[dict[str, Any], Callable[[], Iterator[dict[str, Any]]]]:
    from . import settings as _settings
    from . import tasks as _tasks
    from .errors import RamsesError, SettingsError
    from .lock import ProjectLock
    from .paths import BuildPaths

    try:
        path = Path(os.environ.get("RAMSES_CONFIG") or default_settings)
        s = _settings.load(path)
        jobs = _var("jobs", "RAMSES_JOBS")
        if jobs is not None:
            if not jobs.isdigit():
                raise SettingsError(f"jobs={jobs!r}: give a number of make jobs (0 = all cores)")
            s = s.with_jobs(int(jobs))
        no_wait = (_var("wait", "RAMSES_WAIT") or "").lower() in ("no", "0", "false") or \
            os.environ.get("RAMSES_NO_WAIT", "") not in ("", "0")
        # doit keeps the paths it is given; run in the project root and give it relative ones,
        # so a build/ restored from a CI cache into another checkout path stays up to date.
        os.chdir(s.root)
        # doit tells a dodo file neither its command nor the tasks named: read its command line once
        invocation = _tasks.Invocation.parse(sys.argv[1:])
        config = _tasks.doit_config(s, wait=not no_wait, lock=ProjectLock(BuildPaths(s).lock), invocation=invocation)
    except SettingsError as exc:
        print(f"ramsesbuild: {exc}", file=sys.stderr)
        raise SystemExit(EXIT_SETTINGS) from None
    except RamsesError as exc:
        print(f"ramsesbuild: {exc}", file=sys.stderr)
        raise SystemExit(1) from None
    except KeyboardInterrupt:
        raise SystemExit(130) from None

    def task_ramses() -> Iterator[dict[str, Any]]:
        """(all pipeline tasks; listed individually by `doit list`)"""
        yield from _tasks.generate(s, invocation)

    return config, task_ramses
