"""Node-root tasks: root-<class>, root-modules-<class>, node-layers, and boot-config's
node-root variant (root-path = the class's base root, exports from ramsesbuild.noderoot).

A node class is a ramses.toml profile with a [profile.X.root] table; its nodes are the nodes
of nodes.toml whose class (``profile``, or the profile whose image they boot) it is. The
settings become the frozen specs of :mod:`ramsesbuild.noderoot.spec` here, in one place
(:func:`config`, :func:`layer_spec`); the tasks and `ramsesbuild node-reset` take only those.
"""

from __future__ import annotations

import dataclasses
import os
import time
from pathlib import Path
from typing import Any

from doit.tools import config_changed

from .. import bootconf
from ..errors import SettingsError
from ..family import family_for_version
from ..log import TaskLog
from ..noderoot import exports, layer
from ..noderoot.spec import (
    BASE,
    DEBIAN_ARCH,
    DEFAULT_PACKAGES,
    KIND_OF_FAMILY,
    ClusterSpec,
    LayerSpec,
    NodeSpec,
    RootKind,
    RootSpec,
)
from ..settings import Profile, Settings
from .common import logged, read_stamp, rel, remover, write_stamp
from .layout import Layout

CLASS_OVERRIDES, NODE_OVERRIDES = "class", "node"  # under [paths] overrides
STATE = "noderoots"  # build/noderoots/: root-<class>.json, root-modules-<class>.json, layers.json


@dataclasses.dataclass(frozen=True)
class RootsConfig:
    """The project's node roots: one spec per class, and where they live."""

    roots: Path  # [paths] roots
    node_overrides: Path  # [paths] overrides / node
    classes: dict[str, RootSpec]
    state: Path  # build/noderoots

    def base(self, cls: str) -> Path:
        return self.roots / BASE / cls


def root_spec(settings: Settings, profile: Profile) -> RootSpec:
    """[profile.X.root] as the noderoot package takes it: the kind from the kernel family, the
    Debian architecture from [kernel] arch, the class's override files from [paths] overrides."""
    root = profile.root
    assert root is not None
    kind = KIND_OF_FAMILY.get(family_for_version(settings.version).name, RootKind.DEBIAN)
    arch = DEBIAN_ARCH.get(settings.arch)
    if arch is None:
        raise SettingsError(f"{settings.path}: [profile.{profile.name}.root]: no Debian architecture for "
                            f"[kernel] arch = {settings.arch!r} (known: {', '.join(DEBIAN_ARCH)})")
    return RootSpec(name=profile.name, kind=kind, suite=root.suite, mirror=root.mirror, architecture=arch,
                    packages=root.packages or DEFAULT_PACKAGES[kind], source_date_epoch=root.source_date_epoch,
                    overrides=settings.overrides_dir / CLASS_OVERRIDES / profile.name, node_dirs=root.node_dirs,
                    command=root.command)


def config(settings: Settings) -> RootsConfig | None:
    """The node roots of *settings*, or None when no profile has one."""
    if not settings.root_profiles:
        return None
    return RootsConfig(settings.roots_dir, settings.overrides_dir / NODE_OVERRIDES,
                       {p.name: root_spec(settings, p) for p in settings.root_profiles},
                       settings.build_dir / STATE)


def layer_spec(cfg: RootsConfig, inv: bootconf.Inventory) -> LayerSpec:
    """Every node of a class with a root, and what their layers share."""
    net = inv.network
    opts = (inv.nfs_options or "").split(",")
    transport = "tcp" if "tcp" in opts or "proto=tcp" in opts else "udp"
    cluster = ClusterSpec(subnet=net.subnet, server=net.server, roots=cfg.roots, gateway=net.gateway,
                          domain=net.domain, server_name=net.server_name, transport=transport,
                          node_overrides=cfg.node_overrides)
    nodes = tuple(NodeSpec(n.name, n.ip, n.mac, n.profile) for n in inv.nodes
                  if n.profile is not None and n.profile in cfg.classes)
    return LayerSpec(cluster, nodes, cfg.classes)


def node_roots(settings: Settings, inv: bootconf.Inventory) -> dict[str, dict[str, str]]:
    """{node name: its class, base root and own directory} for `ramsesbuild status`."""
    cfg = config(settings)
    if cfg is None:
        return {}
    spec = layer_spec(cfg, inv)
    return {n.name: {"class": n.root, "base": str(spec.cluster.base(n.root)),
                     "own": str(spec.cluster.node_dir(n.name)),
                     "built": "yes" if root_stamp(cfg, n.root).exists() else "no"} for n in spec.nodes}


def _tree_signature(top: Path | None) -> list[object]:
    if top is None or not top.is_dir():
        return []
    out: list[object] = []
    for dirpath, _dirs, names in os.walk(top):
        for n in sorted(names):
            st = os.lstat(os.path.join(dirpath, n))
            out.append([os.path.relpath(os.path.join(dirpath, n), top), st.st_size, st.st_mtime_ns, st.st_mode])
    return sorted(out, key=str)


# ------------------------------------------------------------------ tasks

def root_stamp(cfg: RootsConfig, cls: str) -> Path:
    return cfg.state / f"root-{cls}.json"


def task_root(settings: Settings, cfg: RootsConfig, spec: RootSpec) -> dict[str, Any]:
    from ..noderoot import build, finish

    stamp = root_stamp(cfg, spec.name)
    dest = cfg.base(spec.name)

    def body(log: TaskLog) -> None:
        start = time.monotonic()
        built = build.build(spec, dest, log=log.line)
        log.line(f"root {spec.name}: {dest} ({len(built.packages)} packages) in {time.monotonic() - start:.0f} s")
        write_stamp(stamp, {"root": str(dest), "identity": spec.identity(), "packages": built.packages,
                            "built_at": int(time.time())})  # a new tree: node-layers writes its cluster file again

    return {
        "basename": f"root-{spec.name}",
        "doc": f"the {spec.name} node class's base root in {dest} ({spec.kind}; mmdebstrap, built aside)",
        "actions": [logged(settings, f"root-{spec.name}", body, stamps=(stamp,))],
        "targets": [stamp],
        "uptodate": [config_changed({"spec": spec.identity(), "dest": str(dest), "ours": finish.inputs(),
                                     "overrides": _tree_signature(spec.overrides)})],
        "clean": [remover([stamp])],
    }


def task_root_modules(settings: Settings, cfg: RootsConfig, spec: RootSpec) -> dict[str, Any]:
    from ..noderoot import modules

    pl = Layout(settings).profile(spec.name)
    stamp = cfg.state / f"root-modules-{spec.name}.json"
    dest = cfg.base(spec.name)

    def body(log: TaskLog) -> None:
        versions = modules.install(pl.staging, dest)
        log.line(f"modules {', '.join(versions) or '(none staged)'} in {dest}/lib/modules")
        write_stamp(stamp, {"versions": versions})

    return {
        "basename": f"root-modules-{spec.name}",
        "doc": f"the {spec.name} kernel's staged modules into its root's /lib/modules (no root rebuild)",
        "actions": [logged(settings, f"root-modules-{spec.name}", body, stamps=(stamp,))],
        "file_dep": [pl.stamp("modules"), root_stamp(cfg, spec.name)],
        "targets": [stamp],
        "clean": [remover([stamp])],
    }


def task_node_layers(settings: Settings, cfg: RootsConfig, nodes_path: Path) -> dict[str, Any]:
    from ..noderoot import finish
    from .bootconf import load_inventory

    state = cfg.state / layer.STATE_NAME

    def body(log: TaskLog) -> None:
        spec = layer_spec(cfg, load_inventory(settings, nodes_path))
        for cls in sorted({n.root for n in spec.nodes}):
            if finish.write_cluster_file(spec.cluster.base(cls), spec.cluster):
                log.line(f"wrote {spec.cluster.base(cls)}/etc/ramses/cluster")
        start = time.monotonic()
        res = layer.sync(spec, state, log.line)
        log.line(f"{len(spec.nodes)} nodes: {len(res.rendered)} layers rendered ({len(res.created)} new), "
                 f"{res.unchanged} unchanged, {len(res.removed)} removed "
                 f"({', '.join(res.removed) or '-'}) in {time.monotonic() - start:.2f} s")

    return {
        "basename": "node-layers",
        "doc": f"each node's own directory in {cfg.roots}/node (host name, hosts, fstab, keys, ...) from nodes.toml",
        "actions": [logged(settings, "node-layers", body)],
        "file_dep": [nodes_path, *(root_stamp(cfg, c) for c in cfg.classes)],
        "targets": [state],
        "uptodate": [config_changed({"format": layer.FORMAT, "cfg": repr(cfg),
                                     "overrides": _tree_signature(cfg.node_overrides)})],
        "clean": [remover([state])],
    }


def boot_files(cfg: RootsConfig, inv: bootconf.Inventory, tftp_root: Path) -> dict[Path, str]:
    """boot-config's files with node roots: a node of a class with a root boots its class's base
    root (DHCP root-path); the exports give each base read-only to the subnet and each node's
    own directory to that node alone. Nodes of other classes keep their nfsroot and export."""
    spec = layer_spec(cfg, inv)
    rooted = {n.name: str(spec.cluster.base(n.root)) for n in spec.nodes}
    nodes = tuple(dataclasses.replace(n, nfsroot=rooted[n.name]) if n.name in rooted else n for n in inv.nodes)
    out = bootconf.config_files(dataclasses.replace(inv, nodes=nodes), tftp_root)
    others = tuple(n for n in inv.nodes if n.name not in rooted)
    text = exports.render_exports(spec)
    if others:
        text += "".join(line + "\n" for line in bootconf.render_exports(dataclasses.replace(inv, nodes=others))
                        .splitlines() if not line.startswith("#"))
    out[inv.output / "exports"] = text
    return out


def task_boot_config(settings: Settings, cfg: RootsConfig, nodes_path: Path) -> dict[str, Any]:
    """boot-config with node roots (tasks/bootconf.py's task, with :func:`boot_files`)."""
    from . import bootconf as bc

    def write(inv: bootconf.Inventory, tftp_root: Path, log: TaskLog) -> None:
        from ..bootconf.write import write_files

        for path in write_files(boot_files(cfg, inv, tftp_root)):
            log.line(f"wrote {path}")

    return bc._task(settings, nodes_path, "boot-config",
                    "dhcpd.conf, /etc/exports (node roots) and tftpd-hpa settings for the nodes in nodes.toml",
                    lambda inv, tftp: boot_files(cfg, inv, tftp), write,
                    inputs={"roots": str(cfg.roots), "classes": sorted(cfg.classes)})


def generate(settings: Settings, cfg: RootsConfig) -> list[dict[str, Any]]:
    out = []
    for spec in cfg.classes.values():
        out += [task_root(settings, cfg, spec), task_root_modules(settings, cfg, spec)]
    if settings.nodes.exists():
        out.append(task_node_layers(settings, cfg, settings.nodes))
    return out


def default_tasks(cfg: RootsConfig | None, settings: Settings) -> list[str]:
    if cfg is None:
        return []
    names = [f"{t}-{c}" for c in cfg.classes for t in ("root", "root-modules")]
    return names + (["node-layers"] if settings.nodes.exists() else [])


def summary_line(settings: Settings, cfg: RootsConfig, cls: str) -> str:
    data = read_stamp(root_stamp(cfg, cls))
    return f"root {cls}: {rel(settings.root, cfg.base(cls))} ({len(data.get('packages', {}))} packages)"
