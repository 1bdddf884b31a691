"""nodes.toml, declared: the cluster's node inventory.

Read by :mod:`ramsesbuild.bootconf.inventory` (which adds the rules that tie keys and nodes
together: addresses inside the subnet, unique names, MACs, IPs and NFS roots) and documented
in docs/reference/nodes-toml.md by :mod:`ramsesbuild.docgen`.
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from ..kinds import Choice, Integer, IPv4, Kind, Opt, PathKind, Strings, Template, Text, TftpFile
from ..schema import FileSchema, Inherit, Key, Section, Shape, Sub
from ..tomlload import Table, check_template, describe
from ..valuerules import (
    CMDLINE_NFSROOT,
    CMDLINE_PARAMETERS,
    CMDLINE_WORD,
    DHCPD_ADDRESS,
    DHCPD_DOMAIN,
    DHCPD_FILENAME,
    DHCPD_HOST,
    DHCPD_HOST_NAME,
    DHCPD_MAC,
    DHCPD_ROOT_PATH,
    EXPORTS_CLIENT,
    EXPORTS_OPTIONS,
    EXPORTS_PATH,
    IPXE_ARGUMENTS,
    IPXE_COMMENT,
    IPXE_FILE,
    IPXE_SCRIPT_NAME,
    KEA_ADDRESS,
    KEA_BOOT_FILE,
    KEA_HOSTNAME,
    KEA_INTERFACE,
    KEA_MAC,
    KEA_OPTION,
    NGINX_LISTEN,
    NGINX_PATH,
    TFTPD_ADDRESS,
    dns_label,
    dns_name,
    is_tftp_file,
    mac_input,
    nfs_options,
)
from ..vocabulary import BootMethod, DhcpServer, Firmware, RomKind, Transfer

NODE_FIELDS = ("name", "ip", "mac")  # placeholders of per-node templates (nfsroot, initrd)
_SAMPLE_NODE = {"name": "node01", "ip": "192.0.2.11", "mac": "52-54-00-12-34-01"}


class Mac(Kind[str]):
    """A network card's MAC address, read as lower case with colons."""

    what: ClassVar[str] = "a string"

    @property
    def type_doc(self) -> str:
        return "MAC address (six hex pairs, : or -)"

    def parse(self, raw: object, t: Table, key: str) -> str:
        v = Text().parse(raw, t, key)
        if problem := mac_input(v):
            raise t.fail(f"{key} {v!r}: {problem}", key)
        return v.lower().replace("-", ":")


class Options(Kind[str]):
    """A comma-separated option list without spaces ("" = none)."""

    what: ClassVar[str] = "a string"

    @property
    def type_doc(self) -> str:
        return "comma-separated options, no spaces"

    def parse(self, raw: object, t: Table, key: str) -> str:
        v = Text(nonempty=False).parse(raw, t, key)
        if problem := nfs_options(v):
            raise t.fail(f"{key} {v!r} must be a comma-separated option list without spaces: {problem}", key)
        return v


class TftpFiles(Kind[tuple[str, ...]]):
    """Files of the tftp root, in order: one name or a list; {name}, {ip} and {mac} make a
    name per node (e.g. a per-node layer "layers/{name}.cpio.gz")."""

    what: ClassVar[str] = "a string or a list of strings"
    expanded: ClassVar[bool] = True  # checked per node, once expanded (bootconf/fits.py)

    @property
    def type_doc(self) -> str:
        return ("file name relative to the tftp root, or a list of them (placeholders "
                + ", ".join("{" + f + "}" for f in NODE_FIELDS) + ")")

    def parse(self, raw: object, t: Table, key: str) -> tuple[str, ...]:
        if not isinstance(raw, str | list):
            raise t.fail(f"{key} must be a file name or a list of them, not {describe(raw)}", key)
        names = (Text().parse(raw, t, key),) if isinstance(raw, str) else Strings().parse(raw, t, key)
        for v in names:
            _check_tftp_template(v, t, key)
        return names


def _check_tftp_template(v: str, t: Table, key: str) -> None:
    check_template(v, NODE_FIELDS, lambda msg: t.fail(f"{key} = {v!r}: {msg}", key))
    if not is_tftp_file(v.format(**_SAMPLE_NODE)):
        raise t.fail(f"{key} = {v!r} must be a file name relative to the tftp root (letters, digits, "
                     ". _ + - and /; no leading /, no ..)", key)


def _host_name(name: str) -> str | None:
    problem = dns_label(name)
    return f"name {name!r} is not a host name: {problem}" if problem else None


def _domain(domain: str | None) -> str | None:
    problem = domain and dns_name(domain)
    return f"domain {domain!r} is not a DNS domain name: {problem}" if problem else None


# Where the values go (ramsesbuild.valuerules): a key's value must fit every field it reaches.
ADDRESS = (DHCPD_ADDRESS, KEA_ADDRESS)
BOOT_FILE = (DHCPD_FILENAME, KEA_BOOT_FILE)
FETCHED = (IPXE_FILE, NGINX_PATH)  # a file an iPXE script loads, over TFTP or from the web server


class NetworkTable(Section):
    TITLE = "[network]"
    DOC = "The cluster network (ramsesbuild only writes it into the generated files, never contacts it)."
    subnet = Key(Text(), 'the network, "192.168.10.0/24" (or the address with netmask)',
                 hint='"192.168.10.0/24" (or subnet + netmask)', reaches=ADDRESS)
    netmask = Key(Opt(Text()), 'netmask for a subnet written without /prefix, e.g. "255.255.255.0"', None,
                  reaches=ADDRESS)
    server = Key(IPv4(), "DHCP next-server, TFTP server and NFS server", hint='"<IPv4 address>"',
                 reaches=(*ADDRESS, CMDLINE_WORD, NGINX_LISTEN, TFTPD_ADDRESS))
    gateway = Key(Opt(IPv4()), "option routers", None, reaches=ADDRESS)
    domain = Key(Opt(Text()), "option domain-name", None, check=_domain, reaches=(DHCPD_DOMAIN, KEA_OPTION))
    interface = Key(Opt(Text()), "the boot server's interface on the cluster network: Kea listens only there "
                    "(ISC dhcpd takes it on its command line: INTERFACESv4 in /etc/default/isc-dhcp-server)", None,
                    default_doc="every interface", reaches=(KEA_INTERFACE,))
    server_name = Key(Text(), "the server's host name in the nodes' /etc/hosts (node roots)", "server",
                      check=lambda n: _host_name(n) and f"server_{_host_name(n)}", reaches=())


class BootTable(Section):
    TITLE = "[boot]"
    DOC = "How the nodes boot: defaults for every [[node]] (which overrides some), and where the files go."
    image = Key(Opt(TftpFile()), "the image a node boots", None,
                default_doc="the pipeline's client image (ramses.toml [netboot] output)",
                reaches=(*BOOT_FILE, *FETCHED))
    profile = Key(Opt(Text()), "the node's class: a ramses.toml profile, whose netboot image it boots (unless "
                  "image is set) and whose node root it runs", None,
                  default_doc="the profile whose netboot image the node boots", reaches=())
    firmware = Key(Choice(Firmware), "what the node boots with: DHCP answers a UEFI node's firmware by client "
                   "architecture with the EFI iPXE (docs/boot.md)", Firmware.BIOS, reaches=())
    method = Key(Opt(Choice(BootMethod)), "what the node's boot ROM loads", None,
                 default_doc='"direct"; "ipxe" for firmware = "uefi" (its only method)', reaches=())
    rom = Key(Choice(RomKind), 'the node\'s boot ROM, for method "direct"', RomKind.ETHERBOOT, reaches=())
    transfer = Key(Choice(Transfer), 'how a method "ipxe" node fetches its script, kernel and initrds ("http": '
                   "from the web server whose site boot-config writes; boot ROMs that load the image "
                   "themselves always use TFTP)", Transfer.TFTP, reaches=())
    nfsroot = Key(Template(NODE_FIELDS), "the node's NFS root directory on the server", "/tftpboot/{ip}",
                  reaches=(EXPORTS_PATH, DHCPD_ROOT_PATH, KEA_OPTION, CMDLINE_NFSROOT))
    nfs_options = Key(Options(), 'NFS mount options for the root (e.g. "vers=3,tcp"): DHCP root-path and '
                      "nfsroot= on the kernel command line", "", reaches=(DHCPD_ROOT_PATH, KEA_OPTION, CMDLINE_NFSROOT))
    export_options = Key(Options(), "/etc/exports options of every node's root", "rw,no_root_squash",
                         reaches=(EXPORTS_OPTIONS,))
    append = Key(Text(nonempty=False), "extra kernel arguments (ipxe nodes), added last", "",
                 reaches=(IPXE_ARGUMENTS, CMDLINE_PARAMETERS))
    initrd = Key(TftpFiles(), "initrds for the kernel (ipxe nodes), unpacked in order: a shared one, then per-node "
                 'layers, e.g. ["base.cpio.gz", "layers/{name}.cpio.gz"]', (), reaches=(*FETCHED, CMDLINE_WORD))
    ipxe_chain = Key(Opt(TftpFile()), 'a plain PXE ROM is first given this file (e.g. "undionly.kpxe"); '
                     "only iPXE gets the node's script", None, reaches=BOOT_FILE)
    efi_loader = Key(TftpFile(), "the EFI iPXE UEFI nodes' firmware gets (by TFTP, or by URL for HTTP boot): copy "
                     "/usr/lib/ipxe/snponly.efi from Debian's ipxe there", "snponly.efi",
                     reaches=(*BOOT_FILE, *FETCHED))
    dhcp = Key(Choice(DhcpServer), "whose configuration boot-config writes (and removes the other's)",
               DhcpServer.ISC, reaches=())
    http_port = Key(Integer(minimum=1, maximum=65535), "the port of the web server (boot-config's nginx site) on "
                    "[network] server", 80, reaches=())
    output = Key(PathKind(), "where the DHCP server's configuration, exports, tftpd-hpa and the nginx site are "
                 "written", Path("build/bootconf"), reaches=())


class NodeTable(Section):
    TITLE = "[[node]]"
    DOC = "One per node. Keys it shares with [boot] override [boot] for this node."
    name = Key(Text(), "host name (lower-case letters, digits and -)", hint='"node01"', check=_host_name,
               reaches=(DHCPD_HOST, DHCPD_HOST_NAME, KEA_HOSTNAME, KEA_OPTION, IPXE_SCRIPT_NAME, IPXE_COMMENT,
                        NGINX_PATH))
    mac = Key(Mac(), "MAC address of the boot network card", hint='"52:54:00:12:34:01"',
              reaches=(DHCPD_MAC, KEA_MAC, IPXE_COMMENT))
    ip = Key(IPv4(), "the node's address, inside [network] subnet", hint='"192.168.10.11"',
             reaches=(*ADDRESS, EXPORTS_CLIENT, IPXE_COMMENT))
    INHERITS = Inherit(BootTable, (BootTable.image, BootTable.profile, BootTable.firmware, BootTable.method,
                                   BootTable.rom, BootTable.transfer, BootTable.nfsroot, BootTable.append,
                                   BootTable.initrd))


class NodesToml(Section):
    TITLE = "nodes.toml"
    TABLES = (
        Sub("network", NetworkTable, required=True),
        Sub("boot", BootTable),
        Sub("node", NodeTable, Shape.ARRAY),
    )


NODES_TOML = FileSchema(
    file="nodes.toml",
    page="nodes-toml.md",
    doc=("The cluster's node inventory: one place for every node's name, MAC, IP and boot image. "
         "`doit boot-config` writes dhcpd.conf, exports and tftpd-hpa from it, `doit boot-tftp` the "
         "per-node iPXE scripts. The file is [paths] nodes of ramses.toml (default `nodes.toml` next to "
         "it); relative paths in it are relative to its directory. nfsroot placeholders: {name}, {ip} and "
         "{mac} (with - between the pairs)."),
    root=NodesToml,
    declared_in="ramsesbuild/schemas/nodes.py",
)
