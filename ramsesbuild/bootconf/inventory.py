"""nodes.toml: the cluster's node inventory, loaded into frozen dataclasses and checked.

    [network]                         the cluster network (never contacted by ramsesbuild)
    subnet = "192.168.10.0/24"        or subnet = "192.168.10.0" + netmask = "255.255.255.0"
    server = "192.168.10.1"           DHCP next-server, TFTP and NFS server
    gateway = "192.168.10.1"          optional: option routers
    domain = "cluster.example"        optional: option domain-name

    [boot]                            defaults for every node; all optional
    image = "..."                     default: the pipeline's client image (ramses.toml [netboot])
    method = "direct"                 "direct": the boot ROM loads `image` itself (Etherboot
                                      NBI/ELF, 3Com MBA image); "ipxe": an iPXE script per node
                                      loads `image` as a bzImage with a kernel command line
    rom = "etherboot"                 the node's boot ROM, for method "direct": "etherboot" loads
                                      `image`; "3com" (3Com MBA / BootWare, TCP/IP boot method)
                                      loads `image` + "-imggen", the MBA image `ramsesbuild imggen
                                      -a` (or ramses.toml [netboot] mba = true) makes of it
    nfsroot = "/tftpboot/{ip}"        NFS root directory per node ({name}, {ip}, {mac})
    nfs_options = ""                  NFS mount options for the root (e.g. "vers=3,tcp"), added
                                      to DHCP root-path and to nfsroot= on the kernel command line
    export_options = "rw,no_root_squash"
    append = ""                       extra kernel arguments (ipxe nodes), added last
    initrd = ""                       initrd file in the tftp root (ipxe nodes)
    ipxe_chain = ""                   if set, a plain PXE ROM is first given this file (e.g.
                                      "undionly.kpxe") and only iPXE gets the node's script
    output = "build/bootconf"         where dhcpd.conf, exports and tftpd-hpa are written

    [[node]]                          one per node
    name = "node01"
    mac = "52:54:00:12:34:01"
    ip = "192.168.10.11"
    image = "..."                     optional, file in the tftp root; default: the pipeline's
                                      client image (ramses.toml [netboot] output)
    profile = "gateway"               optional instead of image: the netboot image of that
                                      ramses.toml profile (a node class with its own kernel)
    method, rom, nfsroot, append,     optional per-node overrides (profile also in [boot])
    initrd

Relative paths are relative to the directory holding nodes.toml.
"""

from __future__ import annotations

import ipaddress
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import BootConfigError
from ..imggen import mba_name
from ..tomlload import decode_utf8, suggest

METHODS = ("direct", "ipxe")
ROMS = ("etherboot", "3com")
NETWORK_KEYS = {"subnet", "netmask", "server", "gateway", "domain"}
BOOT_KEYS = {"image", "profile", "method", "rom", "nfsroot", "nfs_options", "export_options", "append", "initrd",
             "ipxe_chain", "output"}
NODE_KEYS = {"name", "mac", "ip", "image", "profile", "method", "rom", "nfsroot", "append", "initrd"}
NAME_RE = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
MAC_RE = re.compile(r"^[0-9a-f]{2}([:-])[0-9a-f]{2}(\1[0-9a-f]{2}){4}$", re.IGNORECASE)
FILE_RE = re.compile(r"^[A-Za-z0-9._+-]+(/[A-Za-z0-9._+-]+)*$")
OPTIONS_RE = re.compile(r"^[A-Za-z0-9_=:/.,-]+$")
DOMAIN_RE = re.compile(r"^[a-z0-9]([a-z0-9.-]*[a-z0-9])?$", re.IGNORECASE)
# Node classes of today's clusters (issue 21). Not read from nodes.toml yet: the settings schema
# will carry them; until then the renderers take them from these fields (defaults: as before).
FIRMWARES = ("bios", "uefi")  # uefi: DHCP hands the EFI iPXE by client architecture (option 93)
TRANSFERS = ("tftp", "http")  # how an ipxe node's script, kernel, initrd and layers are fetched
DHCP_SERVERS = ("isc", "kea")  # whose configuration boot-config writes


@dataclass(frozen=True)
class Network:
    subnet: ipaddress.IPv4Network
    server: ipaddress.IPv4Address
    gateway: ipaddress.IPv4Address | None
    domain: str | None


@dataclass(frozen=True)
class Node:
    name: str
    mac: str  # lower case, colon separated
    ip: ipaddress.IPv4Address
    image: str  # relative to the tftp root
    method: str
    nfsroot: str
    append: str
    initrd: str | None
    rom: str = "etherboot"
    firmware: str = "bios"  # FIRMWARES; "uefi" needs method "ipxe" and an EFI-stub kernel (x86_64)
    transfer: str = "tftp"  # TRANSFERS; "http": iPXE fetches the script and everything it loads over HTTP
    layers: tuple[str, ...] = ()  # more initrds after `initrd` (per-node layers), in the tftp root

    @property
    def initrds(self) -> tuple[str, ...]:
        """Every initrd the node's iPXE script loads, in order (the kernel unpacks them in order)."""
        return ((self.initrd,) if self.initrd else ()) + self.layers

    @property
    def boot_image(self) -> str:
        """The image file the node's boot ROM (or its iPXE script) loads, relative to the tftp root."""
        return mba_name(self.image) if self.rom == "3com" else self.image

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
    dhcp: str = "isc"  # DHCP_SERVERS: boot-config writes dhcpd.conf ("isc") or kea-dhcp4.conf ("kea")
    efi_loader: str = "snponly.efi"  # EFI iPXE in the tftp root, handed to UEFI nodes' firmware
    http_port: int = 80  # the web server (boot-config's nginx site) on [network] server
    interface: str | None = None  # Kea's interfaces-config; None: every interface ("*")

    @property
    def http_base(self) -> str:
        """URL of the tftp root on the boot server's web server (no trailing slash)."""
        port = "" if self.http_port == 80 else f":{self.http_port}"
        return f"http://{self.network.server}{port}"

    @property
    def web_nodes(self) -> tuple[Node, ...]:
        """Nodes that fetch anything over HTTP (their script, or UEFI HTTP boot of the loader)."""
        return tuple(n for n in self.nodes if n.method == "ipxe" and (n.transfer == "http" or n.firmware == "uefi"))

    def script_location(self, node: Node) -> str:
        """Where iPXE fetches the node's script: a tftp-root path, or its URL for http nodes."""
        return f"{self.http_base}/{node.ipxe_script}" if node.transfer == "http" else node.ipxe_script

    def file_location(self, node: Node, path: str) -> str:
        """How the node's iPXE script names *path* (relative to the tftp root): an absolute path
        (resolved against the tftp server the script came from) or a URL on the web server."""
        return f"{self.http_base}/{path}" if node.transfer == "http" else f"/{path}"

    def boot_filename(self, node: Node) -> str:
        """What DHCP tells the node's boot ROM to load (for ipxe nodes: once iPXE runs)."""
        return self.script_location(node) if node.method == "ipxe" else node.boot_image

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
    path = Path(path).resolve()
    text = decode_utf8(content, path, BootConfigError)
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise BootConfigError(f"{path}: not valid TOML: {exc}") from None
    return _Parser(path, text, raw, default_image, dict(profile_images or {})).inventory()


@dataclass(frozen=True)
class _Where:
    """Where a value sits in nodes.toml, for error messages."""

    path: Path
    text: str

    def line(self, table: str, key: str | None = None, index: int = 0) -> int | None:
        """Line of *key* in the *index*-th [table] / [[table]], or of the header itself."""
        header = re.compile(rf"^\s*\[\[?\s*{re.escape(table)}\s*\]\]?\s*(#.*)?$")
        lines = self.text.splitlines()
        starts = [i for i, line in enumerate(lines) if header.match(line)]
        if index >= len(starts):
            return None
        start = starts[index]
        if key is None:
            return start + 1
        keyre = re.compile(rf"^\s*{re.escape(key)}\s*=")
        for i in range(start + 1, len(lines)):
            if re.match(r"^\s*\[", lines[i]):
                break
            if keyre.match(lines[i]):
                return i + 1
        return start + 1

    def error(self, message: str, table: str, key: str | None = None, index: int = 0) -> BootConfigError:
        line = self.line(table, key, index)
        return BootConfigError(f"{self.path}:{line}: {message}" if line else f"{self.path}: {message}")


@dataclass(frozen=True)
class _Parser:
    path: Path
    text: str
    raw: dict[str, Any]
    default_image: str
    profile_images: dict[str, str]

    @property
    def where(self) -> _Where:
        return _Where(self.path, self.text)

    def inventory(self) -> Inventory:
        unknown = set(self.raw) - {"network", "boot", "node"}
        if unknown:
            name = sorted(unknown)[0]
            hint = suggest(name, ("network", "boot", "node"))
            raise self.where.error(f"unknown table [{name}]{hint}; nodes.toml has [network], [boot] and "
                                   "[[node]]", name)
        network = self.network()
        boot = self.table("boot", BOOT_KEYS, required=False)
        nodes_raw = self.raw.get("node")
        if not isinstance(nodes_raw, list) or not nodes_raw:
            raise BootConfigError(f"{self.path}: no [[node]] entries; add one per node "
                                  "(name, mac, ip)")
        nodes = tuple(self.node(i, t, boot, network) for i, t in enumerate(nodes_raw))
        self.check_unique(nodes)
        chain = self.string(boot, "boot", "ipxe_chain", None)
        if chain is not None:
            self.filename(chain, "boot", "ipxe_chain")
        output = Path(self.string(boot, "boot", "output", "build/bootconf") or "build/bootconf")
        return Inventory(
            path=self.path,
            network=network,
            export_options=self.options(boot, "export_options", "rw,no_root_squash"),
            nfs_options=self.options(boot, "nfs_options", "") or None,
            ipxe_chain=chain or None,
            output=output if output.is_absolute() else self.path.parent / output,
            nodes=nodes,
        )

    # -------------------------------------------------------------- tables and scalars

    def table(self, name: str, allowed: set[str], required: bool = True) -> dict[str, Any]:
        t = self.raw.get(name)
        if t is None and not required:
            return {}
        if not isinstance(t, dict):
            raise BootConfigError(f"{self.path}: missing [{name}] table")
        self.known_keys(t, allowed, name)
        return t

    def known_keys(self, t: dict[str, Any], allowed: set[str], table: str, index: int = 0,
                   what: str | None = None) -> None:
        for key in t:
            if key not in allowed:
                hint = suggest(key, allowed) or f"; allowed: {', '.join(sorted(allowed))}"
                raise self.where.error(f"{what or f'[{table}]'}: unknown key {key!r}{hint}", table, key, index)

    def string(self, t: dict[str, Any], table: str, key: str, default: str | None,
               index: int = 0, what: str | None = None) -> str | None:
        v = t.get(key, default)
        if v is not None and not isinstance(v, str):
            raise self.where.error(f"{what or f'[{table}]'}: {key} must be a string", table, key, index)
        return v

    def filename(self, value: str, table: str, key: str, index: int = 0, what: str | None = None) -> str:
        if not FILE_RE.match(value) or ".." in value.split("/"):
            raise self.where.error(
                f"{what or f'[{table}]'}: {key} = {value!r} must be a file name relative to the "
                "tftp root (letters, digits, . _ + - and /; no leading /, no ..)", table, key, index)
        return value

    # -------------------------------------------------------------- [network]

    def network(self) -> Network:
        t = self.table("network", NETWORK_KEYS)
        subnet_s = self.string(t, "network", "subnet", None)
        if not subnet_s:
            raise self.where.error("[network] needs subnet = \"192.168.10.0/24\" (or subnet + netmask)",
                                   "network")
        netmask = self.string(t, "network", "netmask", None)
        spec = f"{subnet_s}/{netmask}" if netmask and "/" not in subnet_s else subnet_s
        try:
            subnet = ipaddress.IPv4Network(spec)
        except ValueError as exc:
            raise self.where.error(f"[network] subnet {spec!r} is not an IPv4 network: {exc}",
                                   "network", "subnet") from None
        if netmask and "/" in subnet_s and str(subnet.netmask) != netmask:
            raise self.where.error(f"[network] netmask {netmask} contradicts subnet {subnet_s}",
                                   "network", "netmask")
        if subnet.prefixlen > 30:
            raise self.where.error(f"[network] subnet {subnet} has no room for a server and nodes",
                                   "network", "subnet")
        server = self.host_address(t, "server", subnet, required=True)
        gateway = self.host_address(t, "gateway", subnet, required=False)
        domain = self.string(t, "network", "domain", None)
        if domain is not None and not DOMAIN_RE.match(domain):
            raise self.where.error(f"[network] domain {domain!r} is not a DNS domain name",
                                   "network", "domain")
        assert server is not None
        return Network(subnet, server, gateway, domain)

    def host_address(self, t: dict[str, Any], key: str, subnet: ipaddress.IPv4Network,
                     required: bool) -> ipaddress.IPv4Address | None:
        value = self.string(t, "network", key, None)
        if value is None:
            if required:
                raise self.where.error(f"[network] needs {key} = \"<IPv4 address>\"", "network")
            return None
        try:
            addr = ipaddress.IPv4Address(value)
        except ValueError:
            raise self.where.error(f"[network] {key} {value!r} is not an IPv4 address",
                                   "network", key) from None
        self.in_subnet(addr, subnet, f"[network] {key}", "network", key)
        return addr

    def in_subnet(self, addr: ipaddress.IPv4Address, subnet: ipaddress.IPv4Network, what: str,
                  table: str, key: str, index: int = 0) -> None:
        if addr not in subnet:
            raise self.where.error(f"{what} {addr} is outside the subnet {subnet}; use an address "
                                   f"in {subnet} or change [network] subnet", table, key, index)
        if addr in (subnet.network_address, subnet.broadcast_address):
            kind = "network" if addr == subnet.network_address else "broadcast"
            raise self.where.error(f"{what} {addr} is the {kind} address of {subnet}, not a host",
                                   table, key, index)

    # -------------------------------------------------------------- [boot]

    def options(self, boot: dict[str, Any], key: str, default: str) -> str:
        opts = self.string(boot, "boot", key, default)
        assert opts is not None
        if opts and not OPTIONS_RE.match(opts):
            raise self.where.error(f"[boot] {key} {opts!r} must be a comma-separated option list "
                                   "without spaces", "boot", key)
        return opts

    # -------------------------------------------------------------- [[node]]

    def node(self, i: int, t: Any, boot: dict[str, Any], network: Network) -> Node:
        label = f"[[node]] #{i + 1}"
        if not isinstance(t, dict):
            raise self.where.error(f"{label} must be a table", "node", None, i)
        self.known_keys(t, NODE_KEYS, "node", i, label)
        for key in ("name", "mac", "ip"):
            if not isinstance(t.get(key), str) or not t[key]:
                raise self.where.error(f"{label}: needs {key} = \"...\"", "node", None, i)
        name = t["name"]
        if not NAME_RE.match(name):
            raise self.where.error(f"{label}: name {name!r} is not a host name (lower-case letters, "
                                   "digits and -, at most 63, no leading/trailing -)", "node", "name", i)
        what = f"node {name!r} ({label})"
        mac = self.mac(t["mac"], what, i)
        try:
            ip = ipaddress.IPv4Address(t["ip"])
        except ValueError:
            raise self.where.error(f"{what}: ip {t['ip']!r} is not an IPv4 address", "node", "ip", i) from None
        self.in_subnet(ip, network.subnet, f"{what}: ip", "node", "ip", i)
        if ip in (network.server, network.gateway):
            role = "server" if ip == network.server else "gateway"
            raise self.where.error(f"{what}: ip {ip} is the [network] {role}'s address", "node", "ip", i)

        def opt(key: str, default: str | None) -> str | None:
            v = self.string(t, "node", key, None, i, what)
            return v if v is not None else self.string(boot, "boot", key, default)

        def src(key: str) -> tuple[str, str, int]:  # where a value came from: table, key, index
            return ("node", key, i) if key in t else ("boot", key, 0)

        image = self.filename(self.image_of(t, boot, what, i, src) or "", *src("image"), what)
        method = opt("method", "direct")
        if method not in METHODS:
            raise self.where.error(f"{what}: method {method!r} must be one of {', '.join(METHODS)}",
                                   *src("method"))
        initrd = opt("initrd", None) or None
        if initrd is not None:
            self.filename(initrd, *src("initrd"), what)
        append = opt("append", "") or ""
        if "\n" in append or '"' in append:
            raise self.where.error(f"{what}: append must be one line without double quotes", *src("append"))
        nfsroot = self.nfsroot(opt("nfsroot", "/tftpboot/{ip}") or "", name, mac, ip, what, src("nfsroot"))
        rom = opt("rom", "etherboot")
        if rom not in ROMS:
            raise self.where.error(f"{what}: rom {rom!r} must be one of {', '.join(ROMS)}", *src("rom"))
        if rom == "3com" and method != "direct":
            raise self.where.error(f"{what}: rom = \"3com\" boots the MBA image with the ROM's TCP/IP method, "
                                   f"which needs method = \"direct\", not {method!r}; for a 3Com MBA set to PXE "
                                   "use method = \"ipxe\" without rom", *src("rom"))
        initrd = opt("initrd", None) or None
        if initrd is not None:
            self.filename(initrd, *src("initrd"), what)
        append = opt("append", "") or ""
        if "\n" in append or '"' in append:
            raise self.where.error(f"{what}: append must be one line without double quotes", *src("append"))
        nfsroot = self.nfsroot(opt("nfsroot", "/tftpboot/{ip}") or "", name, mac, ip, what, src("nfsroot"))
        return Node(name, mac, ip, image, method, nfsroot, " ".join(append.split()), initrd, rom)

    def image_of(self, t: dict[str, Any], boot: dict[str, Any], what: str, i: int, src: Any) -> str | None:
        """image, else the image of profile (node first, then [boot]), else the default image."""
        for table, key_src in ((t, "node"), (boot, "boot")):
            if "image" in table:
                return self.string(table, key_src, "image", None, i if key_src == "node" else 0, what)
            if "profile" in table:
                prof = self.string(table, key_src, "profile", None, i if key_src == "node" else 0, what) or ""
                if prof not in self.profile_images:
                    known = ", ".join(sorted(self.profile_images)) or "none"
                    raise self.where.error(f"{what}: profile {prof!r} has no netboot image in ramses.toml "
                                           f"(netboot profiles: {known}){suggest(prof, self.profile_images)}",
                                           *src("profile"))
                return self.profile_images[prof]
        return self.default_image

    def mac(self, value: str, what: str, i: int) -> str:
        if not MAC_RE.match(value):
            raise self.where.error(f"{what}: mac {value!r} is not a MAC address; write six hex pairs "
                                   "like 52:54:00:12:34:56", "node", "mac", i)
        mac = value.lower().replace("-", ":")
        first = int(mac[:2], 16)
        if first & 1:
            raise self.where.error(f"{what}: mac {value} is a multicast/broadcast address (low bit of "
                                   "the first octet set), not a network card's", "node", "mac", i)
        if mac == "00:00:00:00:00:00":
            raise self.where.error(f"{what}: mac {value} is all zeros", "node", "mac", i)
        return mac

    def nfsroot(self, template: str, name: str, mac: str, ip: ipaddress.IPv4Address, what: str,
                where: tuple[str, str, int]) -> str:
        table, _, index = where
        try:
            root = template.format(name=name, ip=ip, mac=mac.replace(":", "-"))
        except (KeyError, IndexError, ValueError) as exc:
            raise self.where.error(f"{what}: nfsroot {template!r} has a bad placeholder ({exc}); "
                                   "use {name}, {ip} or {mac}", table, "nfsroot", index) from None
        if not root.startswith("/") or any(c.isspace() or c in "\"'#(),;" for c in root):
            raise self.where.error(f"{what}: nfsroot {root!r} must be an absolute path without "
                                   "spaces, quotes, #, parentheses, commas or ;", table, "nfsroot", index)
        return root

    def check_unique(self, nodes: tuple[Node, ...]) -> None:
        for attr, what in (("name", "name"), ("mac", "MAC"), ("ip", "IP"), ("nfsroot", "NFS root")):
            seen: dict[Any, int] = {}
            for i, node in enumerate(nodes):
                value = getattr(node, attr)
                if value in seen:
                    j = seen[value]
                    key = attr if attr in self.raw["node"][i] else None
                    raise self.where.error(
                        f"node {node.name!r} ([[node]] #{i + 1}): duplicate {what} {value}, already used "
                        f"by node {nodes[j].name!r} ([[node]] #{j + 1}); every node needs its own",
                        "node", key, i)
                seen[value] = i
