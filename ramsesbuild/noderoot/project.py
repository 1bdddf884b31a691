"""A project's node roots as the noderoot package takes them: the settings become the frozen
specs of :mod:`ramsesbuild.noderoot.spec` here, in one place (:func:`config`, :func:`layer_spec`);
the steps (ramsesbuild.steps.roots), `ramsesbuild status` and `ramsesbuild node-reset` take
only those.

A node class is a ramses.toml profile with a [profile.X.root] table; its nodes are the nodes
of nodes.toml whose class (``profile``, or the profile whose image they boot) it is.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

from .. import bootconf
from ..errors import RamsesError, RootError, RootSettingError, SettingsError
from ..family import family_for_version
from ..settings import Profile, Settings
from . import exports
from .spec import (
    DEBIAN_ARCH,
    DEFAULT_PACKAGES,
    KIND_OF_FAMILY,
    ClusterSpec,
    LayerSpec,
    NodeSpec,
    RootKind,
    RootSpec,
    base_root,
)

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
        return base_root(self.roots, cls)

    def root_stamp(self, cls: str) -> Path:
        return self.state / f"root-{cls}.json"

    def modules_stamp(self, cls: str) -> Path:
        return self.state / f"root-modules-{cls}.json"


def root_spec(settings: Settings, profile: Profile) -> RootSpec:
    """[profile.X.root] as the noderoot package takes it: the kind from the kernel family, the
    Debian architecture from the profile's arch, the class's override files from [paths] overrides."""
    root = profile.root
    assert root is not None
    kind = KIND_OF_FAMILY.get(family_for_version(settings.version).name, RootKind.DEBIAN)
    arch = DEBIAN_ARCH.get(profile.arch)
    if arch is None:
        raise SettingsError(f"{settings.path}: [profile.{profile.name}.root]: no Debian architecture for "
                            f"the profile's arch {profile.arch!r} (known: {', '.join(DEBIAN_ARCH)})")
    return RootSpec(name=profile.name, kind=kind, suite=root.suite, mirror=root.mirror, architecture=arch,
                    packages=root.packages or DEFAULT_PACKAGES[kind], source_date_epoch=root.source_date_epoch,
                    overrides=settings.overrides_dir / CLASS_OVERRIDES / profile.name, node_dirs=root.node_dirs,
                    command=root.command)


def at_setting(settings: Settings, exc: RootSettingError, cls: str) -> RamsesError:
    """*exc* after the ramses.toml line of class *cls*'s [profile.X.root] key at fault (of the
    table, where the key is left to its default)."""
    from ..tomlload import read_document  # only on the way to an error message

    try:
        doc = read_document(settings.path, RootError)
    except RootError:  # the file changed or went away meanwhile: the message alone
        return exc
    return doc.fail(str(exc), ("profile", cls, "root"), exc.key)


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


def rooted_inventory(cfg: RootsConfig, inv: bootconf.Inventory, spec: LayerSpec | None = None) -> bootconf.Inventory:
    """*inv* as its nodes boot: a node of a class with a root mounts its class's base root
    (DHCP root-path, and nfsroot= in its iPXE script), read-only (`ro`: the base is a read-only
    export). Nodes of other classes keep their nfsroot. *spec*: :func:`layer_spec` of *inv*, when
    the caller has it."""
    spec = spec or layer_spec(cfg, inv)
    rooted = {n.name: str(spec.cluster.base(n.root)) for n in spec.nodes}
    return dataclasses.replace(inv, nodes=tuple(
        dataclasses.replace(n, nfsroot=rooted[n.name], shared_root=True) if n.name in rooted else n
        for n in inv.nodes))


def boot_files(cfg: RootsConfig, inv: bootconf.Inventory, tftp_root: Path) -> dict[Path, str]:
    """boot-config's files with node roots (:func:`rooted_inventory`); the exports give each base
    read-only to the subnet and each node's own directory to that node alone. Nodes of other
    classes keep their nfsroot and export."""
    spec = layer_spec(cfg, inv)
    booted = rooted_inventory(cfg, inv, spec)
    out = bootconf.config_files(booted, tftp_root)
    others = tuple(n for n in booted.nodes if not n.shared_root)
    text = exports.render_exports(spec)
    if others:
        text += "".join(line + "\n" for line in bootconf.render_exports(dataclasses.replace(inv, nodes=others))
                        .splitlines() if not line.startswith("#"))
    out[inv.output / "exports"] = text
    return out


def tree_signature(top: Path | None) -> list[object]:
    """Names, sizes, times and modes of every file below *top* (the admin's override files)."""
    if top is None or not top.is_dir():
        return []
    out: list[object] = []
    for dirpath, _dirs, names in os.walk(top):
        for n in sorted(names):
            st = os.lstat(os.path.join(dirpath, n))
            out.append([os.path.relpath(os.path.join(dirpath, n), top), st.st_size, st.st_mtime_ns, st.st_mode])
    return sorted(out, key=str)
