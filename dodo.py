"""doit entry point. All logic lives in the ramsesbuild package; see `doit list`.

Settings come from ramses.toml next to this file, or from $RAMSES_CONFIG.
Command-line variables: `doit jobs=8` (make -j for this run; also $RAMSES_JOBS) and
`doit wait=no` (fail at once if another run holds this project; also $RAMSES_NO_WAIT=1).
"""

from pathlib import Path

from ramsesbuild.doit_entry import load_project

DOIT_CONFIG, task_ramses = load_project(Path(__file__).with_name("ramses.toml"))
