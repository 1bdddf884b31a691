"""How doit decides that a file_dep changed: doit's own rule, with the pipeline's digests.

doit's default checker records (mtime, size, md5) of every file_dep after a task ran and
reads the whole file again for the md5: 0.4-0.8 s for a 140 MB kernel tarball that the verify
step has just hashed. This checker records the sha256 instead, taken from
:func:`ramsesbuild.fsutil.sha256_file` (which remembers what this process hashed, so the
tarball is read once) and otherwise read in 1 MiB blocks. The rule is doit's: same mtime =
unchanged, other size = changed, else the digests decide, so a checkout with new mtimes (CI)
still rebuilds nothing.

The class keeps the name of doit's checker: doit stores that name and re-runs every task when
it changes, which would rebuild every kernel once after an upgrade. States recorded by doit's
own checker (md5, 32 hex digits) are still compared as md5.
"""

from __future__ import annotations

import os
from typing import Any

from doit.dependency import MD5Checker as _DoitMD5Checker
from doit.dependency import get_file_md5

from .fsutil import sha256_file

MD5_HEX = 32


class MD5Checker(_DoitMD5Checker):
    """doit's MD5Checker rule with sha256 digests shared with the pipeline (see the module)."""

    def check_modified(self, file_path: str, file_stat: os.stat_result, state: Any) -> bool:
        timestamp, size, digest = state
        if file_stat.st_mtime == timestamp:
            return False
        if file_stat.st_size != size:
            return True
        if len(digest) == MD5_HEX:  # recorded by doit's own checker
            return bool(digest != get_file_md5(file_path))
        return bool(digest != sha256_file(file_path))

    def get_state(self, dep: str, current_state: Any) -> tuple[float, int, str] | None:
        st = os.stat(dep)
        if current_state and current_state[0] == st.st_mtime:
            return None
        return st.st_mtime, st.st_size, sha256_file(dep)
