"""Glue between doit and the pipeline's steps (ramsesbuild.steps): every step becomes a doit task
the same way (:func:`task_dict`): a logged, failure-safe python action, up-to-date checks (its
identity, its checks, an intact stamp) and clean actions that say what they remove."""

from __future__ import annotations

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
from ..steps.base import Group, Step, TaskName, digest
from .invocation import Invocation

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


def remover(paths: Iterable[Path], kept: str | None = None, task: str = "", named: bool = False) -> Callable[..., None]:
    """A doit clean action removing *paths* and saying what it removed.

    With *kept* (a description such as "the installed netboot image"), the paths are kept
    unless the task was *named* on the `doit clean` command line.
    """
    targets = list(paths)

    def clean(dryrun: bool) -> None:
        existing = [p for p in targets if p.exists() or p.is_symlink()]
        if not existing:
            return
        if kept and not named:
            for p in existing:
                print(f"kept {p} ({kept}; `doit clean {task}` removes it)")
            return
        for p in existing:
            size = human(_size(p))
            if dryrun:
                print(f"would remove {p} ({size})")
                continue
            remove(p)  # never through a link
            print(f"removed {p} ({size})")

    return clean


# ---------------------------------------------------------------- steps -> doit tasks

class same_identity:  # a doit uptodate object, named like doit's config_changed
    """doit uptodate: the step's identity is what it was when the step last succeeded.

    Evaluated when doit checks the task (after the tasks before it ran), and stored as doit's
    config_changed stores its dict (same value name, same digest): a database written by
    config_changed stays valid while the identity says the same."""

    def __init__(self, step: Step):
        self.step = step
        self.digest: str | None = None

    def configure_task(self, task: Any) -> None:
        task.value_savers.append(lambda: {"_config_changed": self.digest})

    def __call__(self, task: Any, values: dict[str, Any]) -> bool:
        identity = self.step.identity()
        self.digest = digest(identity or {})
        return values.get("_config_changed") == self.digest

    def __repr__(self) -> str:
        return f"the settings {self.step.name} depends on are unchanged"


def members_up_to_date(names: tuple[TaskName, ...]) -> Any:
    """doit uptodate for a group task: every member is up to date (what `doit info` reports)."""
    from doit.dependency import UptodateCalculator

    class MembersUpToDate(UptodateCalculator):
        def __init__(self) -> None:
            super().__init__()
            self.dep_manager: Any = None
            self.pending: list[str] = []

        def setup(self, dep_manager: Any, tasks_dict: dict[str, Any]) -> None:
            super().setup(dep_manager, tasks_dict)
            self.dep_manager = dep_manager

        def __call__(self) -> bool:
            tasks = self.tasks_dict
            self.pending = [str(n) for n in names if str(n) in tasks
                            and self.dep_manager.get_status(tasks[str(n)], tasks).status != "up-to-date"]
            return not self.pending

        def __repr__(self) -> str:
            return "its tasks are up to date" + (f" (not: {', '.join(self.pending)})" if self.pending else "")

    return MembersUpToDate()


def task_dict(step: Step, settings: Settings, invocation: Invocation) -> dict[str, Any]:
    """The doit task of *step*: every step becomes one the same way."""
    name = str(step.name)
    stamp = step.stamp
    has_identity = type(step).identity is not Step.identity  # not called here: doit evaluates it when it checks
    uptodate: list[Any] = [same_identity(step)] if has_identity else []
    uptodate += step.checks()
    if stamp is not None:
        uptodate.append(stamp_intact(stamp.path, stamp.kind, name))
    clean = [remover(step.outputs())]
    kept = step.kept()
    if kept is not None:
        clean.append(remover(kept.paths, kept.what, name, named=invocation.names(name)))
    task: dict[str, Any] = {
        "basename": step.name.basename,
        "doc": step.doc,
        "actions": [logged(settings, name, step.run, stamps=(stamp.path,) if stamp and step.clears_stamp else ())],
        "file_dep": step.inputs(),
        "targets": step.targets(),
        "uptodate": uptodate,
        "clean": clean,
    }
    if step.name.subname is not None:
        task["name"] = step.name.subname
    return relative_task(task, settings.root)


def group_dict(group: Group) -> dict[str, Any]:
    """The doit task of a group: doit's own group of subtasks (`netboot-image`), or a task that
    depends on its members (`kernel-client`); up to date when all of them are."""
    uptodate = [members_up_to_date(group.members)]
    if all(m.stage.subtasks and m.basename == str(group.name) for m in group.members):
        return {"basename": str(group.name), "name": None, "doc": group.doc, "uptodate": uptodate}
    return {"basename": str(group.name), "doc": group.doc, "actions": None,
            "task_dep": [str(m) for m in group.members], "uptodate": uptodate}
