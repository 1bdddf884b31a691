#!/usr/bin/env python3
"""Node-root benchmarks (issue 18): ratios measured side by side, interleaved, never asserted.

    bench/noderoots.py layers [--nodes 1000]     per-node layers: first render (keys made),
                                                 re-render of every node, a one-node change, a no-op
    bench/noderoots.py root [--runs 1]           root-<class> build vs the same mmdebstrap by hand (root)
    bench/noderoots.py repro A B                 compare two built roots: what differs, and why
    bench/noderoots.py noop [--nodes 1000]       no-op `doit` with node roots and N nodes vs the same
                                                 project without node roots (needs a built project:
                                                 --project DIR)

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
        fake_base(srv / "roots" / "client")
        c = ClusterSpec(ipaddress.IPv4Network("198.18.0.0/16"), ipaddress.IPv4Address("198.18.0.1"), srv / "roots",
                        srv / "nodes", srv / "keys", domain="cluster.example", node_overrides=srv / "over")
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
    spec = RootSpec("client")
    with tempfile.TemporaryDirectory(dir="/var/tmp", prefix="bench-root-") as d:
        for i in range(args.runs):
            t = time.monotonic()
            build.build(spec, Path(d) / f"p{i}" / "client")
            ours = time.monotonic() - t
            shutil.rmtree(Path(d) / f"p{i}")
            target = Path(d) / f"h{i}"
            t = time.monotonic()
            subprocess.run(build.command(spec, target), env=build.environment(spec), check=True,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            hand = time.monotonic() - t
            shutil.rmtree(target)
            print(f"root    root-client {ours:6.1f} s   mmdebstrap by hand {hand:6.1f} s   ratio {ours / hand:.2f} "
                  f"({load()})", flush=True)


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


def row_noop(args: argparse.Namespace) -> None:
    project = Path(args.project)
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    roots = project / "roots.toml"
    aside = project / "roots.toml.bench-off"
    if not roots.exists():
        raise SystemExit(f"{roots}: the project needs node roots configured (and built) for this row")
    runs = []
    for i in range(args.runs * 2):
        with_roots = i % 2 == 0
        if with_roots and aside.exists():
            aside.rename(roots)
        elif not with_roots:
            roots.rename(aside)
        t = time.monotonic()
        subprocess.run([sys.executable, "-m", "doit"], cwd=project, env=env, check=True,
                       stdout=subprocess.DEVNULL)
        runs.append((with_roots, time.monotonic() - t))
    if aside.exists():
        aside.rename(roots)
    on = min(t for w, t in runs if w)
    off = min(t for w, t in runs if not w)
    print(f"noop    doit with node roots {on:.2f} s, without {off:.2f} s: +{on - off:.2f} s ({load()})")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="row", required=True)
    p = sub.add_parser("layers")
    p.add_argument("--nodes", type=int, default=1000)
    p = sub.add_parser("root")
    p.add_argument("--runs", type=int, default=1)
    p = sub.add_parser("repro")
    p.add_argument("a")
    p.add_argument("b")
    p = sub.add_parser("noop")
    p.add_argument("--project", required=True)
    p.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    {"layers": row_layers, "root": row_root, "repro": row_repro, "noop": row_noop}[args.row](args)


if __name__ == "__main__":
    main()
