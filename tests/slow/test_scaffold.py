"""Slow: a user's first hour with the installed package only. A wheel of ramsesbuild goes into a
fresh virtual environment; in an empty directory the recipe of docs/howto/debian-6.1.md, as
copied from there (`ramsesbuild init mycluster --kernel 6.1`, `cd mycluster && doit`; its
apt-get line is checked by tests/unit/test_docs.py), writes a project and builds Debian's 6.1 (both kernels, the netboot and 3Com MBA images, the boot
configuration for the shipped nodes.toml); `ramsesbuild status` passes, and `ramsesbuild
boot-test` on the installed image picks the NIC from the kernel config and sees the kernel on
the serial console (the shipped append has console=ttyS0). Nothing comes from this checkout:
no PYTHONPATH, no file copied.

The one edit to the project is `wrapper = "ccache"` with the test session's ccache, so that the
compile reuses the objects of the session's 6.1 build (same settings, same fragments)."""

from __future__ import annotations

import os
import shlex
import subprocess
from pathlib import Path

import pytest

from ..lib.docs import DOCS, fenced_block
from ..lib.tools import need
from .test_gitlab_ci import build_wheel, clean_env, venv_with

pytestmark = pytest.mark.slow


def recipe() -> tuple[list[str], str, list[str]]:
    """docs/howto/debian-6.1.md's recipe: the init command, the directory it makes, the build."""
    lines = [line.split("  #")[0].strip() for line in
             fenced_block(DOCS / "howto/debian-6.1.md", "Debian's linux-source-6.1", "sh").splitlines()]
    init = shlex.split(next(line for line in lines if line.startswith("ramsesbuild init ")))
    directory, _, build = next(line for line in lines if line.startswith("cd ")).removeprefix("cd ").partition(" && ")
    assert directory == init[2], lines
    return init, directory, shlex.split(build)


def test_wheel_init_and_doit_build_a_6_1_project(modern_real_project, tmp_path, ipxe_roms):
    need("/usr/src/linux-source-6.1.tar.xz", "qemu-system-x86_64")
    venv = venv_with(build_wheel(tmp_path / "wheel"), tmp_path / "venv")
    env = clean_env(venv)
    env.update(modern_real_project.extra_env)  # CCACHE_DIR of the session's 6.1 build
    where = subprocess.run([str(venv / "bin" / "python"), "-c", "import ramsesbuild; print(ramsesbuild.__file__)"],
                           capture_output=True, text=True, env=env, cwd=tmp_path, check=True).stdout.strip()
    assert Path(where).is_relative_to(venv), where  # the installed package, not this checkout

    empty = tmp_path / "empty"
    empty.mkdir()
    init, directory, build = recipe()
    project = empty / directory
    run = lambda *cmd, timeout=120: subprocess.run(  # noqa: E731
        [str(venv / "bin" / cmd[0]), *cmd[1:]], cwd=project, env=env, capture_output=True, text=True,
        timeout=timeout)
    made = subprocess.run([str(venv / "bin" / init[0]), *init[1:]], cwd=empty, env=env,
                          capture_output=True, text=True, timeout=120)
    assert made.returncode == 0, made.stdout + made.stderr
    if "wrapper" in modern_real_project.settings_path.read_text():
        settings = project / "ramses.toml"
        settings.write_text(settings.read_text().replace('# wrapper = "ccache"', 'wrapper = "ccache"', 1))

    built = run(*build, timeout=3600)
    print(built.stdout[-3000:], built.stderr[-3000:])
    assert built.returncode == 0, built.stdout + built.stderr
    assert {"vmlinuz-6.1-cluster", "vmlinuz-6.1-cluster-imggen"} <= set(os.listdir(project / "tftpboot"))
    status = run("ramsesbuild", "status")
    assert status.returncode == 0 and "MISSING" not in status.stdout, status.stdout + status.stderr

    boot = run("ramsesbuild", "boot-test", "tftpboot/vmlinuz-6.1-cluster", "--until", "ip-configured",
               "--timeout", "120", timeout=300)
    print(boot.stdout, boot.stderr)
    assert f"kernel config: {project / 'build' / 'client' / 'artifacts' / 'config'}" in boot.stdout
    # boot-test's own warnings (a NIC without a driver, no serial console) are "  warning: ..." lines;
    # the first stage's notes on qemu's DHCP ("ramses-nbi: warning: ... no root-path") are not its
    assert " on e1000, " in boot.stdout.splitlines()[0], boot.stdout
    assert not [line for line in boot.stdout.splitlines() if line.startswith("  warning: ")], boot.stdout
    assert boot.returncode == 0 and "[ok] kernel-started" in boot.stdout, boot.stdout + boot.stderr
