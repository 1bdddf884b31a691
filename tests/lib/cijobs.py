"""CI jobs as they really run (tests/pipeline/test_ci.py, tests/slow/test_ci.py): a fresh `git clone`
in a new directory per job, build/, downloads/ and tftpboot/ restored from a cache tarball."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tarfile
from dataclasses import dataclass
from pathlib import Path

from ramsesbuild.fsutil import sha256_file

from . import doitrun
from .support import REPO, Signer, nodes_toml

GIT = ["git", "-c", "user.name=Ramses CI", "-c", "user.email=ci@example.invalid", "-c", "init.defaultBranch=main"]
NODES = nodes_toml("node01")


@dataclass
class Job:
    name: str
    out: subprocess.CompletedProcess
    make_calls: list[str]
    workdir: Path

    @property
    def ran(self) -> list[str]:
        return re.findall(r"^\.  (\S+)", self.out.stdout, re.M)

    def log(self) -> str:
        return f"---- CI job {self.name} ({self.workdir.name}): exit {self.out.returncode}\n{self.out.stdout}"


def admin_repo(root: Path, settings: str, kconfigs: Path, patches: Path | None) -> Path:
    """The admin's own repository: ramses.toml, kconfigs/, patches/, nodes.toml and the thin dodo.py."""
    repo = root / "origin"
    repo.mkdir()
    (repo / "ramses.toml").write_text(settings)
    shutil.copytree(kconfigs, repo / "kconfigs")
    if patches is not None:
        shutil.copytree(patches, repo / "patches")
    (repo / "nodes.toml").write_text(NODES)
    shutil.copy(REPO / "dodo.py", repo / "dodo.py")
    (repo / ".gitignore").write_text("/build/\n/downloads/\n/tftpboot/\n")
    subprocess.run([*GIT, "init", "-q"], cwd=repo, check=True)
    subprocess.run([*GIT, "add", "-A"], cwd=repo, check=True)
    subprocess.run([*GIT, "commit", "-qm", "cluster"], cwd=repo, check=True)
    return repo


def ci_job(name: str, origin: Path, root: Path, cache: Path | None, timeout: int = 300) -> Job:
    work = root / f"runner-{name}" / "checkout"  # a new absolute path for every job
    subprocess.run([*GIT, "clone", "-q", str(origin), str(work)], check=True)
    if cache is not None and cache.exists():
        with tarfile.open(cache) as tf:
            tf.extractall(work, filter="tar")  # our own archive; mtimes kept
    make_log = work.parent / "make-calls.log"
    env = {k: v for k, v in os.environ.items() if k != "RAMSES_CONFIG"}
    env["FAKE_MAKE_LOG"] = str(make_log)
    out = doitrun.run(work / "dodo.py", [], work, env, timeout)  # `doit` in the checkout, in this process
    if cache is not None:
        with tarfile.open(cache, "w:gz") as tf:
            for d in ("build", "downloads", "tftpboot"):
                if (work / d).exists():
                    tf.add(work / d, arcname=d)
    calls = make_log.read_text().splitlines() if make_log.exists() else []
    return Job(name, out, calls, work)


def change_fragment(origin: Path, line: str) -> None:
    frag = origin / "kconfigs" / "RamsesCluster.conf"
    frag.write_text(frag.read_text() + line + "\n")
    subprocess.run([*GIT, "commit", "-qam", "client: one more option"], cwd=origin, check=True)


def fake_settings(mirror_url: str, sha: str, signer: Signer | None, sig: str | None) -> str:
    signed = (f'signature = "{sig}"\nsigners = ["{signer.fingerprint}"]\nkeys = ["{signer.public_key}"]'
              if signer else 'unsigned = "test"')
    return f"""\
[kernel]
version = "2.4.18"
jobs = 2
[source."2.4.18"]
tarball = "linux-2.4.18.tar.bz2"
mirrors = ["{mirror_url}"]
sha256 = "{sha}"
{signed}
[profile.server]
fragments = ["kconfigs/RamsesServer.conf"]
[profile.client]
fragments = ["kconfigs/RamsesCluster.conf"]
[netboot]
output = "vmlinuz-{{version}}-cluster"
ip = "rom"
rootdir = "rom"
"""


def run_three_jobs(tmp_path: Path, origin: Path, new_line: str, timeout: int, scratch: bool = True) -> list[Job]:
    cache = tmp_path / "cache" / "ramsesbuild.tar.gz"
    cache.parent.mkdir()
    first = ci_job("1-first", origin, tmp_path, cache, timeout)
    assert first.out.returncode == 0, first.log() + first.out.stderr
    noop = ci_job("2-same-commit", origin, tmp_path, cache, timeout)
    change_fragment(origin, new_line)
    changed = ci_job("3-fragment-changed", origin, tmp_path, cache, timeout)
    jobs = [first, noop, changed]
    if scratch:
        jobs.append(ci_job("4-no-cache", origin, tmp_path, None, timeout))
    print("\n" + "\n".join(j.log() for j in jobs[1:]))
    for j in jobs:
        assert j.out.returncode == 0, j.log() + j.out.stderr
        assert not re.search(r"[\r\x1b]", j.out.stdout + j.out.stderr)  # plain lines in a CI log
    return jobs


def check_jobs(jobs: list[Job]) -> None:
    noop, changed = jobs[1], jobs[2]
    assert noop.ran == [] and noop.make_calls == [], noop.log()
    assert set(changed.ran) == {"config-client", "compile-client", "modules-client", "netboot-image:client"}, \
        changed.log()
    assert not [c for c in changed.make_calls if "/build/server/" in c]
    assert "CHANGED (was " in changed.out.stdout and "booted by node01" in changed.out.stdout
    if len(jobs) < 4:
        return
    scratch = jobs[3]
    assert {"compile-server", "compile-client", "fetch"} <= set(scratch.ran)
    for rel in ("tftpboot/vmlinuz-2.4.18-cluster", "build/server/artifacts/bzImage", "build/client/artifacts/bzImage"):
        assert sha256_file(changed.workdir / rel) == sha256_file(scratch.workdir / rel), rel


