"""CI as it really runs: every job starts from a fresh `git clone` (every file's mtime is "now")
in a new directory, restores build/, downloads/ and tftpboot/ from a cache tarball (mtimes kept, as CI
caches do), runs `doit`, and saves the cache again.

* a fresh checkout of the same commit with the cache restored rebuilds nothing: no make, no re-wrap;
* after a one-line fragment change only that profile's config, kernel and image are rebuilt;
* without a cache the job builds from scratch, and gives the same bytes.

The default suite uses the fake kernel trees; the slow variant the real Linux 2.4.18.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tarfile
from dataclasses import dataclass
from pathlib import Path

import pytest

from ramsesbuild.fsutil import sha256_file

from .support import FAKE, REPO, SHIPPED, Signer, make_fake_tarball, nodes_toml, uncompressed
from .tools import need_pipeline_tools, needs

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
    out = subprocess.run([sys.executable, "-m", "doit"], cwd=work, env=env, capture_output=True, text=True,
                         timeout=timeout)
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


@needs("git")
def test_ci_jobs_on_fresh_clones_with_a_restored_cache(tmp_path, mirror, signer):
    need_pipeline_tools("k24")
    tarball = make_fake_tarball("k24", mirror.root)
    signer.sign(uncompressed(tarball), mirror.root / "linux-2.4.18.tar.sign")
    origin = admin_repo(tmp_path, fake_settings(mirror.url, sha256_file(tarball), signer, "linux-2.4.18.tar.sign"),
                        FAKE / "kconfigs", None)
    check_jobs(run_three_jobs(tmp_path, origin, "# CONFIG_SERIAL_CONSOLE is not set", timeout=300))


@pytest.mark.slow
def test_ci_jobs_with_the_real_2_4_18(tmp_path):
    from .k24.guest24 import real_tarball

    tarball = real_tarball("simulate CI with the real 2.4.18")
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    (mirror / "linux-2.4.18.tar.bz2").symlink_to(tarball.resolve())
    origin = admin_repo(tmp_path, fake_settings(f"file://{mirror}/", sha256_file(tarball), None, None),
                        SHIPPED / "kconfigs", SHIPPED / "patches")
    # the shipped fragment ends in its "#@ family modern" section: say the new line is for every family
    # (no from-scratch job here: the fast variant shows it gives the same bytes; CI time matters)
    check_jobs(run_three_jobs(tmp_path, origin, "#@ family all\nCONFIG_BLK_DEV_LOOP=y", timeout=1800,
                              scratch=False))
