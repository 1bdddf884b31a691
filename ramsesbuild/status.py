"""`ramsesbuild status`: what the tftpboot directory holds and which node boots what.

Per image: format, size, sha256, and, when the image is the one this build directory
installed, the profile, kernel version and the config fragments it came from, and which
nodes boot it and how (the same words as the run's summary: ramsesbuild.bootmap). Per node
(nodes.toml): its boot file, and a flag when that file is missing. Then the last run's result
(build/summary.json). Exit code 1 when a node's image is missing, 0 otherwise; --json prints
the same as a JSON document.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Any

from .bootmap import describe, inventory_of, users
from .errors import RamsesError
from .formats import sniff_file
from .paths import BuildPaths, rel
from .settings import Settings
from .sizes import human
from .state import BootRoute, DamagedState, NetbootStamp, NodeBoot, read_state, read_summary


def _built(s: Settings, notes: list[str]) -> dict[str, tuple[NetbootStamp, str | None]]:
    """Each file this build directory installed (netboot and MBA images) -> its stamp and the sha256 it had."""
    paths = BuildPaths(s)
    built: dict[str, tuple[NetbootStamp, str | None]] = {}
    for prof in s.netboot_profiles:
        try:
            stamp = read_state(paths.profile(prof.name).netboot_stamp, NetbootStamp)
        except DamagedState as exc:
            notes.append(f"{exc}; the next doit run installs the image again")
            continue
        if stamp is not None:
            built[stamp.image] = (stamp, stamp.sha256)
            if stamp.mba:
                built[stamp.mba] = (stamp, stamp.mba_sha256)
    return built


def _image(path: Path, built: tuple[NetbootStamp, str | None] | None) -> dict[str, object]:
    from .fsutil import sha256_file

    info: dict[str, object] = {"format": _kind(path), "size": path.stat().st_size, "sha256": sha256_file(path),
                               "nodes": []}
    if built is not None and built[1] == info["sha256"]:
        stamp = built[0]
        info.update({"profile": stamp.profile, "version": stamp.version, "family": stamp.family,
                     "fragments": list(stamp.fragments), "built_by": "this build directory"})
    elif built is not None:
        info["built_by"] = "changed since this build directory installed it"
    return info


def _kind(path: Path) -> str:
    try:
        return sniff_file(path).value
    except OSError:
        return "unreadable"


def _last_run(s: Settings, notes: list[str]) -> dict[str, object] | None:
    path = BuildPaths(s).summary
    try:
        summary = read_summary(path)
    except DamagedState as exc:
        notes.append(f"{exc}; the next doit run rewrites it")
        return None
    if summary is None:
        return None
    return {"result": summary.result.value, "started": summary.started, "seconds": summary.seconds,
            "summary": rel(s.root, path)}


def collect(settings_path: Path) -> dict[str, Any]:
    from . import settings as _settings

    s = _settings.load(settings_path)
    notes: list[str] = []
    built = _built(s, notes)
    images: dict[str, dict[str, object]] = {}
    root = s.tftpboot
    if root.is_dir():
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
            for name in sorted(filenames):
                if not name.startswith("."):
                    path = Path(dirpath) / name
                    rel_name = str(path.relative_to(root))
                    images[rel_name] = _image(path, built.get(rel_name))
    nodes = []
    if s.nodes.exists():
        inv = inventory_of(s)
        for file, uses in users(inv).items():
            if file in images:
                images[file]["nodes"] = [{"name": u.name, "route": u.route.value} for u in uses]
        for node in inv.nodes:
            boots = inv.boot_filename(node)
            missing = [f for f in dict.fromkeys([boots, node.image]) if f not in images]
            nodes.append({"name": node.name, "mac": node.mac, "ip": str(node.ip), "method": node.method.value,
                          "boots": boots, "image": node.image, "missing": missing})
    return {"settings": str(s.path), "tftpboot": str(root), "tftpboot_exists": root.is_dir(),
            "images": images, "nodes": nodes, "nodes_file": str(s.nodes) if s.nodes.exists() else None,
            "last_run": _last_run(s, notes), "notes": notes}


def render(st: dict[str, Any]) -> str:
    lines = [f"tftpboot: {st['tftpboot']}" + ("" if st["tftpboot_exists"] else "  (does not exist yet)")]
    if not st["images"]:
        lines.append("  (empty)")
    for name, i in st["images"].items():
        origin = ""
        if i.get("profile"):
            frags = ", ".join(Path(f).name for f in i.get("fragments", []))
            origin = f"  Linux {i['version']} ({i['family']}), profile {i['profile']}: {frags}"
        elif i.get("built_by"):
            origin = f"  ({i['built_by']})"
        lines.append(f"  {name:<32} {i['format']:<12} {human(i['size']):>10}  sha256 {i['sha256'][:16]}{origin}")
        if i["nodes"]:
            uses = [NodeBoot(n["name"], BootRoute(n["route"])) for n in i["nodes"]]
            lines.append(f"  {'':<32} booted by {describe(uses)}")
    if st["nodes_file"]:
        lines.append(f"nodes: {st['nodes_file']}")
        for n in st["nodes"]:
            flag = f"  MISSING: {', '.join(n['missing'])} not in tftpboot" if n["missing"] else ""
            boots = n["boots"] if n["boots"] == n["image"] else f"{n['boots']} -> {n['image']}"
            lines.append(f"  {n['name']:<12} {n['ip']:<15} {n['mac']}  {n['method']:<6} {boots}{flag}")
    else:
        lines.append("nodes: no nodes.toml")
    if st["last_run"]:
        r = st["last_run"]
        lines.append(f"last run: {r['result']}, started {r['started']}, {r['seconds']:.1f} s ({r['summary']})")
    lines += [f"note: {n}" for n in st["notes"]]
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="ramsesbuild status", description=__doc__.splitlines()[0] if __doc__ else "")
    ap.add_argument("--config", type=Path, default=None,
                    help="settings file (default: $RAMSES_CONFIG or ./ramses.toml)")
    ap.add_argument("--json", action="store_true", help="print JSON instead of text")
    args = ap.parse_args(argv)
    from .settings import default_path

    try:
        st = collect(args.config or default_path())
    except OSError as exc:
        from .errors import os_error_message

        raise RamsesError(os_error_message(exc, "reading the tftpboot directory")) from None
    print(json.dumps(st, indent=1, sort_keys=True) if args.json else render(st))
    return 1 if any(n["missing"] for n in st["nodes"]) else 0
