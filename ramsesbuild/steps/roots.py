"""Node roots (docs/node-roots.md): root-<class>, root-modules-<class> and node-layers.

root-<class> builds a node class's base root (mmdebstrap, built aside and renamed in); only a
change of what the tree is made of rebuilds it (the class's [profile.X.root] settings, what
ramsesbuild puts into it, the admin's class override files), never a kernel change.
root-modules-<class> copies the class's staged kernel modules into it (/lib/modules/<version>).
node-layers renders each node's own directory from nodes.toml. The specs come from
:mod:`ramsesbuild.noderoot.project`.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import ClassVar

from ..errors import RootSettingError
from ..log import TaskLog
from ..noderoot.project import RootsConfig, at_setting, layer_spec, tree_signature
from ..noderoot.spec import RootSpec
from ..paths import BuildPaths, rel
from ..settings import Settings
from ..state import RootModulesStamp, RootStamp, write_state
from .base import Identity, Stage, Stamp, Step, TaskName, digest


class BuildRoot(Step):
    identity_doc: ClassVar[dict[str, str]] = {
        "spec": "[profile.X.root] (suite, mirror, packages, source_date_epoch, node_dirs, command), the kernel "
                "family's root kind and the profile's arch",
        "dest": "[paths] roots", "ours": "what ramsesbuild puts into the root (its init, rc and NFS mounter)",
        "overrides": "the admin's class override files ([paths] overrides/class/<profile>)"}

    def __init__(self, settings: Settings, cfg: RootsConfig, spec: RootSpec):
        self.settings, self.cfg, self.spec = settings, cfg, spec
        self.dest = cfg.base(spec.name)
        self.name = TaskName(Stage.ROOT, spec.name)
        self.doc = (f"the {spec.name} node class's base root in {rel(settings.root, self.dest)} ({spec.kind}; "
                    "mmdebstrap, built aside)")
        self.stamp = Stamp(cfg.root_stamp(spec.name), RootStamp)

    def identity(self) -> Identity:
        from ..noderoot import finish

        return {"spec": self.spec.identity(), "dest": rel(self.settings.root, self.dest), "ours": finish.inputs(),
                "overrides": tree_signature(self.spec.overrides)}

    def run(self, log: TaskLog) -> None:
        from ..noderoot import build

        start = time.monotonic()
        try:
            built = build.build(self.spec, self.dest, log=log.line)
        except RootSettingError as exc:  # at the line of the setting to fix
            raise at_setting(self.settings, exc, self.spec.name) from None
        log.line(f"root {self.spec.name}: {self.dest} ({len(built.packages)} packages) in "
                 f"{time.monotonic() - start:.0f} s")
        write_state(self.cfg.root_stamp(self.spec.name), RootStamp(
            root=rel(self.settings.root, self.dest), identity=digest(self.identity()), packages=dict(built.packages),
            built_at=int(time.time())))  # a new tree: node-layers writes its cluster file again


class RootModules(Step):
    def __init__(self, settings: Settings, cfg: RootsConfig, spec: RootSpec):
        self.settings, self.cfg, self.spec = settings, cfg, spec
        self.pl = BuildPaths(settings).profile(spec.name)
        self.dest = cfg.base(spec.name)
        self.name = TaskName(Stage.ROOT_MODULES, spec.name)
        self.doc = f"the {spec.name} kernel's staged modules into its root's /lib/modules (no root rebuild)"
        self.stamp = Stamp(cfg.modules_stamp(spec.name), RootModulesStamp)

    def inputs(self) -> list[Path]:
        return [self.pl.modules_stamp, self.cfg.root_stamp(self.spec.name)]

    def run(self, log: TaskLog) -> None:
        from ..noderoot import modules

        versions = modules.install(self.pl.staging, self.dest)
        log.line(f"modules {', '.join(versions) or '(none staged)'} in {self.dest}/lib/modules")
        write_state(self.cfg.modules_stamp(self.spec.name), RootModulesStamp(versions=tuple(versions)))


class NodeLayers(Step):
    identity_doc: ClassVar[dict[str, str]] = {
        "format": "the layer files ramsesbuild renders (a new version)", "roots": "[paths] roots",
        "classes": "each node class's root settings", "overrides": "the admin's per-node override files "
                                                                     "([paths] overrides/node/<name>)"}

    def __init__(self, settings: Settings, cfg: RootsConfig, nodes: Path):
        from ..noderoot import layer

        self.settings, self.cfg, self.nodes = settings, cfg, Path(nodes)
        self.state = cfg.state / layer.STATE_NAME
        self.name = TaskName(Stage.NODE_LAYERS)
        self.doc = (f"each node's own directory in {rel(settings.root, cfg.roots)}/node (host name, hosts, fstab, "
                    "keys, ...) from nodes.toml")

    def inputs(self) -> list[Path]:
        return [self.nodes, *(self.cfg.root_stamp(c) for c in self.cfg.classes)]

    def identity(self) -> Identity:
        from ..noderoot import layer

        return {"format": layer.FORMAT, "roots": rel(self.settings.root, self.cfg.roots),
                "classes": {c: spec.identity() for c, spec in sorted(self.cfg.classes.items())},
                "overrides": tree_signature(self.cfg.node_overrides)}

    def targets(self) -> list[Path]:
        return [self.state]

    def run(self, log: TaskLog) -> None:
        from ..bootmap import inventory_of
        from ..noderoot import finish, layer

        spec = layer_spec(self.cfg, inventory_of(self.settings, self.nodes))
        for cls in sorted({n.root for n in spec.nodes}):
            if finish.write_cluster_file(spec.cluster.base(cls), spec.cluster):
                log.line(f"wrote {spec.cluster.base(cls)}/etc/ramses/cluster")
        start = time.monotonic()
        res = layer.sync(spec, self.state, log.line)
        log.line(f"{len(spec.nodes)} nodes: {len(res.rendered)} layers rendered ({len(res.created)} new), "
                 f"{res.unchanged} unchanged, {len(res.removed)} removed "
                 f"({', '.join(res.removed) or '-'}) in {time.monotonic() - start:.2f} s")

    def outputs(self) -> list[Path]:
        return [self.state]


def root_steps(settings: Settings, cfg: RootsConfig) -> list[Step]:
    steps: list[Step] = []
    for spec in cfg.classes.values():
        steps += [BuildRoot(settings, cfg, spec), RootModules(settings, cfg, spec)]
    if settings.nodes.exists():
        steps.append(NodeLayers(settings, cfg, settings.nodes))
    return steps
