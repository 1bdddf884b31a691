"""The CI files `ramsesbuild init --ci` writes (package data data/ci/): they parse, every command
they run is one docs/howto/ci.md shows for CI (so the two cannot drift apart), their cache survives
settings edits and names no version-specific path, and the GitHub actions run on Node.js 24.
(The GitLab file really runs through gitlab-ci-local in tests/test_gitlab_ci.py.)"""

from __future__ import annotations

import re

import pytest
import yaml

from ramsesbuild import scaffold

from ..lib.docs import DOCS, fenced_block

# Runner glue that has no meaning outside the CI service itself.
GLUE = re.compile(r"GITHUB_PATH|^export PATH=|^apt-get update")
CACHED = {"build", "downloads", "tftpboot", ".ccache"}
# The newest major of each action and the runtime it declares (`runs.using` in its action.yml at
# that tag, read from the actions' repositories): checked by hand when the file was written.
ACTIONS = {"actions/checkout": "v7", "actions/cache/restore": "v5", "actions/cache/save": "v5",
           "actions/upload-artifact": "v7"}


def documented_ci_commands() -> set[str]:
    block = fenced_block(DOCS / "howto/ci.md", "The CI job", "sh")
    return {line.split("  #")[0].strip() for line in block.splitlines() if line.strip()
            and not line.startswith("#")}


def commands(lines: list[str]) -> list[str]:
    out = []
    for chunk in lines:
        for line in chunk.splitlines():
            line = line.strip()
            if line and not line.startswith("#") and not GLUE.search(line):
                out.append(line)
    return out


@pytest.fixture(params=sorted(scaffold.KERNELS))
def kernel(request) -> scaffold.Kernel:
    return scaffold.KERNELS[request.param]


def test_github_actions_workflow(kernel):
    wf = yaml.safe_load(scaffold.ci_text("github-actions.yml", kernel))
    job = wf["jobs"]["kernels"]
    steps = job["steps"]
    runs = commands([s["run"] for s in steps if "run" in s])
    assert set(runs) <= documented_ci_commands(), set(runs) - documented_ci_commands()
    assert "doit" in runs and "ramsesbuild status" in runs
    uses = {s["uses"].split("@")[0]: s["uses"].split("@")[1] for s in steps if "uses" in s}
    assert uses == ACTIONS
    restore = next(s for s in steps if s.get("uses", "").startswith("actions/cache/restore"))
    save = next(s for s in steps if s.get("uses", "").startswith("actions/cache/save"))
    assert set(restore["with"]["path"].split()) == set(save["with"]["path"].split()) == CACHED
    assert save["if"] == "always()" and restore["with"]["key"] == save["with"]["key"]
    # a key per run (GitHub caches are immutable), restored from the branch's newest, else the default branch's
    assert restore["with"]["key"].startswith("ramses-${{ github.ref_name }}-")
    assert restore["with"]["restore-keys"].splitlines() == ["ramses-${{ github.ref_name }}-",
                                                       "ramses-${{ github.event.repository.default_branch }}-"]
    assert "hashFiles" not in restore["with"]["key"] and kernel.version not in restore["with"]["key"]
    upload = next(s for s in steps if s.get("uses", "").startswith("actions/upload-artifact"))
    assert "build/summary.json" in upload["with"]["path"] and "tftpboot/" in upload["with"]["path"]
    assert set(scaffold.needed_packages(kernel)) <= set(job["env"]["DEBIAN_PACKAGES"].split())


def test_gitlab_ci_file(kernel):
    job = yaml.safe_load(scaffold.ci_text("gitlab-ci.yml", kernel))["kernels"]
    runs = commands(job["before_script"] + job["script"])
    assert set(runs) <= documented_ci_commands(), set(runs) - documented_ci_commands()
    assert job["script"] == ["doit", "ramsesbuild status"]
    cache = job["cache"]
    assert {p.rstrip("/") for p in cache["paths"]} == CACHED
    assert cache["key"] == "ramses-$CI_COMMIT_REF_SLUG" and cache["fallback_keys"] == ["ramses-$CI_DEFAULT_BRANCH"]
    assert cache["when"] == "always"
    assert "build/summary.json" in job["artifacts"]["paths"] and job["artifacts"]["when"] == "always"
    assert set(scaffold.needed_packages(kernel)) <= set(job["variables"]["DEBIAN_PACKAGES"].split())
    if kernel.version == "6.1":
        assert "linux-source-6.1" in job["variables"]["DEBIAN_PACKAGES"].split()
