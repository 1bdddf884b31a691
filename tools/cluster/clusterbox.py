#!/usr/bin/env python3
"""The Ramses cluster in a box: the boot server of a diskless cluster, run from the files
`doit boot-config` generated, inside a private network namespace.

    clusterbox.py serve --bootconf build/bootconf --taps 2 --workdir W [--max-seconds 1800]

What ``serve`` does, in order:

1. re-executes itself under ``unshare --net --mount``: a new network namespace whose only
   interface is ``lo`` (checked: it refuses to go on if any other link exists) and a private
   mount namespace, with tmpfs over /run and /var/lib/nfs so rpcbind's and nfs-ganesha's state
   never touch the host's;
2. reads the generated ``dhcpd.conf`` (or ``kea-dhcp4.conf``), ``exports`` and ``tftpd-hpa`` in
   --bootconf; creates a
   bridge holding the server's address (from ``TFTP_ADDRESS`` / ``next-server``, with the
   prefix of the dhcpd.conf subnet) and --taps tap devices attached to it (``rtap0``...),
   for qemu nodes (``-netdev tap,ifname=rtap0,script=no,downscript=no``);
3. starts, from those files and nothing else:
   * ISC ``dhcpd`` with the generated dhcpd.conf on the bridge (leases in W), or ``kea-dhcp4``
     with the generated kea-dhcp4.conf when boot-config wrote that instead (tools/cluster/
     bootservers.py: leases on a private tmpfs, pid and lock files in W),
   * ``nginx`` with the generated site ``nginx-boot.conf`` when boot-config wrote one (the box's
     own main configuration around it: logs in W),
   * ``in.tftpd`` (tftpd-hpa) with TFTP_DIRECTORY / TFTP_ADDRESS / TFTP_USERNAME / TFTP_OPTIONS,
   * ``rpcbind`` and ``nfs-ganesha`` (VFS FSAL, NFSv3 over UDP and TCP) with one export per
     line of the generated exports, each open only to its client with the listed rw/ro and
     (no_)root_squash;
4. once everything listens, writes ``W/ready.json`` ({"pid": ..., "bridge": ..., "taps": [...]})
   and waits: until SIGTERM, until its parent process goes away, or --max-seconds; then stops
   every server (SIGTERM, then SIGKILL) and leaves their logs in W.

Run qemu inside the namespace with ``nsenter --net=/proc/PID/ns/net qemu-system-i386 ...``
(:func:`ClusterBox.netns_prefix`). Python users: ``with ClusterBox(...) as box: ...``.

Nothing listens outside the namespace, and the namespace has no route anywhere: only the
documentation addresses of the generated files (e.g. 192.0.2.0/24) on a bridge of taps.

Needs root, iproute2, util-linux (unshare, nsenter), isc-dhcp-server, tftpd-hpa, rpcbind,
nfs-ganesha and nfs-ganesha-vfs (install them with service start-up suppressed, e.g. a
policy-rc.d that exits 101, so none of them runs on the host).
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Self

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import nsbox  # (tools/nsbox.py: the namespace shared with tools/k24/nfsboot.py)

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bootservers  # Kea and nginx, when boot-config wrote their files (issue 21)

INNER = "RAMSES_CLUSTERBOX_INNER"
BRIDGE = "rbr0"
TAP = "rtap{}"
FSAL_DIRS = ("/usr/lib/x86_64-linux-gnu/ganesha", "/usr/lib/ganesha")
TOOLS = {"unshare": "util-linux", "nsenter": "util-linux", "ip": "iproute2", "mount": "mount",
         "dhcpd": "isc-dhcp-server", "in.tftpd": "tftpd-hpa", "rpcbind": "rpcbind", "rpcinfo": "rpcbind",
         "ganesha.nfsd": "nfs-ganesha"}


def missing_packages() -> list[str]:
    """Debian packages whose programs are missing (empty: everything is there)."""
    out = sorted({pkg for tool, pkg in TOOLS.items() if shutil.which(tool) is None})
    if shutil.which("ganesha.nfsd") and not any(Path(d, "libfsalvfs.so").exists() for d in FSAL_DIRS):
        out.append("nfs-ganesha-vfs")
    return out


# ------------------------------------------------------------------ the generated files

@dataclass(frozen=True)
class Export:
    path: str
    client: str
    rw: bool
    root_squash: bool


@dataclass(frozen=True)
class BootConf:
    subnet: ipaddress.IPv4Network
    server: ipaddress.IPv4Address
    tftp_dir: Path
    tftp_address: str
    tftp_user: str
    tftp_options: list[str]
    exports: list[Export]


def read_bootconf(conf_dir: Path) -> BootConf:
    """What the servers need, from the three files `doit boot-config` wrote into *conf_dir*."""
    if bootservers.dhcp_server(conf_dir) == "kea":
        subnet = bootservers.kea_subnet(conf_dir)
    else:
        dhcpd = (conf_dir / "dhcpd.conf").read_text()
        m = re.search(r"^subnet\s+(\S+)\s+netmask\s+(\S+)\s*\{", dhcpd, re.MULTILINE)
        if not m:
            raise SystemExit(f"clusterbox: {conf_dir / 'dhcpd.conf'}: no subnet declaration")
        subnet = ipaddress.IPv4Network(f"{m.group(1)}/{m.group(2)}")
    tftp = {k: shlex.split(v)[0] if shlex.split(v) else "" for k, v in
            re.findall(r"^(TFTP_\w+)=(.*)$", (conf_dir / "tftpd-hpa").read_text(), re.MULTILINE)}
    server = ipaddress.IPv4Address(tftp["TFTP_ADDRESS"].rsplit(":", 1)[0])
    exports = []
    for line in (conf_dir / "exports").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        path, *clients = line.split()
        for spec in clients:
            cm = re.fullmatch(r"([^()]+)\(([^)]*)\)", spec)
            if not cm:
                raise SystemExit(f"clusterbox: exports: cannot read {spec!r}")
            opts = cm.group(2).split(",")
            exports.append(Export(path, cm.group(1), "rw" in opts, "no_root_squash" not in opts))
    return BootConf(subnet, server, Path(tftp["TFTP_DIRECTORY"]), tftp["TFTP_ADDRESS"],
                    tftp.get("TFTP_USERNAME", "tftp"), shlex.split(tftp.get("TFTP_OPTIONS", "")), exports)


def ganesha_conf(exports: list[Export]) -> str:
    out = ["NFS_CORE_PARAM { Protocols = 3; NFS_Port = 2049; MNT_Port = 20048; Enable_NLM = false;",
           "                 Enable_RQUOTA = false; }",
           "NFS_KRB5 { Active_krb5 = false; }", "NFSV4 { Graceless = true; }",
           "LOG { Default_Log_Level = EVENT; }"]
    for i, e in enumerate(exports, 1):
        # Attr_Expiration_Time = 0: ganesha stands in for the kernel's NFS server, which serves
        # the tree as it is now; with its default 60 s attribute cache, a node booted right after
        # `ramsesbuild node-reset` (which renames new entries into the node's directory) got
        # stale entries from ganesha's cache (an empty /etc/hostname)
        out += [f"EXPORT {{ Export_Id = {i}; Path = \"{e.path}\"; Pseudo = \"{e.path}\";",
                "  Protocols = 3; Transports = UDP, TCP; SecType = sys; Access_Type = None;",
                "  Attr_Expiration_Time = 0;",
                f"  CLIENT {{ Clients = {e.client}; Access_Type = {'RW' if e.rw else 'RO'};",
                f"           Squash = {'Root_Squash' if e.root_squash else 'No_Root_Squash'}; }}",
                "  FSAL { Name = VFS; } }"]
    return "\n".join(out) + "\n"


# ------------------------------------------------------------------ inside the namespace

def _udp_ports(addr: ipaddress.IPv4Address | None = None) -> set[int]:
    """UDP ports bound in this namespace (any address, or *addr*)."""
    ports = set()
    for line in Path("/proc/net/udp").read_text().splitlines()[1:]:
        local = line.split()[1]
        hexip, hexport = local.split(":")
        ip = ipaddress.IPv4Address(bytes(reversed(bytes.fromhex(hexip))))
        if addr is None or ip in (addr, ipaddress.IPv4Address(0)):
            ports.add(int(hexport, 16))
    return ports


def _wait(what: str, ok, deadline: float, procs: dict[str, subprocess.Popen]) -> None:
    while time.monotonic() < deadline:
        dead = [n for n, p in procs.items() if p.poll() is not None]
        if dead:
            raise RuntimeError(f"{', '.join(dead)} exited while waiting for {what}")
        if ok():
            return
        time.sleep(0.2)
    raise RuntimeError(f"timed out waiting for {what}")


def serve(args: argparse.Namespace) -> int:
    parent = int(os.environ["RAMSES_CLUSTERBOX_PARENT"])
    work = Path(args.workdir).resolve()
    work.mkdir(parents=True, exist_ok=True)
    conf_dir = Path(args.bootconf).resolve()
    conf = read_bootconf(conf_dir)
    refusal = nsbox.enter_private("clusterbox")
    if refusal:
        print(refusal, file=sys.stderr)
        return 2
    dhcp = bootservers.dhcp_server(conf_dir)  # "kea" or "isc"
    site = bootservers.web_site(conf_dir)
    if dhcp == "kea":
        bootservers.private_state("clusterbox")

    nsbox.sh("ip", "link", "add", BRIDGE, "type", "bridge", "stp_state", "0", "forward_delay", "0")
    nsbox.sh("ip", "addr", "add", f"{conf.server}/{conf.subnet.prefixlen}", "dev", BRIDGE)
    nsbox.sh("ip", "link", "set", BRIDGE, "up")
    if dhcp == "kea":  # Kea opens its socket only on a running interface: a bridge with a live port
        bootservers.carrier(BRIDGE)
    taps = [TAP.format(i) for i in range(args.taps)]
    for tap in taps:
        nsbox.sh("ip", "tuntap", "add", "dev", tap, "mode", "tap")
        nsbox.sh("ip", "link", "set", tap, "master", BRIDGE)
        nsbox.sh("ip", "link", "set", tap, "up")

    (work / "dhcpd.leases").write_text("")
    (work / "ganesha.conf").write_text(ganesha_conf(conf.exports))
    procs: dict[str, subprocess.Popen] = {}
    stopping = False

    def on_term(signum, frame):
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_term)

    def start(name: str, cmd: list[str], env: dict[str, str] | None = None) -> None:
        (work / f"{name}.cmd").write_text(shlex.join(cmd) + "\n")
        with open(work / f"{name}.log", "wb") as log:  # the child keeps its own descriptor
            procs[name] = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                           env=env)

    try:
        deadline = time.monotonic() + 60
        start("rpcbind", ["rpcbind", "-w", "-f"])
        _wait("rpcbind", lambda: 111 in _udp_ports(), deadline, procs)
        start("ganesha", ["ganesha.nfsd", "-F", "-f", str(work / "ganesha.conf"), "-L", str(work / "ganesha.log"),
                          "-p", str(work / "ganesha.pid")])
        if dhcp == "kea":
            start("kea", bootservers.kea_command(conf_dir), bootservers.kea_environment(work))
        else:
            start("dhcpd", ["dhcpd", "-4", "-f", "-d", "-cf", str(conf_dir / "dhcpd.conf"),
                            "-lf", str(work / "dhcpd.leases"), "-pf", str(work / "dhcpd.pid"), BRIDGE])
        if site is not None:
            start("nginx", bootservers.nginx_command(site, work))
        start("tftpd", ["in.tftpd", "--foreground", "--listen", "--user", conf.tftp_user,
                        "--address", conf.tftp_address, "--verbose", *conf.tftp_options, str(conf.tftp_dir)])
        _wait("nfs-ganesha to register NFS and MOUNT", nsbox.rpc_registered, deadline, procs)
        _wait(f"{'kea-dhcp4' if dhcp == 'kea' else 'dhcpd'} on port 67", lambda: 67 in _udp_ports(), deadline, procs)
        if site is not None:
            port = bootservers.site_port(site)
            _wait(f"nginx on port {port}", lambda: bootservers.tcp_listening(port, conf.server), deadline, procs)
        _wait("in.tftpd on port 69", lambda: 69 in _udp_ports(conf.server), deadline, procs)
    except (RuntimeError, OSError) as exc:
        logs = "".join(f"\n--- {n}.log\n" + (work / f"{n}.log").read_text(errors="replace")[-2000:]
                       for n in procs if (work / f"{n}.log").exists())
        print(f"clusterbox: {exc}{logs}", file=sys.stderr)
        nsbox.stop(procs.values())
        return 3
    info = {"pid": os.getpid(), "bridge": BRIDGE, "taps": taps, "server": str(conf.server),
            "pids": {n: p.pid for n, p in procs.items()}}
    tmp = work / "ready.json.tmp"
    tmp.write_text(json.dumps(info) + "\n")
    tmp.rename(work / "ready.json")
    end = time.monotonic() + args.max_seconds
    rc = 0
    try:
        while not stopping and time.monotonic() < end and os.getppid() == parent:
            dead = [n for n, p in procs.items() if p.poll() is not None]
            if dead:
                print(f"clusterbox: {', '.join(dead)} exited unexpectedly", file=sys.stderr)
                rc = 4
                break
            time.sleep(0.2)
    finally:
        nsbox.stop(procs.values())
    return rc


# ------------------------------------------------------------------ outside: start / stop

class ClusterBox:
    """Start ``serve`` in its own namespaces; stop it (and everything in it) on exit."""

    def __init__(self, bootconf: Path, workdir: Path, taps: int = 2, max_seconds: float = 1800,
                 ready_timeout: float = 60):
        self.bootconf, self.workdir, self.taps = Path(bootconf), Path(workdir), taps
        self.max_seconds, self.ready_timeout = max_seconds, ready_timeout
        self.proc: subprocess.Popen | None = None
        self.info: dict = {}

    def __enter__(self) -> Self:
        self.workdir.mkdir(parents=True, exist_ok=True)
        (self.workdir / "ready.json").unlink(missing_ok=True)
        env = {**os.environ, INNER: "1", "RAMSES_CLUSTERBOX_PARENT": str(os.getpid())}
        cmd = ["unshare", "--net", "--mount", sys.executable, os.path.abspath(__file__), "serve",
               "--bootconf", str(self.bootconf), "--taps", str(self.taps), "--workdir", str(self.workdir),
               "--max-seconds", str(self.max_seconds)]
        self.stderr = open(self.workdir / "clusterbox.stderr", "wb")
        self.proc = subprocess.Popen(cmd, env=env, stdin=subprocess.DEVNULL, stdout=self.stderr,
                                     stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + self.ready_timeout
        ready = self.workdir / "ready.json"
        while not ready.exists():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.__exit__(None, None, None)
                raise RuntimeError("cluster box did not come up:\n" +
                                   (self.workdir / "clusterbox.stderr").read_text(errors="replace")[-4000:])
            time.sleep(0.2)
        self.info = json.loads(ready.read_text())
        return self

    def netns_prefix(self) -> list[str]:
        """Command prefix that runs a program inside the box's network namespace."""
        return ["nsenter", f"--net=/proc/{self.info['pid']}/ns/net"]

    def log(self, name: str) -> str:
        path = self.workdir / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def __exit__(self, *exc) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                pass
        try:  # whatever is left in the session (servers of a crashed serve, qemu) goes too
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait()
        self.stderr.close()
        self.proc = None


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("serve", help="run the boot servers in a private network namespace")
    s.add_argument("--bootconf", required=True, help="directory with the generated dhcpd.conf, exports, tftpd-hpa")
    s.add_argument("--taps", type=int, default=2, help="tap devices for qemu nodes (rtap0...)")
    s.add_argument("--workdir", required=True, help="logs, leases, ganesha.conf, ready.json")
    s.add_argument("--max-seconds", type=float, default=1800, help="stop by itself after this long")
    args = ap.parse_args(argv)
    if os.environ.get(INNER) == "1":
        return serve(args)
    missing = missing_packages()
    if missing:
        print(f"clusterbox: missing {', '.join(missing)} (apt-get install {' '.join(missing)})", file=sys.stderr)
        return 4
    if os.geteuid() != 0:
        print("clusterbox: needs root (network namespace, bridge, NFS ports)", file=sys.stderr)
        return 4
    env = {**os.environ, INNER: "1", "RAMSES_CLUSTERBOX_PARENT": str(os.getpid())}
    with subprocess.Popen(["unshare", "--net", "--mount", sys.executable, os.path.abspath(__file__),
                           *(argv if argv is not None else sys.argv[1:])], env=env) as p:
        try:
            return p.wait()
        except KeyboardInterrupt:
            p.terminate()
            return p.wait()


if __name__ == "__main__":
    sys.exit(main())
