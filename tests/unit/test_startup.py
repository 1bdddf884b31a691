"""What runs at every start stays small: `ramsesbuild mknbi-linux` and a doit start (task
generation, `doit list`) import only what they use and read no tarball. Checked on real
processes through sys.modules and an audit hook; no timings are asserted (bench/ has those)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

from ..lib.nbi_fakes import fake_kernel

REPO = Path(__file__).resolve().parents[2]

# Never needed to wrap a kernel: resolver, assembler, logging, nbi-info's checker, and what
# importlib.resources and tempfile drag in.
CLI_NEVER = ("socket", "subprocess", "tempfile", "logging", "zipfile", "importlib.resources",
             "ramsesbuild.asm", "ramsesbuild.nbi.info", "ramsesbuild.imggen")
# Only the tasks' actions use these; a doit start (list, a no-op run) must not import them.
DOIT_NEVER = ("requests", "gnupg", "tqdm", "elftools", "ramsesbuild.fetch", "ramsesbuild.verify",
              "ramsesbuild.unpack", "ramsesbuild.tarstream", "ramsesbuild.kbuild", "ramsesbuild.kconfig",
              "ramsesbuild.wrappers", "ramsesbuild.nbi.builder", "ramsesbuild.imggen.make")  # (doit itself imports importlib.resources)


def _run(code: str, *args: str, cwd: Path | None = None, env: dict[str, str] | None = None) -> dict:
    """Run *code* in a fresh interpreter without site (so site-packages' own start-up imports
    do not hide ours) and return the JSON it prints last."""
    proc = subprocess.run([sys.executable, "-S", "-c", textwrap.dedent(code), *args], cwd=cwd,
                          env={**os.environ, **(env or {})}, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.splitlines()[-1])


def test_mknbi_linux_imports_only_what_it_runs(tmp_path: Path) -> None:
    kernel = tmp_path / "bzImage"
    kernel.write_bytes(fake_kernel(setup_sects=12, payload=50_000))
    out = _run("""
        import json, sys
        from ramsesbuild.cli import main
        rc = main(sys.argv[1:])
        print(json.dumps({"rc": rc, "modules": sorted(sys.modules)}))
        """, "mknbi-linux", "--ip=rom", "--rootdir=rom", f"--output={tmp_path / 'out.nb'}", str(kernel),
        env={"PYTHONPATH": str(REPO)})
    assert out["rc"] == 0 and (tmp_path / "out.nb").stat().st_size > 50_000
    assert [m for m in CLI_NEVER if m in out["modules"]] == []


def _dpkg_style_project(tmp_path: Path) -> tuple[Path, Path]:
    """A project whose source is a package-installed tarball (dpkg trust, no pin): the case
    whose task generation used to hash the whole tarball at every doit start."""
    usr_src = tmp_path / "usr-src"
    usr_src.mkdir()
    tarball = usr_src / "linux-source-6.1.tar.xz"
    tarball.write_bytes(b"\xfd7zXZ\x00" + bytes(4096))
    project = tmp_path / "project"
    (project / "kconfigs").mkdir(parents=True)
    (project / "kconfigs" / "Client.conf").write_text("CONFIG_NET=y\n")
    (project / "nodes.toml").write_text(textwrap.dedent("""
        [network]
        subnet = "192.0.2.0/24"
        server = "192.0.2.1"
        [[node]]
        name = "node01"
        mac = "52:54:00:12:34:01"
        ip = "192.0.2.11"
        """))
    (project / "ramses.toml").write_text(textwrap.dedent(f"""
        [kernel]
        version = "6.1"
        [source."6.1"]
        tarball = "{tarball.name}"
        mirrors = ["file://{usr_src}/"]
        dpkg = "linux-source-6.1"
        [profile.client]
        base = "tinyconfig"
        fragments = ["kconfigs/Client.conf"]
        [netboot]
        """))
    return project, tarball


def test_doit_start_reads_no_tarball_and_imports_no_action_code(tmp_path: Path) -> None:
    project, tarball = _dpkg_style_project(tmp_path)
    out = _run("""
        import json, sys
        from pathlib import Path
        opened = []
        sys.addaudithook(lambda event, args: opened.append(str(args[0])) if event == "open" else None)
        sys.argv = ["doit", "list"]
        from ramsesbuild.doit_entry import load_project
        config, generator = load_project(Path("ramses.toml").resolve())
        names = [t.get("basename", "") + (":" + t["name"] if t.get("name") else "") for t in generator()]
        print(json.dumps({"tasks": names, "opened": opened, "modules": sorted(sys.modules)}))
        """, cwd=project, env={"PYTHONPATH": os.pathsep.join([str(REPO), *sys.path[1:]])})
    assert "fetch" in out["tasks"] and "boot-config" in out["tasks"] and "compile-client" in out["tasks"]
    assert [p for p in out["opened"] if Path(p).name == tarball.name] == []
    assert [m for m in DOIT_NEVER if m in out["modules"]] == []
