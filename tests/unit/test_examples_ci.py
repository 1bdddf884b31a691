"""examples/ci/: the GitHub Actions and GitLab CI recipes parse, and every command they run is
one the README shows for CI (so the two cannot drift apart)."""

from __future__ import annotations

import re

import yaml

from ..lib.support import REPO

EXAMPLES = REPO / "examples" / "ci"
# Runner glue that has no meaning outside the CI service itself.
GLUE = re.compile(r"GITHUB_PATH|^export PATH=|^apt-get update")


def readme_ci_commands() -> set[str]:
    text = (REPO / "README.md").read_text()
    section = text[text.index("## Your own repository and CI"):]
    block = re.search(r"```sh\n(.*?)```", section, re.S)
    assert block, "README: the CI section has no ```sh block"
    return {line.split("  #")[0].strip() for line in block.group(1).splitlines() if line.strip()
            and not line.startswith("#")}


def commands(lines: list[str]) -> list[str]:
    out = []
    for chunk in lines:
        for line in chunk.splitlines():
            line = line.strip()
            if line and not line.startswith("#") and not GLUE.search(line):
                out.append(line)
    return out


def test_github_actions_workflow():
    wf = yaml.safe_load((EXAMPLES / "github-actions.yml").read_text())
    steps = wf["jobs"]["kernels"]["steps"]
    runs = commands([s["run"] for s in steps if "run" in s])
    assert set(runs) <= readme_ci_commands(), set(runs) - readme_ci_commands()
    assert "doit" in runs and "ramsesbuild status" in runs
    cache = next(s for s in steps if s.get("uses", "").startswith("actions/cache"))
    assert set(cache["with"]["path"].split()) == {"build", "downloads", "tftpboot", ".ccache"}
    assert "ramses.toml" in cache["with"]["key"] and "patches/**" in cache["with"]["key"]
    upload = next(s for s in steps if s.get("uses", "").startswith("actions/upload-artifact"))
    assert "build/summary.json" in upload["with"]["path"] and "tftpboot/" in upload["with"]["path"]


def test_gitlab_ci_file():
    job = yaml.safe_load((EXAMPLES / "gitlab-ci.yml").read_text())["kernels"]
    runs = commands(job["before_script"] + job["script"])
    assert set(runs) <= readme_ci_commands(), set(runs) - readme_ci_commands()
    assert job["script"] == ["doit", "ramsesbuild status"]
    assert set(job["cache"]["paths"]) == {"build/", "downloads/", "tftpboot/", ".ccache/"}
    assert "ramses.toml" in job["cache"]["key"]["files"]
    assert "build/summary.json" in job["artifacts"]["paths"] and job["artifacts"]["when"] == "always"
