"""kea-dhcp4.conf from the inventory: the same nodes, addresses and boot files as dhcpd.conf.

Kea gives a host reservation's boot-file-name precedence over any client class, so a node whose
boot file depends on who asks (its firmware, or the iPXE that firmware loaded) has no
boot-file-name in its reservation; classes pick the file instead:

* ``ramses-ipxe``: the request comes from iPXE (user class "iPXE"); then ``ramses-ipxe-<node>``
  (that node's MAC) gives the node's script;
* ``ramses-uefi-pxe`` / ``ramses-uefi-http``: firmware of a node whose reservation puts it in
  ``ramses-uefi`` asks by client architecture (option 93: 7 or 9, EFI x86-64 PXE; 16, EFI
  x86-64 HTTP boot, which also needs vendor class "HTTPClient" echoed) and gets the EFI iPXE
  by TFTP name or by URL;
* ``ramses-bios-pxe``: a PXE ROM of a BIOS node in ``ramses-bios-chain`` gets the iPXE chain
  loader ([boot] ipxe_chain, e.g. undionly.kpxe);
* ``BOOTP`` (Kea's bootp hook, loaded when a node has a 3Com MBA ROM): BOOTP requests, which
  the MBA's TCP/IP boot method can send, are answered like DHCP ones.

The loader classes are ``only-if-required`` (required by the subnet), so they are evaluated
after the reservation has put the node in its class. Etherboot and 3Com nodes, and iPXE ROMs
that run the script directly, get their file from their reservation.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from ..valuerules import KEA_FILE_MAX, KEA_HOSTNAME_MAX, KEA_INTERFACE, KEA_OPTION_MAX, kea_option_text, kea_text
from ..vocabulary import BootMethod, Firmware
from .inventory import Inventory, Node
from .render import GENERATED

# Debian's (x86-64) directory of Kea hook libraries; Kea 2.2 wants an absolute path.
KEA_HOOKS_DIR = "/usr/lib/x86_64-linux-gnu/kea/hooks"
EFI_PXE_ARCHES = (0x0007, 0x0009)  # option 93: EFI x86-64 (BC) PXE; 9 is what some firmware sends for it
EFI_HTTP_ARCH = 0x0010  # option 93: EFI x86-64 HTTP boot
HTTP_CLIENT = "HTTPClient"  # vendor class (option 60) prefix of UEFI HTTP boot, echoed in the reply
IPXE_TEST = "substring(option[77].hex,0,4) == 'iPXE'"


@dataclass(frozen=True)
class Lit:
    """A JSON value already written out (a checked string literal)."""

    text: str


Json = Lit | str | int | bool | list["Json"] | dict[str, "Json"]


def emit(value: Json, indent: int = 0) -> str:
    """JSON text; every string from the inventory arrives as a :class:`Lit` made by kea_text."""
    pad, inner = "  " * indent, "  " * (indent + 1)
    if isinstance(value, Lit):
        return value.text
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):  # our own constants
        return json.dumps(value)
    if isinstance(value, list):
        if not value:
            return "[]"
        if all(not isinstance(v, (list, dict)) for v in value):
            return "[ " + ", ".join(emit(v) for v in value) + " ]"
        return "[\n" + ",\n".join(inner + emit(v, indent + 1) for v in value) + f"\n{pad}]"
    if not value:
        return "{}"
    if all(not isinstance(v, (list, dict)) for v in value.values()):  # a flat object: one line if short
        flat = "{ " + ", ".join(f"{json.dumps(k)}: {emit(v)}" for k, v in value.items()) + " }"
        if len(pad) + len(flat) <= 100:
            return flat
    items = [f"{inner}{json.dumps(k)}: {emit(v, indent + 1)}" for k, v in value.items()]
    return "{\n" + ",\n".join(items) + f"\n{pad}}}"


def text(value: str, what: str, limit: int = KEA_OPTION_MAX) -> Lit:
    return Lit(kea_text(value, what, limit))


def option(name: str, data: str, what: str, always: bool = True) -> dict[str, Json]:
    out: dict[str, Json] = {"name": name, "data": Lit(kea_option_text(data, what))}
    if always:
        out["always-send"] = True  # clients need these whether or not they asked
    return out


def chained(inv: Inventory, node: Node) -> bool:
    """The node's file depends on who asks: firmware gets a loader, iPXE the node's script."""
    return node.method is BootMethod.IPXE and (node.firmware is Firmware.UEFI or inv.ipxe_chain is not None)


def mac_hex(node: Node) -> str:
    return "0x" + node.mac.replace(":", "")


def classes(inv: Inventory) -> tuple[list[Json], list[str]]:
    """The client classes, and the loader classes the subnet requires."""
    nodes = [n for n in inv.nodes if chained(inv, n)]
    if not nodes:
        return [], []
    uefi = any(n.firmware is Firmware.UEFI for n in nodes)
    bios = any(n.firmware is not Firmware.UEFI for n in nodes)
    out: list[Json] = []
    if uefi:
        out.append({"name": "ramses-uefi"})  # membership from the node's reservation
    if bios:
        out.append({"name": "ramses-bios-chain"})
    out.append({"name": "ramses-ipxe", "test": IPXE_TEST})
    for n in nodes:
        out.append({"name": f"ramses-ipxe-{n.name}", "test": f"member('ramses-ipxe') and pkt4.mac == {mac_hex(n)}",
                    "boot-file-name": text(inv.script_location(n), f"node {n.name}: iPXE script", KEA_FILE_MAX)})
    required = []
    if uefi:
        arches = " or ".join(f"option[93].hex == 0x{a:04x}" for a in EFI_PXE_ARCHES)
        http_url = f"{inv.http_base}/{inv.efi_loader}"
        out += [
            {"name": "ramses-uefi-http", "only-if-required": True,
             "test": f"member('ramses-uefi') and not member('ramses-ipxe') and option[93].hex == 0x{EFI_HTTP_ARCH:04x} "
                     f"and substring(option[60].hex,0,{len(HTTP_CLIENT)}) == '{HTTP_CLIENT}'",
             "boot-file-name": text(http_url, "EFI iPXE URL", KEA_FILE_MAX),
             "option-data": [option("vendor-class-identifier", HTTP_CLIENT, "vendor class")]},
            {"name": "ramses-uefi-pxe", "only-if-required": True,
             "test": f"member('ramses-uefi') and not member('ramses-ipxe') and ({arches})",
             "boot-file-name": text(inv.efi_loader, "[boot] efi_loader", KEA_FILE_MAX)},
        ]
        required += ["ramses-uefi-http", "ramses-uefi-pxe"]
    if bios and inv.ipxe_chain:
        out.append({"name": "ramses-bios-pxe", "only-if-required": True,
                    "test": "member('ramses-bios-chain') and not member('ramses-ipxe')",
                    "boot-file-name": text(inv.ipxe_chain, "[boot] ipxe_chain", KEA_FILE_MAX)})
        required.append("ramses-bios-pxe")
    return out, required


def reservation(inv: Inventory, node: Node) -> dict[str, Json]:
    what = f"node {node.name}"
    res: dict[str, Json] = {"hw-address": node.mac, "ip-address": str(node.ip),
                            "hostname": text(node.name, f"{what}: name", KEA_HOSTNAME_MAX)}
    if chained(inv, node):
        res["client-classes"] = ["ramses-uefi" if node.firmware is Firmware.UEFI else "ramses-bios-chain"]
    else:
        res["boot-file-name"] = text(inv.boot_filename(node), f"{what}: boot file", KEA_FILE_MAX)
    res["option-data"] = [option("host-name", node.name, f"{what}: name"),
                          option("root-path", inv.dhcp_root_path(node), f"{what}: NFS root path")]
    return res


def render_kea(inv: Inventory) -> str:
    """kea-dhcp4.conf (JSON with comments, as Kea reads it)."""
    net = inv.network
    client_classes, required = classes(inv)
    subnet: dict[str, Json] = {"id": 1, "subnet": str(net.subnet), "next-server": str(net.server)}
    opts: list[Json] = [option("broadcast-address", str(net.subnet.broadcast_address), "broadcast", False)]
    if net.gateway:
        opts.insert(0, option("routers", str(net.gateway), "[network] gateway", False))
    subnet["option-data"] = opts
    if required:
        subnet["require-client-classes"] = list(required)
    subnet["reservations"] = [reservation(inv, n) for n in inv.nodes]
    dhcp4: dict[str, Json] = {
        # Kea opens sockets only on interfaces that are up when it starts: retry for 5 minutes
        "interfaces-config": {"interfaces": [Lit(KEA_INTERFACE.text(inv.interface or "*", "[network] interface"))],
                              "service-sockets-max-retries": 60, "service-sockets-retry-wait-time": 5000},
        "lease-database": {"type": "memfile", "lfc-interval": 3600},
        "host-reservation-identifiers": ["hw-address"],
    }
    if any(n.rom == "3com" for n in inv.nodes):
        dhcp4["hooks-libraries"] = [{"library": f"{KEA_HOOKS_DIR}/libdhcp_bootp.so"}]
    if net.domain:
        dhcp4["option-data"] = [option("domain-name", net.domain, "[network] domain", False)]
    if client_classes:
        dhcp4["client-classes"] = client_classes
    dhcp4["subnet4"] = [subnet]
    head = [f"// kea-dhcp4.conf for the cluster: {GENERATED}.", "// Install as /etc/kea/kea-dhcp4.conf."]
    return "\n".join(head) + "\n" + emit({"Dhcp4": dhcp4}) + "\n"
