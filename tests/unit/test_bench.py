"""bench/pipeline.sh runs and reports (no timing is asserted: benchmarks print ratios, tests
only check that they run, say what they compare and fail when a step fails)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from ..lib.support import REPO

BENCH = REPO / "bench" / "pipeline.sh"


def _bench(*args: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(BENCH), "--work", str(tmp_path), *args], capture_output=True, text=True,
                          timeout=300, env={**os.environ, "PYTHONPATH": str(REPO)})


def test_cli_row_reports_the_difference_with_load_average(tmp_path: Path) -> None:
    proc = _bench("--runs", "2", "cli", tmp_path=tmp_path)
    assert proc.returncode == 0, proc.stderr
    table = proc.stdout.split("\nmeasurement")[1]
    assert "mknbi-linux CLI vs bare interpreter" in table and " ms " in table and "load " in table
    assert "load average at start:" in proc.stdout and "load average at end:" in proc.stdout
    assert list(tmp_path.iterdir()) == []  # the scratch directory is removed


def test_unknown_row_and_missing_input_fail(tmp_path: Path) -> None:
    proc = _bench("fastest", tmp_path=tmp_path)
    assert proc.returncode == 2 and "unknown row(s) fastest" in proc.stderr
    env = {k: v for k, v in os.environ.items() if k != "RAMSES_K24_TARBALL"}
    proc = subprocess.run([str(BENCH), "--work", str(tmp_path), "k24"], capture_output=True, text=True, timeout=300,
                          env={**env, "PYTHONPATH": str(REPO)})
    assert proc.returncode == 1 and "set RAMSES_K24_TARBALL" in proc.stderr
