"""The attack on 2.4's `make oldconfig` is real: 2.4.18's scripts/Configure sources .config with
the shell, so a `$(...)` in a value runs; the pipeline's check refuses such a line."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from ramsesbuild.errors import KconfigError
from ramsesbuild.ksymbols import check_config_text, scan_tree


@pytest.mark.slow
def test_the_real_2_4_18_configure_runs_what_config_says(tmp_path):
    """The attack is real: 2.4.18's `make oldconfig` sources .config with the shell."""
    from ramsesbuild.log import TaskLog
    from ramsesbuild.unpack import unpack

    from ..lib.k24.guest24 import real_tarball

    tarball = real_tarball("run the real 2.4.18 scripts/Configure")
    tree = tmp_path / "linux"
    with TaskLog(tmp_path / "unpack.log") as log:
        unpack(tarball, tree, log)
    marker = tmp_path / "owned"
    config = (tree / "arch/i386/defconfig").read_text() + f'CONFIG_X="$(touch {marker})"\n'
    (tree / ".config").write_text(config)
    subprocess.run(["make", "ARCH=i386", "SHELL=/bin/bash", "oldconfig"], cwd=tree, input="\n" * 5000, text=True,
                   capture_output=True, timeout=300, env={**os.environ, "LANG": "C"})
    assert marker.exists()
    with pytest.raises(KconfigError, match=r"\.config:\d+: CONFIG_X: the string holds \$"):
        check_config_text(config, str(tree / ".config"), scan_tree(tree).declared)
    assert Path(tree / "arch/i386/defconfig").exists()
