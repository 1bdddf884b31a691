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
from ..valuerules import CMDLINE_MAX_MODERN
from ..vocabulary import BootMethod, DhcpServer, Firmware, RomKind, Transfer


@dataclass(frozen=True)
class Network:
    subnet: ipaddress.IPv4Network
    server: ipaddress.IPv4Address
    gateway: ipaddress.IPv4Address | None
    domain: str | None
    interface: str | None = None  # the server's interface on the cluster network; None: every one
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
    initrds: tuple[str, ...] = ()  # ipxe nodes: loaded in order (a shared initrd, per-node layers)
    rom: RomKind = RomKind.ETHERBOOT
    firmware: Firmware = Firmware.BIOS  # UEFI: method ipxe and an EFI-stub (x86_64) kernel
    transfer: Transfer = Transfer.TFTP  # how an ipxe node fetches its script and what it loads
    profile: str | None = None  # its class: the ramses.toml profile it names or whose image it boots
    shared_root: bool = False  # nfsroot is its class's base root (node roots): a read-only export, mounted ro

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
    dhcp: DhcpServer = DhcpServer.ISC  # whose configuration boot-config writes
    efi_loader: str = "snponly.efi"  # EFI iPXE in the tftp root, handed to UEFI nodes' firmware
    http_port: int = 80  # the web server (boot-config's nginx site) on [network] server
    cmdline_max: int = CMDLINE_MAX_MODERN  # bytes of its command line the nodes' kernel keeps

    @property
    def interface(self) -> str | None:
        """The server's cluster interface (Kea's interfaces-config); None: every interface."""
        return self.network.interface

    @property
    def http_base(self) -> str:
        """URL of the tftp root on the boot server's web server (no trailing slash)."""
        port = "" if self.http_port == 80 else f":{self.http_port}"
        return f"http://{self.network.server}{port}"

    @property
    def web_nodes(self) -> tuple[Node, ...]:
        """Nodes that fetch anything over HTTP (their script, or UEFI HTTP boot of the loader)."""
        return tuple(n for n in self.nodes if n.method is BootMethod.IPXE
                     and (n.transfer is Transfer.HTTP or n.firmware is Firmware.UEFI))

    def script_location(self, node: Node) -> str:
        """Where iPXE fetches the node's script: a tftp-root path, or its URL for http nodes."""
        return f"{self.http_base}/{node.ipxe_script}" if node.transfer is Transfer.HTTP else node.ipxe_script

    def file_location(self, node: Node, path: str) -> str:
        """How the node's iPXE script names *path* (relative to the tftp root): an absolute path
        (resolved against the tftp server the script came from) or a URL on the web server."""
        return f"{self.http_base}/{path}" if node.transfer is Transfer.HTTP else f"/{path}"

    def boot_filename(self, node: Node) -> str:
        """What DHCP tells the node's boot ROM to load (for ipxe nodes: once iPXE runs)."""
        return self.script_location(node) if node.method is BootMethod.IPXE else node.boot_image

    def root_path(self, node: Node) -> str:
        """server:/dir[,options], as the kernel's nfsroot= takes it (iPXE scripts)."""
        return f"{self.network.server}:{self.dhcp_root_path(node)}"

    def dhcp_root_path(self, node: Node) -> str:
        """/dir[,options] for DHCP option 17. No "server:" part: the node mounts from the server
        that answered (its siaddr, also in ip=), and Linux 2.4 doing its own DHCP uses the option
        verbatim as the directory, so "server:/dir" would fail its MOUNT with EACCES."""
        opts = f",{self.nfs_options}" if self.nfs_options else ""
        return f"{node.nfsroot}{opts}"


def load(path: Path, default_image: str, profile_images: dict[str, str] | None = None,
         cmdline_max: int = CMDLINE_MAX_MODERN) -> Inventory:
    """Read and check *path*; *default_image* is the pipeline's client image name and
    *profile_images* maps each netboot profile of ramses.toml to its image name; the nodes'
    kernel keeps *cmdline_max* bytes of its command line (the project family's)."""
    path = Path(path).resolve()
    try:
        content = path.read_bytes()
    except FileNotFoundError:
        raise BootConfigError(f"{path}: node inventory not found; copy nodes.toml from the project "
                              "root and list your nodes in it") from None
    except OSError as exc:
        raise BootConfigError(f"{path}: cannot read the node inventory: {exc.strerror}") from None
    return loads(path, content, default_image, profile_images, cmdline_max)


def loads(path: Path, content: bytes, default_image: str, profile_images: dict[str, str] | None = None,
          cmdline_max: int = CMDLINE_MAX_MODERN) -> Inventory:
    """Like :func:`load`, for the bytes *content* read from *path* (named in messages)."""
    top = parse_document(Path(path).resolve(), content, BootConfigError).root()
    NodesToml.check_names(top)
    network = _network(top)
    boot = BootTable.check(top.table("boot") or top.empty("boot"))
    tables = top.array_of_tables("node")
    if not tables:
        raise top.doc.fail("no [[node]] entries; add one per node (name, mac, ip)")
    images = _Images(default_image, dict(profile_images or {}))
    read = [_node(i, t, boot, network, images) for i, t in enumerate(tables)]
    nodes = tuple(node for node, _ in read)
    _check_unique(nodes, tables)
    inv = Inventory(
        path=top.doc.path,
        network=network,
        export_options=boot.get(BootTable.export_options),
        nfs_options=boot.get(BootTable.nfs_options) or None,
        ipxe_chain=boot.get(BootTable.ipxe_chain),
        output=boot.get(BootTable.output),
        nodes=nodes,
        cmdline_max=cmdline_max,
        dhcp=boot.get(BootTable.dhcp),
        efi_loader=boot.get(BootTable.efi_loader),
        http_port=boot.get(BootTable.http_port),
    )
    from .fits import check_fits

    for node, layers in read:
        check_fits(inv, node, layers)
    return inv


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
    return Network(subnet, server, gateway, t.get(NetworkTable.domain), t.get(NetworkTable.interface),
                   t.get(NetworkTable.server_name))


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


def _node(i: int, t: Table, boot: Table, network: Network, images: _Images) -> tuple[Node, Layers]:
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
    firmware, rom = layers.get(BootTable.firmware), layers.get(BootTable.rom)
    method = _method(layers, firmware, rom)
    initrds = tuple(f.format(name=name, ip=ip, mac=mac.replace(":", "-")) for f in layers.get(BootTable.initrd))
    if firmware is Firmware.UEFI:
        _check_efi_names(layers, initrds)
    image = _image(layers, images)
    return Node(name, mac, ip, image, method, _nfsroot(layers, name, mac, ip),
                " ".join(layers.get(BootTable.append).split()), initrds, rom, firmware,
                _transfer(t, layers, method), _profile(layers, image, images)), layers


def _method(layers: Layers, firmware: Firmware, rom: RomKind) -> BootMethod:
    """method, by default "ipxe" for UEFI firmware (its only way) and "direct" for BIOS."""
    if firmware is Firmware.UEFI and rom is RomKind.THREECOM:
        raise layers.fail(BootTable.firmware, 'firmware = "uefi" contradicts rom = "3com": a 3Com MBA is a BIOS boot '
                                              'ROM; set firmware = "bios" for this node, or leave rom out')
    method = layers.get(BootTable.method)
    if method is None:
        return BootMethod.IPXE if firmware is Firmware.UEFI else BootMethod.DIRECT
    if firmware is Firmware.UEFI and method is not BootMethod.IPXE:
        raise layers.fail(BootTable.method, f'firmware = "uefi" boots through the EFI iPXE, which needs method = '
                                            f'"ipxe", not {method.value!r}; leave method out for UEFI nodes')
    if rom is RomKind.THREECOM and method is not BootMethod.DIRECT:
        raise layers.fail(BootTable.rom, f"rom = \"3com\" boots the MBA image with the ROM's TCP/IP method, which "
                                         f"needs method = \"direct\", not {method.value!r}; for a 3Com MBA set to PXE "
                                         "use method = \"ipxe\" without rom")
    return method


def _transfer(t: Table, layers: Layers, method: BootMethod) -> Transfer:
    """transfer, for ipxe nodes; a boot ROM loading the image itself always fetches by TFTP (a
    [boot] transfer is a default for the ipxe nodes, one on the node itself must fit it)."""
    transfer = layers.get(BootTable.transfer)
    if method is BootMethod.IPXE:
        return transfer
    if transfer is Transfer.HTTP and t.has(BootTable.transfer.name):
        raise t.fail('transfer = "http" is for method = "ipxe" nodes: a boot ROM that loads the image itself '
                     "fetches it by TFTP", BootTable.transfer.name)
    return Transfer.TFTP


def _check_efi_names(layers: Layers, initrds: tuple[str, ...]) -> None:
    """The EFI stub of a kernel booted by the 2019 iPXE finds each initrd by its file name (initrd=NAME)."""
    names = [Path(rd).name for rd in initrds]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise layers.fail(BootTable.initrd, f"initrds {', '.join(dupes)} share a file name; a UEFI node's iPXE "
                                            "names each initrd after its file (initrd=NAME): give them different "
                                            "names")


def _profile(layers: Layers, image: str, images: _Images) -> str | None:
    """The node's class: the profile it (or [boot]) names, else the profile whose image it boots."""
    if layers.sets(BootTable.profile):
        t = layers.source(BootTable.profile)
        return _known_profile(t, t.get(BootTable.profile) or "", images)
    return next((p for p, img in images.by_profile.items() if img == image), None)


def _image(layers: Layers, images: _Images) -> str:
    """image, else the image of profile (node first, then [boot]), else the default image."""
    from ..valuerules import is_tftp_file

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
    template = layers.get(BootTable.nfsroot)
    root = template.format(name=name, ip=ip, mac=mac.replace(":", "-"))
    if problem := BootTable.nfsroot.refusal(root):
        raise layers.fail(BootTable.nfsroot, problem if root == template else f"{problem} (from {template!r})")
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
