"""doit's view of a ramsesbuild project. A project's dodo.py is the one line that
``ramsesbuild init`` writes (:data:`ramsesbuild.scaffold.DODO`)::

    from ramsesbuild.dodo import *  # noqa: F403

doit imports dodo.py in the project directory (the one holding it), so the settings are
./ramses.toml there, or the file named by $RAMSES_CONFIG; everything else is in the package.
(One load per process: to load a project twice in one process, call
:func:`ramsesbuild.doit_entry.load_project` yourself.)
"""

from __future__ import annotations

from pathlib import Path

from .doit_entry import load_project

__all__ = ["DOIT_CONFIG", "task_ramses"]

DOIT_CONFIG, task_ramses = load_project(Path("ramses.toml").resolve())
