"""The values the generated files compose from several keys, checked when nodes.toml is read:
each must fit the output fields it goes into (:mod:`ramsesbuild.valuerules`), or the reader
refuses it at the line of the key that makes it too long or wrong.

A key's own value is checked by the schema (``Key(..., reaches=...)``); what is checked here is
what only exists per node: the file DHCP names (an image, its MBA image, the iPXE script or its
URL), the root path with its options (DHCP option 17 and nfsroot=), each file an iPXE script
loads (as a path or a URL) and the kernel line as a whole, against the family's command-line
size.
"""

from __future__ import annotations

from collections.abc import Sequence

from ..schema import KeyBase, Layers
from ..schemas.nodes import BootTable
from ..valuerules import (
    CMDLINE_NFSROOT,
    DHCPD_FILENAME,
    DHCPD_ROOT_PATH,
    IPXE_ARGUMENTS,
    KEA_BOOT_FILE,
    KEA_OPTION,
    Field,
    Format,
    command_line,
    ipxe_words,
)
from ..vocabulary import BootMethod
from .inventory import Inventory, Node


def _first_refusal(value: str, fields: Sequence[Field]) -> str | None:
    return next((r for f in fields if (r := f.refusal(value))), None)


def check_fits(inv: Inventory, node: Node, layers: Layers) -> None:
    """Raise (at the responsible key's line in *layers*) when a composed value does not fit."""
    from .render import kernel_args

    def refuse(key: KeyBase, what: str, value: str, fields: Sequence[Field]) -> None:
        if reason := _first_refusal(value, fields):
            raise layers.fail(key, f"{key.name}: {what} {value!r}: {reason}")

    refuse(BootTable.image, "the boot file", inv.boot_filename(node), (DHCPD_FILENAME, KEA_BOOT_FILE))
    refuse(BootTable.nfsroot, "the root path", inv.dhcp_root_path(node), (DHCPD_ROOT_PATH, KEA_OPTION))
    refuse(BootTable.nfsroot, "the kernel's nfsroot=", inv.root_path(node), (CMDLINE_NFSROOT,))
    if node.method is not BootMethod.IPXE:
        return
    for rd in node.initrds:
        refuse(BootTable.initrd, "the initrd", rd, BootTable.initrd.reaches or ())
    files: list[tuple[KeyBase, str]] = [(BootTable.image, node.image), *((BootTable.initrd, rd) for rd in node.initrds)]
    for key, path in files:
        location = inv.file_location(node, path)
        if reason := ipxe_words(location) or (" " in location and "it holds a space"):
            raise layers.fail(key, f"{key.name}: {location!r} on the iPXE script's kernel/initrd line: {reason}")
    args = kernel_args(inv, node)
    whole = Field(Format.CMDLINE, "the whole line", command_line(inv.cmdline_max), "")
    refuse(BootTable.append if node.append else BootTable.nfsroot, "the kernel command line", args,
           (IPXE_ARGUMENTS, whole))
