"""Steps as objects (ramsesbuild/steps/) and the doit tasks made of them: one name per task, made
in one place; no command line read while tasks are generated; `doit info` and `doit list` say
what a profile's tasks really are; one identity per step, also where the step keys its caches."""

from __future__ import annotations

import contextlib
import io
import json
import re
import shutil
import sys

import pytest

from ramsesbuild import settings as _settings
from ramsesbuild.fsutil import sha256_file
from ramsesbuild.steps import pipeline
from ramsesbuild.steps.kernel import Configure
from ramsesbuild.tasks import generate
from ramsesbuild.tasks.invocation import Invocation

from ..lib.support import FAKE_KINDS, REPO, Mirror, Project, make_fake_tarball, nodes_toml
from .test_pipeline import calls, ran


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    root = tmp_path_factory.mktemp("steps")
    mirror = Mirror(root / "mirror")
    tarball = make_fake_tarball("k24", mirror.root)
    _, _, name, version = FAKE_KINDS["k24"]
    proj = Project(dir=root / "project", mirror_url=mirror.url, tarball=name, version=version,
                   sha256=sha256_file(tarball), nodes=nodes_toml("node01", 'node02:method = "ipxe"'))
    proj.dir.mkdir()
    proj.setup()
    proj.doit()
    yield proj
    mirror.close()


@pytest.fixture
def project(built, tmp_path):
    copy = Project(**{**built.__dict__, "dir": tmp_path / "project"})
    shutil.copytree(built.dir, copy.dir, symlinks=True)
    return copy


def test_every_doit_task_is_a_step_or_a_group(project):
    s = _settings.load(project.settings_path)
    plan = pipeline(s)
    declared = {str(x.name) for x in (*plan.steps, *plan.groups)}
    listed = {line.split()[0] for line in project.doit("list", "--all").stdout.splitlines()}
    assert listed == declared
    made = {t["basename"] + (f":{t['name']}" if t.get("name") else "") for t in generate(s)}
    assert made == declared


def test_task_generation_reads_no_command_line(project, monkeypatch, capsys):
    for package in ("steps", "tasks"):
        for module in (REPO / "ramsesbuild" / package).glob("*.py"):
            assert "sys.argv" not in module.read_text(), module
    s = _settings.load(project.settings_path)
    monkeypatch.setattr(sys, "argv", ["doit", "clean", "netboot-image"])  # must change nothing

    def clean_says(invocation: Invocation) -> str:
        task = next(t for t in generate(s, invocation) if t.get("name") == "client" and t["basename"] == "netboot-image")
        with contextlib.redirect_stdout(io.StringIO()) as out:
            for action in task["clean"]:
                action(dryrun=True)
        return out.getvalue()

    image = project.dir / "tftpboot" / "vmlinuz-2.4.18-cluster"
    assert f"kept {image} (the installed netboot image" in clean_says(Invocation())
    assert f"kept {image}" in clean_says(Invocation("clean", ()))
    assert f"would remove {image}" in clean_says(Invocation("clean", ("netboot-image",)))
    assert f"would remove {image}" in clean_says(Invocation("clean", ("netboot-*",)))


@pytest.mark.parametrize("argv, command, tasks", [
    ([], "run", ()),
    (["-f", "dodo.py", "list", "--all"], "list", ()),
    (["jobs=4", "kernel-client"], "run", ("kernel-client",)),
    (["clean", "-n", "netboot-image:client"], "clean", ("netboot-image:client",)),
    (["--file", "x.py", "clean", "--clean-all"], "clean", ()),
    (["info", "kernel-client"], "info", ("kernel-client",)),
])
def test_the_command_line_is_read_as_doit_reads_it(argv, command, tasks):
    inv = Invocation.parse(argv)
    assert (inv.command, inv.tasks) == (command, tasks)
    assert inv.writes is (command not in ("list", "info"))


def test_doit_info_explains_a_profiles_real_tasks(project):
    out = project.doit("info", "kernel-client", check=False)
    assert out.returncode == 0 and "status     : up-to-date" in out.stdout, out.stdout
    assert "no dependencies" not in out.stdout
    assert "config-client, compile-client, modules-client" in out.stdout
    frag = project.dir / "kconfigs" / "RamsesCluster.conf"
    frag.write_text(frag.read_text() + "# CONFIG_SERIAL_CONSOLE is not set\n")
    out = project.doit("info", "kernel-client", check=False)
    assert out.returncode == 1 and "status     : run" in out.stdout
    assert re.search(r"its tasks are up to date \(not: config-client(, compile-client)?", out.stdout), out.stdout
    assert project.doit("info", "netboot-image", check=False).returncode == 0  # not yet rebuilt: still up to date


def test_doit_list_names_each_profiles_real_build_directory(modern_project):
    out = project_list = modern_project.doit("list").stdout
    assert "compile-client   compile the client kernel and its modules (make O=build/client/obj bzImage modules)" \
        in project_list, out
    assert "<profile>" not in out


def test_the_base_config_is_keyed_by_the_config_steps_identity(project):
    s = _settings.load(project.settings_path)
    step = Configure(s, s.profiles["client"])
    key = json.loads((project.dir / "build" / "client" / "state" / "base.key").read_text())
    assert {k: v for k, v in key.items() if k != "generation"} == json.loads(json.dumps(step.identity()))
    assert str(project.dir) not in json.dumps(key)


def test_a_make_variables_record_with_the_trees_old_path_is_the_same_build(project):
    """A record written before relocation was complete names the tree's absolute path: read as the
    same make variables (no `make clean`); a real change of make variables still cleans (2.4)."""
    record = project.dir / "build" / "client" / "src" / ".ramses-make-vars"
    now = json.loads(record.read_text())
    assert now["CC"] == "gcc -m32 -fmacro-prefix-map={src}/="  # no path in the record
    old = dict(now, CC=now["CC"].replace("{src}", str(project.dir / "build" / "client" / "src")))
    record.write_text(json.dumps(old, sort_keys=True) + "\n")
    frag = project.dir / "kconfigs" / "RamsesCluster.conf"
    frag.write_text(frag.read_text() + "# CONFIG_SERIAL_CONSOLE is not set\n")
    project.clear_make_calls()
    assert "compile-client" in ran(project.doit())
    assert "clean" not in calls(project, "client")
    project.set("kernel.make_vars", {"EXTRA_CFLAGS": "-O1"})
    project.clear_make_calls()
    project.doit()
    assert "clean" in calls(project, "client")
