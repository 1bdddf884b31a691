"""Where the package's own files are (families.toml, wrappers.toml, the first-stage blobs).

setuptools installs package data as plain files next to the modules (wheel or editable), so a
path relative to this module is right in every install, and costs nothing to compute:
importlib.resources would pull in zipfile and tempfile at every start of the CLI and of doit.
"""

from __future__ import annotations

from pathlib import Path

PACKAGE = Path(__file__).resolve().parent
DATA = PACKAGE / "data"
