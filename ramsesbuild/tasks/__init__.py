"""doit task generators. dodo.py calls :func:`generate` and :func:`doit_config`."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from typing import Any

from ..errors import RamsesError, os_error_message
from ..fsutil import sweep_temp
from ..lock import ProjectLock
from ..log import say
from ..settings import Settings
from . import roots as node_roots
from .common import relative_task
from .kernel import (
    task_compile,
    task_config,
    task_fetch,
    task_kernel,
    task_modules,
    task_patch,
    task_unpack,
    task_verify,
)
from .layout import Layout

__all__ = ["Layout", "default_tasks", "doit_config", "generate"]
from .netboot import task_netboot_images

BOOT_TASKS = ["boot-config", "boot-tftp"]
# doit commands that only read: they never take the project lock.
READ_ONLY_COMMANDS = ("list", "info", "help", "dumpdb", "tabcompletion")


def generate(settings: Settings) -> Iterator[dict[str, Any]]:
    """Every task, with its paths relative to the project root (relocatable state)."""
    for task in _generate(settings):
        yield relative_task(task, settings.root)


def _generate(settings: Settings) -> Iterator[dict[str, Any]]:
    yield task_fetch(settings)
    yield task_verify(settings)
    yield from task_unpack(settings)
    yield from task_patch(settings)
    for prof in settings.profiles.values():
        yield task_config(settings, prof)
        yield task_compile(settings, prof)
        yield task_modules(settings, prof)
        yield task_kernel(settings, prof)
    yield from task_netboot_images(settings)
    roots = node_roots.config(settings)  # [profile.X.root] tables: node roots (tasks/roots.py)
    if settings.nodes.exists():
        from .bootconf import task_boot_config, task_boot_tftp

        if roots is None:
            yield task_boot_config(settings, settings.nodes)
        else:
            yield node_roots.task_boot_config(settings, roots, settings.nodes)
        yield task_boot_tftp(settings, settings.nodes)
    if roots is not None:
        yield from node_roots.generate(settings, roots)


def default_tasks(settings: Settings) -> list[str]:
    tasks = [f"kernel-{name}" for name in settings.profiles]
    if settings.netboot_profiles:
        tasks.append("netboot-image")
    tasks += BOOT_TASKS if settings.nodes.exists() else []
    return tasks + node_roots.default_tasks(node_roots.config(settings), settings)


def _command_of(args: list[str]) -> str:
    known = ("run", "list", "info", "help", "dumpdb", "tabcompletion", "clean", "forget", "ignore",
             "reset-dep", "strace", "auto")
    return args[0] if args and args[0] in known else "run"


def doit_config(settings: Settings, wait: bool = True, lock: ProjectLock | None = None) -> dict[str, Any]:
    """DOIT_CONFIG for *settings*. For commands that change things, takes the project lock
    (held until the process ends) and removes temp files an interrupted run left behind."""
    from ..depcheck import MD5Checker
    from ..report import reporter_for

    lay = Layout(settings)
    _ensure_writable_build_dir(settings)
    if lock is not None and _command_of(sys.argv[1:]) not in READ_ONLY_COMMANDS:
        lock.acquire(wait, say)
        for path in sweep_temp(lay.temp_dirs()):
            say(f"ramsesbuild: removed {path}, left by an interrupted run")
    return {
        "dep_file": str(lay.db),
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
