"""Compiler wrappers ([kernel] wrapper = ccache | distcc | ccache+distcc) on the fake trees:
real ccache with its own cache directory, a real distccd on 127.0.0.1 started by the test."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

from ramsesbuild import wrappers
from ramsesbuild.errors import BuildError, SettingsError, ToolMissing
from ramsesbuild.settings import load

from .test_pipeline import calls, ran


def need(program: str, package: str) -> None:
    if not shutil.which(program):
        pytest.skip(f"{program} missing: apt-get install {package} (.ci/run does)")


def use_wrapper(proj, wrapper: str | None, hosts: tuple[str, ...] = ()) -> None:
    proj.set("kernel.wrapper", wrapper)  # None: no wrapper key
    proj.set("kernel.distcc_hosts", list(hosts) or None)


def make_command(proj, task: str) -> list[str]:
    """The make command line of the build (bzImage ...) in build/logs/<task>.log."""
    log = (proj.dir / "build" / "logs" / f"{task}.log").read_text()
    line = next(m for m in re.findall(r"^==== \S+ (make .*)$", log, re.M) if " bzImage" in m)
    return shlex.split(line)


def ccache_stats(cache: Path) -> dict[str, int]:
    out = subprocess.run(["ccache", "--print-stats"], env={**os.environ, "CCACHE_DIR": str(cache)},
                         capture_output=True, text=True, check=True).stdout
    stats = dict(line.split("\t") for line in out.splitlines() if "\t" in line)
    hits = int(stats.get("direct_cache_hit", 0)) + int(stats.get("preprocessed_cache_hit", 0))
    return {"hits": hits, "misses": int(stats.get("cache_miss", 0))}


# ------------------------------------------------------------------ data and settings

def test_every_wrapper_in_the_data_file_is_complete():
    for name, w in wrappers.load_wrappers().items():
        assert w.prefix and w.commands and w.description, name
        assert set(w.prefix) <= {prog for prog, _ in w.commands}, name
    assert set(wrappers.names()) == {"ccache", "distcc", "ccache+distcc"}


def test_settings_wrapper_and_hosts(tmp_path):
    from ..unit.test_settings import MINIMAL, write

    s = load(write(tmp_path, MINIMAL))
    assert s.wrapper is None and s.distcc_hosts == ()
    text = MINIMAL.replace('version = "6.1"\n', 'version = "6.1"\nwrapper = "ccache+distcc"\n'
                                                'distcc_hosts = ["node1/4", "localhost/2"]\n', 1)
    s = load(write(tmp_path, text))
    assert s.wrapper == "ccache+distcc" and s.distcc_hosts == ("node1/4", "localhost/2")


@pytest.mark.parametrize("line, message", [
    ('wrapper = "sccache"', r"ramses.toml:3: \[kernel\] wrapper = 'sccache' is not one of ccache, distcc, "
                            r"ccache\+distcc \(did you mean \"ccache\"\?\)"),
    ('distcc_hosts = "node1"', "distcc_hosts must be a list of strings"),
    ('distcc_hosts = ["node1 node2"]', "distcc_hosts entries are single DISTCC_HOSTS words"),
])
def test_settings_mistakes_are_named(tmp_path, line, message):
    from ..unit.test_settings import MINIMAL, write

    path = write(tmp_path, MINIMAL.replace('version = "6.1"\n', f'version = "6.1"\n{line}\n', 1))
    with pytest.raises(SettingsError, match=message):
        load(path)


def test_missing_program_names_the_debian_package(tmp_path):
    with pytest.raises(ToolMissing, match=r"needs ccache, distcc \(not installed\): apt-get install ccache distcc"):
        wrappers.get("ccache+distcc").check(str(tmp_path), ("h1",), {})
    with pytest.raises(BuildError, match="no distcc hosts are given; set \\[kernel\\] distcc_hosts"):
        wrappers.get("distcc").check(os.environ["PATH"] + ":/usr/bin", (), {})


def test_ccache_directory_defaults_outside_build_and_honours_the_environment(tmp_path):
    w = wrappers.get("ccache")
    env = w.environment(tmp_path / "build" / "client", (), {"XDG_CACHE_HOME": "/c"})
    assert env["CCACHE_DIR"] == "/c/ramsesbuild/ccache"
    assert env["CCACHE_BASEDIR"] == str(tmp_path / "build" / "client")
    assert "CCACHE_DIR" not in w.environment(tmp_path, (), {"CCACHE_DIR": "/mine"})  # kept as it is


# ------------------------------------------------------------------ through doit, real make

@pytest.mark.parametrize("kind", ["k24_project", "modern_project"])
def test_wrapper_wraps_the_compiler_without_changing_the_make_commands(kind, request, tmp_path):
    need("ccache", "ccache")
    p = request.getfixturevalue(kind)
    p.extra_env["CCACHE_DIR"] = str(tmp_path / "ccache")
    p.doit("kernel-client")
    plain = make_command(p, "compile-client")
    shims = p.dir / "build" / "client" / "shims"
    assert not (shims / "gcc").exists()
    use_wrapper(p, "ccache")
    p.doit("forget", "compile-client")
    p.doit("kernel-client")
    assert make_command(p, "compile-client") == plain
    gcc = shims / "gcc"
    assert gcc.read_text().endswith(f"exec {shutil.which('ccache')} {shutil.which('gcc')} \"$@\"\n")
    # CC (init/main.c, drivers/net/dummy.c) and HOSTCC (scripts/hostprog.c) went through ccache
    assert ccache_stats(tmp_path / "ccache")["misses"] == 3
    use_wrapper(p, None)
    p.doit("forget", "compile-client")
    p.doit("kernel-client")
    assert not gcc.exists() and make_command(p, "compile-client") == plain


def test_changing_the_wrapper_rebuilds_nothing_and_never_cleans(k24_project, tmp_path):
    need("ccache", "ccache")
    p = k24_project
    p.extra_env["CCACHE_DIR"] = str(tmp_path / "ccache")
    p.doit("kernel-client")
    p.clear_make_calls()
    use_wrapper(p, "ccache")
    assert ran(p.doit("kernel-client")) == []
    assert p.make_calls() == []
    # the next real rebuild uses the wrapper, but is no `make clean` (not part of the identity)
    p.doit("forget", "compile-client")
    p.doit("kernel-client")
    assert calls(p, "client") == ["dep", "bzImage", "modules"]
    assert "[kernel] wrapper = ccache" in (p.dir / "build/client/shims/gcc").read_text()


def test_ccache_hits_across_profiles_and_after_rm_rf_build(k24_project, tmp_path):
    need("ccache", "ccache")
    p = k24_project
    cache = tmp_path / "ccache"
    p.extra_env["CCACHE_DIR"] = str(cache)
    use_wrapper(p, "ccache")
    p.doit("kernel-server", "kernel-client", "modules-server", "modules-client")
    first = ccache_stats(cache)
    # 3 units per profile (hostprog.c, main.c, dummy.c): the second profile hits the first's
    assert first == {"hits": 3, "misses": 3}, first
    shutil.rmtree(p.dir / "build")
    p.doit("kernel-server", "kernel-client", "modules-server", "modules-client")
    second = ccache_stats(cache)
    print(f"\nccache after the first build: {first}; after rm -rf build and a rebuild: {second}")
    assert second == {"hits": 9, "misses": 3}, second
    assert not (p.dir / "build" / "ccache").exists() and cache.is_dir()


# ------------------------------------------------------------------ distcc: a real distccd

def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def distccd(tmp_path):
    """A real distccd on 127.0.0.1 only, logging to a file this test reads; killed at the end.
    (--log-stderr: distccd drops root privileges, so it could not open a file in tmp_path.)"""
    need("distccd", "distcc")
    port = _free_port()
    log = tmp_path / "distccd.log"
    with open(log, "wb") as fh:
        proc = subprocess.Popen(["distccd", "--allow", "127.0.0.1", "--listen", "127.0.0.1", "--port", str(port),
                                 "--log-stderr", "--log-level", "info", "--no-detach", "--daemon"],
                                stdin=subprocess.DEVNULL, stdout=fh, stderr=fh, start_new_session=True)
    try:
        for _ in range(100):  # bounded: 10 s
            if "listening on" in log.read_text():
                break
            if proc.poll() is not None:
                pytest.fail(f"distccd exited with {proc.returncode}: {log.read_text()}")
            time.sleep(0.1)
        else:
            pytest.fail(f"distccd did not listen on 127.0.0.1:{port}: {log.read_text()}")
        yield f"127.0.0.1:{port}", log
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


@pytest.mark.parametrize("wrapper", ["distcc", "ccache+distcc"])
def test_loopback_distccd_compiles_the_units(k24_project, distccd, tmp_path, wrapper):
    need("distcc", "distcc")
    if wrapper.startswith("ccache"):
        need("ccache", "ccache")
    host, log = distccd
    p = k24_project
    p.extra_env["CCACHE_DIR"] = str(tmp_path / "ccache")  # cold: every unit goes to distccd
    p.extra_env.pop("DISTCC_HOSTS", None)
    use_wrapper(p, wrapper, hosts=(host,))
    p.doit("kernel-client", "modules-client")
    time.sleep(0.5)  # let distccd write its job summaries
    done = re.findall(r"COMPILE_OK .* (\S+\.c)$", log.read_text(), re.M)
    print(f"\ndistccd ({wrapper}) compiled: {done}")
    assert sorted(done) == ["drivers/net/dummy.c", "init/main.c", "scripts/hostprog.c"], log.read_text()[-3000:]
    assert (p.dir / "build/client/staging/lib/modules/2.4.18/kernel/drivers/net/dummy.o").is_file()
