"""Node-root tasks: root-<class>, root-modules-<class>, node-layers, and boot-config's
node-root variant (root-path = the class's base root, exports from ramsesbuild.noderoot).

TEMPORARY WIRING. The settings schema does not have the node-root keys yet, so they are read
here, in one function (:func:`load_config`), from ``roots.toml`` beside ramses.toml; the tasks
take only the frozen dataclasses it returns. When the keys move into the schema ([profile.X.root],
[netboot]/nodes.toml [boot]), load_config is replaced and nothing else changes.

    [roots]
    dir = "/srv/ramses/roots"          base roots, <dir>/<class>: exported read-only to the subnet
    nodes = "/srv/ramses/nodes"        per-node layers, <nodes>/<name>: exported to that node only
    keys = "/srv/ramses/keys"          ssh host keys and machine-ids, kept (never exported)
    node_overrides = "overrides/nodes" optional: <dir>/<node>/<path> per-node override files
    nfs_options = "vers=3,nolock"      how a node mounts its own directory
    [roots.class.<profile>]            one per node class (a profile in ramses.toml)
    kind = "debian"                    or "klibc" (Linux 2.4); default: from the kernel family
    suite, mirror, architecture, packages, source_date_epoch, overrides, extra_node_dirs, command
"""

from __future__ import annotations

import dataclasses
import os
import time
import tomllib
from pathlib import Path
from typing import Any

from doit.tools import config_changed

from .. import bootconf
from ..errors import SettingsError
from ..log import TaskLog
from ..noderoot import exports, layer
from ..noderoot.spec import KINDS, ClusterSpec, LayerSpec, NodeSpec, RootSpec
from ..settings import Settings
from .common import logged, read_stamp, rel, remover, write_stamp
from .layout import Layout

CONFIG_NAME = "roots.toml"
ROOT_KEYS = {"dir", "nodes", "keys", "node_overrides", "nfs_options", "server_name", "class"}
CLASS_KEYS = {"image", "kind", "suite", "mirror", "architecture", "packages", "source_date_epoch", "overrides",
              "extra_node_dirs", "command"}


@dataclasses.dataclass(frozen=True)
class RootsConfig:
    path: Path
    roots_dir: Path
    nodes_dir: Path
    keys_dir: Path
    node_overrides: Path | None
    nfs_options: str
    server_name: str
    classes: dict[str, RootSpec]
    images: dict[str, str]  # class -> the image its nodes boot, for classes that are not profiles

    def state(self, settings: Settings) -> Path:
        return settings.build_dir / "noderoots"


def load_config(settings: Settings) -> RootsConfig | None:
    """roots.toml beside ramses.toml, or None (no node roots)."""
    path = settings.root / CONFIG_NAME
    if not path.exists():
        return None
    try:
        raw = tomllib.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise SettingsError(f"{path}: {exc}") from None
    top = raw.get("roots")
    if set(raw) != {"roots"} or not isinstance(top, dict):
        raise SettingsError(f"{path}: expected exactly one [roots] table")
    _known(path, top, ROOT_KEYS, "[roots]")

    def p(value: Any, key: str) -> Path:
        if not isinstance(value, str) or not value:
            raise SettingsError(f"{path}: [roots] {key} must be a path")
        q = Path(value)
        return q if q.is_absolute() else settings.root / q

    classes, images = {}, {}
    family_kind = "klibc" if settings.version.startswith("2.4") else "debian"
    for name, t in (top.get("class") or {}).items():
        if name not in settings.profiles and not isinstance(t.get("image"), str):
            raise SettingsError(f"{path}: [roots.class.{name}]: no [profile.{name}] in {settings.path.name}; "
                                "a class without a profile names the image its nodes boot (image = \"...\")")
        if "image" in t:
            images[name] = str(t["image"])
        _known(path, t, CLASS_KEYS, f"[roots.class.{name}]")
        kind = t.get("kind", family_kind)
        if kind not in KINDS:
            raise SettingsError(f"{path}: [roots.class.{name}] kind {kind!r}: one of {', '.join(KINDS)}")
        spec = RootSpec(name=name, kind=kind,
                        packages=tuple(t.get("packages", ())),
                        overrides=p(t["overrides"], "overrides") if "overrides" in t else None,
                        extra_node_dirs=tuple(t.get("extra_node_dirs", ())),
                        command=str(t.get("command", "")))
        for key in ("suite", "mirror", "architecture", "source_date_epoch"):
            if key in t:
                spec = dataclasses.replace(spec, **{key: t[key]})
        classes[name] = spec
    if not classes:
        raise SettingsError(f"{path}: no [roots.class.<profile>] table")
    return RootsConfig(path, p(top.get("dir"), "dir"), p(top.get("nodes"), "nodes"), p(top.get("keys"), "keys"),
                       p(top["node_overrides"], "node_overrides") if "node_overrides" in top else None,
                       str(top.get("nfs_options", "vers=3,nolock")), str(top.get("server_name", "server")),
                       classes, images)


def _known(path: Path, t: dict[str, Any], allowed: set[str], what: str) -> None:
    unknown = sorted(set(t) - allowed)
    if unknown:
        raise SettingsError(f"{path}: {what}: unknown key {unknown[0]!r}; allowed: {', '.join(sorted(allowed))}")


# ------------------------------------------------------------------ specs from the inventory

def layer_spec(settings: Settings, cfg: RootsConfig, inv: bootconf.Inventory) -> LayerSpec:
    by_image = {img: prof for prof, img in settings.netboot_images().items()}
    by_image.update({img: cls for cls, img in cfg.images.items()})
    default_cls = by_image.get(settings.default_netboot_image(), next(iter(cfg.classes)))
    net = inv.network
    cluster = ClusterSpec(subnet=net.subnet, server=net.server, roots_dir=cfg.roots_dir, nodes_dir=cfg.nodes_dir,
                          keys_dir=cfg.keys_dir, gateway=net.gateway, domain=net.domain,
                          server_name=cfg.server_name, nfs_options=cfg.nfs_options,
                          node_overrides=cfg.node_overrides)
    nodes = []
    for n in inv.nodes:
        cls = by_image.get(n.image, default_cls)
        if cls not in cfg.classes:
            raise SettingsError(f"{cfg.path}: node {n.name} boots class {cls!r}, which has no [roots.class.{cls}]")
        nodes.append(NodeSpec(n.name, n.ip, n.mac, cls))
    return LayerSpec(cluster, tuple(nodes), cfg.classes)


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

def root_stamp(settings: Settings, cfg: RootsConfig, cls: str) -> Path:
    return cfg.state(settings) / f"root-{cls}.json"


def task_root(settings: Settings, cfg: RootsConfig, spec: RootSpec) -> dict[str, Any]:
    from ..noderoot import build

    stamp = root_stamp(settings, cfg, spec.name)
    dest = cfg.roots_dir / spec.name

    def body(log: TaskLog) -> None:
        start = time.monotonic()
        built = build.build(spec, dest, log=log.line)
        log.line(f"root {spec.name}: {dest} ({len(built.packages)} packages) in {time.monotonic() - start:.0f} s")
        write_stamp(stamp, {"root": str(dest), "identity": spec.identity(), "packages": built.packages,
                            "built_at": int(time.time())})  # a new tree: node-layers writes its cluster files again

    return {
        "basename": f"root-{spec.name}",
        "doc": f"the {spec.name} node class's base root in {dest} ({spec.kind}; mmdebstrap, built aside)",
        "actions": [logged(settings, f"root-{spec.name}", body, stamps=(stamp,))],
        "targets": [stamp],
        "uptodate": [config_changed({"spec": spec.identity(), "dest": str(dest),
                                     "overrides": _tree_signature(spec.overrides)})],
        "clean": [remover([stamp])],
    }


def task_root_modules(settings: Settings, cfg: RootsConfig, spec: RootSpec) -> dict[str, Any]:
    from ..noderoot import modules

    pl = Layout(settings).profile(spec.name)
    stamp = cfg.state(settings) / f"root-modules-{spec.name}.json"
    dest = cfg.roots_dir / spec.name

    def body(log: TaskLog) -> None:
        versions = modules.install(pl.staging, dest)
        log.line(f"modules {', '.join(versions) or '(none staged)'} in {dest}/lib/modules")
        write_stamp(stamp, {"versions": versions})

    return {
        "basename": f"root-modules-{spec.name}",
        "doc": f"the {spec.name} kernel's staged modules into its root's /lib/modules (no root rebuild)",
        "actions": [logged(settings, f"root-modules-{spec.name}", body, stamps=(stamp,))],
        "file_dep": [pl.stamp("modules"), root_stamp(settings, cfg, spec.name)],
        "targets": [stamp],
        "clean": [remover([stamp])],
    }


def task_node_layers(settings: Settings, cfg: RootsConfig, nodes_path: Path) -> dict[str, Any]:
    from ..noderoot import finish
    from .bootconf import load_inventory

    state = cfg.state(settings) / layer.STATE_NAME
    stamps = [root_stamp(settings, cfg, c) for c in cfg.classes]

    def body(log: TaskLog) -> None:
        spec = layer_spec(settings, cfg, load_inventory(settings, nodes_path))
        for cls in sorted({n.root for n in spec.nodes}):
            if finish.write_cluster_file(spec.cluster.base(cls), spec.cluster, layer.hosts_text(spec)):
                log.line(f"wrote {spec.cluster.base(cls)}/etc/ramses/cluster")
        start = time.monotonic()
        res = layer.sync(spec, state, log.line)
        log.line(f"{len(spec.nodes)} nodes: {len(res.rendered)} layers rendered ({len(res.created)} new), "
                 f"{res.unchanged} unchanged, {len(res.removed)} removed "
                 f"({', '.join(res.removed) or '-'}) in {time.monotonic() - start:.2f} s")

    overrides = _tree_signature(cfg.node_overrides)
    return {
        "basename": "node-layers",
        "doc": f"each node's own directory in {cfg.nodes_dir} (host name, hosts, fstab, keys, ...) from nodes.toml",
        "actions": [logged(settings, "node-layers", body)],
        "file_dep": [nodes_path, *stamps],
        "targets": [state],
        "uptodate": [config_changed({"format": layer.FORMAT, "cfg": repr(cfg), "overrides": overrides})],
        "clean": [remover([state])],
    }


def task_boot_config(settings: Settings, cfg: RootsConfig, nodes_path: Path) -> dict[str, Any]:
    """boot-config with node roots: every node's root-path is its class's base root."""
    from . import bootconf as bc

    def files(inv: bootconf.Inventory, tftp_root: Path) -> dict[Path, str]:
        spec = layer_spec(settings, cfg, inv)
        roots = {n.name: str(spec.cluster.base(n.root)) for n in spec.nodes}
        inv2 = dataclasses.replace(inv, nodes=tuple(dataclasses.replace(n, nfsroot=roots[n.name])
                                                    for n in inv.nodes))
        out = bootconf.config_files(inv2, tftp_root)
        out[inv.output / "exports"] = exports.render_exports(spec)
        return out

    def write(inv: bootconf.Inventory, tftp_root: Path, log: TaskLog) -> None:
        from ..bootconf.write import write_files

        for path in write_files(files(inv, tftp_root)):
            log.line(f"wrote {path}")

    task = bc._task(settings, nodes_path, "boot-config",
                    "dhcpd.conf, /etc/exports (node roots) and tftpd-hpa settings for the nodes in nodes.toml",
                    files, write)
    task["uptodate"].append(config_changed({"roots": repr(cfg)}))
    return task


def generate(settings: Settings, cfg: RootsConfig) -> list[dict[str, Any]]:
    out = []
    for spec in cfg.classes.values():
        out.append(task_root(settings, cfg, spec))
        if spec.name in settings.profiles:
            out.append(task_root_modules(settings, cfg, spec))
    if settings.nodes.exists():
        out.append(task_node_layers(settings, cfg, settings.nodes))
    return out


def default_tasks(cfg: RootsConfig | None, settings: Settings) -> list[str]:
    if cfg is None:
        return []
    names = [f"root-{c}" for c in cfg.classes] + [f"root-modules-{c}" for c in cfg.classes
                                                  if c in settings.profiles]
    return names + (["node-layers"] if settings.nodes.exists() else [])


def summary_line(settings: Settings, cfg: RootsConfig, cls: str) -> str:
    data = read_stamp(root_stamp(settings, cfg, cls))
    return f"root {cls}: {rel(settings.root, cfg.roots_dir / cls)} ({len(data.get('packages', {}))} packages)"


