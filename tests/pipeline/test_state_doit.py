"""Typed state through real doit: a damaged stamp (truncated, garbage, another shape) makes
its step run again and a damaged build/summary.json is rewritten, each said in one line naming
the file, never a traceback, never stuck; the summary and `ramsesbuild status` say the same
about which node boots which file; both installed images are flagged NEW / CHANGED."""

from __future__ import annotations

import json
import re
import shutil

import pytest

from ramsesbuild import state
from ramsesbuild.fsutil import sha256_file
from ramsesbuild.state import NetbootStamp, read_state, read_summary

from ..lib.support import FAKE_KINDS, Mirror, Project, make_fake_tarball, nodes_toml
from ..lib.tools import need_pipeline_tools
from .test_pipeline import ran
from .test_userpaths import ramsesbuild

# ------------------------------------------------------------------ through real doit

NODES = nodes_toml("node01", 'node02:method = "ipxe"', 'node03:rom = "3com"')


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """A 2.4-style fake project with a 3Com MBA node, built once; each test works on a copy."""
    need_pipeline_tools("k24")
    root = tmp_path_factory.mktemp("built")
    mirror = Mirror(root / "mirror")
    tarball = make_fake_tarball("k24", mirror.root)
    _, _, name, version = FAKE_KINDS["k24"]
    proj = Project(dir=root / "project", mirror_url=mirror.url, tarball=name, version=version,
                   sha256=sha256_file(tarball), nodes=NODES, overrides={"netboot": {"mba": True}})
    proj.dir.mkdir()
    proj.setup()
    first = proj.doit()
    yield proj, first
    mirror.close()


@pytest.fixture
def project(built, tmp_path):
    proj, _ = built
    copy = Project(**{**proj.__dict__, "dir": tmp_path / "project"})
    shutil.copytree(proj.dir, copy.dir, symlinks=True)
    return copy


def _no_traceback(out) -> None:
    assert "Traceback" not in out.stdout + out.stderr, out.stdout + out.stderr


@pytest.mark.parametrize("stamp, kind, task, damage, what", [
    ("client/state/kernel.json", state.KernelStamp, "compile-client", lambda t: t[: len(t) // 2], "not JSON"),
    ("client/state/config.json", state.ConfigStamp, "config-client", lambda t: "\x00garbage\x00" * 3, "not JSON"),
    ("client/state/netboot.json", NetbootStamp, "netboot-image:client", lambda t: '{"profile": 1}',
     "not a NetbootStamp"),
    ("state/verified.json", state.VerifiedStamp, "verify", lambda t: "[]", "not a VerifiedStamp"),
], ids=["truncated", "garbage", "wrong-shape", "wrong-shape-verified"])
def test_a_damaged_stamp_makes_its_step_run_again(project, stamp, kind, task, damage, what):
    path = project.dir / "build" / stamp
    path.write_text(damage(path.read_text()))
    out = project.doit()
    _no_traceback(out)
    line = f"ramsesbuild: {path}: damaged: {what}"
    said = [x for x in out.stderr.splitlines() if x.startswith(line)]
    assert len(said) == 1 and said[0].endswith(f"; {task} runs again"), out.stderr
    assert task in ran(out) and read_state(path, kind) is not None
    assert ran(project.doit()) == []  # not stuck: the next run is a no-op


def test_a_garbage_summary_is_rewritten(project):
    path = project.dir / "build" / "summary.json"
    path.write_bytes(b"\x89PNG garbage")
    out = project.doit()
    _no_traceback(out)
    assert f"ramsesbuild: {path}: damaged: not text (byte 0x89); rewritten" in out.stdout, out.stdout
    assert read_summary(path).result == "ok"
    path.write_text('{"schema": 2}')
    st = ramsesbuild(project, "status")
    assert f"note: {path}: damaged: not a Summary (ramsesbuild is missing); the next doit run rewrites it" \
        in st.stdout, st.stdout + st.stderr
    assert "Traceback" not in st.stderr


def test_status_names_a_damaged_netboot_stamp(project):
    path = project.dir / "build" / "client" / "state" / "netboot.json"
    path.write_text("{")
    st = ramsesbuild(project, "status")
    assert st.returncode == 0 and "Traceback" not in st.stderr, st.stderr
    assert f"note: {path}: damaged: not JSON" in st.stdout and "the next doit run installs the image again" \
        in st.stdout


# ------------------------------------------------------------------ summary and status agree

def test_summary_and_status_say_the_same_about_who_boots_what(built, project):
    _, first = built
    nbi, mba = "vmlinuz-2.4.18-cluster", "vmlinuz-2.4.18-cluster-imggen"
    said = "booted by node01 directly; node02 through its iPXE script; node03 inside its 3Com MBA image"
    assert f"           {said}\n" in first.stdout
    assert "           booted by node03 directly\n" in first.stdout
    assert re.search(rf"  netboot  nbi  tftpboot/{nbi}  .*  NEW", first.stdout)
    assert re.search(rf"  3Com MBA tftpboot/{mba}  \S+ KiB  sha256 [0-9a-f]{{16}}  NEW", first.stdout)
    summary = json.loads((project.dir / "build" / "summary.json").read_text())
    netboot = summary["profiles"]["client"]["netboot"]
    assert netboot["nodes"] == [{"name": "node01", "route": "direct"}, {"name": "node02", "route": "ipxe-script"},
                                {"name": "node03", "route": "wrapped"}]
    assert netboot["mba"]["nodes"] == [{"name": "node03", "route": "direct"}]
    st = ramsesbuild(project, "status")
    assert st.returncode == 0, st.stdout + st.stderr
    assert re.search(rf"  {re.escape(nbi)} .*\n  +{said}\n", st.stdout), st.stdout
    assert re.search(rf"  {re.escape(mba)} .*profile client.*\n  +booted by node03 directly\n", st.stdout), st.stdout
    assert "  ipxe/node02.ipxe" in st.stdout and "booted by node02 directly" in st.stdout
    data = json.loads(ramsesbuild(project, "status", "--json").stdout)
    assert data["images"][nbi]["nodes"] == netboot["nodes"] and data["images"][mba]["nodes"] == netboot["mba"]["nodes"]
    assert data["last_run"]["result"] == "ok"


def test_both_installed_images_are_flagged_changed_with_their_old_sha256(project):
    nbi = project.dir / "tftpboot" / "vmlinuz-2.4.18-cluster"
    old = {"nbi": sha256_file(nbi), "mba": sha256_file(nbi.with_name(nbi.name + "-imggen"))}
    frag = project.dir / "kconfigs" / "RamsesCluster.conf"
    frag.write_text(frag.read_text() + "# CONFIG_SERIAL_CONSOLE is not set\n")
    out = project.doit()
    assert re.search(rf"  netboot  nbi  tftpboot/vmlinuz-2.4.18-cluster  .*  CHANGED \(was {old['nbi'][:16]}\)",
                     out.stdout), out.stdout
    assert f"CHANGED (was {old['mba'][:16]})" in out.stdout
    summary = json.loads((project.dir / "build" / "summary.json").read_text())
    mba = summary["profiles"]["client"]["netboot"]["mba"]
    assert mba["changed"] and mba["previous_sha256"] == old["mba"] and mba["sha256"] != old["mba"]
