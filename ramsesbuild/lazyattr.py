"""Lazy package attributes: a package's ``__getattr__`` that imports a name's module on first use.

Keeps ``import ramsesbuild.nbi`` (and the like) cheap: the CLI and doit's start load only the
modules they run.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any


def lazy_getattr(package: str, where: Mapping[str, str],
                 renamed: Mapping[str, str] | None = None) -> Callable[[str], Any]:
    """A module ``__getattr__`` for *package*: ``where[name]`` is the submodule that defines
    *name* (under ``renamed[name]`` when it has another name there)."""
    renames = dict(renamed or {})

    def getattr_(name: str) -> Any:
        if name not in where:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        module = importlib.import_module(f".{where[name]}", package)
        return getattr(module, renames.get(name, name))

    return getattr_
