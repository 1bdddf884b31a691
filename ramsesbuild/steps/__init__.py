"""The pipeline as data: every step of a settings file, in order, and the groups that stand for
several (ramsesbuild.steps.base says what a step is). ramsesbuild.tasks makes doit tasks of
them; the summary, `ramsesbuild status` and the tasks reference read them too.

    fetch -> verify -> unpack:<tree> -> patch:<tree>
          -> config-<p> -> compile-<p> -> modules-<p>     (kernel-<p>: the three)
          -> netboot-image:<p>, netboot-retire             (netboot profiles)
          -> boot-config, boot-tftp                        (with a nodes.toml)
          -> root-<c>, root-modules-<c>, node-layers       (node classes: [profile.<c>.root])
"""

from __future__ import annotations

from dataclasses import dataclass

from ..paths import BuildPaths
from ..settings import Settings
from .base import Group, Stage, Step, TaskName, task_name
from .boot import BootConfig, BootTftp
from .kernel import Compile, Configure, Modules, kernel_group
from .netboot import NetbootImage, RetireImages, netboot_doc
from .source import Fetch, Patch, Unpack, Verify, patch_doc, unpack_doc

__all__ = ["Group", "Pipeline", "Stage", "Step", "TaskName", "default_names", "pipeline", "profile_tasks", "task_name"]


@dataclass(frozen=True)
class Pipeline:
    steps: tuple[Step, ...]
    groups: tuple[Group, ...]
    default: tuple[TaskName, ...]  # what a bare `doit` runs


def pipeline(settings: Settings) -> Pipeline:
    steps: list[Step] = [Fetch(settings), Verify(settings)]
    trees = BuildPaths(settings).trees()
    steps += [Unpack(settings, t) for t in trees]
    steps += [Patch(settings, t) for t in trees]
    groups = [Group(TaskName(Stage.UNPACK), unpack_doc(settings), tuple(TaskName(Stage.UNPACK, t.name) for t in trees)),
              Group(TaskName(Stage.PATCH), patch_doc(settings), tuple(TaskName(Stage.PATCH, t.name) for t in trees))]
    for prof in settings.profiles.values():
        steps += [Configure(settings, prof), Compile(settings, prof), Modules(settings, prof)]
        groups.append(kernel_group(settings, prof))
    netboot = [NetbootImage(settings, p) for p in settings.netboot_profiles]
    steps += [*netboot, RetireImages(settings)]
    groups.append(Group(TaskName(Stage.NETBOOT), netboot_doc(settings), tuple(s.name for s in netboot)))
    if settings.nodes.exists():
        steps += [BootConfig(settings, settings.nodes), BootTftp(settings, settings.nodes)]
    if settings.root_profiles:
        from ..noderoot.project import config
        from .roots import root_steps

        cfg = config(settings)
        assert cfg is not None
        steps += root_steps(settings, cfg)
    return Pipeline(tuple(steps), tuple(groups), default_names(settings))


def default_names(settings: Settings) -> tuple[TaskName, ...]:
    """What a bare `doit` runs: every profile's kernel, the netboot images, the boot files, the
    node roots."""
    names = [TaskName(Stage.KERNEL, name) for name in settings.profiles]
    names += [TaskName(Stage.NETBOOT)] if settings.netboot_profiles else []
    names.append(TaskName(Stage.RETIRE))
    if settings.nodes.exists():
        names += [TaskName(Stage.BOOT_CONFIG), TaskName(Stage.BOOT_TFTP)]
    for prof in settings.root_profiles:
        names += [TaskName(Stage.ROOT, prof.name), TaskName(Stage.ROOT_MODULES, prof.name)]
    if settings.root_profiles and settings.nodes.exists():
        names.append(TaskName(Stage.NODE_LAYERS))
    return tuple(names)


def profile_tasks(profile: str) -> tuple[TaskName, ...]:
    """The tasks of one profile (what makes the summary report on it)."""
    return tuple(TaskName(s, profile) for s in (Stage.CONFIG, Stage.COMPILE, Stage.MODULES, Stage.NETBOOT))
