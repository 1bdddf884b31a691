"""doit entry point. All logic lives in the ramsesbuild package; see `doit list`.

Settings come from ramses.toml next to this file, or from $RAMSES_CONFIG.
"""

import os
from pathlib import Path

from ramsesbuild import settings as _settings
from ramsesbuild import tasks as _tasks
from ramsesbuild.errors import RamsesError

try:
    _SETTINGS = _settings.load(Path(os.environ.get("RAMSES_CONFIG", Path(__file__).with_name("ramses.toml"))))
except RamsesError as _exc:
    raise SystemExit(f"ramsesbuild: {_exc}") from None
DOIT_CONFIG = _tasks.doit_config(_SETTINGS)


def task_ramses():
    """(all pipeline tasks; listed individually by `doit list`)"""
    yield from _tasks.generate(_SETTINGS)
