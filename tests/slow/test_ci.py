"""CI jobs (tests/lib/cijobs.py) with the real Linux 2.4.18: fresh clones, a restored cache, a fragment edit."""

from __future__ import annotations

import pytest

from ramsesbuild.fsutil import sha256_file

from ..lib.cijobs import admin_repo, check_jobs, fake_settings, run_three_jobs
from ..lib.k24.guest24 import real_tarball
from ..lib.support import REPO

pytestmark = pytest.mark.slow


def test_ci_jobs_with_the_real_2_4_18(tmp_path):
    tarball = real_tarball("simulate CI with the real 2.4.18")
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    (mirror / "linux-2.4.18.tar.bz2").symlink_to(tarball.resolve())
    origin = admin_repo(tmp_path, fake_settings(f"file://{mirror}/", sha256_file(tarball), None, None),
                        REPO / "kconfigs", REPO / "patches")
    # the shipped fragment ends in its "#@ family modern" section: say the new line is for every family
    # (no from-scratch job here: the fast variant shows it gives the same bytes; CI time matters)
    check_jobs(run_three_jobs(tmp_path, origin, "#@ family all\nCONFIG_BLK_DEV_LOOP=y", timeout=1800,
                              scratch=False))
