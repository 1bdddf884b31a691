"""What a pipeline step is, declared once: its task name, what it reads, what makes it run
again, what it writes, and its work. ramsesbuild.tasks turns every step into a doit task the
same way; `ramsesbuild status`, the run's summary and the reference read the same objects.

A step's parts, and what doit makes of them:

    name        TaskName: the doit task name ("compile-client", "netboot-image:client")
    inputs()    files whose content makes it run again (file_dep)
    identity()  the settings that make it run again: one JSON-able dict, relative paths only,
                evaluated when doit checks the step (config_changed); also what the step itself
                records where it needs a key (the base config cache, the netboot stamp)
    stamp       the typed JSON record the step writes last (ramsesbuild.state); removed before the
                work starts, so a failure never leaves an old success; a damaged one re-runs it
    targets()   the files it makes (the stamp among them)
    checks()    other conditions for "up to date" (e.g. the tree was not deleted by hand)
    run(log)    the work
    outputs()   what `doit clean` removes
    kept()      what `doit clean` removes only when the task is named (installed images, downloads)
"""

from __future__ import annotations

import hashlib
import json
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from ..log import TaskLog

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

Identity = Mapping[str, object]  # JSON-able


class Stage(StrEnum):
    """The kinds of step, in pipeline order: the first part of every task name."""

    FETCH = "fetch"
    VERIFY = "verify"
    UNPACK = "unpack"
    PATCH = "patch"
    CONFIG = "config"
    COMPILE = "compile"
    MODULES = "modules"
    KERNEL = "kernel"
    NETBOOT = "netboot-image"
    RETIRE = "netboot-retire"
    BOOT_CONFIG = "boot-config"
    BOOT_TFTP = "boot-tftp"
    ROOT = "root"
    ROOT_MODULES = "root-modules"
    NODE_LAYERS = "node-layers"

    @property
    def subtasks(self) -> bool:
        """One doit task per tree or profile under a group task ("unpack:client"), rather than
        a task of its own per profile ("compile-client")."""
        return self in (Stage.UNPACK, Stage.PATCH, Stage.NETBOOT)


@dataclass(frozen=True)
class TaskName:
    """A task's name, made in one place: "fetch", "compile-client", "netboot-image:client"."""

    stage: Stage
    of: str | None = None  # the profile (or source tree) the task is for

    def __str__(self) -> str:
        if self.of is None:
            return self.stage.value
        return f"{self.stage}:{self.of}" if self.stage.subtasks else f"{self.stage}-{self.of}"

    @property
    def basename(self) -> str:
        """doit's basename: the group for a subtask, else the whole name."""
        return self.stage.value if self.stage.subtasks else str(self)

    @property
    def subname(self) -> str | None:
        """doit's name within the group (None for a task of its own)."""
        return self.of if self.stage.subtasks else None


def task_name(stage: Stage, of: str | None = None) -> str:
    return str(TaskName(stage, of))


@dataclass(frozen=True)
class Stamp:
    """Where a step records what it did, and as which type (ramsesbuild.state)."""

    path: Path
    kind: type[DataclassInstance]


@dataclass(frozen=True)
class Kept:
    """Outputs that a bare `doit clean` keeps: removed only when the task is named."""

    paths: tuple[Path, ...]
    what: str  # "the installed netboot image"


@dataclass(frozen=True)
class Check:
    """One more condition for "up to date", evaluated when doit checks the step; *what* is how
    `doit info` names it when it fails."""

    what: str
    holds: Callable[[], bool]

    def __call__(self) -> bool:
        return self.holds()

    def __repr__(self) -> str:
        return self.what


def digest(identity: Identity) -> str:
    """What doit's config_changed stores for *identity* (same JSON, same hash): a step keeps
    its up-to-date state across versions as long as its identity says the same."""
    return hashlib.md5(json.dumps(identity, sort_keys=True).encode()).hexdigest()


class Step(ABC):
    """One step of the pipeline for one settings file (see the module docstring)."""

    name: TaskName
    doc: str
    stamp: Stamp | None = None
    clears_stamp = True  # False: run() handles its stamp itself
    # what each key of identity() stands for (the tasks reference lists them; every key has one)
    identity_doc: ClassVar[dict[str, str]] = {}

    def inputs(self) -> list[Path]:
        return []

    def identity(self) -> Identity | None:
        """None: no setting makes this step run again (its inputs and targets decide)."""
        return None

    def targets(self) -> list[Path]:
        return [self.stamp.path] if self.stamp else []

    def checks(self) -> list[Check]:
        return []

    @abstractmethod
    def run(self, log: TaskLog) -> None: ...

    def outputs(self) -> list[Path]:
        return [self.stamp.path] if self.stamp else []

    def kept(self) -> Kept | None:
        return None

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name}>"


@dataclass(frozen=True)
class Group:
    """A task that stands for others: `doit kernel-client`, `doit netboot-image`. It is up to
    date when all of its members are."""

    name: TaskName
    doc: str
    members: tuple[TaskName, ...]
