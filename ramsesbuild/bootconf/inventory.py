"""nodes.toml: the cluster's node inventory, loaded into frozen dataclasses and checked.

The keys are declared in :mod:`ramsesbuild.schemas.nodes` (reference: docs/reference/nodes-toml.md)
and read by the strict reader; this module adds the rules between keys and between nodes:
addresses inside the subnet, one name, MAC, IP and NFS root per node, and what each node boots.
Relative paths are relative to the directory holding nodes.toml.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ..errors import BootConfigError
from ..schema import Layers
from ..schemas.nodes import BootTable, NetworkTable, NodesToml, NodeTable
from ..tomlload import Table, parse_document, suggest
from ..vocabulary import BootMethod, RomKind


@dataclass(frozen=True)
class Network:
    subnet: ipaddress.IPv4Network
    server: ipaddress.IPv4Address
    gateway: ipaddress.IPv4Address | None
    domain: str | None
    server_name: str = "server"  # the server in the nodes' /etc/hosts (node roots)


@dataclass(frozen=True)
class Node:
    name: str
    mac: str  # lower case, colon separated
    ip: ipaddress.IPv4Address
    image: str  # relative to the tftp root
    method: BootMethod
    nfsroot: str
    append: str
    initrd: str | None
    rom: RomKind = RomKind.ETHERBOOT
    profile: str | None = None  # its class: the ramses.toml profile it names or whose image it boots

    @property
    def boot_image(self) -> str:
        """The image file the node's boot ROM (or its iPXE script) loads, relative to the tftp root."""
        return self.rom.boot_image(self.image)

    @property
    def ipxe_script(self) -> str:
        """The node's iPXE script, relative to the tftp root."""
        return f"ipxe/{self.name}.ipxe"


@dataclass(frozen=True)
class Inventory:
    path: Path
    network: Network
    export_options: str
    nfs_options: str | None
    ipxe_chain: str | None
    output: Path
    nodes: tuple[Node, ...]

    def boot_filename(self, node: Node) -> str:
        """What DHCP tells the node's boot ROM to load (for ipxe nodes: once iPXE runs)."""
        return node.ipxe_script if node.method is BootMethod.IPXE else node.boot_image

    def root_path(self, node: Node) -> str:
        """server:/dir[,options], as the kernel's nfsroot= takes it (iPXE scripts)."""
        return f"{self.network.server}:{self.dhcp_root_path(node)}"

    def dhcp_root_path(self, node: Node) -> str:
        """/dir[,options] for DHCP option 17. No "server:" part: the node mounts from the server
        that answered (its siaddr, also in ip=), and Linux 2.4 doing its own DHCP uses the option
        verbatim as the directory, so "server:/dir" would fail its MOUNT with EACCES."""
        opts = f",{self.nfs_options}" if self.nfs_options else ""
        return f"{node.nfsroot}{opts}"


def load(path: Path, default_image: str, profile_images: dict[str, str] | None = None) -> Inventory:
    """Read and check *path*; *default_image* is the pipeline's client image name and
    *profile_images* maps each netboot profile of ramses.toml to its image name."""
    path = Path(path).resolve()
    try:
        content = path.read_bytes()
    except FileNotFoundError:
        raise BootConfigError(f"{path}: node inventory not found; copy nodes.toml from the project "
                              "root and list your nodes in it") from None
    except OSError as exc:
        raise BootConfigError(f"{path}: cannot read the node inventory: {exc.strerror}") from None
    return loads(path, content, default_image, profile_images)


def loads(path: Path, content: bytes, default_image: str, profile_images: dict[str, str] | None = None) -> Inventory:
    """Like :func:`load`, for the bytes *content* read from *path* (named in messages)."""
    top = parse_document(Path(path).resolve(), content, BootConfigError).root()
    NodesToml.check_names(top)
    network = _network(top)
    boot = BootTable.check(top.table("boot") or top.empty("boot"))
    tables = top.array_of_tables("node")
    if not tables:
        raise top.doc.fail("no [[node]] entries; add one per node (name, mac, ip)")
    images = _Images(default_image, dict(profile_images or {}))
    nodes = tuple(_node(i, t, boot, network, images) for i, t in enumerate(tables))
    _check_unique(nodes, tables)
    return Inventory(
        path=top.doc.path,
        network=network,
        export_options=boot.get(BootTable.export_options),
        nfs_options=boot.get(BootTable.nfs_options) or None,
        ipxe_chain=boot.get(BootTable.ipxe_chain),
        output=boot.get(BootTable.output),
        nodes=nodes,
    )


# ---------------------------------------------------------------- [network]

def _network(top: Table) -> Network:
    t = top.table("network", required=True)
    assert t is not None
    NetworkTable.check(t)
    subnet_s, netmask = t.get(NetworkTable.subnet), t.get(NetworkTable.netmask)
    spec = f"{subnet_s}/{netmask}" if netmask and "/" not in subnet_s else subnet_s
    try:
        subnet = ipaddress.IPv4Network(spec)
    except ValueError as exc:
        raise t.fail(f"subnet {spec!r} is not an IPv4 network: {exc}", "subnet") from None
    if netmask and "/" in subnet_s and str(subnet.netmask) != netmask:
        raise t.fail(f"netmask {netmask} contradicts subnet {subnet_s}", "netmask")
    if subnet.prefixlen > 30:
        raise t.fail(f"subnet {subnet} has no room for a server and nodes", "subnet")
    server, gateway = t.get(NetworkTable.server), t.get(NetworkTable.gateway)
    _in_subnet(server, subnet, "server", t)
    if gateway is not None:
        _in_subnet(gateway, subnet, "gateway", t)
    return Network(subnet, server, gateway, t.get(NetworkTable.domain), t.get(NetworkTable.server_name))


def _in_subnet(addr: ipaddress.IPv4Address, subnet: ipaddress.IPv4Network, key: str, t: Table) -> None:
    if addr not in subnet:
        raise t.fail(f"{key} {addr} is outside the subnet {subnet}; use an address in {subnet} or change "
                     "[network] subnet", key)
    if addr in (subnet.network_address, subnet.broadcast_address):
        kind = "network" if addr == subnet.network_address else "broadcast"
        raise t.fail(f"{key} {addr} is the {kind} address of {subnet}, not a host", key)


# ---------------------------------------------------------------- [[node]]

@dataclass(frozen=True)
class _Images:
    default: str
    by_profile: dict[str, str]


def _node(i: int, t: Table, boot: Table, network: Network, images: _Images) -> Node:
    t = t.labelled(f"[[node]] #{i + 1}:")
    NodeTable.check_names(t)
    name = t.get(NodeTable.name)
    t = t.labelled(f"node {name!r} ([[node]] #{i + 1}):")
    layers = NodeTable.layers(t, boot)
    mac, ip = t.get(NodeTable.mac), t.get(NodeTable.ip)
    _in_subnet(ip, network.subnet, "ip", t)
    if ip in (network.server, network.gateway):
        role = "server" if ip == network.server else "gateway"
        raise t.fail(f"ip {ip} is the [network] {role}'s address", "ip")
    method, rom = layers.get(BootTable.method), layers.get(BootTable.rom)
    if rom is RomKind.THREECOM and method is not BootMethod.DIRECT:
        raise layers.fail(BootTable.rom, f"rom = \"3com\" boots the MBA image with the ROM's TCP/IP method, which "
                                         f"needs method = \"direct\", not {method.value!r}; for a 3Com MBA set to PXE "
                                         "use method = \"ipxe\" without rom")
    image = _image(layers, images)
    return Node(name, mac, ip, image, method, _nfsroot(layers, name, mac, ip),
                " ".join(layers.get(BootTable.append).split()), layers.get(BootTable.initrd), rom,
                _profile(layers, image, images))


def _profile(layers: Layers, image: str, images: _Images) -> str | None:
    """The node's class: the profile it (or [boot]) names, else the profile whose image it boots."""
    if layers.sets(BootTable.profile):
        t = layers.source(BootTable.profile)
        return _known_profile(t, t.get(BootTable.profile) or "", images)
    return next((p for p, img in images.by_profile.items() if img == image), None)


def _image(layers: Layers, images: _Images) -> str:
    """image, else the image of profile (node first, then [boot]), else the default image."""
    from ..kinds import is_tftp_file

    for t in layers.tables:
        if t.has(BootTable.image.name):
            image = t.get(BootTable.image)
            assert image is not None
            return image
        if t.has(BootTable.profile.name):
            return images.by_profile[_known_profile(t, t.get(BootTable.profile) or "", images)]
    if not is_tftp_file(images.default):
        raise layers.tables[0].fail(f"boots the default image {images.default!r}, which is not a file name in "
                                    "the tftp root; set image (or ramses.toml [netboot] for a client image)")
    return images.default


def _known_profile(t: Table, prof: str, images: _Images) -> str:
    if prof not in images.by_profile:
        known = ", ".join(sorted(images.by_profile)) or "none"
        raise t.fail(f"profile {prof!r} has no netboot image in ramses.toml (netboot profiles: {known})"
                     f"{suggest(prof, images.by_profile)}", "profile")
    return prof


def _nfsroot(layers: Layers, name: str, mac: str, ip: ipaddress.IPv4Address) -> str:
    root = layers.get(BootTable.nfsroot).format(name=name, ip=ip, mac=mac.replace(":", "-"))
    if not root.startswith("/") or any(c.isspace() or c in "\"'#(),;" for c in root):
        raise layers.fail(BootTable.nfsroot, f"nfsroot {root!r} must be an absolute path without spaces, quotes, "
                                             "#, parentheses, commas or ;")
    return root


_UNIQUE: tuple[tuple[str, str, Callable[[Node], object]], ...] = (
    ("name", "name", lambda n: n.name), ("mac", "MAC", lambda n: n.mac), ("ip", "IP", lambda n: n.ip),
    ("nfsroot", "NFS root", lambda n: n.nfsroot),
)


def _check_unique(nodes: tuple[Node, ...], tables: list[Table]) -> None:
    for key, what, value_of in _UNIQUE:
        seen: dict[object, int] = {}
        for i, node in enumerate(nodes):
            value = value_of(node)
            if value in seen:
                j = seen[value]
                raise tables[i].fail(f"node {node.name!r} ([[node]] #{i + 1}): duplicate {what} {value}, already "
                                     f"used by node {nodes[j].name!r} ([[node]] #{j + 1}); every node needs its own",
                                     key if tables[i].has(key) else None)
            seen[value] = i
