"""One rule per output format for every value that reaches it: what dhcpd.conf, /etc/exports,
an iPXE script and a kernel command line can carry, as pure functions.

Each rule takes a value and returns the text to put into the file, or a :class:`Refusal` with
the reason (the caller, which knows the value's ``file:line``, makes the message). Rules match
whole strings (``re.fullmatch``: a ``$``-anchored pattern also matches before a trailing
newline), accept ASCII only where a protocol or a parser is ASCII (DNS names: no look-alike
letters), and take their length limits from the protocols:

* DHCP options carry at most 255 bytes (RFC 2132 §2): host-name (12), domain-name (15),
  root-path (17); the BOOTP ``file`` field that dhcpd's ``filename`` fills holds 128 bytes
  with its NUL (RFC 951), so 127;
* a DNS label is 1-63 letters, digits and hyphens, a name at most 253 characters (RFC 1035
  §2.3.4, RFC 1123 §2.1);
* Linux keeps at most 255 bytes of ``nfsroot=`` (``nfs_root_name[256]`` in 2.4's
  fs/nfs/nfsroot.c) and a command line of COMMAND_LINE_SIZE (256 with its NUL on 2.4/i386,
  2048 on modern x86).

Nothing here is wired into the inventory reader yet (issue 19's first item, after the schema
port): the rules are data for it, and their names are the "format" a refusal names.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from dataclasses import dataclass

# ------------------------------------------------------------------ limits, from the protocols

DHCP_OPTION_MAX = 255  # RFC 2132 §2: one option's data
BOOTP_FILE_MAX = 127  # RFC 951: the 128-byte file field, NUL-terminated
DNS_LABEL_MAX = 63  # RFC 1035 §2.3.4
DNS_NAME_MAX = 253  # RFC 1035 §2.3.4 (255 octets on the wire)
NFSROOT_MAX = 255  # Linux 2.4 fs/nfs/nfsroot.c: nfs_root_name[256]
TFTP_NAME_MAX = 255  # a TFTP request is one 512-byte packet; names stay far below it
CMDLINE_MAX = {"2.4": 255, "modern": 2047}  # COMMAND_LINE_SIZE - 1 (i386 2.4: 256, x86: 2048)


@dataclass(frozen=True)
class Refusal:
    """A value the format cannot carry, and why (the caller adds file:line and the key)."""

    format: str  # "dhcpd.conf", "exports", "ipxe", "cmdline", "dns"
    reason: str


Result = str | Refusal


@dataclass(frozen=True)
class Rule:
    """A named rule: the format it protects and the function applying it."""

    format: str
    name: str
    apply: Callable[[str], Result]


# ------------------------------------------------------------------ shared checks

_LABEL = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")
_MAC = re.compile(r"[0-9a-f]{2}(?::[0-9a-f]{2}){5}")


def _visible_ascii(value: str) -> str | None:
    """Why *value* is not printable ASCII (None when it is)."""
    for i, ch in enumerate(value):
        if ch == "\n":
            return f"a line break at character {i + 1}"
        if ord(ch) < 0x20 or ord(ch) == 0x7F:
            return f"the control character {ch!r} at character {i + 1}"
        if ord(ch) > 0x7E:
            return f"the non-ASCII character {ch!r} (U+{ord(ch):04X}) at character {i + 1}"
    return None


def _too_long(value: str, limit: int, why: str) -> str | None:
    n = len(value.encode())
    return f"{n} bytes, more than the {limit} {why}" if n > limit else None


# ------------------------------------------------------------------ DNS names

def dns_label(value: str) -> Result:
    """A host name (one DNS label): lower-case ASCII letters, digits and -, 1-63, no - at either
    end. Used as dhcpd's host declaration, option host-name and the iPXE script's file name."""
    bad = _visible_ascii(value)
    if bad:
        return Refusal("dns", f"a host name is ASCII letters, digits and -; this one holds {bad}")
    if not _LABEL.fullmatch(value):
        return Refusal("dns", f"{value!r} is not a host name: lower-case letters, digits and -, 1 to "
                              f"{DNS_LABEL_MAX} characters, no - at either end")
    return value


def dns_name(value: str) -> Result:
    """A domain name: dot-separated host-name labels (ASCII, any case, lowered), at most 253."""
    bad = _visible_ascii(value)
    if bad:
        return Refusal("dns", f"a domain name is ASCII letters, digits, - and .; this one holds {bad}")
    name = value.lower()
    too_long = _too_long(name, DNS_NAME_MAX, "a DNS name may have")
    if too_long:
        return Refusal("dns", too_long)
    for label in name.split("."):
        if not _LABEL.fullmatch(label):
            return Refusal("dns", f"{label!r} in {value!r} is not a DNS label: letters, digits and -, 1 to "
                                  f"{DNS_LABEL_MAX} characters, no - at either end")
    return name


# ------------------------------------------------------------------ dhcpd.conf

def dhcpd_string(value: str, limit: int = DHCP_OPTION_MAX) -> Result:
    """A quoted dhcpd.conf string (``"..."``) for an option of at most *limit* bytes. dhcpd's
    own escapes are not used: a quote, a backslash or any control character is refused."""
    bad = _visible_ascii(value)
    if bad:
        return Refusal("dhcpd.conf", f"a dhcpd.conf string holds printable ASCII only; this one holds {bad}")
    for ch, what in (('"', "a double quote"), ("\\", "a backslash (it would escape the closing quote)")):
        if ch in value:
            return Refusal("dhcpd.conf", f"a dhcpd.conf string cannot hold {what}")
    too_long = _too_long(value, limit, "bytes the DHCP field carries")
    if too_long:
        return Refusal("dhcpd.conf", too_long)
    return f'"{value}"'


def dhcpd_filename(value: str) -> Result:
    """``filename "..."``: the BOOTP file field (127 bytes), a path relative to the tftp root."""
    checked = tftp_path(value)
    if isinstance(checked, Refusal):
        return Refusal("dhcpd.conf", checked.reason)
    return dhcpd_string(value, BOOTP_FILE_MAX)


def dhcpd_root_path(value: str) -> Result:
    """``option root-path "..."`` (option 17, 255 bytes): /dir[,nfs options]."""
    path, _, opts = value.partition(",")
    checked = nfs_path(path)
    if isinstance(checked, Refusal):
        return Refusal("dhcpd.conf", checked.reason)
    options = nfs_options(opts) if opts else ""
    if isinstance(options, Refusal):
        return Refusal("dhcpd.conf", f"root-path options: {options.reason}")
    return dhcpd_string(value, DHCP_OPTION_MAX)


def dhcpd_host_name(value: str) -> Result:
    """``option host-name "..."`` (option 12): one DNS label."""
    label = dns_label(value)
    return label if isinstance(label, Refusal) else dhcpd_string(label)


def dhcpd_domain_name(value: str) -> Result:
    """``option domain-name "..."`` (option 15): a DNS name."""
    name = dns_name(value)
    return name if isinstance(name, Refusal) else dhcpd_string(name)


def mac_address(value: str) -> Result:
    """``hardware ethernet`` / iPXE comments: six hex pairs, lower case, colons (- accepted)."""
    mac = value.lower().replace("-", ":")
    if not _MAC.fullmatch(mac):
        return Refusal("dhcpd.conf", f"{value!r} is not a MAC address: six hex pairs like 52:54:00:12:34:56")
    if int(mac[:2], 16) & 1:
        return Refusal("dhcpd.conf", f"{mac} is a multicast address (low bit of the first octet set)")
    return mac


def ipv4(value: str) -> Result:
    """An IPv4 address in dotted decimal, exactly as ipaddress prints it (no leading zeros)."""
    try:
        addr = ipaddress.IPv4Address(value)
    except ValueError:
        return Refusal("dhcpd.conf", f"{value!r} is not an IPv4 address")
    return str(addr) if str(addr) == value else Refusal("dhcpd.conf", f"{value!r}: write it as {addr}")


# ------------------------------------------------------------------ /etc/exports

_PATH_CHAR = re.compile(r"[A-Za-z0-9._+@=~/-]")
_NFS_OPTION = re.compile(r"[a-z][a-z0-9_]*(?:=[A-Za-z0-9_.:/@-]+)?")


def nfs_path(value: str) -> Result:
    """An NFS root directory, as /etc/exports, DHCP option 17 and ``nfsroot=`` all carry it:
    absolute, at most 255 bytes (Linux's nfs_root_name), and only characters none of those
    parsers treat specially (no space, quote, #, comma, parenthesis, backslash)."""
    bad = _visible_ascii(value)
    if bad:
        return Refusal("exports", f"an NFS root path is printable ASCII; this one holds {bad}")
    if not value.startswith("/"):
        return Refusal("exports", f"{value!r} is not an absolute path")
    for i, ch in enumerate(value):
        if not _PATH_CHAR.fullmatch(ch):
            return Refusal("exports", f"{ch!r} at character {i + 1} cannot be in an NFS root path (exports, "
                                      "DHCP root-path and nfsroot= would read it as syntax)")
    if "/../" in f"{value}/" or "//" in value:
        return Refusal("exports", f"{value!r} is not a plain path (.. or //)")
    too_long = _too_long(value, NFSROOT_MAX, "Linux keeps of nfsroot= (and DHCP option 17 carries)")
    return Refusal("exports", too_long) if too_long else value


def nfs_options(value: str) -> Result:
    """A comma-separated NFS/export option list (``rw,no_root_squash``, ``vers=3,tcp``)."""
    bad = _visible_ascii(value)
    if bad:
        return Refusal("exports", f"an option list is printable ASCII; this one holds {bad}")
    for opt in value.split(","):
        if not _NFS_OPTION.fullmatch(opt):
            return Refusal("exports", f"{opt!r} in {value!r} is not an option: a lower-case word, optionally "
                                      "=value, options separated by commas without spaces")
    return value


def exports_line(path: str, client: str, options: str) -> Result:
    """``/path  client(options)``: one line of /etc/exports."""
    for result in (nfs_path(path), ipv4(client), nfs_options(options)):
        if isinstance(result, Refusal):
            return Refusal("exports", result.reason)
    return f"{path}  {client}({options})"


# ------------------------------------------------------------------ iPXE scripts

_TFTP_PATH = re.compile(r"[A-Za-z0-9._+-]+(?:/[A-Za-z0-9._+-]+)*")


def tftp_path(value: str) -> Result:
    """A file in the tftp root (image, initrd, chained ROM): relative, no .. and nothing an
    iPXE script or a URI would read as syntax."""
    bad = _visible_ascii(value)
    if bad:
        return Refusal("ipxe", f"a file name here is printable ASCII; this one holds {bad}")
    if not _TFTP_PATH.fullmatch(value) or ".." in value.split("/"):
        return Refusal("ipxe", f"{value!r} must be a path relative to the tftp root: letters, digits, "
                               ". _ + - and /, no leading /, no ..")
    too_long = _too_long(value, TFTP_NAME_MAX, "a TFTP file name may have here")
    return Refusal("ipxe", too_long) if too_long else value


def ipxe_argument(value: str) -> Result:
    """A word on an iPXE command line (``kernel /image ARG ARG``): iPXE splits at spaces, expands
    ``${...}``, and reads ``||``/``&&`` and quotes as script syntax."""
    bad = _visible_ascii(value)
    if bad:
        return Refusal("ipxe", f"an iPXE argument is printable ASCII; this one holds {bad}")
    for ch, what in ((" ", "a space"), ("$", "$ (iPXE expands ${...})"), ("|", "| (iPXE's ||)"),
                     ("&", "& (iPXE's &&)"), ('"', "a double quote"), ("'", "a single quote"), ("\\", "a backslash")):
        if ch in value:
            return Refusal("ipxe", f"an iPXE argument cannot hold {what}")
    return value if value else Refusal("ipxe", "an empty argument")


def ipxe_comment(value: str) -> Result:
    """Text after ``#`` on one line of an iPXE script."""
    bad = _visible_ascii(value)
    return Refusal("ipxe", f"a comment is one line of printable ASCII; this one holds {bad}") if bad else value


# ------------------------------------------------------------------ kernel command lines

def kernel_parameter(value: str) -> Result:
    """One kernel parameter (``name`` or ``name=value``): the kernel splits its command line at
    spaces and treats double quotes as grouping, so neither may be in it; ASCII only."""
    bad = _visible_ascii(value)
    if bad:
        return Refusal("cmdline", f"a kernel parameter is printable ASCII; this one holds {bad}")
    if not value or " " in value or '"' in value:
        return Refusal("cmdline", f"{value!r} is not one kernel parameter (no spaces, no double quotes)")
    return value


def kernel_cmdline(params: list[str], family: str) -> Result:
    """Parameters joined into a command line that fits the family's COMMAND_LINE_SIZE."""
    for p in params:
        checked = kernel_parameter(p)
        if isinstance(checked, Refusal):
            return checked
    line = " ".join(params)
    limit = CMDLINE_MAX[family]
    too_long = _too_long(line, limit, f"bytes a {family} kernel keeps of its command line")
    return Refusal("cmdline", too_long) if too_long else line


def nfsroot_parameter(server: str, path: str, options: str = "") -> Result:
    """``nfsroot=server:/path[,options]``: the path within Linux's 255 bytes, options parsed by it."""
    for result in (ipv4(server), nfs_path(path), nfs_options(options) if options else ""):
        if isinstance(result, Refusal):
            return Refusal("cmdline", result.reason)
    value = f"{server}:{path}" + (f",{options}" if options else "")
    too_long = _too_long(f"{path}" + (f",{options}" if options else ""), NFSROOT_MAX,
                         "Linux keeps of nfsroot= (nfs_root_name)")
    return Refusal("cmdline", too_long) if too_long else f"nfsroot={value}"


# ------------------------------------------------------------------ the table

RULES: tuple[Rule, ...] = (
    Rule("dns", "host name (one label)", dns_label),
    Rule("dns", "domain name", dns_name),
    Rule("dhcpd.conf", "quoted string (option, 255 bytes)", dhcpd_string),
    Rule("dhcpd.conf", "filename (BOOTP file field, 127 bytes)", dhcpd_filename),
    Rule("dhcpd.conf", "option root-path (17)", dhcpd_root_path),
    Rule("dhcpd.conf", "option host-name (12)", dhcpd_host_name),
    Rule("dhcpd.conf", "option domain-name (15)", dhcpd_domain_name),
    Rule("dhcpd.conf", "hardware ethernet", mac_address),
    Rule("dhcpd.conf", "IPv4 address", ipv4),
    Rule("exports", "NFS root path", nfs_path),
    Rule("exports", "option list", nfs_options),
    Rule("ipxe", "file in the tftp root", tftp_path),
    Rule("ipxe", "command argument", ipxe_argument),
    Rule("ipxe", "comment", ipxe_comment),
    Rule("cmdline", "kernel parameter", kernel_parameter),
)
