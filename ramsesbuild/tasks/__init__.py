"""doit task generators. dodo.py calls :func:`generate` and exposes the results."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from ..settings import PROFILES, Settings
from .kernel import task_config, task_fetch, task_kernel, task_modules, task_patch, task_unpack, task_verify
from .layout import Layout
from .netboot import task_netboot_image

KERNEL_TASKS = ["kernel-server", "modules-server", "modules-client", "netboot-image"]
BOOT_TASKS = ["boot-config", "boot-tftp"]


def generate(settings: Settings) -> Iterator[dict[str, Any]]:
    yield task_fetch(settings)
    yield task_verify(settings)
    yield from task_unpack(settings)
    yield from task_patch(settings)
    for profile in PROFILES:
        yield task_config(settings, profile)
        yield task_kernel(settings, profile)
        yield task_modules(settings, profile)
    yield task_netboot_image(settings)
    if settings.nodes.exists():
        from .bootconf import task_boot_config, task_boot_tftp

        yield task_boot_config(settings, settings.nodes)
        yield task_boot_tftp(settings, settings.nodes)


def doit_config(settings: Settings) -> dict[str, Any]:
    settings.build_dir.mkdir(parents=True, exist_ok=True)
    return {
        "dep_file": str(Layout(settings).db),
        "backend": "sqlite3",
        "default_tasks": KERNEL_TASKS + (BOOT_TASKS if settings.nodes.exists() else []),
        "verbosity": 2,
    }
