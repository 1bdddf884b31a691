"""Helpers for the bootconf tests: a minimal ramses.toml and real doit runs of our tasks."""

from __future__ import annotations

import sys
from pathlib import Path

from doit.cmd_base import ModuleTaskLoader
from doit.doit_cmd import DoitMain

from ramsesbuild import settings
from ramsesbuild.tasks.bootconf import task_boot_config, task_boot_tftp


def make_settings(directory: Path, version: str = "2.4.18", fmt: str = "nbi") -> settings.Settings:
    """A ramses.toml in *directory* with tftpboot = directory/tftpboot; nothing is ever fetched."""
    cfg = directory / "ramses.toml"
    cfg.write_text(f"""
[kernel]
version = "{version}"
[paths]
tftpboot = "tftpboot"
[source."{version}"]
tarball = "linux-{version}.tar.bz2"
mirrors = ["file:///nonexistent/"]
sha256 = "{'0' * 64}"
unsigned = "test settings: no source is fetched"
[profile.server]
fragments = []
[profile.client]
fragments = []
[netboot]
format = "{fmt}"
output = "vmlinuz-{{version}}-cluster"
""")
    return settings.load(cfg)


def run_doit(capsys, s: settings.Settings, nodes: Path, *args: str) -> tuple[int, str]:
    """Real doit, in process, with the two task generators as dodo.py would expose them."""
    tasks = {
        "DOIT_CONFIG": {"dep_file": str(nodes.parent / ".doit.db"), "backend": "json", "verbosity": 2},
        "task_boot": lambda: (t for t in (task_boot_config(s, nodes), task_boot_tftp(s, nodes))),
    }
    report = nodes.parent / "doit.out"  # `doit run` binds its output to sys.stdout at import time
    argv = list(args) if args[0] in ("list", "clean") else ["run", "--output-file", str(report), *args]
    report.write_text("")
    capsys.readouterr()
    saved, sys.argv = sys.argv, ["doit", *argv]  # as the doit command sets it (clean reads it)
    try:
        rc = DoitMain(ModuleTaskLoader(tasks)).run(argv)
    finally:
        sys.argv = saved
    captured = capsys.readouterr()
    return rc, report.read_text() + captured.out + captured.err
