"""Slow: the GitLab CI file that `ramsesbuild init --ci gitlab` writes, run as it is by
gitlab-ci-local (shell executor, with the cache and artifacts handled as a runner does) on a
project made by `ramsesbuild init` from a wheel of ramsesbuild, building the real Linux 2.4.18
from a file:// mirror:

* job 1, a fresh clone: builds everything, `ramsesbuild status` passes;
* job 2, a fresh clone of the same commit in another directory, the cache of job 1 restored:
  runs no task (so no make);
* job 3, after a commit that edits the client's fragment, the cache of job 2 restored: rebuilds
  only the client, and its summary says the image CHANGED.

Each job really runs the file's before_script: apt-get (the packages are already installed by
./setup.sh, so it installs nothing), a virtual environment at $RAMSES_VENV and the wheel.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from ..lib.support import REPO, uncompressed
from ..lib.tools import need, need_pipeline_tools
from ..pipeline.test_scaffold import use_local_source

pytestmark = pytest.mark.slow

GIT = ["git", "-c", "user.name=Ramses CI", "-c", "user.email=ci@example.invalid", "-c", "init.defaultBranch=main"]
# a client fragment edit: the client kernel, its image, and the boot files that name the image
CLIENT = {"config-client", "compile-client", "modules-client", "netboot-image:client", "boot-config", "boot-tftp"}


@dataclass
class Job:
    name: str
    dir: Path
    out: subprocess.CompletedProcess

    @property
    def lines(self) -> list[str]:
        """What the job printed (gitlab-ci-local prefixes it with 'kernels > ')."""
        return [m.group(1) for m in re.finditer(r"^kernels > (.*)$", self.out.stdout, re.M)]

    @property
    def ran(self) -> list[str]:
        return [m.group(1) for line in self.lines if (m := re.match(r"\.  (\S+)", line))]

    def summary(self) -> str:
        """The summary doit printed, and `ramsesbuild status` after it."""
        lines = [line for line in self.lines if line != "still running..."]
        start = next((i for i, line in enumerate(lines) if line.startswith("== ramsesbuild summary")), 0)
        return "\n".join(lines[start:])

    def log(self) -> str:
        return f"---- job {self.name} in {self.dir}: exit {self.out.returncode}\n{self.out.stdout}\n{self.out.stderr}"


def build_wheel(dest: Path) -> Path:
    """A wheel of this checkout, built from a copy of its tracked files (nothing written here)."""
    src = dest / "src"
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=REPO, capture_output=True, text=True,
                           check=True).stdout.split("\n")
    for rel in filter(None, files):
        if (REPO / rel).is_file():
            (src / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / rel, src / rel)
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(dest / "dist"), str(src)],
                   check=True, capture_output=True, timeout=600)
    (wheel,) = (dest / "dist").glob("ramsesbuild-*.whl")
    return wheel


def venv_with(wheel: Path, dest: Path) -> Path:
    """A fresh virtual environment with only the wheel (and its dependencies) installed."""
    subprocess.run([sys.executable, "-m", "venv", str(dest)], check=True, timeout=300)
    subprocess.run([str(dest / "bin" / "pip"), "install", "-q", str(wheel)], check=True, timeout=600,
                   env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"})
    return dest


def clean_env(venv: Path | None = None) -> dict[str, str]:
    """The environment of a user who installed ramsesbuild: no PYTHONPATH into this checkout."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "RAMSES_CONFIG")}
    if venv is not None:
        env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env['PATH']}"
    return env


def run_job(name: str, origin: Path, root: Path, wheel: Path, cache_from: Path | None) -> Job:
    work = root / f"runner-{name}" / "checkout"  # a new absolute path for every job
    subprocess.run([*GIT, "clone", "-q", str(origin), str(work)], check=True)
    if cache_from is not None:  # what the runner's cache server does between jobs
        shutil.copytree(cache_from / ".gitlab-ci-local" / "cache", work / ".gitlab-ci-local" / "cache",
                        symlinks=True)  # as a runner's cache archive keeps them (2.4's include/asm)
    out = subprocess.run(["gitlab-ci-local", "--force-shell-executor", "--shell-isolation", "--no-color",
                          "--variable", f"RAMSESBUILD={wheel}", "--variable", f"RAMSES_VENV={root / 'job-venv'}",
                          "kernels"], cwd=work, capture_output=True, text=True, timeout=3600, env=clean_env())
    job = Job(name, work, out)
    print(job.log())
    return job


@pytest.fixture(scope="module")
def origin(tmp_path_factory, signer):
    """The admin's repository: `ramsesbuild init --kernel 2.4.18 --ci gitlab` from the wheel's own
    virtual environment, pointed at a file:// mirror of the test tarball (signed kernel.org style)."""
    from ..lib.k24.guest24 import real_tarball

    tarball = real_tarball("run the GitLab CI file on a 2.4.18 project")
    need("gitlab-ci-local", "rsync", "git", "apt-get")
    need_pipeline_tools("k24")
    if os.geteuid() != 0:
        pytest.skip("the GitLab file's before_script runs apt-get, which needs root")
    root = tmp_path_factory.mktemp("gitlab-ci")
    wheel = build_wheel(root / "wheel")
    venv = venv_with(wheel, root / "user-venv")
    mirror = root / "mirror"
    mirror.mkdir()
    (mirror / tarball.name).symlink_to(tarball.resolve())
    signer.sign(uncompressed(tarball), mirror / "linux-2.4.18.tar.sign")
    repo = root / "origin"
    made = subprocess.run([str(venv / "bin" / "ramsesbuild"), "init", str(repo), "--kernel", "2.4.18", "--ci", "gitlab"],
                          capture_output=True, text=True, env=clean_env(venv), cwd=root, timeout=120)
    assert made.returncode == 0, made.stdout + made.stderr
    use_local_source(repo, f"file://{mirror}/", tarball, signer)
    subprocess.run([*GIT, "init", "-q"], cwd=repo, check=True)
    subprocess.run([*GIT, "add", "-A"], cwd=repo, check=True)
    subprocess.run([*GIT, "commit", "-qm", "our cluster"], cwd=repo, check=True)
    return repo, root, wheel


def test_gitlab_ci_file_through_gitlab_ci_local(origin):
    repo, root, wheel = origin
    first = run_job("1-first", repo, root, wheel, None)
    assert first.out.returncode == 0 and "PASS  kernels" in first.out.stdout, first.log()
    assert {"fetch", "verify", "compile-server", "compile-client", "netboot-image:client"} <= set(first.ran)
    assert not [line for line in first.lines if "MISSING" in line]  # ramsesbuild status: every node's image is there

    same = run_job("2-same-commit", repo, root, wheel, first.dir)
    assert same.out.returncode == 0, same.log()
    assert "imported cache 'ramses-main'" in same.out.stdout
    assert same.ran == [], f"a fresh clone with the cache restored ran {same.ran}\n{same.log()}"

    frag = repo / "kconfigs" / "RamsesCluster.conf"
    frag.write_text(frag.read_text() + "#@ family all\nCONFIG_BLK_DEV_LOOP=y\n")
    subprocess.run([*GIT, "commit", "-qam", "client: loop devices"], cwd=repo, check=True)
    changed = run_job("3-fragment-changed", repo, root, wheel, same.dir)
    assert changed.out.returncode == 0, changed.log()
    assert set(changed.ran) == CLIENT, changed.log()
    assert "CHANGED (was " in changed.out.stdout, changed.log()
    # Relocation: each job runs in another directory; nothing in the restored state names the
    # old one, so job 3's client compile is incremental (no `make clean`)
    log = changed.dir / ".gitlab-ci-local" / "builds" / "kernels" / "build" / "logs" / "compile-client.log"
    assert "make clean" not in log.read_text(errors="replace"), log.read_text(errors="replace")[-3000:]
    print(f"\n---- job 1 summary\n{first.summary()}\n---- job 2 summary\n{same.summary()}\n"
          f"---- job 3 summary\n{changed.summary()}")
