"""Which node boots which file of the tftp root, and how: one answer for the run's summary,
`ramsesbuild status` and the boot-config tasks.

A node reaches the files of its boot in one of three ways (:class:`BootRoute`): its boot ROM
loads a file *directly* (the file DHCP names: the image, its 3Com MBA image, or the node's
iPXE script), its iPXE script loads the image, or the image is *wrapped* inside the 3Com MBA
image the ROM loads. So for the shipped nodes.toml, the NBI image is booted by node01 and
node02 directly, by node03 wrapped in vmlinuz-...-imggen and by node04 through its iPXE script.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from pathlib import Path

from .bootconf.inventory import Inventory, Node, load, loads
from .settings import Settings
from .state import BootRoute, NodeBoot
from .vocabulary import BootMethod, RomKind


def routes(inv: Inventory, node: Node) -> list[tuple[str, BootRoute]]:
    """The files (relative to the tftp root) *node* boots from, each with how it gets there."""
    if node.method is BootMethod.IPXE:
        return [(node.ipxe_script, BootRoute.DIRECT), (node.image, BootRoute.IPXE_SCRIPT)]
    if node.rom is RomKind.THREECOM:
        return [(node.boot_image, BootRoute.DIRECT), (node.image, BootRoute.WRAPPED)]
    return [(node.image, BootRoute.DIRECT)]


def users(inv: Inventory, served: Callable[[str], bool] | None = None) -> dict[str, tuple[NodeBoot, ...]]:
    """Each file any node boots from -> the nodes that do, and how (in nodes.toml order). With
    *served* (is this file in the tftp root?), a node's boot stops at the first file that is not:
    a node whose 3Com MBA image is missing boots no image inside it."""
    out: dict[str, list[NodeBoot]] = {}
    for node in inv.nodes:
        for file, route in routes(inv, node):
            if served is not None and not served(file):
                break
            out.setdefault(file, []).append(NodeBoot(node.name, route))
    return {f: tuple(u) for f, u in out.items()}


def describe(uses: Iterable[NodeBoot]) -> str:
    """ "node01, node02 directly; node04 through its iPXE script; node03 inside its 3Com MBA image" """
    parts = []
    for route in BootRoute:
        names = [u.name for u in uses if u.route is route]
        if names:
            parts.append(f"{', '.join(names)} {route.phrase}")
    return "; ".join(parts)


def inventory_of(settings: Settings, nodes_path: Path | None = None) -> Inventory:
    """The checked inventory of *settings* ([paths] nodes, or *nodes_path*). Parsed once per
    content: a doit start needs it for both boot tasks' targets and again for the summary."""
    nodes_path = nodes_path or settings.nodes
    cmdline_max = command_line_max(settings.version)
    try:
        content = Path(nodes_path).read_bytes()
    except OSError:  # says what is wrong
        return load(nodes_path, settings.default_netboot_image(), settings.netboot_images(), cmdline_max)
    images = tuple(sorted(settings.netboot_images().items()))
    return _parse(Path(nodes_path), content, settings.default_netboot_image(), images, cmdline_max)


def command_line_max(version: str) -> int:
    """How much of its command line the project's kernels keep (their family's COMMAND_LINE_SIZE - 1)."""
    from .errors import FamilyError
    from .family import family_for_version
    from .valuerules import CMDLINE_MAX_MODERN

    try:
        return family_for_version(version).command_line_size - 1
    except FamilyError:
        return CMDLINE_MAX_MODERN


@functools.lru_cache(maxsize=4)
def _parse(path: Path, content: bytes, default: str, images: tuple[tuple[str, str], ...],
           cmdline_max: int) -> Inventory:
    return loads(path, content, default, dict(images), cmdline_max)
