"""Node roots through real `doit` on a fake modern kernel: [profile.client.root] gives the
client's nodes a root; root-client, root-modules-client, node-layers and boot-config's exports;
`ramsesbuild node-reset` and `ramsesbuild status`; what re-runs after a change.

mmdebstrap is tests/data/noderoot/mmdebstrap here, a stand-in with the same command line (the
real one takes minutes and the network: tests/slow/test_cluster_box.py builds real roots).
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time

import pytest

from ramsesbuild import commands as cli
from ramsesbuild.noderoot import finish

from ..lib.hardening import processes_with
from ..lib.support import DATA, REPO, nodes_toml


def ran(proc) -> list[str]:
    return re.findall(r"^\.  (\S+)", proc.stdout, re.M)


@pytest.fixture
def rooted(modern_project, tmp_path):
    p = modern_project
    p.extra_env.update({"PATH": f"{DATA / 'noderoot'}:{os.environ['PATH']}",
                        "FAKE_MMDEBSTRAP_LOG": str(tmp_path / "mmdebstrap.log")})
    p.set("paths.roots", str(tmp_path / "srv")).set("profile.client.root", {"command": "echo hello"})
    (p.dir / "nodes.toml").write_text(nodes_toml("node01", "node02", "node03:profile = \"server\"")
                                      .replace('server = "192.0.2.1"', 'server = "192.0.2.1"\nserver_name = "ramses"'))
    return p


def test_roots_are_doit_tasks_and_only_a_change_reruns_them(rooted, tmp_path, capsys, monkeypatch) -> None:
    p, srv = rooted, tmp_path / "srv"
    # node03 boots the server's image: no root for it
    p.set("netboot.profiles", ["client", "server"]).set("netboot.output", "vmlinuz-{version}-{profile}")
    first = p.doit("node-layers", "boot-config")
    assert {"root-client", "node-layers", "boot-config"} <= set(ran(first))
    assert "root-server" not in first.stdout
    base, own = srv / "base" / "client", srv / "node" / "node01"
    assert (base / "etc/ramses/cluster").read_text().count("nodes='" + str(srv / "node") + "'") == 1
    assert (own / "etc/hostname").read_text() == "node01\n"
    assert "192.0.2.1\tramses\n" in (own / "etc/hosts").read_text()
    assert not (srv / "node" / "node03").exists()
    conf = p.dir / "build" / "bootconf"
    exports = [line.split() for line in (conf / "exports").read_text().splitlines() if not line.startswith("#")]
    assert exports == [[str(base), "192.0.2.0/24(ro,no_root_squash,no_subtree_check)"],
                       [str(own), "192.0.2.11(rw,no_root_squash,no_subtree_check)"],
                       [str(srv / "node" / "node02"), "192.0.2.12(rw,no_root_squash,no_subtree_check)"],
                       ["/tftpboot/192.0.2.13", "192.0.2.13(rw,no_root_squash)"]]
    dhcpd = (conf / "dhcpd.conf").read_text()
    assert dhcpd.count(f'option root-path "{base}";') == 2 and 'option root-path "/tftpboot/192.0.2.13";' in dhcpd

    assert ran(p.doit("node-layers", "boot-config")) == []  # nothing changed: nothing runs
    p.set("profile.client.root", {"command": "echo hello", "packages": ["systemd-sysv", "nfs-common"]})
    again = p.doit("node-layers", "boot-config")
    assert ran(again) == ["root-client", "node-layers"]  # boot-config: same files, nothing to do
    assert "0 layers rendered" in (p.dir / "build" / "logs" / "node-layers.log").read_text()
    assert (tmp_path / "mmdebstrap.log").read_text().splitlines()[-1].startswith(
        "--architectures=i386 --include=systemd-sysv,nfs-common --variant=minbase")
    monkeypatch.setattr(finish, "FORMAT", finish.FORMAT + 1)  # what ramsesbuild puts into a root changed
    assert ran(p.doit("root-client")) == ["root-client"]

    (own / "var/tmp/mark").write_text("written by node01\n")
    assert cli.main(["node-reset", "--config", str(p.settings_path), "node01"]) == 0
    assert "node01: " + str(own) + " is pristine again" in capsys.readouterr().out
    assert not (own / "var/tmp/mark").exists() and (own / "etc/hostname").exists()

    assert cli.main(["status", "--config", str(p.settings_path)]) == 1  # (no image installed yet)
    out = capsys.readouterr().out
    assert re.search(rf"^  node01 .*\n(?: {{15}}.*\n)*? {{15}}root client: {base} \+ {own}$", out, re.M), out


def test_plain_doit_builds_the_root_and_puts_the_kernels_modules_in_it(rooted, tmp_path) -> None:
    p = rooted
    p.profiles = {"client": p.profiles["client"]}  # (the fake modern server's options need more than tinyconfig)
    p.write_settings()
    (p.dir / "nodes.toml").write_text(nodes_toml("node01", "node02"))
    proc = p.doit()
    assert {"root-client", "root-modules-client", "node-layers"} <= set(ran(proc))
    assert (tmp_path / "srv/base/client/lib/modules/6.1.99/.ramses-modules").exists()
    assert (tmp_path / "srv/base/client/etc/ramses/command").read_text().endswith("echo hello\n")
    assert ran(p.doit()) == []


def test_a_package_source_that_fails_is_one_line_and_keeps_no_half_root(rooted, tmp_path) -> None:
    p = rooted
    p.set("profile.client.root", {"mirror": "http://deb.invalid/debian"})
    proc = p.doit("root-client", check=False)
    assert proc.returncode != 0
    settings = p.dir / "ramses.toml"
    at = settings.read_text().splitlines().index('mirror = "http://deb.invalid/debian"') + 1  # the line to fix
    line = (f"{settings}:{at}: root 'client': mmdebstrap: cannot use the package source "
            "http://deb.invalid/debian: Could not resolve 'deb.invalid'; check the mirror URL and the network")
    assert line in proc.stdout + proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr
    assert not (tmp_path / "srv/base").exists() or not list((tmp_path / "srv/base").iterdir())


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_signal_stops_mmdebstrap_and_keeps_no_half_root(rooted, tmp_path, sig) -> None:
    """SIGTERM reaches doit alone (kill, a closed terminal), SIGINT doit's process group (Ctrl-C):
    either way mmdebstrap (its own group, as make) stops with the run, before its half-built tree
    is removed; the old root stays."""
    p, base = rooted, tmp_path / "srv" / "base"
    p.doit("root-client")
    (base / "client" / "old-root").write_text("still here\n")
    p.set("profile.client.root", {"packages": ["systemd-sysv", "slowpackage"]})
    env = {**os.environ, "RAMSES_CONFIG": str(p.settings_path), **p.extra_env}
    run = subprocess.Popen([sys.executable, "-m", "doit", "-f", str(REPO / "dodo.py"), "root-client"], cwd=p.dir,
                           env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while not (base / ".client.new.ramses-tmp" / "var").is_dir():  # mmdebstrap is half-way
            assert run.poll() is None and time.monotonic() < deadline, run.communicate()
            time.sleep(0.05)
        os.kill(run.pid, sig) if sig == signal.SIGTERM else os.killpg(run.pid, sig)
        out, err = run.communicate(timeout=30)
    finally:
        if run.poll() is None:
            os.killpg(run.pid, signal.SIGKILL)
    assert run.returncode == -sig, (out, err)
    assert f"ramsesbuild: interrupted during root-client; run again to continue ({sig.name})" in err
    assert "Traceback" not in out + err
    assert processes_with("FAKE_MMDEBSTRAP_LOG", str(tmp_path / "mmdebstrap.log")) == []  # stopped with the run
    assert sorted(e.name for e in base.iterdir()) == ["client"]  # no half-built root
    assert (base / "client" / "old-root").read_text() == "still here\n"


def test_an_ipxe_node_of_a_rooted_class_boots_its_base_root_read_only(rooted, tmp_path) -> None:
    """boot-tftp's iPXE script (a UEFI node's only source of nfsroot=) names the class's base root,
    mounted ro (a read-only export); a node of a class without a root keeps its nfsroot, rw."""
    p, srv = rooted, tmp_path / "srv"
    (p.dir / "nodes.toml").write_text(nodes_toml('node01:firmware = "uefi"', 'node03:method = "ipxe"\nprofile = "server"')
                                      .replace("[[node]]", '[boot]\nnfs_options = "v3"\n[[node]]', 1))
    p.set("netboot.profiles", ["client", "server"]).set("netboot.output", "vmlinuz-{version}-{profile}")
    assert {"boot-config", "boot-tftp"} <= set(ran(p.doit("node-layers", "boot-config", "boot-tftp")))
    script = (p.dir / "tftpboot/ipxe/node01.ipxe").read_text()
    assert f"root=/dev/nfs nfsroot=192.0.2.1:{srv}/base/client,v3 ro ip=dhcp" in script, script
    other = (p.dir / "tftpboot/ipxe/node03.ipxe").read_text()
    assert "root=/dev/nfs nfsroot=192.0.2.1:/tftpboot/192.0.2.12,v3 rw ip=dhcp" in other, other
