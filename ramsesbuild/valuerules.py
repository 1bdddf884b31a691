r"""One rule per output format for every value that reaches it: what each generated file (and
the kernel command line) can carry, and how a value is written there.

A :class:`Field` is one place in one :class:`Format` that a value reaches (dhcpd.conf's
``filename``, exports' client options, an argument on an iPXE script's ``kernel`` line ...): a
check that says why a value cannot go there (or None), and how it is written there (quoting,
escaping). The settings schema declares, per key, the fields its value reaches
(``Key(..., reaches=(DHCPD_FILENAME, ...))``), so the reader refuses a value at ``file:line``
when any of them cannot carry it, and the generated reference says which formats constrain a
key. The renderers write every value through the same fields (:meth:`Field.text`), the last
gate for values they compose (a URL, a root path with its options, a whole command line).

Checks match whole strings (``re.fullmatch``: a ``$``-anchored pattern also matches before a
trailing newline), accept ASCII only where a protocol or a parser is ASCII (DNS names: no
look-alike letters), and take their length limits from the protocols:

* DHCP options carry at most 255 bytes (RFC 2132 §2): host-name (12), domain-name (15),
  root-path (17); the BOOTP ``file`` field that ``filename``/``boot-file-name`` fill holds 128
  bytes with its NUL (RFC 951), so 127;
* a DNS label is 1-63 letters, digits and hyphens, a name at most 253 characters (RFC 1035
  §2.3.4, RFC 1123 §2.1);
* Linux 2.4 keeps at most 255 bytes of ``nfsroot=`` (``nfs_root_name[256]`` in fs/nfs/nfsroot.c)
  and a command line of COMMAND_LINE_SIZE - 1 bytes (families.toml ``command_line_size``: 256
  on 2.4/i386, 2048 on modern x86);
* a Linux interface name is at most 15 bytes (IFNAMSIZ 16);
* nginx reads a configuration token through a 4 KiB buffer.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from .errors import BootConfigError, RamsesError

# ------------------------------------------------------------------ limits, from the protocols

DHCP_OPTION_MAX = 255  # RFC 2132 §2: one option's data
BOOTP_FILE_MAX = 127  # RFC 951: the 128-byte file field, NUL-terminated
DNS_LABEL_MAX = 63  # RFC 1035 §2.3.4
DNS_NAME_MAX = 253  # RFC 1035 §2.3.4 (255 octets on the wire)
NFSROOT_MAX = 255  # Linux 2.4 fs/nfs/nfsroot.c: nfs_root_name[256]
TFTP_NAME_MAX = 255  # a TFTP request is one 512-byte packet; names stay far below it
IFNAME_MAX = 15  # Linux IFNAMSIZ - 1
NGINX_TOKEN_MAX = 4000  # nginx reads its configuration through a 4096-byte buffer
CMDLINE_MAX_MODERN = 2047  # x86 COMMAND_LINE_SIZE - 1 (the default when the kernel is not known)

# the names kea.py and the tests used before the rules moved here
KEA_FILE_MAX = BOOTP_FILE_MAX
KEA_OPTION_MAX = DHCP_OPTION_MAX
KEA_HOSTNAME_MAX = DHCP_OPTION_MAX


class Format(StrEnum):
    """An output format that values from the settings files reach."""

    DHCPD = "dhcpd.conf"
    KEA = "kea-dhcp4.conf"
    EXPORTS = "exports"
    IPXE = "iPXE script"
    CMDLINE = "kernel command line"
    NGINX = "nginx site"
    TFTPD = "tftpd-hpa"

    @property
    def doc(self) -> str:
        return _FORMAT_DOCS[self]


_FORMAT_DOCS = {
    Format.DHCPD: "ISC dhcpd's configuration (boot-config, dhcp = \"isc\"): names, addresses and double-quoted "
                  "strings without escapes",
    Format.KEA: "Kea's kea-dhcp4.conf (boot-config, dhcp = \"kea\"): JSON; option data is read once more as a "
                "comma-separated list",
    Format.EXPORTS: "/etc/exports lines (boot-config): path, then client(options)",
    Format.IPXE: "The per-node iPXE scripts (boot-tftp): iPXE splits lines at white space, expands ${...}, "
                 "reads a word starting with # as a comment, || and && as operators and a final \\ as a "
                 "continuation",
    Format.CMDLINE: "The Linux command line: the iPXE script's kernel line and the NBI/ELF image's (netboot-image); "
                    "split at spaces, double quotes group, as long as the family's command_line_size allows",
    Format.NGINX: "The web server's site (boot-config, nodes fetching over HTTP): double-quoted tokens",
    Format.TFTPD: "/etc/default/tftpd-hpa (boot-config): shell variable assignments, sourced by the init script",
}

Check = Callable[[str], "str | None"]  # why a value cannot go there, or None


def _same(value: str) -> str:
    return value


@dataclass(frozen=True)
class Field:
    """One place in one format that a value reaches: the check (a reason, or None) and how the
    value is written there. *doc* says, for the reference, what the place accepts."""

    format: Format
    name: str
    check: Check
    doc: str
    write: Callable[[str], str] = _same

    def __str__(self) -> str:
        return f"{self.format} ({self.name})"

    def refusal(self, value: str) -> str | None:
        """Why *value* cannot go into this field, as a message tail; None when it can."""
        reason = self.check(value)
        return f"{self} cannot carry it: {reason}" if reason else None

    def text(self, value: str, what: str, error: type[RamsesError] = BootConfigError) -> str:
        """*value* as written into the format; *error* naming *what* when it cannot go there."""
        reason = self.check(value)
        if reason:
            raise error(f"{what} {value!r}: {self} cannot carry it: {reason}")
        return self.write(value)


# ------------------------------------------------------------------ shared checks

_LABEL = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")
_ANY_CASE_LABEL = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?")
_MAC = re.compile(r"[0-9a-f]{2}(?::[0-9a-f]{2}){5}")
_MAC_INPUT = re.compile(r"[0-9a-fA-F]{2}([:-])[0-9a-fA-F]{2}(?:\1[0-9a-fA-F]{2}){4}")
_OCTET = r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
_IPV4 = re.compile(rf"{_OCTET}(?:\.{_OCTET}){{3}}")
_NETWORK = re.compile(rf"{_IPV4.pattern}(?:/(?:3[0-2]|[12]?[0-9]))?")
_PATH_CHAR = re.compile(r"[A-Za-z0-9._+@=~/-]")
_NFS_OPTION = re.compile(r"[a-z][a-z0-9_]*(?:=[A-Za-z0-9_.:/@-]+)?")
_TFTP_PATH = re.compile(r"[A-Za-z0-9._+-]+(?:/[A-Za-z0-9._+-]+)*")


def visible_ascii(value: str) -> str | None:
    """Why *value* is not printable ASCII (None when it is): line breaks, control characters
    and every non-ASCII character (look-alike letters) are named with their position."""
    for i, ch in enumerate(value):
        if ch == "\n":
            return f"it holds a line break at character {i + 1}"
        if ord(ch) < 0x20 or ord(ch) == 0x7F:
            return f"it holds the control character {ch!r} at character {i + 1}"
        if ord(ch) > 0x7E:
            return f"it holds the non-ASCII character {ch!r} (U+{ord(ch):04X}) at character {i + 1}"
    return None


def too_long(value: str, limit: int, who: str) -> str | None:
    """"it is N bytes; WHO at most LIMIT" when *value*'s UTF-8 is longer than *limit*."""
    n = len(value.encode("utf-8", "surrogatepass"))
    return f"it is {n} bytes; {who} at most {limit}" if n > limit else None


def _first(*reasons: str | None) -> str | None:
    return next((r for r in reasons if r), None)


def dns_label(value: str) -> str | None:
    """One DNS label, lower case (a host name): letters, digits and -, 1-63, no - at either end."""
    return _first(visible_ascii(value), None if _LABEL.fullmatch(value) else
                  f"a host name is lower-case letters, digits and -, 1 to {DNS_LABEL_MAX} characters, no - at "
                  "either end")


def dns_name(value: str) -> str | None:
    """A domain name: dot-separated DNS labels (ASCII letters of any case), at most 253."""
    if bad := _first(visible_ascii(value), too_long(value, DNS_NAME_MAX, "a DNS name has")):
        return bad
    for label in value.split("."):
        if not _ANY_CASE_LABEL.fullmatch(label):
            return (f"{label!r} is not a DNS label: letters, digits and -, 1 to {DNS_LABEL_MAX} characters, no - "
                    "at either end")
    return None


def mac_input(value: str) -> str | None:
    """A MAC address as nodes.toml may write it: six hex pairs with : or - (one kind), any case."""
    if not _MAC_INPUT.fullmatch(value):
        return "it is not a MAC address; write six hex pairs like 52:54:00:12:34:56"
    mac = value.lower().replace("-", ":")
    if int(mac[:2], 16) & 1:
        return "it is a multicast/broadcast address (low bit of the first octet set), not a network card's"
    if mac == "00:00:00:00:00:00":
        return "it is all zeros"
    return None


def mac(value: str) -> str | None:
    """A MAC address as the files write it: six lower-case hex pairs, colons."""
    return None if _MAC.fullmatch(value) else "it is not six lower-case hex pairs separated by colons"


def ipv4(value: str) -> str | None:
    """An IPv4 address in dotted decimal, as ipaddress writes it (no leading zeros)."""
    return None if _IPV4.fullmatch(value) else "it is not an IPv4 address in dotted decimal"


def ipv4_network(value: str) -> str | None:
    """An IPv4 address or network in dotted decimal, optionally with /prefix."""
    return None if _NETWORK.fullmatch(value) else "it is not an IPv4 address or network (a.b.c.d or a.b.c.d/n)"


def nfs_path(value: str) -> str | None:
    """An NFS root directory, as exports, DHCP option 17 and ``nfsroot=`` all carry it: absolute,
    and only characters none of those parsers treat specially (no space, quote, #, comma, %,
    parenthesis, backslash), no .. or //."""
    if bad := visible_ascii(value):
        return bad
    if not value.startswith("/"):
        return "it is not an absolute path"
    for i, ch in enumerate(value):
        if not _PATH_CHAR.fullmatch(ch):
            return (f"it holds {ch!r} at character {i + 1}; an NFS root path is letters, digits and . _ + @ = ~ - /"
                    " (exports, the DHCP root-path and nfsroot= read the others as syntax)")
    if "/../" in f"{value}/" or "//" in value or value.endswith("/.."):
        return "it is not a plain path (.. or //)"
    return None


def nfs_options(value: str) -> str | None:
    """A comma-separated NFS mount or export option list (``rw,no_root_squash``, ``vers=3,tcp``)."""
    if not value:
        return None
    if bad := visible_ascii(value):
        return bad
    for opt in value.split(","):
        if not _NFS_OPTION.fullmatch(opt):
            return (f"{opt!r} is not an option: a lower-case word, optionally =value, options separated by commas "
                    "without spaces")
    return None


def tftp_file(value: str) -> str | None:
    """A file relative to the tftp root: letters, digits, . _ + - and /; no leading /, no .."""
    if bad := visible_ascii(value):
        return bad
    if not _TFTP_PATH.fullmatch(value) or ".." in value.split("/"):
        return ("it is not a file name relative to the tftp root (letters, digits, . _ + - and /; no leading /, "
                "no ..)")
    return too_long(value, TFTP_NAME_MAX, "a file name here has")


def is_tftp_file(value: str) -> bool:
    return tftp_file(value) is None


def ifname(value: str) -> str | None:
    """A Linux network interface name (or "*": every interface)."""
    if value == "*":
        return None
    if bad := _first(visible_ascii(value), too_long(value, IFNAME_MAX, "a Linux interface name has")):
        return bad
    if not value or value in (".", "..") or any(c in value for c in " /:"):
        return "it is not a Linux interface name (1 to 15 characters, no space, / or :)"
    return None


# ------------------------------------------------------------------ dhcpd.conf

def _dhcpd_string(limit: int, where: str) -> Check:
    def check(value: str) -> str | None:
        if bad := visible_ascii(value):
            return bad
        if '"' in value:
            return "it holds a double quote, which would end the dhcpd.conf string"
        if "\\" in value:
            return "it holds a backslash, which dhcpd reads as an escape (a final one escapes the closing quote)"
        return too_long(value, limit, where)
    return check


def _quoted(value: str) -> str:
    return f'"{value}"'


DHCPD_HOST = Field(Format.DHCPD, "host declaration", dns_label, "one DNS label (RFC 1123), lower case")
DHCPD_HOST_NAME = Field(Format.DHCPD, "option host-name", dns_label,
                        "one DNS label (option 12), lower case, quoted", _quoted)
DHCPD_DOMAIN = Field(Format.DHCPD, "option domain-name",
                     lambda v: _first(dns_name(v), _dhcpd_string(DHCP_OPTION_MAX, "DHCP option 15 carries")(v)),
                     "a DNS name: ASCII letters, digits, - and ., labels of 1 to 63, at most 253", _quoted)
DHCPD_FILENAME = Field(Format.DHCPD, "filename", _dhcpd_string(BOOTP_FILE_MAX, "the BOOTP file field carries"),
                       f'printable ASCII without " or \\, at most {BOOTP_FILE_MAX} bytes (the BOOTP file field)',
                       _quoted)
DHCPD_ROOT_PATH = Field(Format.DHCPD, "option root-path", _dhcpd_string(DHCP_OPTION_MAX, "DHCP option 17 carries"),
                        f'printable ASCII without " or \\, at most {DHCP_OPTION_MAX} bytes (option 17)', _quoted)
DHCPD_MAC = Field(Format.DHCPD, "hardware ethernet", mac, "six lower-case hex pairs with colons")
DHCPD_ADDRESS = Field(Format.DHCPD, "an address", ipv4_network,
                      "dotted decimal (fixed-address, next-server, routers, subnet, netmask)")


# ------------------------------------------------------------------ kea-dhcp4.conf (JSON)

def _unicode(value: str) -> str | None:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return "it is not valid Unicode text"
    return None


def _kea_check(limit: int) -> Check:
    """JSON carries any character as an escape, but Kea's parser decodes ``\\u`` escapes only up
    to U+00FF, so text beyond ASCII is written as raw UTF-8 (which Kea passes through). Refused:
    NUL (DHCP clients read the fields and string options as C strings: the value would end
    there), text that is not valid Unicode, and values longer (in UTF-8 bytes) than the DHCP
    field or option holds."""
    def check(value: str) -> str | None:
        if bad := _unicode(value):
            return bad
        if "\0" in value:
            return "it contains a NUL character; DHCP clients would read only the part before it: remove it"
        if reason := too_long(value, limit, "a DHCP client gets"):
            return f"{reason}: use a shorter name or path"
        return None
    return check


def _kea_option_check(value: str) -> str | None:
    if not value or value != value.strip():
        return "it is empty or starts or ends with white space, which Kea trims from option data: remove it"
    return _kea_check(DHCP_OPTION_MAX)(value)


def _json(value: str) -> str:
    return json.dumps(value, ensure_ascii=False)


def _kea_option_write(value: str) -> str:
    """Kea reads a string option's ``data`` once more as a comma-separated list: a comma ends
    the value (silently: ``/root,v3`` arrives as ``/root``) unless written ``\\,``, and a
    backslash is written ``\\\\``."""
    return _json(value.replace("\\", "\\\\").replace(",", "\\,"))


KEA_BOOT_FILE = Field(Format.KEA, "boot-file-name", _kea_check(BOOTP_FILE_MAX),
                      f"any Unicode text but NUL, at most {BOOTP_FILE_MAX} bytes (the BOOTP file field)", _json)
KEA_HOSTNAME = Field(Format.KEA, "hostname", _kea_check(DHCP_OPTION_MAX),
                     f"any Unicode text but NUL, at most {DHCP_OPTION_MAX} bytes", _json)
KEA_OPTION = Field(Format.KEA, "option data", _kea_option_check,
                   f"any Unicode text but NUL, at most {DHCP_OPTION_MAX} bytes, no white space at either end (Kea "
                   "trims it); commas and backslashes are escaped", _kea_option_write)
KEA_ADDRESS = Field(Format.KEA, "an address", ipv4_network, "dotted decimal (ip-address, next-server, subnet)", _json)
KEA_MAC = Field(Format.KEA, "hw-address", mac, "six lower-case hex pairs with colons", _json)
KEA_INTERFACE = Field(Format.KEA, "interfaces-config", lambda v: _first(ifname(v), _kea_check(DHCP_OPTION_MAX)(v)),
                      "a Linux interface name (1 to 15 bytes, no space, / or :) or *", _json)


def kea_text(value: str, what: str, limit: int) -> str:
    """*value* as a JSON string literal that Kea reads back as exactly *value* (at most *limit* bytes)."""
    if reason := _kea_check(limit)(value):
        raise BootConfigError(f"{what} {value!r}: {Format.KEA} cannot carry it: {reason}")
    return _json(value)


def kea_option_text(value: str, what: str) -> str:
    """*value* as the ``data`` of a Kea string option (csv-format), as a JSON string literal."""
    return KEA_OPTION.text(value, what)


# ------------------------------------------------------------------ /etc/exports

EXPORTS_PATH = Field(Format.EXPORTS, "path", nfs_path,
                     "an absolute path of letters, digits and . _ + @ = ~ - / (no space, quote, #, comma, %, "
                     "parenthesis or backslash; no .. or //)")
EXPORTS_OPTIONS = Field(Format.EXPORTS, "client options", nfs_options,
                        "lower-case words, optionally =value (letters, digits, _ . : / @ -), separated by commas")
EXPORTS_CLIENT = Field(Format.EXPORTS, "client", ipv4, "dotted decimal")


# ------------------------------------------------------------------ iPXE scripts

def ipxe_words(value: str) -> str | None:
    """Space-separated words on an iPXE command line: iPXE splits at white space, expands
    ``${...}``, ends the command at a word starting with ``#`` (a comment) or at ``||``/``&&``,
    and joins the next line to one ending in a backslash."""
    if bad := visible_ascii(value):
        return bad
    if "${" in value:
        return "it holds ${, which iPXE expands as a setting"
    for word in value.split(" "):
        if word.startswith("#"):
            return f"the word {word!r} starts with #, which iPXE reads as a comment (the rest of the line is lost)"
        if word in ("||", "&&"):
            return f"the word {word!r} is an iPXE operator"
        if word.endswith("\\"):
            return f"the word {word!r} ends in a backslash, which iPXE reads as a line continuation"
    return None


IPXE_FILE = Field(Format.IPXE, "kernel/initrd file", lambda v: _first(tftp_file(v), ipxe_words(v)),
                  "a file relative to the tftp root (written /file, or the URL on the web server)")
IPXE_ARGUMENTS = Field(Format.IPXE, "kernel arguments", ipxe_words,
                       "printable ASCII words; none starts with # or ends in \\, no ${, no || or && word")
IPXE_SCRIPT_NAME = Field(Format.IPXE, "script name ipxe/<name>.ipxe", dns_label, "one DNS label, lower case")
IPXE_COMMENT = Field(Format.IPXE, "comment", visible_ascii, "one line of printable ASCII")


# ------------------------------------------------------------------ kernel command lines

def kernel_parameters(value: str) -> str | None:
    """Kernel parameters, separated by spaces: the kernel splits its command line at white space
    and reads double quotes as grouping; printable ASCII only."""
    if bad := visible_ascii(value):
        return bad
    if '"' in value:
        return "it holds a double quote, which the kernel reads as grouping"
    return None


def kernel_word(value: str) -> str | None:
    """One word of a kernel parameter's value (``ip=``, ``nfsroot=``): no spaces either."""
    return _first(kernel_parameters(value), "it holds a space, which would split the parameter" if " " in value
                  else None)


def nfsroot_value(value: str) -> str | None:
    """``nfsroot=[server:]/dir[,options]`` as Linux reads it: within 255 bytes (2.4's
    nfs_root_name); Linux formats the directory with the client's address as its argument, so
    one ``%s`` stands for that address and any other ``%`` is refused."""
    percent = value.replace("%s", "", 1)
    return _first(kernel_word(value), "it holds a % other than one %s (Linux formats nfsroot= with the client's "
                  "address: %s stands for it)" if "%" in percent else None,
                  too_long(value, NFSROOT_MAX, "Linux 2.4 keeps of nfsroot="))


def command_line(limit: int) -> Check:
    """A whole command line for a kernel that keeps *limit* bytes of it."""
    return lambda v: _first(kernel_parameters(v), too_long(v, limit, "the kernel keeps of its command line"))


CMDLINE_PARAMETERS = Field(Format.CMDLINE, "parameters", kernel_parameters,
                           "printable ASCII parameters separated by spaces, no double quote; the whole line within "
                           "the family's command_line_size")
CMDLINE_WORD = Field(Format.CMDLINE, "a parameter's value", kernel_word,
                     "printable ASCII without space or double quote")
CMDLINE_NFSROOT = Field(Format.CMDLINE, "nfsroot=", nfsroot_value,
                        f"printable ASCII without space or double quote, no % but one %s (the client's address); "
                        f"at most {NFSROOT_MAX} bytes for server:/dir,options")


# ------------------------------------------------------------------ nginx site

def _nginx_check(value: str) -> str | None:
    if bad := _unicode(value):
        return bad
    if "$" in value:
        return "it contains '$', which nginx expands as a variable (it has no escape for it): rename it without '$'"
    if "\0" in value:
        return "it contains a NUL character, which nginx cannot carry: remove it"
    if reason := too_long(value, NGINX_TOKEN_MAX, "nginx reads"):
        return f"{reason}: use a shorter path"
    return None


def _nginx_write(value: str) -> str:
    """A double-quoted nginx token: nginx decodes \\", \\\\, \\n, \\r and \\t there."""
    escaped = (value.replace("\\", "\\\\").replace('"', '\\"')
               .replace("\n", "\\n").replace("\r", "\\r").replace("\t", "\\t"))
    return f'"{escaped}"'


NGINX_PATH = Field(Format.NGINX, "location and root", _nginx_check,
                   f"any Unicode text but $ and NUL, at most {NGINX_TOKEN_MAX} bytes; quotes, backslashes, tabs "
                   "and line breaks are escaped", _nginx_write)


NGINX_LISTEN = Field(Format.NGINX, "listen", ipv4, "dotted decimal")


def nginx_text(value: str, what: str) -> str:
    """*value* as a double-quoted nginx token that nginx reads back as exactly *value*."""
    return NGINX_PATH.text(value, what)


# ------------------------------------------------------------------ tftpd-hpa (sourced by sh)

def _sh_double_quoted(value: str) -> str | None:
    if bad := _first(_unicode(value), "it contains a NUL character" if "\0" in value else None):
        return bad
    for ch in '"$`\\\n':
        if ch in value:
            return f"it holds {ch!r}, which the shell reads inside double quotes"
    return None


TFTPD_DIRECTORY = Field(Format.TFTPD, "TFTP_DIRECTORY", _sh_double_quoted,
                        "a path without \", $, `, \\, NUL or line breaks (the file is sourced by sh)", _quoted)
TFTPD_ADDRESS = Field(Format.TFTPD, "TFTP_ADDRESS", ipv4, "dotted decimal")


# ------------------------------------------------------------------ the table, for the reference

FIELDS: tuple[Field, ...] = (
    DHCPD_HOST, DHCPD_HOST_NAME, DHCPD_DOMAIN, DHCPD_FILENAME, DHCPD_ROOT_PATH, DHCPD_MAC, DHCPD_ADDRESS,
    KEA_BOOT_FILE, KEA_HOSTNAME, KEA_OPTION, KEA_ADDRESS, KEA_MAC, KEA_INTERFACE,
    EXPORTS_PATH, EXPORTS_OPTIONS, EXPORTS_CLIENT,
    IPXE_FILE, IPXE_ARGUMENTS, IPXE_SCRIPT_NAME, IPXE_COMMENT,
    CMDLINE_PARAMETERS, CMDLINE_WORD, CMDLINE_NFSROOT,
    NGINX_PATH, NGINX_LISTEN, TFTPD_DIRECTORY, TFTPD_ADDRESS,
)
