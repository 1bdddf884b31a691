"""Nothing stale is served (issue 20), through real `doit` and `ramsesbuild status` on the fake
2.4 tree: an image the settings no longer ask for is retired as `.old`, the boot files are
regenerated when an image they name changes or disappears, and `status` fails while a node would
boot something other than what the settings say."""

from __future__ import annotations

import json
import shutil

import pytest

from ramsesbuild.fsutil import sha256_file

from ..lib.support import FAKE_KINDS, Mirror, Project, make_fake_tarball, nodes_toml
from .test_pipeline import ran
from .test_userpaths import ramsesbuild

NODES = nodes_toml("node01", 'node02:method = "ipxe"', 'node03:rom = "3com"')
NBI, MBA = "vmlinuz-2.4.18-cluster", "vmlinuz-2.4.18-cluster-imggen"


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """A fake 2.4 project whose client image has a 3Com MBA image, built once; tests get copies."""
    root = tmp_path_factory.mktemp("stale")
    mirror = Mirror(root / "mirror")
    tarball = make_fake_tarball("k24", mirror.root)
    _, _, name, version = FAKE_KINDS["k24"]
    proj = Project(dir=root / "project", mirror_url=mirror.url, tarball=name, version=version,
                   sha256=sha256_file(tarball), nodes=NODES, overrides={"netboot": {"mba": True}})
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


def tftp(p: Project) -> set[str]:
    return {f.name for f in (p.dir / "tftpboot").iterdir() if f.is_file()}


def problems(p: Project) -> dict[str, list[tuple[str, str]]]:
    data = json.loads(ramsesbuild(p, "status", "--json").stdout)
    return {n["name"]: [(q["problem"], q["file"]) for q in n["problems"]] for n in data["nodes"]}


def test_a_built_project_passes_status(project):
    st = ramsesbuild(project, "status")
    assert st.returncode == 0, st.stdout + st.stderr
    assert problems(project) == {"node01": [], "node02": [], "node03": []}


def test_mba_false_retires_the_mba_image_and_the_boot_files_follow(project):
    project.set("netboot.mba", False)
    before = problems(project)  # settings changed, doit not run yet: the installed files disagree
    assert before["node03"] == [("stale", MBA), ("outdated", NBI)] and before["node01"] == [("outdated", NBI)]
    assert ramsesbuild(project, "status").returncode == 1
    out = project.doit()
    assert {"netboot-image:client", "boot-config", "boot-tftp"} <= set(ran(out))
    assert MBA not in tftp(project) and f"{MBA}.old" in tftp(project)  # kept aside, named by no boot file
    log = (project.dir / "build" / "logs" / "netboot-image-client.log").read_text()
    assert f"retired {project.dir / 'tftpboot' / MBA}: no profile makes it now" in log
    assert f"warning: node node03 boots {MBA}, not (yet) in" in out.stderr  # on the console, not only the log
    st = ramsesbuild(project, "status")
    assert st.returncode == 1 and f"MISSING: {MBA} not in tftpboot" in st.stdout, st.stdout
    assert problems(project) == {"node01": [], "node02": [], "node03": [("missing", MBA)]}
    summary = json.loads((project.dir / "build" / "summary.json").read_text())
    nodes = summary["profiles"]["client"]["netboot"]["nodes"]
    assert "node03" not in [n["name"] for n in nodes]  # its MBA image is gone: it boots nothing inside it
    project.set("netboot.mba", True)
    project.doit()
    assert MBA in tftp(project) and ramsesbuild(project, "status").returncode == 0


def test_an_output_renamed_retires_the_old_image(project):
    project.set("netboot.output", "vmlinuz-{version}-nodes")
    project.doit()
    files = tftp(project)
    assert {"vmlinuz-2.4.18-nodes", "vmlinuz-2.4.18-nodes-imggen", f"{NBI}.old", f"{MBA}.old"} <= files
    assert NBI not in files and MBA not in files
    dhcpd = (project.dir / "build" / "bootconf" / "dhcpd.conf").read_text()
    assert "vmlinuz-2.4.18-nodes-imggen" in dhcpd and f'"{NBI}"' not in dhcpd
    script = (project.dir / "tftpboot" / "ipxe" / "node02.ipxe").read_text()
    assert "kernel /vmlinuz-2.4.18-nodes " in script
    assert ramsesbuild(project, "status").returncode == 0


def test_a_profile_no_longer_netbooted_is_retired(project):
    gateway = {"base": "defconfig", "fragments": ["kconfigs/RamsesCluster.conf"],
               "netboot": {"output": "vmlinuz-{version}-gateway", "mba": False}}
    project.set("profile.gateway", gateway)
    project.doit()
    assert "vmlinuz-2.4.18-gateway" in tftp(project)
    stamp = project.dir / "build" / "gateway" / "state" / "netboot.json"
    assert stamp.is_file()
    project.set("profile.gateway", {k: v for k, v in gateway.items() if k != "netboot"})
    out = project.doit()
    assert "netboot-retire" in ran(out)
    assert "vmlinuz-2.4.18-gateway" not in tftp(project) and "vmlinuz-2.4.18-gateway.old" in tftp(project)
    assert not stamp.exists()
    assert ramsesbuild(project, "status").returncode == 0
    assert "netboot-retire" not in ran(project.doit())  # retired once


def test_a_kernel_rebuilt_but_not_installed_fails_status(project):
    frag = project.dir / "kconfigs" / "RamsesCluster.conf"
    frag.write_text(frag.read_text() + "# CONFIG_SERIAL_CONSOLE is not set\n")
    project.doit("kernel-client")
    assert problems(project)["node01"] == [("outdated", NBI)]
    st = ramsesbuild(project, "status")
    assert st.returncode == 1 and f"OUTDATED: {NBI}: client's kernel changed since it was installed" in st.stdout
    project.doit()
    assert ramsesbuild(project, "status").returncode == 0


def test_an_image_changed_by_hand_fails_status(project):
    (project.dir / "tftpboot" / NBI).write_bytes(b"not the image")
    assert problems(project)["node01"] == [("changed", NBI)]
    out = project.doit()
    assert "netboot-image:client" not in ran(out)  # doit goes by its own records (unchanged target)...
    assert ramsesbuild(project, "status").returncode == 1  # ... status by the bytes
    project.doit("clean", "netboot-image")
    project.doit()
    assert ramsesbuild(project, "status").returncode == 0


def test_a_run_that_fails_at_fetch_still_writes_the_summary(tmp_path):
    p = Project(dir=tmp_path / "project", mirror_url="http://127.0.0.1:9/", tarball="linux-2.4.18.tar.bz2",
                version="2.4.18", sha256="0" * 64)
    p.dir.mkdir()
    p.setup()
    out = p.doit(check=False)
    assert out.returncode == 1 and "FAILED fetch" in out.stdout
    summary = json.loads((p.dir / "build" / "summary.json").read_text())
    assert summary["result"] == "failed" and summary["profiles"] == {}
    assert [f["task"] for f in summary["failures"]] == ["fetch"]
    assert summary["failures"][0]["message"].startswith("fetch: ")
