"""Slow, root: bench/bootstorm.py runs in the cluster box and reports both protocols (no timing is
asserted: the benchmark prints figures, the test only checks that it runs and counts right)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys

import pytest

from ..lib.support import REPO

sys.path.insert(0, str(REPO / "tools" / "cluster"))
import bootservers
import clusterbox

pytestmark = pytest.mark.slow


def test_small_storm_reports_both_protocols_without_errors(tmp_path):
    if os.geteuid() != 0:
        pytest.skip("the boot storm runs in the cluster box: needs root")
    missing = clusterbox.missing_packages() + ([] if shutil.which("nginx") else [bootservers.TOOLS["nginx"]])
    if missing:
        pytest.skip(f"the cluster box needs {', '.join(missing)} (apt-get install {' '.join(missing)})")
    images = [tmp_path / "vmlinuz", tmp_path / "initrd"]
    for i, image in enumerate(images):
        image.write_bytes(os.urandom(300_000 + i * 500_000))
    proc = subprocess.run([sys.executable, str(REPO / "bench" / "bootstorm.py"), "--clients", "3", "--rounds", "1",
                           "--image", str(images[0]), "--image", str(images[1]), "--work", str(tmp_path / "work")],
                          capture_output=True, text=True, timeout=600, env={**os.environ, "PYTHONPATH": str(REPO)})
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    out = proc.stdout
    assert "boot storm: 3 clients at once, each fetching 2 images" in out
    rows = re.findall(r"^1\s+(tftp|http)\s+[\d.]+\s+([\d.]+)\s+[\d.]+\s+[\d.]+\s+(\d+)", out, re.M)
    assert [r[0] for r in rows] == ["tftp", "http"] and all(r[2] == "0" for r in rows), out
    assert "HTTP/TFTP throughput ratio:" in out and "1,000 nodes x" in out
    assert list((tmp_path / "work").iterdir()) == []  # the scratch directory is removed
