"""Glue between doit and the pipeline modules: logged, failure-safe python actions, the check
that a stamp is intact, and clean actions that say what they remove."""

from __future__ import annotations

import fnmatch
import sys
import traceback
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import RamsesError, os_error_message
from ..fsutil import remove, unlink_file
from ..interrupt import doing, stopped_line
from ..log import TaskLog, log_name, say
from ..paths import rel
from ..settings import Settings
from ..sizes import human
from ..state import intact

if TYPE_CHECKING:
    from _typeshed import DataclassInstance


def logged(settings: Settings, task: str, body: Callable[[TaskLog], Any],
           stamps: tuple[Path, ...] = ()) -> Callable[[], Any]:
    """Wrap *body* as a doit python-action.

    The stamps (the task's state targets) are removed before the body runs, so a failure
    never leaves an old success behind. Every failure becomes a doit TaskFailed whose first
    line names the task, the path and the fix; a Python traceback only ever goes to the log.
    """

    def action() -> Any:
        from doit.exceptions import TaskFailed

        with TaskLog(settings.log_dir / log_name(task)) as log, doing(f"during {task}"):
            try:
                log.section(f"task {task}")
                for stamp in stamps:
                    unlink_file(stamp)  # a symlink there is refused, never replaced silently
                body(log)
            except RamsesError as exc:
                log.line(f"ERROR: {exc}")
                return TaskFailed(f"{task}: {exc}\n({log.where()})")
            except OSError as exc:
                log.write(traceback.format_exc())
                return TaskFailed(f"{task}: {os_error_message(exc)}\n({log.where()})")
            except KeyboardInterrupt:  # Ctrl-C, SIGTERM, SIGHUP: ramsesbuild.interrupt ends the run
                log.line(f"INTERRUPTED: {stopped_line() or 'Ctrl-C'}")
                raise
            except Exception as exc:  # a bug: keep the traceback for us, one line for the user
                log.write(traceback.format_exc())
                return TaskFailed(f"{task}: internal error ({type(exc).__name__}: {exc}); this is a bug in "
                                  f"ramsesbuild, please report it with the log\n({log.where()})")
            log.line("ok")
        return None

    action.__name__ = f"run_{task.replace('-', '_').replace(':', '_')}"
    return action


def relative_task(task: dict[str, Any], root: Path) -> dict[str, Any]:
    for key in ("file_dep", "targets"):
        if key in task:
            task[key] = [rel(root, p) for p in task[key]]
    return task


def stamp_intact(path: Path, kind: type[DataclassInstance], task: str) -> Callable[[], bool]:
    """A doit uptodate check: a stamp that exists but cannot be read as *kind* (truncated,
    garbage, another shape) makes its task run again, saying so in one line."""

    def check() -> bool:
        problem = intact(path, kind)
        if problem is not None:
            say(f"ramsesbuild: {problem}; {task} runs again")
        return problem is None

    check.__name__ = f"stamp_intact_{path.stem}"
    return check


# ---------------------------------------------------------------- doit clean

def named_on_command_line(task: str, argv: list[str] | None = None) -> bool:
    """Was *task* (or its group) named explicitly after `doit clean`? (`doit clean` alone,
    and `--clean-all`, name nothing: they never remove installed images or downloads.)"""
    args = sys.argv[1:] if argv is None else argv
    if "clean" not in args:
        return False
    names = [a for a in args[args.index("clean") + 1:] if not a.startswith("-")]
    group = task.split(":", 1)[0]
    return any(fnmatch.fnmatchcase(task, n) or n == group for n in names)


def _size(path: Path) -> int:
    if path.is_symlink() or path.is_file():
        return path.lstat().st_size
    total = 0
    for p in path.rglob("*"):
        try:
            if not p.is_dir() or p.is_symlink():
                total += p.lstat().st_size
        except OSError:
            pass
    return total


def remover(paths: Iterable[Path], protected: str | None = None, task: str = "") -> Callable[..., None]:
    """A doit clean action removing *paths* and saying what it removed.

    With *protected* (a description such as "the installed netboot image"), the paths are kept
    unless the task is named on the `doit clean` command line.
    """
    targets = list(paths)

    def clean(dryrun: bool) -> None:
        existing = [p for p in targets if p.exists() or p.is_symlink()]
        if not existing:
            return
        if protected and not named_on_command_line(task):
            for p in existing:
                print(f"kept {p} ({protected}; `doit clean {task}` removes it)")
            return
        for p in existing:
            size = human(_size(p))
            if dryrun:
                print(f"would remove {p} ({size})")
                continue
            remove(p)  # never through a link
            print(f"removed {p} ({size})")

    return clean
