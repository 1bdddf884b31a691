#!/usr/bin/env python3
"""Node-root benchmarks (issue 18): ratios measured side by side, interleaved, never asserted.

    bench/noderoots.py layers [--nodes 1000]     per-node layers: first render (keys made),
                                                 re-render of every node, a one-node change, a no-op
    bench/noderoots.py root [--runs 2]           root-<class> build vs the same mmdebstrap by hand,
                                                 interleaved (ours, hand, ours, hand, ...)
    bench/noderoots.py repro A B                 compare two built roots: what differs, and why
    bench/noderoots.py noop --project DIR        no-op `doit` with node roots and 1,000 nodes vs the
                                                 same project and nodes without node roots, interleaved;
                                                 DIR: a project built with plain `doit` (client profile)

Everything runs in a scratch directory under /var/tmp (removed afterwards); each line prints the
load average, so a busy machine shows in the figures.
"""

from __future__ import annotations

import argparse
import hashlib
import ipaddress
import os
import shutil
import stat
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ramsesbuild.noderoot import build, layer
from ramsesbuild.noderoot.spec import ClusterSpec, LayerSpec, NodeSpec, RootSpec


def load() -> str:
    return f"load {os.getloadavg()[0]:.2f}"


def fake_base(base: Path) -> None:
    """A finished root's skeleton (what layers are seeded from), without mmdebstrap."""
    from ramsesbuild.noderoot.finish import link_back

    for d in ("var/log/apt", "var/log/journal", "var/lib/systemd/timers", "var/lib/nfs/sm", "var/cache/apt",
              "var/spool", "var/tmp", "root", "ramses/node"):
        (base / d).mkdir(parents=True, exist_ok=True)
    (base / "root/.profile").write_text("# profile\n")
    for p in RootSpec("client").node_paths:
        link_back(base, p.rel, p.kind)


def nodes(n: int) -> tuple[NodeSpec, ...]:
    net = ipaddress.IPv4Network("198.18.0.0/16")  # RFC 2544 benchmark range, only written into files
    return tuple(NodeSpec(f"n{i:04d}", net[10 + i], f"52:54:00:00:{i >> 8:02x}:{i & 255:02x}", "client")
                 for i in range(n))


def row_layers(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory(dir="/var/tmp", prefix="bench-layers-") as d:
        srv = Path(d)
        c = ClusterSpec(ipaddress.IPv4Network("198.18.0.0/16"), ipaddress.IPv4Address("198.18.0.1"), srv,
                        domain="cluster.example", node_overrides=srv / "over")
        fake_base(c.base("client"))
        spec = LayerSpec(c, nodes(args.nodes), {"client": RootSpec("client")})
        state = srv / "layers.json"

        def timed(what: str, fn) -> None:
            t = time.monotonic()
            res = fn()
            dt = time.monotonic() - t
            print(f"layers  {what:<44} {dt:7.2f} s  rendered {len(res.rendered):5d}  ({load()})", flush=True)

        timed(f"first, {args.nodes} nodes (ssh-keygen, machine-id)", lambda: layer.sync(spec, state))
        timed("no-op (nothing changed)", lambda: layer.sync(spec, state))
        state.unlink()
        timed(f"re-render all {args.nodes} (state lost)", lambda: layer.sync(spec, state))
        (srv / "over" / "n0007" / "root").mkdir(parents=True)
        (srv / "over" / "n0007" / "root" / "note").write_text("per-node override\n")
        timed("one node's override file changed", lambda: layer.sync(spec, state))
        t = time.monotonic()
        layer.reset(spec, "n0007")
        print(f"layers  {'node-reset n0007':<44} {time.monotonic() - t:7.2f} s  ({load()})")
        sizes = [layer.layer_size(c.node_dir(n.name)) for n in spec.nodes[:20]]
        print(f"layers  disk per node (allocated)                  {max(sizes) / 1024:7.0f} KiB (max of 20)")


def row_root(args: argparse.Namespace) -> None:
    """Interleaved: our root-<class> build (mmdebstrap + finishing + rename) and the same
    mmdebstrap command by hand, *runs* times each; every run from an empty directory."""
    spec = RootSpec("client")
    ours, hand = [], []
    with tempfile.TemporaryDirectory(dir="/var/tmp", prefix="bench-root-") as d:
        for i in range(args.runs):
            t = time.monotonic()
            build.build(spec, Path(d) / f"p{i}" / "client")
            ours.append(time.monotonic() - t)
            shutil.rmtree(Path(d) / f"p{i}")
            print(f"root    run {i + 1}: root-client {ours[-1]:6.1f} s  ({load()})", flush=True)
            target = Path(d) / f"h{i}"
            t = time.monotonic()
            subprocess.run(build.command(spec, target), env=build.environment(spec), check=True,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            hand.append(time.monotonic() - t)
            shutil.rmtree(target)
            print(f"root    run {i + 1}: mmdebstrap by hand {hand[-1]:6.1f} s  ({load()})", flush=True)
    print(f"root    root-client / mmdebstrap by hand: median {statistics.median(ours):.1f} s / "
          f"{statistics.median(hand):.1f} s = {statistics.median(ours) / statistics.median(hand):.2f}  "
          f"({load()})")


def tree_index(top: Path) -> dict[str, tuple[object, ...]]:
    out: dict[str, tuple[object, ...]] = {}
    for dirpath, dirs, names in os.walk(top):
        for n in [*dirs, *names]:
            p = Path(dirpath, n)
            st = p.lstat()
            if stat.S_ISLNK(st.st_mode):
                what: object = "-> " + os.readlink(p)
            elif stat.S_ISREG(st.st_mode):
                what = hashlib.sha256(p.read_bytes()).hexdigest()
            else:
                what = stat.S_IFMT(st.st_mode)
            out[str(p.relative_to(top))] = (what, st.st_mode, st.st_uid, st.st_gid, int(st.st_mtime))
    return out


def row_repro(args: argparse.Namespace) -> None:
    a, b = tree_index(Path(args.a)), tree_index(Path(args.b))
    only = sorted(set(a) ^ set(b))
    differ = sorted(k for k in set(a) & set(b) if a[k] != b[k])
    print(f"repro   {len(a)} entries vs {len(b)}: {len(only)} only in one, {len(differ)} differ")
    for k in only:
        print(f"repro   only in {'A' if k in a else 'B'}: {k}")
    for k in differ:
        fields = [f for f, x, y in zip(("content", "mode", "uid", "gid", "mtime"), a[k], b[k], strict=True) if x != y]
        print(f"repro   differs ({', '.join(fields)}): {k}")


NOOP_NODES = 1000


def _copy_project(src: Path, dst: Path) -> None:
    """A copy of a built project that shares the big files (hard links) but not doit's database
    or anything a run rewrites in place (ramsesbuild writes aside and renames)."""
    subprocess.run(["cp", "-al", str(src), str(dst)], check=True)
    for db in (dst / "build").glob(".doit.db*"):
        data = db.read_bytes()
        db.unlink()
        db.write_bytes(data)


def row_noop(args: argparse.Namespace) -> None:
    """No-op `doit` with node roots and 1,000 nodes vs the same project and nodes without node
    roots: two copies of a built project, brought up to date once, then timed alternately."""
    project = Path(args.project).resolve()
    dodo = str(Path(__file__).resolve().parents[1] / "dodo.py")
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    net = ipaddress.IPv4Network("198.18.0.0/16")
    nodes_text = "[network]\nsubnet = \"198.18.0.0/16\"\nserver = \"198.18.0.1\"\n" + "".join(
        f"[[node]]\nname = \"n{i:04d}\"\nmac = \"52:54:00:00:{i >> 8:02x}:{i & 255:02x}\"\nip = \"{net[10 + i]}\"\n"
        for i in range(NOOP_NODES))
    with tempfile.TemporaryDirectory(dir="/var/tmp", prefix="bench-noop-") as d:
        copies = {"with": Path(d) / "with", "without": Path(d) / "without"}
        for name, copy in copies.items():
            _copy_project(project, copy)
            (copy / "nodes.toml").write_text(nodes_text)  # ([paths] nodes and roots: their defaults)
            if name == "with":
                with open(copy / "ramses.toml", "a") as fh:
                    fh.write("\n[profile.client.root]\n")
            t = time.monotonic()
            r = subprocess.run([sys.executable, "-m", "doit", "-f", dodo], cwd=copy,
                               env={**env, "RAMSES_CONFIG": str(copy / "ramses.toml")}, capture_output=True, text=True)
            if r.returncode != 0:
                raise SystemExit(f"doit in {copy} failed:\n{r.stdout[-3000:]}{r.stderr[-3000:]}")
            print(f"noop    {name} node roots: first doit (roots, {NOOP_NODES} layers, boot files) "
                  f"{time.monotonic() - t:6.1f} s  ({load()})", flush=True)
        times: dict[str, list[float]] = {"with": [], "without": []}
        for _ in range(args.runs):
            for name, copy in copies.items():
                t = time.monotonic()
                r = subprocess.run([sys.executable, "-m", "doit", "-f", dodo], cwd=copy,
                                   env={**env, "RAMSES_CONFIG": str(copy / "ramses.toml")}, capture_output=True,
                                   text=True, check=True)
                times[name].append(time.monotonic() - t)
                if "\n.  " in "\n" + r.stdout:
                    raise SystemExit(f"not a no-op in {copy}:\n{r.stdout[-2000:]}")
    on, off = statistics.median(times["with"]), statistics.median(times["without"])
    print(f"noop    no-op doit, {NOOP_NODES} nodes: with node roots {on:.2f} s, without {off:.2f} s "
          f"(medians of {args.runs}): +{on - off:.2f} s  ({load()})")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="row", required=True)
    p = sub.add_parser("layers")
    p.add_argument("--nodes", type=int, default=1000)
    p = sub.add_parser("root")
    p.add_argument("--runs", type=int, default=2)
    p = sub.add_parser("repro")
    p.add_argument("a")
    p.add_argument("b")
    p = sub.add_parser("noop")
    p.add_argument("--project", required=True)
    p.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    {"layers": row_layers, "root": row_root, "repro": row_repro, "noop": row_noop}[args.row](args)


if __name__ == "__main__":
    main()
