"""A package-installed tarball (Debian's linux-source-6.1) as the source: fetch copies it afresh,
verify trusts dpkg --verify and checks that the copy is the package's file. Real dpkg, real
package; skipped where it is not installed (.ci/run installs it for the slow tests)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from ramsesbuild.errors import VerifyError
from ramsesbuild.fetch import fetch_all
from ramsesbuild.log import TaskLog
from ramsesbuild.settings import Source
from ramsesbuild.verify import verify

PACKAGE = "linux-source-6.1"
TARBALL = Path("/usr/src/linux-source-6.1.tar.xz")


def _installed() -> bool:
    if not shutil.which("dpkg-query") or not TARBALL.is_file():
        return False
    return subprocess.run(["dpkg-query", "-S", str(TARBALL)], capture_output=True).returncode == 0


pytestmark = pytest.mark.skipif(not _installed(), reason=f"needs {TARBALL} from the Debian package {PACKAGE} "
                                                          f"(apt-get install {PACKAGE})")


def test_copy_is_fresh_and_must_equal_the_package_file(tmp_path: Path) -> None:
    source = Source(version="6.1", tarball=TARBALL.name, mirrors=(f"file://{TARBALL.parent}/",), sha256=None,
                    dpkg=PACKAGE)
    dl = tmp_path / "downloads"
    with TaskLog(tmp_path / "fetch.log") as log:
        (copy,) = fetch_all(source, dl, log)
        result = verify(source, copy, None, log)
    assert result.package and result.package.startswith(f"{PACKAGE} ") and result.signer is None
    assert copy.stat().st_size == TARBALL.stat().st_size

    with open(copy, "r+b") as fh:  # damaged after the copy: same size, one byte changed
        fh.seek(copy.stat().st_size // 2)
        byte = fh.read(1)
        fh.seek(-1, 1)
        fh.write(bytes([byte[0] ^ 0xFF]))
    with TaskLog(tmp_path / "verify.log") as log, pytest.raises(VerifyError, match="differs from"):
        verify(source, copy, None, log)

    with TaskLog(tmp_path / "fetch2.log") as log:  # no pin to compare with: the next fetch copies again
        fetch_all(source, dl, log)
        assert verify(source, copy, None, log).sha256 == result.sha256
    assert "already present" not in (tmp_path / "fetch2.log").read_text()
