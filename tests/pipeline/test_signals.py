"""Ctrl-C, SIGTERM and SIGHUP end a run with one line and the signal's exit status; make and its
children stop with it (make runs in its own process group), the project lock is released, and
the next run leaves no temporary name behind. Real signals to a real doit running a fake make."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ramsesbuild.fsutil import sha256_file

from ..lib.hardening import k24_copy, no_leftovers, processes_with, screen
from ..lib.support import REPO
from .test_pipeline import ran

IMAGE = "tftpboot/vmlinuz-2.4.18-cluster"


@pytest.fixture
def k24_built(tmp_path_factory, signer, tmp_path):
    return k24_copy(tmp_path_factory, signer, tmp_path)


def processes_of(p) -> list[tuple[int, str]]:
    """Every process started for this project (the fake make's children carry FAKE_MAKE_LOG)."""
    return processes_with("FAKE_MAKE_LOG", str(p.make_log))


def is_doit(pid: int) -> bool:
    """The doit process itself, whatever the interpreter is called (python3, a venv's python)."""
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[1:3] == [b"-m", b"doit"]
    except OSError:
        return False


def start(p, *args: str, shell: bool = False, **env: str) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "doit", "-f", str(REPO / "dodo.py"), *args]
    if shell:  # what a shell reports, and whether a script goes on after it
        cmd = ["sh", "-c", '"$@"; echo "shell saw $?"', "sh", *cmd]
    full = {**os.environ, "RAMSES_CONFIG": str(p.settings_path), "FAKE_MAKE_LOG": str(p.make_log), **env}
    return subprocess.Popen(cmd, cwd=p.dir, env=full, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)


def wait_for(predicate, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.05)


def in_make(p, run: subprocess.Popen) -> bool:
    """Is the fake make in its compile loop? (Fails at once when the run ended before that.)"""
    assert run.poll() is None, run.communicate()
    return any(comm == "sleep" for _, comm in processes_of(p))


# how the signal reaches the run: Ctrl-C hits the terminal's foreground process group (doit and
# its direct children, but not make's own group); kill(1) and a closed terminal reach doit alone
HOW = {signal.SIGINT: "group", signal.SIGTERM: "pid", signal.SIGHUP: "pid"}


@pytest.mark.parametrize("sig", list(HOW), ids=[s.name for s in HOW])
def test_signal_ends_the_run_with_one_line_and_stops_make(k24_built, sig):
    p = k24_built
    image = sha256_file(p.dir / IMAGE)
    frag = p.dir / "kconfigs" / "RamsesCluster.conf"
    frag.write_text(frag.read_text() + "CONFIG_NFSD=y\n")  # a change: compile-client runs make
    run = start(p, "kernel-client", "netboot-image", FAKE_UNITS="600", FAKE_DELAY="0.05")
    try:
        wait_for(lambda: in_make(p, run))
        if HOW[sig] == "group":
            os.killpg(run.pid, sig)
        else:
            os.kill(run.pid, sig)
        out, err = run.communicate(timeout=60)
    finally:
        if run.poll() is None:
            os.killpg(run.pid, signal.SIGKILL)
    text = screen(subprocess.CompletedProcess(run.args, run.returncode, out, err))
    assert run.returncode == -sig, text  # ended by the signal: a shell shows 128 + N
    assert err.strip().splitlines()[-1] == (f"ramsesbuild: interrupted during compile-client; run again to "
                                           f"continue ({sig.name})"), text
    assert "summary" not in text and "FAILED" not in text  # that one line is all
    assert processes_of(p) == []  # make, its shell and its compiles: gone with the run
    assert sha256_file(p.dir / IMAGE) == image  # the nodes' image untouched
    log = (p.dir / "build/logs/compile-client.log").read_text()
    assert f"INTERRUPTED: interrupted during compile-client; run again to continue ({sig.name})" in log
    again = p.doit("kernel-client", "netboot-image", "wait=no", check=False)  # the lock is free
    assert again.returncode == 0, screen(again)
    assert "compile-client" in ran(again)
    no_leftovers(p)


def test_a_shell_sees_143(k24_built):
    p = k24_built
    p.doit("forget", "compile-client")
    run = start(p, "compile-client", shell=True, FAKE_UNITS="600", FAKE_DELAY="0.05")
    try:
        wait_for(lambda: in_make(p, run))
        (doit,) = [pid for pid, _ in processes_of(p) if is_doit(pid)]
        os.kill(doit, signal.SIGTERM)
        out, err = run.communicate(timeout=60)
    finally:
        if run.poll() is None:
            os.killpg(run.pid, signal.SIGKILL)
    assert out.strip().endswith("shell saw 143"), out + err


def test_killed_outright_make_keeps_the_lock_until_it_ends(k24_built):
    """SIGKILL cannot be handled: the orphaned make holds the project lock (passed to it), so no
    new run builds into the tree it is still writing."""
    p = k24_built
    p.doit("forget", "compile-client")
    run = start(p, "compile-client", FAKE_UNITS="600", FAKE_DELAY="2")
    try:
        wait_for(lambda: in_make(p, run))
        os.kill(run.pid, signal.SIGKILL)
        run.communicate(timeout=30)
        refused = p.doit("compile-client", "wait=no", check=False)
        text = screen(refused)
        assert refused.returncode == 1 and "another run is using this project" in text, text
        assert f"pid {run.pid} has ended, and a make it started still holds the lock until it ends" in text
    finally:
        for pid, _ in processes_of(p):
            os.kill(pid, signal.SIGKILL)
