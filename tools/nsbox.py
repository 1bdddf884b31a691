"""The private namespace both boot tools run their servers in (tools/k24/nfsboot.py and
tools/cluster/clusterbox.py): only loopback, private mounts, tmpfs state for rpcbind and
nfs-ganesha, and the helpers that start and stop those servers.

Call :func:`enter_private` first thing inside ``unshare --net --mount``.
"""

from __future__ import annotations

import signal
import subprocess
from collections.abc import Iterable
from pathlib import Path


def sh(*cmd: str) -> None:
    subprocess.run(cmd, check=True)


def enter_private(tool: str) -> str | None:
    """Check that this network namespace holds nothing but ``lo`` (the refusal message if
    not), bring ``lo`` up, make every mount private and put tmpfs over /run and /var/lib/nfs,
    so rpcbind's socket and nfs-ganesha's state never touch the host's."""
    links = subprocess.run(["ip", "-o", "link", "show"], capture_output=True, text=True, check=True).stdout
    names = [line.split(":")[1].strip().split("@")[0] for line in links.splitlines() if line.strip()]
    if names != ["lo"]:
        return f"{tool}: refusing to run: network namespace has links {names}, expected only lo"
    sh("ip", "link", "set", "lo", "up")
    sh("mount", "--make-rprivate", "/")
    for d in ("/run", "/var/lib/nfs"):
        Path(d).mkdir(parents=True, exist_ok=True)
        sh("mount", "-t", "tmpfs", "-o", "mode=755", f"ramses-{tool}", d)
    Path("/run/rpcbind").mkdir()
    Path("/var/lib/nfs/ganesha").mkdir(parents=True)
    return None


def rpc_registered() -> bool:
    """nfs-ganesha has registered NFS (100003) and MOUNT (100005) with the local rpcbind."""
    p = subprocess.run(["rpcinfo", "-p", "127.0.0.1"], capture_output=True, text=True, check=False)
    return p.returncode == 0 and " 100005 " in p.stdout and " 100003 " in p.stdout


def stop(procs: Iterable[subprocess.Popen]) -> None:
    """SIGTERM every process still running (last started first), then SIGKILL what is left
    after 10 s."""
    procs = list(procs)
    for p in reversed(procs):
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
    for p in procs:
        try:
            p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
