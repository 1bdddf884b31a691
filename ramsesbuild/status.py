"""`ramsesbuild status`: what the tftpboot directory holds and which node boots what.

Per image: format, size, sha256, and, when the image is the one this build directory
installed, the profile, kernel version and the config fragments it came from. Per node
(nodes.toml): its boot file, and a flag when that file is missing. Exit code 1 when a node's
image is missing, 0 otherwise; --json prints the same as a JSON document.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Any

from .errors import RamsesError

NBI_MAGIC = bytes.fromhex("3613031b")
MBA_SIGNATURE = b"ExTx"  # at offset 14 of a 3Com MBA image (imggen/layout.py EXT_SIGNATURE)


def sniff(path: Path) -> str:
    """nbi, elf, mba (3Com MBA TCP/IP image), bzImage, zImage, ipxe-script, or 'other'."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(0x210)
    except OSError:
        return "unreadable"
    if head[:4] == NBI_MAGIC:
        return "nbi"
    if head[:4] == b"\x7fELF":
        return "elf"
    if head[14:18] == MBA_SIGNATURE:
        return "mba"
    if head[:6] == b"#!ipxe":
        return "ipxe-script"
    if len(head) >= 0x206 and head[0x202:0x206] == b"HdrS":
        return "bzImage" if len(head) > 0x211 and head[0x211] & 1 else "kernel (zImage/bzImage)"
    return "other"


def collect(settings_path: Path) -> dict[str, Any]:
    from . import settings as _settings
    from .fsutil import sha256_file
    from .tasks.common import read_stamp
    from .tasks.layout import Layout

    s = _settings.load(settings_path)
    lay = Layout(s)
    built: dict[str, dict[str, Any]] = {}
    for prof in s.netboot_profiles:
        stamp = read_stamp(lay.profile(prof.name).stamp("netboot"))
        if stamp.get("image"):
            built[stamp["image"]] = stamp
    images: dict[str, dict[str, Any]] = {}
    root = s.tftpboot
    if root.is_dir():
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
            for name in sorted(filenames):
                if name.startswith("."):
                    continue
                path = Path(dirpath) / name
                rel = str(path.relative_to(root))
                info: dict[str, Any] = {"format": sniff(path), "size": path.stat().st_size,
                                        "sha256": sha256_file(path), "nodes": []}
                stamp = built.get(rel, {})
                if stamp and stamp.get("sha256") == info["sha256"]:
                    info.update({"profile": stamp.get("profile"), "version": stamp.get("version"),
                                 "family": stamp.get("family"), "fragments": stamp.get("fragments", []),
                                 "built_by": "this build directory"})
                elif stamp:
                    info["built_by"] = "changed since this build directory installed it"
                images[rel] = info
    nodes = []
    if s.nodes.exists():
        from .tasks.bootconf import load_inventory
        from .tasks.roots import node_roots

        inv = load_inventory(s, s.nodes)
        roots = node_roots(s, inv)
        for node in inv.nodes:
            boots = inv.boot_filename(node)
            missing = [f for f in dict.fromkeys([boots, node.image]) if f not in images]
            for f in (boots, node.image):
                if f in images and node.name not in images[f]["nodes"]:
                    images[f]["nodes"].append(node.name)
            nodes.append({"name": node.name, "mac": node.mac, "ip": str(node.ip), "method": node.method,
                          "boots": boots, "image": node.image, "missing": missing, "root": roots.get(node.name)})
    return {"settings": str(s.path), "tftpboot": str(root), "tftpboot_exists": root.is_dir(),
            "images": images, "nodes": nodes, "nodes_file": str(s.nodes) if s.nodes.exists() else None}


def render(st: dict[str, Any]) -> str:
    from .tasks.common import human

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
            lines.append(f"  {'':<32} booted by {', '.join(i['nodes'])}")
    if st["nodes_file"]:
        lines.append(f"nodes: {st['nodes_file']}")
        for n in st["nodes"]:
            flag = f"  MISSING: {', '.join(n['missing'])} not in tftpboot" if n["missing"] else ""
            boots = n["boots"] if n["boots"] == n["image"] else f"{n['boots']} -> {n['image']}"
            lines.append(f"  {n['name']:<12} {n['ip']:<15} {n['mac']}  {n['method']:<6} {boots}{flag}")
            if r := n.get("root"):
                unbuilt = "" if r["built"] == "yes" else "  (not built yet: doit root-" + r["class"] + ")"
                lines.append(f"  {'':<12} root {r['class']}: {r['base']} + {r['own']}{unbuilt}")
    else:
        lines.append("nodes: no nodes.toml")
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
