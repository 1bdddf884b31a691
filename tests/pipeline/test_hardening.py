"""Faults, hostile input and concurrent runs, through the real `doit` CLI on the fake trees.

Every case asserts what the user sees (one clean message, no traceback, the exit code) and
what is left (nothing outside the project, no temp names after the next run, artefacts equal
to a clean run's). Disk-full, read-only and permission cases run the pipeline inside a
private mount namespace (`unshare --mount`) with a size-capped tmpfs or a read-only bind
mount, or without CAP_DAC_OVERRIDE (`setpriv`); they need root and skip otherwise.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ramsesbuild.fsutil import TEMP_MARK, sha256_file

from ..lib.support import REPO, Project
from ..lib.tools import need_private_mounts
from .test_pipeline import ran

NEEDS_ROOT = pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("unshare"),
                                reason="needs root for mount namespaces and tmpfs (CI runs as root)")


def clean(out: subprocess.CompletedProcess) -> str:
    """The user's screen; fails the test on any traceback."""
    text = out.stdout + out.stderr
    assert "Traceback" not in text and 'File "' not in text, text
    return text


def leftovers(*dirs: Path) -> list[Path]:
    found = []
    for d in dirs:
        if d.exists():
            found += [p for p in d.rglob(f"*{TEMP_MARK}")]
    return found


def doit_cmd(p: Project, *args: str) -> list[str]:
    return [sys.executable, "-m", "doit", "-f", str(REPO / "dodo.py"), *args]


def env_of(p: Project, **extra: str) -> dict[str, str]:
    return {**os.environ, "RAMSES_CONFIG": str(p.settings_path), "FAKE_MAKE_LOG": str(p.make_log),
            **p.extra_env, **extra}


def in_namespace(p: Project, setup: str, *args: str, prefix: str = "") -> subprocess.CompletedProcess:
    """Run doit in a private mount namespace after the shell commands *setup* (mounts there vanish
    with the process)."""
    need_private_mounts()
    script = f"set -e\n{setup}\nexec {prefix} {shlex.join(doit_cmd(p, *args))}"
    return subprocess.run(["unshare", "--mount", "--propagation", "private", "sh", "-c", script],
                          cwd=p.dir, env=env_of(p), capture_output=True, text=True, timeout=300)


# ------------------------------------------------------------------ settings

@pytest.mark.parametrize("change, message", [
    (('format = "nbi"', 'format = "nbi"\napend = "x"'), "unknown key 'apend' (did you mean \"append\"?)"),
    (('tftpboot = "tftpboot"', 'tftpbot = "/tmp/elsewhere"'), "unknown key 'tftpbot' (did you mean \"tftpboot\"?)"),
    (("[netboot]", "[netbot]"), "unknown table 'netbot' (did you mean \"netboot\"?)"),
    (("jobs = 2", 'jobs = "two"'), "jobs must be an integer, not the string 'two'"),
    (('output = "vmlinuz-{version}-cluster"', 'output = "vmlinuz-{versoin}"'), "unknown placeholder {versoin}"),
    (('output = "vmlinuz-{version}-cluster"', 'output = "../../x"'), "not a file name inside the tftpboot"),
    (("[kernel]", "[kernel]\nmake_vars = 3"), "make_vars must be a table of strings, not the number 3"),
])
def test_settings_mistakes_are_one_line_with_file_and_line(k24_project, change, message):
    p = k24_project
    p.settings_path.write_text(p.settings_path.read_text().replace(*change))
    for args in (("list",), ("kernel-client",)):
        out = p.doit(*args, check=False)
        text = clean(out)
        assert out.returncode == 2, text
        assert message in out.stderr
        assert re.match(rf"ramsesbuild: {re.escape(str(p.settings_path))}:\d+: ", out.stderr), out.stderr
        assert len(out.stderr.strip().splitlines()) == 1
    assert not (p.dir / "tftpboot").exists() and not Path("/tmp/elsewhere").exists()


def test_non_utf8_fragment_is_named_with_its_line(k24_project):
    p = k24_project
    frag = p.dir / "kconfigs" / "RamsesCluster.conf"
    frag.write_bytes(frag.read_bytes() + b"# caf\xe9\n")
    out = p.doit("kernel-client", check=False)
    text = clean(out)
    n = frag.read_bytes().count(b"\n")
    assert out.returncode == 1 and f"RamsesCluster.conf:{n}: byte 0xe9 is not UTF-8" in text


# ------------------------------------------------------------------ concurrent runs

def _start(p: Project, *args: str, **env: str) -> subprocess.Popen:
    return subprocess.Popen(doit_cmd(p, *args), cwd=p.dir, env=env_of(p, **env), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)


def _wait_for(predicate, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError("condition not reached in time")


def test_second_run_waits_or_fails_at_once_and_artefacts_match_a_clean_build(k24_project, tmp_path):
    p = k24_project
    first = _start(p, "kernel-client", "netboot-image", FAKE_UNITS="60", FAKE_DELAY="0.05")
    try:
        _wait_for(lambda: "bzImage" in " ".join(p.make_calls()))  # the first run is inside make
        refused = p.doit("kernel-client", "wait=no", check=False)
        text = clean(refused)
        assert refused.returncode == 1
        assert re.search(r"another run is using this project \(pid \d+: doit .*kernel-client", text), text
        second = _start(p, "kernel-client", "netboot-image")
        _, err1 = first.communicate(timeout=120)
        out2, err2 = second.communicate(timeout=120)
    finally:
        for proc in (first,):
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
    assert first.returncode == 0 and second.returncode == 0, err1 + err2
    assert "waiting for the other run" in err2
    assert ".  compile-client" not in out2  # it waited, then found everything up to date
    # the same project built alone, from scratch, gives the same bytes
    alone = Project(dir=tmp_path / "alone", mirror_url=p.mirror_url, tarball=p.tarball, version=p.version,
                    sha256=p.sha256, signature=p.signature, signer=p.signer)
    alone.dir.mkdir()
    alone.setup().doit("kernel-client", "netboot-image")
    for rel in ("build/client/artifacts/bzImage", "tftpboot/vmlinuz-2.4.18-cluster"):
        assert sha256_file(p.dir / rel) == sha256_file(alone.dir / rel), rel


def test_runs_on_different_projects_do_not_wait_for_each_other(k24_project, tmp_path):
    p = k24_project
    other = Project(dir=tmp_path / "other", mirror_url=p.mirror_url, tarball=p.tarball, version=p.version,
                    sha256=p.sha256, signature=p.signature, signer=p.signer)
    other.dir.mkdir()
    other.setup()
    a = _start(p, "kernel-client", FAKE_UNITS="20", FAKE_DELAY="0.05")
    b = _start(other, "kernel-client", FAKE_UNITS="20", FAKE_DELAY="0.05")
    outs = [proc.communicate(timeout=120) for proc in (a, b)]
    assert a.returncode == 0 and b.returncode == 0, outs
    assert not any("waiting for the other run" in err for _, err in outs)


# ------------------------------------------------------------------ kill -9 and leftovers

def test_kill_during_modules_install_leaves_nothing_after_the_next_run(k24_project):
    p = k24_project
    p.doit("compile-client")
    run = _start(p, "kernel-client", FAKE_INSTALL_DELAY="3")
    staging_tmp = p.dir / "build" / "client"
    _wait_for(lambda: any(x.name.startswith(".staging.") for x in staging_tmp.iterdir()))
    os.kill(run.pid, signal.SIGKILL)  # doit only: the orphaned make keeps the project locked
    run.wait()
    assert leftovers(p.dir / "build"), "the kill should have left the staging temp dir"
    again = p.doit("kernel-client")
    text = clean(again)
    assert "left by an interrupted run" in text
    assert leftovers(p.dir / "build", p.dir / "tftpboot", p.dir / "downloads") == []
    assert (p.dir / "build/client/staging/lib/modules/2.4.18/kernel/drivers/net/dummy.o").is_file()


def test_temp_names_of_every_interrupted_step_are_swept(k24_project):
    p = k24_project
    p.doit()
    tftp, build = p.dir / "tftpboot", p.dir / "build"
    stale = [tftp / f".vmlinuz-2.4.18-cluster.k3j2{TEMP_MARK}", tftp / f".vmlinuz-2.4.18-cluster.old{TEMP_MARK}",
             build / "client" / f".src.x8a.unpacking{TEMP_MARK}" / "Makefile",
             build / "client" / "artifacts" / f".bzImage.q1{TEMP_MARK}",
             build / "state" / f".verified.json.z{TEMP_MARK}"]
    for path in stale:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("half written")
    foreign = tftp / ".not-ours.tmp"
    foreign.write_text("someone else's")
    out = p.doit()
    text = clean(out)
    assert ran(out) == []  # nothing to rebuild, only to sweep
    assert text.count("left by an interrupted run") == 5
    assert leftovers(build, tftp) == [] and foreign.exists()


# ------------------------------------------------------------------ OS errors

def test_unwritable_build_dir_is_one_line_even_for_doit_list(k24_project):
    p = k24_project
    (p.dir / "build").mkdir()
    (p.dir / "build").chmod(0o555)
    try:
        if os.access(p.dir / "build", os.W_OK) and not shutil.which("setpriv"):
            pytest.skip("root without setpriv cannot drop CAP_DAC_OVERRIDE")
        out = subprocess.run(["setpriv", "--inh-caps=-all", "--bounding-set=-dac_override,-dac_read_search",
                              *doit_cmd(p, "list")] if os.geteuid() == 0 else doit_cmd(p, "list"),
                             cwd=p.dir, env=env_of(p), capture_output=True, text=True, timeout=60)
    finally:
        (p.dir / "build").chmod(0o755)
    text = clean(out)
    assert out.returncode == 1, text
    assert f"{p.dir / 'build'}: not writable by this user" in text
    assert "sqlite" not in text and "database" not in text


def test_gpg_missing_names_the_package(k24_project):
    p = k24_project
    p.doit("fetch")
    out = subprocess.run(doit_cmd(p, "verify"), cwd=p.dir, env=env_of(p, PATH=str(p.dir / "no-such-bin")),
                         capture_output=True, text=True, timeout=60)
    text = clean(out)
    assert out.returncode == 1 and "gpg is not installed" in text and "apt-get install gnupg" in text


def test_make_missing_names_the_packages(k24_project, tmp_path):
    p = k24_project
    p.doit("config-client")
    bindir = tmp_path / "bin"
    bindir.mkdir()
    for tool in ("gpg", "patch", "bzip2", "xz", "python3", "sh", "bash", "perl", "gcc", "ld", "gzip", "date"):
        if shutil.which(tool):
            (bindir / tool).symlink_to(shutil.which(tool))
    out = subprocess.run(doit_cmd(p, "kernel-client"), cwd=p.dir, env=env_of(p, PATH=str(bindir)),
                         capture_output=True, text=True, timeout=60)
    text = clean(out)
    assert out.returncode == 1 and "make not found" in text and "apt-get install make" in text


@NEEDS_ROOT
def test_disk_full_during_download(k24_project):
    p = k24_project
    setup = f"mount -t tmpfs -o size=4k ramses-test {shlex.quote(str(p.dir / 'downloads'))}"
    (p.dir / "downloads").mkdir()
    out = in_namespace(p, setup, "fetch")
    text = clean(out)
    assert out.returncode == 1, text
    assert "no space left on the device" in text and "free space there" in text
    assert not (p.dir / "downloads" / p.tarball).exists()
    p.doit("fetch")  # space again (outside the namespace): it works, nothing is left over
    assert leftovers(p.dir / "downloads") == []


@NEEDS_ROOT
def test_disk_full_when_installing_keeps_the_old_image(k24_project):
    p = k24_project
    p.doit()
    tftp = p.dir / "tftpboot"
    old = sha256_file(tftp / "vmlinuz-2.4.18-cluster")
    p.settings_path.write_text(p.settings_path.read_text().replace("ramdisk_size=1024", "ramdisk_size=2048"))
    image = (tftp / "vmlinuz-2.4.18-cluster").stat().st_size
    q = shlex.quote(str(tftp))
    # a tmpfs holding exactly the current image and no room for the new one
    setup = (f"cp -a {q} /tmp/ramses-keep.$$ && mount -t tmpfs -o size={image + 8192} ramses-test {q} && "
             f"cp -a /tmp/ramses-keep.$$/. {q}/ && rm -rf /tmp/ramses-keep.$$ && "
             f"head -c {8192} /dev/zero > {q}/filler || true")
    out = in_namespace(p, setup, "netboot-image")
    text = clean(out)
    assert out.returncode == 1, text
    assert "no space left on the device" in text
    assert sha256_file(tftp / "vmlinuz-2.4.18-cluster") == old  # the nodes still boot the old one


@NEEDS_ROOT
def test_disk_full_for_the_task_log_does_not_break_the_task(k24_project):
    p = k24_project
    logs = p.dir / "build" / "logs"
    logs.mkdir(parents=True)
    q = shlex.quote(str(logs))
    out = in_namespace(p, f"mount -t tmpfs -o size=4k ramses-test {q} && head -c 4096 /dev/zero > {q}/fill || true",
                       "kernel-client")
    text = clean(out)
    assert out.returncode == 0, text
    assert (p.dir / "build/client/artifacts/bzImage").is_file()


@NEEDS_ROOT
def test_read_only_tftpboot(k24_project):
    p = k24_project
    tftp = p.dir / "tftpboot"
    tftp.mkdir()
    q = shlex.quote(str(tftp))
    out = in_namespace(p, f"mount --bind {q} {q} && mount -o remount,ro,bind {q}", "netboot-image")
    text = clean(out)
    assert out.returncode == 1 and "read-only file system" in text, text
    assert "remount it read-write or point ramses.toml [paths] elsewhere" in text


@NEEDS_ROOT
def test_tftpboot_without_write_permission(k24_project):
    p = k24_project
    tftp = p.dir / "tftpboot"
    tftp.mkdir()
    tftp.chmod(0o555)
    try:
        out = in_namespace(p, "true", "netboot-image",
                           prefix="setpriv --inh-caps=-all --bounding-set=-dac_override,-dac_read_search")
    finally:
        tftp.chmod(0o755)
    text = clean(out)
    assert out.returncode == 1, text
    assert "cannot write" in text and "write access to the tftpboot directory" in text


def test_tftpboot_is_a_file(k24_project):
    p = k24_project
    (p.dir / "tftpboot").write_text("not a directory")
    out = p.doit("netboot-image", check=False)
    text = clean(out)
    assert out.returncode == 1 and "a file is in the way" in text, text
