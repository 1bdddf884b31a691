"""CI as it really runs: every job starts from a fresh `git clone` (every file's mtime is "now")
in a new directory, restores build/, downloads/ and tftpboot/ from a cache tarball (mtimes kept, as CI
caches do), runs `doit`, and saves the cache again.

* a fresh checkout of the same commit with the cache restored rebuilds nothing: no make, no re-wrap;
* after a one-line fragment change only that profile's config, kernel and image are rebuilt;
* without a cache the job builds from scratch, and gives the same bytes.

The default suite uses the fake kernel trees; the slow variant the real Linux 2.4.18.
"""

from __future__ import annotations

from ramsesbuild.fsutil import sha256_file

from ..lib.cijobs import admin_repo, check_jobs, fake_settings, run_three_jobs
from ..lib.support import FAKE, make_fake_tarball, uncompressed


def test_ci_jobs_on_fresh_clones_with_a_restored_cache(tmp_path, mirror, signer):
    tarball = make_fake_tarball("k24", mirror.root)
    signer.sign(uncompressed(tarball), mirror.root / "linux-2.4.18.tar.sign")
    origin = admin_repo(tmp_path, fake_settings(mirror.url, sha256_file(tarball), signer, "linux-2.4.18.tar.sign"),
                        FAKE / "kconfigs", None)
    check_jobs(run_three_jobs(tmp_path, origin, "# CONFIG_SERIAL_CONSOLE is not set", timeout=300))
