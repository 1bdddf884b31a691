"""`ramsesbuild init`: a project of one's own from the installed package, the built-in 2.4.18
series (#@ builtin), and every file the settings name checked before anything is fetched.
(A wheel installed into a fresh venv building a 6.1 project: tests/test_scaffold_slow.py.)"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from ramsesbuild import scaffold
from ramsesbuild.errors import PatchError, SettingsError
from ramsesbuild.fsutil import sha256_file
from ramsesbuild.inputs import check_inputs
from ramsesbuild.patch import BUILTIN, read_series
from ramsesbuild.settings import load

from ..lib.support import FAKE, REPO, Signer, make_fake_tarball, uncompressed
from ..lib.tools import need_pipeline_tools

FILES = {".gitignore", "dodo.py", "ramses.toml", "nodes.toml", "kconfigs/RamsesCluster.conf", "kconfigs/RamsesUefi.conf",
         "kconfigs/RamsesServer.conf", "keys/README.md", "keys/kernel.org-oneoff-resigning-2013.asc",
         "patches/2.4.18/series"}


def init(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ramsesbuild.cli", "init", *args], capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(REPO)}, timeout=60)


def written(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()}


@pytest.mark.parametrize("kernel,base", [("2.4.18", "defconfig"), ("6.1", "tinyconfig")])
def test_init_writes_a_project_for_the_kernel_chosen(tmp_path, kernel, base):
    for ci, ci_file in (("none", None), ("github", ".github/workflows/kernels.yml"), ("gitlab", ".gitlab-ci.yml")):
        dest = tmp_path / ci
        files = scaffold.write_project(dest, scaffold.KERNELS[kernel], ci)
        assert {str(f) for f in files} == written(dest) == FILES | ({ci_file} if ci_file else set())
        s = load(dest / "ramses.toml")
        assert s.version == kernel and {p.base for p in s.profiles.values()} == {base}
        assert s.root == dest and s.netboot_profiles[0].netboot.append.split()[:2] == ["console=tty0", "console=ttyS0"]
        check_inputs(s) if kernel == "2.4.18" else None  # 6.1: the Debian package may be absent here
        assert (dest / "dodo.py").read_text() == (REPO / "dodo.py").read_text() == scaffold.DODO
        assert "/build/" in (dest / ".gitignore").read_text().split()
        if ci_file:
            packages = re.search(r"DEBIAN_PACKAGES: (.*)", (dest / ci_file).read_text()).group(1).split()
            assert ("linux-source-6.1" in packages) == (kernel == "6.1")
            assert ("bzip2" if kernel == "2.4.18" else "xz-utils") in packages


def test_init_overwrites_nothing_and_says_so(tmp_path):
    out = init(str(tmp_path / "p"), "--kernel", "2.4.18", "--ci", "gitlab")
    assert out.returncode == 0, out.stderr
    assert f"wrote {len(FILES) + 1} files" in out.stdout and "cd " in out.stdout and "apt-get install" in out.stdout
    frag = tmp_path / "p" / "kconfigs" / "RamsesCluster.conf"
    frag.write_text("CONFIG_MINE=y\n")
    again = init(str(tmp_path / "p"))
    assert again.returncode == 1 and "Traceback" not in again.stderr
    assert again.stderr.strip().splitlines() == [
        f"ramsesbuild init: error: {tmp_path / 'p' / '.gitignore'}: already exists; `ramsesbuild init` writes a new "
        "project and overwrites nothing: choose an empty or new directory"]
    assert frag.read_text() == "CONFIG_MINE=y\n"
    assert init(str(tmp_path / "q"), "--kernel", "2.6").returncode == 2  # argparse: the choices are listed


def test_the_shipped_settings_name_the_built_in_series():
    entries = read_series(scaffold.PROJECT / "patches" / "2.4.18")
    assert [e.name for e in entries] == [f"builtin:{e.name}" for e in read_series(BUILTIN / "2.4.18")]
    assert all(e.builtin and e.path.parent == BUILTIN / "2.4.18" for e in entries) and len(entries) == 12
    assert not (REPO / "patches").exists()  # one copy of the series: the package's


def test_own_patches_add_to_the_built_in_series(tmp_path):
    builtin = tmp_path / "builtin" / "1.0"
    builtin.mkdir(parents=True)
    (builtin / "0001-theirs.patch").write_text("x")
    (builtin / "series").write_text("0001-theirs.patch\n")
    mine = tmp_path / "patches" / "1.0"
    mine.mkdir(parents=True)
    (mine / "0001-mine.patch").write_text("y")
    (mine / "series").write_text("# ours\n#@ builtin 1.0   # the tested ones first\n0001-mine.patch -p0\n")
    entries = read_series(mine, root=tmp_path / "builtin")
    assert [(e.name, e.strip, e.builtin) for e in entries] == [("builtin:0001-theirs.patch", 1, True),
                                                               ("0001-mine.patch", 0, False)]
    (mine / "series").write_text("0001-mine.patch\n#@ builtin 2.6\n")
    with pytest.raises(PatchError, match=r"series:2: ramsesbuild has no built-in series for '2.6' \(it has: 1.0\)"):
        read_series(mine, root=tmp_path / "builtin")
    (mine / "series").write_text("#@ include other\n")
    with pytest.raises(PatchError, match=r"series:1: unknown directive '#@ include other'"):
        read_series(mine, root=tmp_path / "builtin")


def use_local_source(dest: Path, mirror_url: str, tarball: Path, signer: Signer) -> None:
    """Point a project's [source."2.4.18"] at *mirror_url*, pinned to *tarball* and signed
    kernel.org style by *signer* (whose key is put into the project's keys/): what a user does
    for a local mirror of their own."""
    key = dest / "keys" / "test-signer.asc"
    key.write_bytes(signer.public_key.read_bytes())
    settings = (dest / "ramses.toml").read_text()
    table = settings[settings.index('[source."2.4.18"]'):settings.index('[source."6.1"]')]
    (dest / "ramses.toml").write_text(settings.replace(table, f'''[source."2.4.18"]
tarball = "linux-2.4.18.tar.bz2"
signature = "linux-2.4.18.tar.sign"
mirrors = ["{mirror_url}"]
sha256 = "{sha256_file(tarball)}"
signers = ["{signer.fingerprint}"]
keys = ["keys/test-signer.asc"]

'''))


@pytest.fixture
def shipped_on_fake_kernel(tmp_path, mirror, signer):
    """A project from `ramsesbuild init --kernel 2.4.18` whose source is the fake 2.4 kernel on a
    local mirror (signed like kernel.org's) and whose fragments fit the fake tree; its netboot
    settings and nodes.toml are the shipped ones. The built-in series is for the real 2.4.18."""
    need_pipeline_tools("k24")
    dest = tmp_path / "project"
    scaffold.write_project(dest, scaffold.KERNELS["2.4.18"], "none")
    tarball = make_fake_tarball("k24", mirror.root)
    signer.sign(uncompressed(tarball), mirror.root / "linux-2.4.18.tar.sign")
    use_local_source(dest, mirror.url, tarball, signer)
    for frag in ("RamsesCluster.conf", "RamsesServer.conf"):
        (dest / "kconfigs" / frag).write_text((FAKE / "kconfigs" / frag).read_text())
    (dest / "patches" / "2.4.18" / "series").unlink()
    return dest, mirror


def in_project(dest: Path, *cmd: str) -> subprocess.CompletedProcess:
    """A command in the project directory, as a user runs it there (no RAMSES_CONFIG)."""
    env = {k: v for k, v in os.environ.items() if k != "RAMSES_CONFIG"}
    return subprocess.run([sys.executable, "-m", *cmd], cwd=dest, env={**env, "PYTHONPATH": str(REPO)},
                          capture_output=True, text=True, timeout=300)


def doit(dest: Path, *args: str) -> subprocess.CompletedProcess:
    return in_project(dest, "doit", *args)


def test_shipped_settings_and_nodes_build_and_pass_status(shipped_on_fake_kernel):
    """Plain `doit` in the project (its own two-line dodo.py), then `ramsesbuild status`: every node
    of the shipped nodes.toml boots an image that is there (node03 the 3Com MBA one)."""
    dest, _ = shipped_on_fake_kernel
    out = doit(dest)
    assert out.returncode == 0, out.stdout + out.stderr
    status = in_project(dest, "ramsesbuild.cli", "status")
    assert status.returncode == 0, status.stdout + status.stderr
    assert "MISSING" not in status.stdout
    assert re.search(r"node03 .* vmlinuz-2\.4\.18-cluster-imggen", status.stdout), status.stdout


def test_missing_inputs_are_named_before_anything_is_fetched(shipped_on_fake_kernel):
    dest, mirror = shipped_on_fake_kernel
    (dest / "kconfigs" / "RamsesServer.conf").unlink()
    settings = (dest / "ramses.toml").read_text()
    (dest / "ramses.toml").write_text(settings.replace('keys = ["', 'keys = ["gone.asc", "', 1))
    out = doit(dest)
    assert out.returncode == 2 and "Traceback" not in out.stderr
    lines = out.stderr.strip().splitlines()
    text = (dest / "ramses.toml").read_text().splitlines()
    keys_line = next(i for i, t in enumerate(text, 1) if t.startswith("keys = "))
    frag_line = next(i for i, t in enumerate(text, 1) if 'fragments = ["kconfigs/RamsesServer.conf"]' in t)
    assert lines == [f"ramsesbuild: {dest / 'ramses.toml'}:{keys_line}: keys names gone.asc, which does not exist",
                     f"{dest / 'ramses.toml'}:{frag_line}: fragments names kconfigs/RamsesServer.conf, which does "
                     "not exist"]
    assert mirror.requests == [] and not (dest / "downloads").exists()
    assert doit(dest, "list").returncode == 0  # reading commands still work
    with pytest.raises(SettingsError):
        check_inputs(load(dest / "ramses.toml"))
