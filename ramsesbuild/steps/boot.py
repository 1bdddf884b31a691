"""boot-config / boot-tftp: the cluster's DHCP, NFS and TFTP configuration from nodes.toml.

boot-config writes dhcpd.conf, exports and tftpd-hpa into nodes.toml's [boot] output directory;
boot-tftp writes the per-node iPXE scripts into the tftpboot directory. Both read nodes.toml
(an input) and run again when the settings they use change, and when an image they name is
installed anew, changes or is retired (their identity holds every installed image's sha256, read
when doit checks them: after the run's netboot-image tasks). A broken nodes.toml does not break
`doit list`: the task then fails with the message when run.
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from .. import bootconf
from ..bootmap import inventory_of
from ..errors import BootConfigError
from ..log import TaskLog, say
from ..paths import rel
from ..settings import Settings
from ..state import NetbootStamp
from .base import Identity, Kept, Stage, Step, TaskName
from .netboot import installed_stamps, stamp_files

FORMAT = 1  # bump when the generated text changes, so existing outputs are rewritten

def installed_images(settings: Settings) -> dict[str, str | None]:
    """Each image the build directory installed into the tftp root -> its sha256 (None: not there)."""
    out: dict[str, str | None] = {}
    for st in installed_stamps(settings).values():
        if isinstance(st, NetbootStamp):
            for name, sha in zip(stamp_files(st), (st.sha256, st.mba_sha256), strict=False):
                there = (settings.tftpboot / name).is_file()
                out[name] = sha if there else None
    return dict(sorted(out.items()))


class _BootStep(Step):
    identity_doc: ClassVar[dict[str, str]] = {
        "format": "the text ramsesbuild generates (a new version)", "images": "each netboot profile's image name",
        "default": "the image of nodes that name none", "tftpboot": "[paths] tftpboot",
        "installed": "each installed image's sha256 (an image installed anew, changed or retired)",
        "roots": "[paths] roots (node roots)", "classes": "the node classes with a root"}

    def __init__(self, settings: Settings, nodes: Path, stage: Stage, doc: str):
        from ..noderoot.project import config

        self.settings = settings
        self.nodes = Path(nodes)
        self.roots = config(settings)
        self.name = TaskName(stage)
        self.doc = doc
        try:  # the files it writes, for doit's targets and clean (the inventory is read again to run)
            self.files_now = sorted(self.files(inventory_of(settings, self.nodes), settings.tftpboot))
        except BootConfigError:
            self.files_now = []  # the action reports it

    def inputs(self) -> list[Path]:
        return [self.nodes]

    def identity(self) -> Identity:
        s = self.settings
        out: dict[str, object] = {"format": FORMAT, "images": s.netboot_images(),
                                  "default": s.default_netboot_image(), "tftpboot": rel(s.root, s.tftpboot),
                                  "installed": installed_images(s)}
        if self.roots is not None:
            out |= {"roots": rel(s.root, self.roots.roots), "classes": sorted(self.roots.classes)}
        return out

    def booted(self, inv: bootconf.Inventory) -> bootconf.Inventory:
        """*inv* as the nodes boot it: with node roots, a node of a class with a root mounts its
        class's base root, read-only (ramsesbuild.noderoot.project)."""
        if self.roots is None:
            return inv
        from ..noderoot.project import rooted_inventory

        return rooted_inventory(self.roots, inv)

    def targets(self) -> list[Path]:
        return self.files_now

    def outputs(self) -> list[Path]:
        return self.files_now

    def run(self, log: TaskLog) -> None:
        inv = inventory_of(self.settings, self.nodes)
        log.line(f"{self.nodes}: {len(inv.nodes)} nodes on {inv.network.subnet}, server {inv.network.server}")
        self.write(inv, self.settings.tftpboot, log)

    def files(self, inv: bootconf.Inventory, tftp_root: Path) -> dict[Path, str]:
        """What it writes for *inv*: path -> text."""
        raise NotImplementedError

    def write(self, inv: bootconf.Inventory, tftp_root: Path, log: TaskLog) -> None:
        raise NotImplementedError


class BootConfig(_BootStep):
    """dhcpd.conf (or kea-dhcp4.conf), exports, tftpd-hpa and the nginx site for the nodes in
    nodes.toml. With node roots, a node of a class with a root boots its class's base root and
    the exports give each node its own directory alone (ramsesbuild.noderoot.project)."""

    def __init__(self, settings: Settings, nodes: Path):
        super().__init__(settings, nodes, Stage.BOOT_CONFIG,
                         "dhcpd.conf, /etc/exports and tftpd-hpa settings for the nodes in nodes.toml")
        if self.roots:
            self.doc += " (node roots)"

    def files(self, inv: bootconf.Inventory, tftp_root: Path) -> dict[Path, str]:
        if self.roots is None:
            return bootconf.config_files(inv, tftp_root)
        from ..noderoot.project import boot_files

        return boot_files(self.roots, inv, tftp_root)

    def write(self, inv: bootconf.Inventory, tftp_root: Path, log: TaskLog) -> None:
        from ..bootconf.write import prune_config, write_files

        files = self.files(inv, tftp_root)
        for path in write_files(files):
            log.line(f"wrote {path}")
        for path in prune_config(inv, set(files)):
            log.line(f"removed {path} (no longer generated)")
        for missing in bootconf.missing_files(inv, tftp_root):
            log.line(f"warning: {missing}")
            say(f"warning: {missing}")


class BootTftp(_BootStep):
    """Per-node iPXE scripts under tftpboot/ipxe/ for nodes.toml's ipxe nodes (a node of a class
    with a root: its class's base root, read-only, on the kernel command line)."""

    def files(self, inv: bootconf.Inventory, tftp_root: Path) -> dict[Path, str]:
        return bootconf.tftp_files(self.booted(inv), tftp_root)

    def __init__(self, settings: Settings, nodes: Path):
        super().__init__(settings, nodes, Stage.BOOT_TFTP,
                         f"per-node iPXE boot scripts in {rel(settings.root, settings.tftpboot)}/ipxe for nodes.toml")

    def write(self, inv: bootconf.Inventory, tftp_root: Path, log: TaskLog) -> None:
        changed, removed = bootconf.write_tftp(self.booted(inv), tftp_root)
        for path in changed:
            log.line(f"wrote {path}")
        for path in removed:
            log.line(f"removed {path} (node no longer in nodes.toml)")

    def outputs(self) -> list[Path]:
        return []

    def kept(self) -> Kept:
        return Kept(tuple(self.files_now), "the nodes' installed iPXE scripts")
