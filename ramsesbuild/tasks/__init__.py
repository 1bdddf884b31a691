"""doit tasks from the pipeline's steps (ramsesbuild.steps). dodo.py calls, through
ramsesbuild.doit_entry, :func:`doit_config` and :func:`generate`."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

from ..errors import RamsesError, os_error_message
from ..fsutil import sweep_temp
from ..lock import ProjectLock
from ..log import say
from ..paths import BuildPaths
from ..settings import Settings
from ..steps import TaskName, default_names, pipeline
from .common import group_dict, task_dict
from .invocation import READ_ONLY_COMMANDS, Invocation

__all__ = ["READ_ONLY_COMMANDS", "Invocation", "default_tasks", "doit_config", "generate"]


def generate(settings: Settings, invocation: Invocation | None = None) -> Iterator[dict[str, Any]]:
    """Every task, with its paths relative to the project root (relocatable state). A group
    comes before its first member (doit's rule for groups of subtasks)."""
    invocation = invocation or Invocation()
    plan = pipeline(settings)
    groups = {g.name: g for g in plan.groups}
    done: set[str] = set()
    for step in plan.steps:
        group = groups.get(TaskName(step.name.stage))
        if step.name.subname is not None and group is not None and str(group.name) not in done:
            done.add(str(group.name))
            yield group_dict(group)
        yield task_dict(step, settings, invocation)
        for g in plan.groups:  # a group of tasks of its own comes after its last member
            if str(g.name) not in done and g.members and g.members[-1] == step.name:
                done.add(str(g.name))
                yield group_dict(g)
    for g in plan.groups:  # groups with no member (no netboot profile)
        if str(g.name) not in done:
            yield group_dict(g)


def default_tasks(settings: Settings) -> list[str]:
    return [str(name) for name in default_names(settings)]


def _command_of(args: list[str]) -> str:
    """The doit command *args* run (for callers that have only the command line; the task
    generators take an :class:`Invocation`)."""
    return Invocation.parse(args).command


def doit_config(settings: Settings, wait: bool = True, lock: ProjectLock | None = None,
                invocation: Invocation | None = None) -> dict[str, Any]:
    """DOIT_CONFIG for *settings*. For commands that change things, takes the project lock
    (held until the process ends) and removes temp files an interrupted run left behind."""
    from ..depcheck import MD5Checker
    from ..report import reporter_for

    invocation = invocation or Invocation()
    paths = BuildPaths(settings)
    _ensure_writable_build_dir(settings)
    if lock is not None and invocation.writes:
        lock.acquire(wait, say)
        for path in sweep_temp(paths.temp_dirs()):
            say(f"ramsesbuild: removed {path}, left by an interrupted run")
    return {
        "dep_file": str(paths.db),
        "backend": "sqlite3",
        "check_file_uptodate": MD5Checker,  # doit's rule, the pipeline's sha256 (read once)
        "default_tasks": default_tasks(settings),
        "verbosity": 2,
        "reporter": reporter_for(settings),
    }


def _ensure_writable_build_dir(settings: Settings) -> None:
    build = settings.build_dir
    try:
        build.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise RamsesError(os_error_message(exc, "creating the build directory ([paths] build in "
                                                f"{settings.path.name})")) from None
    if not os.access(build, os.W_OK | os.X_OK):
        raise RamsesError(f"{build}: not writable by this user; fix its permissions or set [paths] build in "
                          f"{settings.path} to a directory you can write")
