#!/usr/bin/env python3
"""Boot storm: N nodes fetch their boot images at the same moment, over TFTP and over HTTP, from
the cluster box's servers (tools/cluster/clusterbox.py: tftpd-hpa and nginx, started from the
files `boot-config` generates), measured side by side in one run, interleaved (TFTP, HTTP,
TFTP, HTTP, ...), with the load average at every round.

    bench/bootstorm.py [--clients 16] [--rounds 3] [--image FILE ...] [--work DIR] [--keep]

Each client is a process in a network namespace of its own (a veth into the box's bridge,
192.0.2.100+i/24) that fetches the images one after the other, as a node's iPXE script does:
over TFTP like iPXE (RFC 1350 lock-step with blksize 1432 and tsize, one transfer at a time),
over HTTP like iPXE (one GET per image on one connection). All clients are released at once;
every image is checked against its sha256. Per protocol and round it reports images per second,
MB/s (all clients together), the slowest client's time, and errors (the run fails if there is
any). The images are the --image files (e.g. the pipeline's kernel and initrd; up to 4),
default a synthetic 8 MiB "kernel" and 32 MiB "initrd" (a distribution-sized node).

Needs root, iproute2, util-linux and the box's servers (isc-dhcp-server, tftpd-hpa, rpcbind,
nfs-ganesha, nginx-light). Nothing listens outside the box; every wait and retry is bounded.
"""

from __future__ import annotations

import argparse
import hashlib
import http.client
import json
import os
import shutil
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SERVER = "192.0.2.1"
TFTP_BLKSIZE = 1432  # what iPXE asks for
TFTP_TIMEOUT = 1.0  # seconds before a retransmission
TFTP_RETRIES = 8
TRANSFER_LIMIT = 600.0  # seconds for one image, whatever happens


# ------------------------------------------------------------------ the clients (in their namespaces)

class FetchError(Exception):
    pass


def tftp_get(server: str, name: str, limit: float = TRANSFER_LIMIT) -> bytes:
    """Read *name* by TFTP (RRQ octet, blksize and tsize options, block-number rollover)."""
    deadline = time.monotonic() + limit
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.settimeout(TFTP_TIMEOUT)
    try:
        rrq = b"\0\1" + name.encode() + b"\0octet\0blksize\0" + str(TFTP_BLKSIZE).encode() + b"\0tsize\0" + b"0\0"
        last: bytes = rrq
        peer: tuple[str, int] = (server, 69)
        sock.sendto(rrq, peer)
        blksize, expect, data, tries, size = 512, 1, bytearray(), 0, None
        while True:
            if time.monotonic() > deadline:
                raise FetchError(f"tftp {name}: no end after {limit:.0f} s")
            try:
                pkt, addr = sock.recvfrom(65536)
            except TimeoutError:
                tries += 1
                if tries > TFTP_RETRIES:
                    raise FetchError(f"tftp {name}: no answer after {TFTP_RETRIES} retransmissions") from None
                sock.sendto(last, peer)
                continue
            if peer[1] == 69:
                peer = addr  # the server's transfer port (TID)
            elif addr != peer:
                continue
            tries = 0
            op = struct.unpack_from("!H", pkt)[0]
            if op == 5:
                message = pkt[4:].split(b"\0")[0].decode(errors="replace")
                raise FetchError(f"tftp {name}: error {message}")
            if op == 6:  # OACK
                opts = pkt[2:].split(b"\0")
                o = {opts[i].decode().lower(): opts[i + 1].decode() for i in range(0, len(opts) - 1, 2)}
                blksize = int(o.get("blksize", 512))
                size = int(o["tsize"]) if "tsize" in o else None
                last = b"\0\4\0\0"
                sock.sendto(last, peer)
                continue
            if op != 3:
                continue
            block = struct.unpack_from("!H", pkt, 2)[0]
            if block == expect % 65536:
                data += pkt[4:]
                expect += 1
                last = b"\0\4" + pkt[2:4]
                sock.sendto(last, peer)
                if len(pkt) - 4 < blksize:
                    if size is not None and size != len(data):
                        raise FetchError(f"tftp {name}: {len(data)} bytes, announced {size}")
                    return bytes(data)
            else:
                sock.sendto(last, peer)  # a duplicate: ack what we have
    finally:
        sock.close()


def http_get(conn: http.client.HTTPConnection, name: str) -> bytes:
    conn.request("GET", "/" + name)
    resp = conn.getresponse()
    body = resp.read()
    if resp.status != 200:
        raise FetchError(f"http {name}: {resp.status} {resp.reason}")
    return body


def native_get(proto: str, name: str) -> bytes:
    """The same fetch by busybox's C clients (tftp -b 1432, wget): is the Python client the limit?"""
    with tempfile.NamedTemporaryFile() as out:
        cmd = (["busybox", "tftp", "-g", "-b", str(TFTP_BLKSIZE), "-r", name, "-l", out.name, SERVER] if proto == "tftp"
               else ["busybox", "wget", "-q", "-O", out.name, f"http://{SERVER}/{name}"])
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=TRANSFER_LIMIT)
        if proc.returncode != 0:
            raise FetchError(f"busybox {proto} {name}: {proc.stderr.strip() or proc.returncode}")
        return Path(out.name).read_bytes()


def client(args: argparse.Namespace) -> int:
    """Set up this namespace's link, say "ready", then per command line ("tftp", "http",
    "quit") fetch every image and print one JSON line."""
    ip = args.address
    for _ in range(100):  # the parent moves the veth end in after we start: bounded wait
        if subprocess.run(["ip", "link", "show", "eth0"], capture_output=True).returncode == 0:
            break
        time.sleep(0.05)
    for cmd in (["ip", "link", "set", "lo", "up"], ["ip", "addr", "add", f"{ip}/24", "dev", "eth0"],
                ["ip", "link", "set", "eth0", "up"]):
        subprocess.run(cmd, check=True)
    files = list(zip(args.files.split(","), args.sha256.split(","), strict=True))
    print("ready", flush=True)
    for line in sys.stdin:
        proto = line.strip()
        if proto == "quit":
            break
        start = time.time()
        got, errors = 0, []
        conn = None
        if proto == "http" and not args.native:
            conn = http.client.HTTPConnection(SERVER, 80, timeout=TRANSFER_LIMIT)
        for name, sha in files:
            try:
                if args.native:
                    body = native_get(proto, name)
                else:
                    body = http_get(conn, name) if conn else tftp_get(SERVER, name)
                if hashlib.sha256(body).hexdigest() != sha:
                    raise FetchError(f"{proto} {name}: {len(body)} bytes, wrong sha256")
                got += len(body)
            except (FetchError, OSError, http.client.HTTPException) as exc:
                errors.append(str(exc))
        if conn:
            conn.close()
        print(json.dumps({"start": start, "end": time.time(), "bytes": got, "images": len(files) - len(errors),
                          "errors": errors}), flush=True)
    return 0


# ------------------------------------------------------------------ the orchestra (root, host side)

@dataclass(frozen=True)
class Round:
    proto: str
    wall: float
    images: int
    bytes: int
    slowest: float
    errors: list[str]
    load: float

    @property
    def images_per_s(self) -> float:
        return self.images / self.wall

    @property
    def mb_per_s(self) -> float:
        return self.bytes / self.wall / 1e6


def make_images(work: Path, given: list[Path]) -> list[Path]:
    tftp = work / "tftpboot"
    tftp.mkdir(parents=True)
    if given:
        out = []
        for i, src in enumerate(given):
            dest = tftp / f"image{i}-{src.name}"
            shutil.copyfile(src, dest)
            out.append(dest)
        return out
    out = []
    for name, size in (("vmlinuz-storm", 8 << 20), ("initrd-storm.img", 32 << 20)):
        dest = tftp / name
        with open(dest, "wb") as fh:
            seed = hashlib.sha256(name.encode()).digest()
            block = hashlib.shake_256(seed).digest(1 << 20)  # incompressible, deterministic
            for _ in range(size >> 20):
                fh.write(block)
        out.append(dest)
    return out


def boot_config(work: Path, images: list[Path], clients: int) -> Path:
    """nodes.toml's inventory for the storm's nodes, through the real renderers: dhcpd.conf,
    exports, tftpd-hpa and the nginx site that serves the images."""
    import json

    sys.path.insert(0, str(REPO))
    from ramsesbuild import bootconf

    tftp = images[0].parent
    names = [str(p.relative_to(tftp)) for p in images]
    text = '[network]\nsubnet = "192.0.2.0/24"\nserver = "192.0.2.1"\n'
    text += f'[boot]\nmethod = "ipxe"\ntransfer = "http"\nnfsroot = "{work}/roots/{{name}}"\n'
    text += f"output = {json.dumps(str(work / 'bootconf'))}\ninitrd = {json.dumps(names[1:])}\n"
    for i in range(clients):
        text += f'[[node]]\nname = "storm{i:03d}"\nmac = "52:54:00:99:{i // 256:02x}:{i % 256:02x}"\n'
        text += f'ip = "192.0.2.{100 + i}"\n'
    (work / "nodes.toml").write_text(text)
    inv = bootconf.load(work / "nodes.toml", names[0])
    for n in inv.nodes:
        Path(n.nfsroot).mkdir(parents=True, exist_ok=True)
    bootconf.write_config(inv, tftp)
    bootconf.write_tftp(inv, tftp)
    return work / "bootconf"


def start_clients(box_pid: int, images: list[Path], clients: int, native: bool) -> list[subprocess.Popen]:
    sums = ",".join(hashlib.sha256(p.read_bytes()).hexdigest() for p in images)
    names = ",".join(p.name for p in images)
    procs = []
    netns = ["nsenter", f"--net=/proc/{box_pid}/ns/net"]
    for i in range(clients):
        p = subprocess.Popen(["unshare", "--net", sys.executable, str(Path(__file__).resolve()), "client",
                              "--address", f"192.0.2.{100 + i}", "--files", names, "--sha256", sums,
                              *(["--native"] if native else [])],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        procs.append(p)
        for _ in range(100):  # until unshare has exec'd into its namespace
            if os.readlink(f"/proc/{p.pid}/ns/net") != os.readlink("/proc/self/ns/net"):
                break
            time.sleep(0.02)
        subprocess.run([*netns, "ip", "link", "add", f"rstorm{i}", "type", "veth", "peer", "name", "eth0",
                        "netns", str(p.pid)], check=True)
        subprocess.run([*netns, "ip", "link", "set", f"rstorm{i}", "master", "rbr0", "up"], check=True)
    for p in procs:
        assert p.stdout is not None
        if p.stdout.readline().strip() != "ready":
            raise SystemExit("bootstorm: a client did not come up")
    return procs


def run_round(procs: list[subprocess.Popen], proto: str) -> Round:
    for p in procs:
        assert p.stdin is not None
        p.stdin.write(proto + "\n")
    for p in procs:  # flushes close together: the release is as simultaneous as a pipe write
        assert p.stdin is not None
        p.stdin.flush()
    results = []
    for p in procs:
        assert p.stdout is not None
        results.append(json.loads(p.stdout.readline()))
    wall = max(r["end"] for r in results) - min(r["start"] for r in results)
    return Round(proto, wall, sum(r["images"] for r in results), sum(r["bytes"] for r in results),
                 max(r["end"] - r["start"] for r in results), [e for r in results for e in r["errors"]],
                 os.getloadavg()[0])


def report(rounds: list[Round], clients: int, images: list[Path]) -> str:
    total = sum(p.stat().st_size for p in images)
    out = [f"boot storm: {clients} clients at once, each fetching {len(images)} images "
           f"({', '.join(f'{p.name} {p.stat().st_size / 1e6:.1f} MB' for p in images)}; {total / 1e6:.1f} MB a node), "
           f"load average {os.getloadavg()[0]:.2f}",
           "", f"{'round':<6} {'proto':<5} {'wall s':>7} {'images/s':>9} {'MB/s':>8} {'slowest s':>10} "
           f"{'errors':>6} {'load':>5}"]
    for i, r in enumerate(rounds):
        out.append(f"{i // 2 + 1:<6} {r.proto:<5} {r.wall:7.2f} {r.images_per_s:9.2f} {r.mb_per_s:8.1f} "
                   f"{r.slowest:10.2f} {len(r.errors):6d} {r.load:5.2f}")
    out.append("")
    med = {}
    for proto in ("tftp", "http"):
        rs = [r for r in rounds if r.proto == proto]
        med[proto] = statistics.median(r.mb_per_s for r in rs)
        out.append(f"median {proto}: {statistics.median(r.images_per_s for r in rs):.2f} images/s, "
                   f"{med[proto]:.1f} MB/s, slowest client {statistics.median(r.slowest for r in rs):.2f} s, "
                   f"errors {sum(len(r.errors) for r in rs)}")
    out.append(f"HTTP/TFTP throughput ratio: {med['http'] / med['tftp']:.1f}")
    for proto in ("tftp", "http"):  # the same bytes for 1,000 nodes from this server, at this rate
        out.append(f"1,000 nodes x {total / 1e6:.1f} MB over {proto}: {1000 * total / 1e6 / med[proto]:.0f} s "
                   "at the measured rate (server-bound; the network is a veth here)")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd")
    c = sub.add_parser("client")
    c.add_argument("--address", required=True)
    c.add_argument("--files", required=True)
    c.add_argument("--sha256", required=True)
    c.add_argument("--native", action="store_true")
    ap.add_argument("--clients", type=int, default=16)
    ap.add_argument("--rounds", type=int, default=3, help="rounds per protocol, interleaved")
    ap.add_argument("--image", type=Path, action="append", default=[], help="an image every node fetches (max 4)")
    ap.add_argument("--work", type=Path, help="scratch directory (default: a new one under /var/tmp)")
    ap.add_argument("--keep", action="store_true", help="keep the scratch directory and the servers' logs")
    ap.add_argument("--native", action="store_true",
                    help="fetch with busybox's C clients (tftp -b 1432, wget) instead of the Python ones")
    args = ap.parse_args(argv)
    if args.cmd == "client":
        return client(args)
    if os.geteuid() != 0:
        print("bootstorm: needs root (network namespaces, bridge, servers)", file=sys.stderr)
        return 4
    if not 1 <= args.clients <= 150 or len(args.image) > 4 or args.rounds < 1:
        print("bootstorm: --clients 1..150, --rounds >= 1, at most 4 --image", file=sys.stderr)
        return 2
    sys.path.insert(0, str(REPO / "tools" / "cluster"))
    import clusterbox

    base = args.work or Path("/var/tmp")
    base.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="bootstorm-", dir=base))
    rounds: list[Round] = []
    try:
        images = make_images(work, args.image)
        conf = boot_config(work, images, args.clients)
        print(f"load average at start: {os.getloadavg()[0]:.2f}", flush=True)
        with clusterbox.ClusterBox(conf, work / "box", taps=0) as box:
            procs = start_clients(box.info["pid"], images, args.clients, args.native)
            try:
                for _ in range(args.rounds):
                    for proto in ("tftp", "http"):
                        rounds.append(run_round(procs, proto))
                        r = rounds[-1]
                        print(f"  {proto}: {r.wall:.2f} s, {r.mb_per_s:.1f} MB/s, errors {len(r.errors)}", flush=True)
            finally:
                for p in procs:
                    try:
                        assert p.stdin is not None
                        p.stdin.write("quit\n")
                        p.stdin.close()
                    except OSError:
                        pass
                for p in procs:
                    try:
                        p.wait(timeout=10)
                    except subprocess.TimeoutExpired:
                        p.kill()
        print(report(rounds, args.clients, images))
        print(f"load average at end: {os.getloadavg()[0]:.2f}")
        errors = [e for r in rounds for e in r.errors]
        for e in errors[:10]:
            print(f"error: {e}", file=sys.stderr)
        return 1 if errors else 0
    finally:
        if args.keep:
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
