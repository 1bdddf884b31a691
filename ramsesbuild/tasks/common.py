"""Glue between doit and the pipeline modules: logged, failure-safe python actions."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..errors import RamsesError
from ..fsutil import atomic_write_text
from ..log import TaskLog, log_name
from ..settings import Settings


def logged(settings: Settings, task: str, body: Callable[[TaskLog], Any],
           stamps: tuple[Path, ...] = ()) -> Callable[[], Any]:
    """Wrap *body* as a doit python-action.

    The stamps (the task's state targets) are removed before the body runs, so a failure
    never leaves an old success behind. RamsesError becomes a clean doit failure showing the
    message; anything else propagates with its traceback (a bug, not a user error).
    """

    def action() -> Any:
        from doit.exceptions import TaskFailed

        for stamp in stamps:
            stamp.unlink(missing_ok=True)
        with TaskLog(settings.log_dir / log_name(task)) as log:
            log.section(f"task {task}")
            try:
                body(log)
            except RamsesError as exc:
                log.line(f"ERROR: {exc}")
                return TaskFailed(f"{task}: {exc}\n(log: {log.path})")
            log.line("ok")
        return None

    action.__name__ = f"run_{task.replace('-', '_').replace(':', '_')}"
    return action


def write_stamp(path: Path, data: dict[str, Any]) -> None:
    atomic_write_text(path, json.dumps(data, indent=1, sort_keys=True) + "\n")


def read_stamp(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return {}
