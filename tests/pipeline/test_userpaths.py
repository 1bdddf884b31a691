"""Paths a user walks, through real `doit` on the fake kernel trees: node classes (any profile
name), kernel-<profile> staging modules, per-version patch series, the summary, a safe clean,
`ramsesbuild status` and `--version`, and progress that shows in a real pseudo-terminal."""

from __future__ import annotations

import fcntl
import json
import os
import pty
import re
import select
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path

from ramsesbuild.fsutil import sha256_file

from ..lib.support import REPO, Project, nodes_toml
from .test_pipeline import calls, ran

GATEWAY = {"base": "defconfig", "fragments": ["kconfigs/RamsesCluster.conf", "kconfigs/Gateway.conf"],
           "netboot": {"output": "vmlinuz-{version}-gateway"}}

NODES = nodes_toml("node01", 'gw01:profile = "gateway"')


def with_gateway(p: Project) -> Project:
    (p.dir / "kconfigs" / "Gateway.conf").write_text("# the gateway nodes' extra NIC\nCONFIG_8139TOO=y\n")
    p.set("profile.gateway", GATEWAY)
    (p.dir / "nodes.toml").write_text(NODES)
    return p


def ramsesbuild(p: Project, *args: str, check: bool = False) -> subprocess.CompletedProcess:
    env = {**os.environ, "RAMSES_CONFIG": str(p.settings_path)}
    return subprocess.run([sys.executable, "-m", "ramsesbuild", *args], cwd=p.dir, env=env,
                          capture_output=True, text=True, check=check, timeout=60)


# ------------------------------------------------------------------ node classes

def test_third_profile_builds_and_nodes_get_their_class_image(k24_project):
    p = with_gateway(k24_project)
    out = p.doit()
    assert {"compile-gateway", "modules-gateway", "netboot-image:gateway", "netboot-image:client"} <= set(ran(out))
    assert calls(p, "gateway") == ["oldconfig", "dep", "bzImage", "modules", "modules_install"]
    tftp = p.dir / "tftpboot"
    assert (tftp / "vmlinuz-2.4.18-gateway").is_file() and (tftp / "vmlinuz-2.4.18-cluster").is_file()
    dhcpd = (p.dir / "build" / "bootconf" / "dhcpd.conf").read_text()
    node01 = dhcpd[dhcpd.index("host node01"):dhcpd.index("host gw01")]
    gw01 = dhcpd[dhcpd.index("host gw01"):]
    assert 'filename "vmlinuz-2.4.18-cluster";' in node01
    assert 'filename "vmlinuz-2.4.18-gateway";' in gw01
    assert "booted by gw01" in out.stdout and "booted by node01" in out.stdout


def test_editing_one_class_rebuilds_only_that_class(k24_project):
    p = with_gateway(k24_project)
    p.doit()
    before = {n: sha256_file(p.dir / f"build/{n}/artifacts/bzImage") for n in ("server", "client")}
    p.clear_make_calls()
    frag = p.dir / "kconfigs" / "Gateway.conf"
    frag.write_text(frag.read_text() + "# CONFIG_SERIAL_CONSOLE is not set\n")
    out = p.doit()
    # the gateway's steps, and the boot files (regenerated when an image they name changes)
    assert set(ran(out)) == {"config-gateway", "compile-gateway", "modules-gateway", "netboot-image:gateway",
                             "boot-config", "boot-tftp"}
    assert calls(p, "server") == [] and calls(p, "client") == []
    assert before == {n: sha256_file(p.dir / f"build/{n}/artifacts/bzImage") for n in ("server", "client")}
    assert "CHANGED (was " in out.stdout and "booted by gw01" in out.stdout


def test_node_naming_an_unknown_profile_is_one_line(k24_project):
    p = with_gateway(k24_project)
    nodes = p.dir / "nodes.toml"
    nodes.write_text(NODES.replace('profile = "gateway"', 'profile = "gatway"'))
    out = p.doit("boot-config", check=False)
    assert out.returncode == 1
    assert "profile 'gatway' has no netboot image in ramses.toml" in out.stdout
    assert '(did you mean "gateway"?)' in out.stdout
    assert "Traceback" not in out.stdout + out.stderr


# ------------------------------------------------------------------ what the commands promise

def test_kernel_task_stages_the_modules_too(k24_project):
    p = k24_project
    out = p.doit("kernel-client")
    assert {"compile-client", "modules-client"} <= set(ran(out))
    assert (p.dir / "build/client/staging/lib/modules/2.4.18/kernel/drivers/net/dummy.o").is_file()
    listing = p.doit("list").stdout
    assert re.search(r"^kernel-client\s+the client kernel with its modules staged", listing, re.M)


def test_jobs_override_on_the_command_line(k24_project):
    p = k24_project
    p.doit("kernel-client", "jobs=3")
    log = (p.dir / "build/logs/compile-client.log").read_text()
    assert " -j3 " in log
    p.clear_make_calls()
    assert ran(p.doit("kernel-client", "jobs=1")) == []  # -j is not part of the build's identity


def test_version_and_unknown_command():
    out = subprocess.run([sys.executable, "-m", "ramsesbuild", "--version"], capture_output=True, text=True)
    from ramsesbuild import __version__

    assert out.returncode == 0 and out.stdout.strip() == f"ramsesbuild {__version__}"


# ------------------------------------------------------------------ patches per version

def _series(p: Project, where: Path, marker: str) -> None:
    where.mkdir(parents=True, exist_ok=True)
    (where / "0001-main.patch").write_text(
        "Why: a marker.\n\n--- a/init/main.c\n+++ b/init/main.c\n@@ -1 +1,2 @@\n"
        f" int start_kernel(void) {{ return 0; }}\n+/* {marker} */\n")
    (where / "series").write_text("0001-main.patch\n")


def test_series_of_another_version_is_not_applied(k24_project):
    p = k24_project
    _series(p, p.dir / "patches" / "6.1", "for 6.1 only")
    p.doit("kernel-client")
    assert "for 6.1 only" not in (p.dir / "build/client/src/init/main.c").read_text()
    assert "no patch series for 2.4.18" in p.doit("list").stdout


def test_series_directly_in_patches_is_refused_with_the_fix(k24_project):
    p = k24_project
    _series(p, p.dir / "patches", "ambiguous")
    out = p.doit("kernel-client", check=False)
    assert out.returncode == 1
    assert "a series directly in patches/ is ambiguous" in out.stdout
    assert "move it and its patches to patches/<version>/" in out.stdout
    # the explicit per-source key makes it unambiguous
    p.settings_path.write_text(p.settings_path.read_text().replace('[source."2.4.18"]',
                                                                   '[source."2.4.18"]\npatches = "patches"'))
    p.doit("kernel-client")
    assert "ambiguous" in (p.dir / "build/client/src/init/main.c").read_text()


# ------------------------------------------------------------------ summary, status

def test_summary_is_printed_and_written(k24_project):
    p = k24_project
    (p.dir / "nodes.toml").write_text(NODES.replace('profile = "gateway"\n', ""))
    out = p.doit().stdout
    assert "== ramsesbuild summary:" in out
    assert re.search(r"client: Linux 2\.4\.18 \(k24\)\n  kernel   build/client/artifacts/bzImage", out)
    assert "modules  1 staged in build/client/staging" in out
    assert "netboot  nbi  tftpboot/vmlinuz-2.4.18-cluster" in out and "NEW" in out
    assert not re.search(r"[\r\x1b]", out)  # a pipe gets plain lines
    summary = json.loads((p.dir / "build" / "summary.json").read_text())
    assert summary["schema"] == 2 and summary["result"] == "ok"
    client = summary["profiles"]["client"]
    installed = p.dir / "tftpboot" / "vmlinuz-2.4.18-cluster"
    assert client["netboot"]["sha256"] == sha256_file(installed) and client["netboot"]["changed"]
    assert client["netboot"]["nodes"] == [{"name": "node01", "route": "direct"}, {"name": "gw01", "route": "direct"}]
    assert client["modules"]["count"] == 1 and client["family"] == "k24"
    tasks = {t["name"]: t for t in summary["tasks"]}
    assert tasks["compile-client"]["status"] == "ran" and tasks["compile-client"]["seconds"] >= 0
    p.doit()  # a no-op run: nothing changed for the nodes
    again = json.loads((p.dir / "build" / "summary.json").read_text())
    assert again["profiles"]["client"]["netboot"]["changed"] is False
    assert {t["status"] for t in again["tasks"]} == {"up-to-date"}


def test_status_lists_images_and_flags_missing_ones(k24_project):
    p = k24_project
    (p.dir / "nodes.toml").write_text(NODES.replace('profile = "gateway"', 'image = "not-there.img"'))
    p.doit()
    out = ramsesbuild(p, "status")
    assert out.returncode == 1, out.stdout + out.stderr  # a node's image is missing
    assert re.search(r"vmlinuz-2\.4\.18-cluster\s+nbi\s+\S+ KiB\s+sha256 [0-9a-f]{16}\s+Linux 2\.4\.18 \(k24\), "
                     r"profile client: RamsesCluster\.conf", out.stdout), out.stdout
    assert "booted by node01" in out.stdout
    assert "gw01" in out.stdout and "MISSING: not-there.img not in tftpboot" in out.stdout
    data = json.loads(ramsesbuild(p, "status", "--json").stdout)
    assert data["images"]["vmlinuz-2.4.18-cluster"]["fragments"][0].endswith("RamsesCluster.conf")
    assert [[q["file"] for q in n["problems"]] for n in data["nodes"]] == [[], ["not-there.img"]]
    assert data["nodes"][1]["problems"][0]["problem"] == "missing"


# ------------------------------------------------------------------ a safe clean

def test_clean_keeps_installed_image_and_download_and_rebuilds_identically(k24_project):
    p = k24_project
    p.doit()
    installed = p.dir / "tftpboot" / "vmlinuz-2.4.18-cluster"
    download = p.dir / "downloads" / p.tarball
    first = {"image": sha256_file(installed), "client": sha256_file(p.dir / "build/client/artifacts/bzImage")}
    out = p.doit("clean")
    assert installed.exists() and download.exists()
    assert f"kept {installed} (the installed netboot image; `doit clean netboot-image:client` removes it)" \
        in out.stdout
    assert f"kept {download}" in out.stdout
    for gone in ("build/client/src", "build/server/src", "build/client/staging", "build/client/artifacts/bzImage",
                 "build/state/verified.json"):
        assert not (p.dir / gone).exists(), gone
        assert f"removed {p.dir / gone} (" in out.stdout, gone
    p.clear_make_calls()
    again = p.doit()
    assert {"unpack:client", "compile-client", "netboot-image:client"} <= set(ran(again))
    assert "fetch" not in ran(again)
    assert sha256_file(p.dir / "build/client/artifacts/bzImage") == first["client"]
    assert sha256_file(installed) == first["image"]
    out = p.doit("clean", "netboot-image")
    assert not installed.exists() and f"removed {installed}" in out.stdout


def test_tree_deleted_by_hand_is_unpacked_patched_and_configured_again(k24_project):
    p = k24_project
    p.doit("kernel-client")
    import shutil

    shutil.rmtree(p.dir / "build" / "client" / "src")
    out = p.doit("kernel-client")
    assert {"unpack:client", "patch:client", "config-client", "compile-client"} <= set(ran(out))


# ------------------------------------------------------------------ progress in a terminal

def _pty_run(cmd: list[str], env: dict[str, str], cwd: Path, timeout: float = 120) -> bytes:
    """Run *cmd* on a pseudo-terminal of 100x30 characters, as a terminal window would be."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 100, 0, 0))
    proc = subprocess.Popen(cmd, stdin=slave, stdout=slave, stderr=slave, env=env, cwd=cwd, close_fds=True)
    os.close(slave)
    out = b""
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            r, _, _ = select.select([master], [], [], 0.5)
            if r:
                try:
                    chunk = os.read(master, 65536)
                except OSError:
                    break
                if not chunk:
                    break
                out += chunk
            elif proc.poll() is not None:
                break
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        os.close(master)
    return out


def test_progress_bars_render_in_a_terminal(k24_project):
    p = k24_project
    # 40 units, 10 ms apart: the bar (drawn at once, then at most every 0.25 s) moves while make runs
    env = {**os.environ, "RAMSES_CONFIG": str(p.settings_path), "TERM": "xterm", "FAKE_UNITS": "40",
           "FAKE_DELAY": "0.01"}
    cmd = [sys.executable, "-m", "doit", "-f", str(REPO / "dodo.py"), "kernel-client"]
    first = _pty_run(cmd, env, p.dir).decode(errors="replace")
    # first build: a bar against the estimate from the .config's options; the download shows bytes
    assert re.search(r"\rdownload linux-2\.4\.18\.tar\.bz2:\s+\d+%\|", first), first[:2000]
    assert re.search(r"\r[^\r\n]*bzImage modules:\s+\d+%\|", first), first[-3000:]
    subprocess.run([sys.executable, "-m", "doit", "forget", "-f", str(REPO / "dodo.py"), "compile-client"],
                   env=env, cwd=p.dir, check=True, capture_output=True)
    second = _pty_run(cmd, env, p.dir).decode(errors="replace")
    # a rebuild knows the previous unit count: a bar with a percentage
    assert re.search(r"\r[^\r\n]*bzImage modules:\s+\d+%\|[^\r\n]*\| *\d+/4\d", second), second[-3000:]


def test_progress_without_a_terminal_is_plain_lines(k24_project):
    p = k24_project
    p.extra_env.update({"FAKE_UNITS": "20", "FAKE_DELAY": "0.05", "RAMSES_PROGRESS_INTERVAL": "0.3"})
    out = p.doit("kernel-client")
    lines = [line for line in out.stderr.splitlines() if "bzImage modules:" in line]
    assert lines, out.stderr
    assert re.fullmatch(r"   client: bzImage modules: \d+ units of ~\d+ units \(\d+%\), \d+ s \.\.\.", lines[0]), lines
    assert re.fullmatch(r"   client: bzImage modules: 2\d units, \d+ s done", lines[-1]), lines
    assert not re.search(r"[\r\x1b]", out.stdout + out.stderr)
