"""Values from nodes.toml reach a rendered file only through the escaping its format accepts.

Names and addresses are checked where they are read (bootconf.inventory); these functions
are the last gate: each either escapes what its format can escape or refuses what it cannot.
"""

from __future__ import annotations

import re

from ..errors import RootError

_HOSTNAME = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
_DOMAIN = re.compile(r"^[a-z0-9]([a-z0-9.-]*[a-z0-9])?$", re.IGNORECASE)


def hostname(value: str) -> str:
    """A host name for /etc/hostname and /etc/hosts (RFC 1123 label); no escaping exists there."""
    if not _HOSTNAME.match(value):
        raise RootError(f"{value!r} is not a host name (lower-case letters, digits and -, at most 63)")
    return value


def domain(value: str) -> str:
    if not _DOMAIN.match(value) or ".." in value:
        raise RootError(f"{value!r} is not a DNS domain name")
    return value


def fstab_field(value: str) -> str:
    """fstab(5) and exports(5) fields: space, tab, newline and backslash as octal escapes."""
    if not value:
        raise RootError("an empty fstab/exports field")
    return "".join(f"\\{ord(c):03o}" if c in " \t\n\\" else c for c in value)


def exports_path(value: str) -> str:
    """A path in /etc/exports (exports(5) accepts the octal escapes of fstab)."""
    if not value.startswith("/"):
        raise RootError(f"{value!r}: an exported path must be absolute")
    return fstab_field(value)


def sh_quote(value: str) -> str:
    """A POSIX shell word: single quotes, ' written as '\\''."""
    if "\0" in value:
        raise RootError(f"{value!r}: a NUL byte cannot be in a shell value")
    return "'" + value.replace("'", "'\\''") + "'"


def ganesha_string(value: str) -> str:
    """A double-quoted nfs-ganesha config string (no escape exists for " there)."""
    if any(c in value for c in '"\n\\'):
        raise RootError(f"{value!r}: nfs-ganesha config strings cannot hold \", \\ or a newline")
    return f'"{value}"'
