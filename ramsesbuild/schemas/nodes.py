"""nodes.toml, declared: the cluster's node inventory.

Read by :mod:`ramsesbuild.bootconf.inventory` (which adds the rules that tie keys and nodes
together: addresses inside the subnet, unique names, MACs, IPs and NFS roots) and documented
in docs/reference/nodes-toml.md by :mod:`ramsesbuild.docgen`.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import ClassVar

from ..kinds import Choice, IPv4, Kind, Opt, PathKind, Template, Text, TftpFile
from ..schema import FileSchema, Inherit, Key, Section, Shape, Sub
from ..tomlload import Table
from ..vocabulary import BootMethod, RomKind

NFSROOT_FIELDS = ("name", "ip", "mac")
_NAME = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
_MAC = re.compile(r"^[0-9a-f]{2}([:-])[0-9a-f]{2}(\1[0-9a-f]{2}){4}$", re.IGNORECASE)
_OPTIONS = re.compile(r"^[A-Za-z0-9_=:/.,-]+$")
_DOMAIN = re.compile(r"^[a-z0-9]([a-z0-9.-]*[a-z0-9])?$", re.IGNORECASE)


class Mac(Kind[str]):
    """A network card's MAC address, read as lower case with colons."""

    what: ClassVar[str] = "a string"

    @property
    def type_doc(self) -> str:
        return "MAC address (six hex pairs, : or -)"

    def parse(self, raw: object, t: Table, key: str) -> str:
        v = Text().parse(raw, t, key)
        if not _MAC.match(v):
            raise t.fail(f"{key} {v!r} is not a MAC address; write six hex pairs like 52:54:00:12:34:56", key)
        mac = v.lower().replace("-", ":")
        if int(mac[:2], 16) & 1:
            raise t.fail(f"{key} {v} is a multicast/broadcast address (low bit of the first octet set), not a "
                         "network card's", key)
        if mac == "00:00:00:00:00:00":
            raise t.fail(f"{key} {v} is all zeros", key)
        return mac


class Options(Kind[str]):
    """A comma-separated option list without spaces ("" = none)."""

    what: ClassVar[str] = "a string"

    @property
    def type_doc(self) -> str:
        return "comma-separated options, no spaces"

    def parse(self, raw: object, t: Table, key: str) -> str:
        v = Text(nonempty=False).parse(raw, t, key)
        if v and not _OPTIONS.match(v):
            raise t.fail(f"{key} {v!r} must be a comma-separated option list without spaces", key)
        return v


def _host_name(name: str) -> str | None:
    if _NAME.match(name):
        return None
    return (f"name {name!r} is not a host name (lower-case letters, digits and -, at most 63, no "
            "leading/trailing -)")


def _domain(domain: str | None) -> str | None:
    return f"domain {domain!r} is not a DNS domain name" if domain and not _DOMAIN.match(domain) else None


def _one_line(append: str) -> str | None:
    return "append must be one line without double quotes" if "\n" in append or '"' in append else None


class NetworkTable(Section):
    TITLE = "[network]"
    DOC = "The cluster network (ramsesbuild only writes it into the generated files, never contacts it)."
    subnet = Key(Text(), 'the network, "192.168.10.0/24" (or the address with netmask)',
                 hint='"192.168.10.0/24" (or subnet + netmask)')
    netmask = Key(Opt(Text()), 'netmask for a subnet written without /prefix, e.g. "255.255.255.0"', None)
    server = Key(IPv4(), "DHCP next-server, TFTP server and NFS server", hint='"<IPv4 address>"')
    gateway = Key(Opt(IPv4()), "option routers", None)
    domain = Key(Opt(Text()), "option domain-name", None, check=_domain)
    server_name = Key(Text(), "the server's host name in the nodes' /etc/hosts (node roots)", "server",
                      check=lambda n: _host_name(n) and f"server_{_host_name(n)}")


class BootTable(Section):
    TITLE = "[boot]"
    DOC = "How the nodes boot: defaults for every [[node]] (which overrides some), and where the files go."
    image = Key(Opt(TftpFile()), "the image a node boots", None,
                default_doc="the pipeline's client image (ramses.toml [netboot] output)")
    profile = Key(Opt(Text()), "the node's class: a ramses.toml profile, whose netboot image it boots (unless "
                  "image is set) and whose node root it runs", None,
                  default_doc="the profile whose netboot image the node boots")
    method = Key(Choice(BootMethod), "what the node's boot ROM loads", BootMethod.DIRECT)
    rom = Key(Choice(RomKind), 'the node\'s boot ROM, for method "direct"', RomKind.ETHERBOOT)
    nfsroot = Key(Template(NFSROOT_FIELDS), "the node's NFS root directory on the server", "/tftpboot/{ip}")
    nfs_options = Key(Options(), 'NFS mount options for the root (e.g. "vers=3,tcp"): DHCP root-path and '
                      "nfsroot= on the kernel command line", "")
    export_options = Key(Options(), "/etc/exports options of every node's root", "rw,no_root_squash")
    append = Key(Text(nonempty=False), "extra kernel arguments (ipxe nodes), added last", "", check=_one_line)
    initrd = Key(Opt(TftpFile()), "initrd for the kernel (ipxe nodes)", None)
    ipxe_chain = Key(Opt(TftpFile()), 'a plain PXE ROM is first given this file (e.g. "undionly.kpxe"); '
                     "only iPXE gets the node's script", None)
    output = Key(PathKind(), "where dhcpd.conf, exports and tftpd-hpa are written", Path("build/bootconf"))


class NodeTable(Section):
    TITLE = "[[node]]"
    DOC = "One per node. Keys it shares with [boot] override [boot] for this node."
    name = Key(Text(), "host name (lower-case letters, digits and -)", hint='"node01"', check=_host_name)
    mac = Key(Mac(), "MAC address of the boot network card", hint='"52:54:00:12:34:01"')
    ip = Key(IPv4(), "the node's address, inside [network] subnet", hint='"192.168.10.11"')
    INHERITS = Inherit(BootTable, (BootTable.image, BootTable.profile, BootTable.method, BootTable.rom,
                                   BootTable.nfsroot, BootTable.append, BootTable.initrd))


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
