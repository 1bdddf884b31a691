"""The kernel command line mknbi stores in segment tag 17 (``make_paramstring``).

Two dialects exist (mknbi.md §2.4 and §3.5):

* ``"1.0"``: ``auto rw root=...``, option ``--ipaddrs``; only ``rom``/``kernel`` are special.
* ``"1.4"``: ``rw|ro root=...``, option ``--ip`` with the kernel's autoconfig keywords passed
  through, plus `` rdbase=...``. Our own ``ramses`` layout uses this dialect.

``rom`` and ``kernel`` are placeholders the first stage resolves at boot time.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from ..errors import ImageError

IP_PASSTHROUGH_14 = frozenset({"rom", "off", "none", "on", "any", "dhcp", "bootp", "rarp", "both"})
RDBASE_RE = re.compile(r"top|asis|0x[0-9a-fA-F]{1,8}")
RDMODE_RE = re.compile(r"auto|eom|0x[0-9a-fA-F]{1,8}")

Resolver = Callable[[str], "str | None"]


def default_resolver(name: str) -> str | None:
    """Like Perl's inet_aton + inet_ntoa: numeric forms first, then the system resolver."""
    if not name:
        return None
    import socket  # only when a host name is given: --ip=rom and friends never resolve

    try:
        return socket.inet_ntoa(socket.inet_aton(name))
    except OSError:
        pass
    try:
        return socket.gethostbyname(name)
    except (OSError, UnicodeError):
        return None


@dataclass(frozen=True)
class CmdlineSpec:
    """The user's command-line options, before dialect rules are applied."""

    param: str | None = None  # --param: replaces everything
    append: str = ""  # --append ("" = not given)
    rootdir: str | None = None
    rootmode: str | None = None  # 1.4 dialect only: rw|ro
    ip: str | None = None  # --ip (1.4) / --ipaddrs (1.0)
    rdbase: str | None = None  # 1.4 dialect only
    rdmode: str | None = None  # 1.0 only: validated, then ignored (as in mknbi 1.0)
    have_ramdisk: bool = False


def resolve_names(spec: str, resolver: Resolver) -> tuple[str, list[str]]:
    """mknbi's ``resolve_names``: turn host names in fields 1-3 of an ip= spec into addresses."""
    fields = spec.split(":", 4)
    if len(fields) < 5:
        return spec, [f"{spec}: invalid specification (want client:server:gateway:netmask:hostname)"]
    warnings = []
    for i in range(3):
        addr = resolver(fields[i])
        if addr is None:
            warnings.append(f"Warning: {fields[i]} cannot be resolved to an IP address")
        else:
            fields[i] = addr
    return ":".join(fields), warnings


def _root_parts(rootdir: str | None) -> tuple[str, str | None]:
    if rootdir is None:
        return "/dev/nfs", None
    if rootdir.startswith("/dev/"):
        return rootdir, None
    return "/dev/nfs", (None if rootdir == "kernel" else rootdir)


def _check_values(spec: CmdlineSpec) -> None:
    """What the kernel command line cannot carry, refused before it is built: no line breaks,
    control or non-ASCII characters, no double quotes; ip= and nfsroot= one word each."""
    from ..valuerules import CMDLINE_NFSROOT, CMDLINE_PARAMETERS, CMDLINE_WORD

    for option, value, field in (("--param", spec.param, CMDLINE_PARAMETERS), ("--append", spec.append,
                                 CMDLINE_PARAMETERS), ("--ip", spec.ip, CMDLINE_WORD),
                                 ("--rootdir", spec.rootdir, CMDLINE_NFSROOT)):
        if value:
            field.text(value, option, ImageError)


def make_paramstring(spec: CmdlineSpec, dialect: str, resolver: Resolver = default_resolver) -> tuple[str, list[str]]:
    """Return (command line, warnings) exactly as mknbi 1.0 or 1.4.4 builds it."""
    if dialect not in ("1.0", "1.4"):
        raise ValueError(f"unknown command-line dialect {dialect!r}")
    _check_values(spec)
    if spec.param is not None:
        return spec.param, []
    warnings: list[str] = []
    rootdir, nfsroot = _root_parts(spec.rootdir)
    ip = spec.ip
    if ip is not None:
        if ip == "kernel":
            ip = None
        elif (ip != "rom") if dialect == "1.0" else (ip not in IP_PASSTHROUGH_14):
            ip, more = resolve_names(ip, resolver)
            warnings += more
    elif dialect == "1.4" and not spec.have_ramdisk:
        warnings.append("Warning: The --ip option was not used; you may need it if you use NFSroot.")
    if dialect == "1.0":
        if spec.rdmode is not None and not RDMODE_RE.fullmatch(spec.rdmode):
            raise ImageError(f"--rdmode={spec.rdmode!r}: ramdisk mode should be one of: auto eom 0xNNNNNNNN")
        text = f"auto rw root={rootdir}"
    else:
        if spec.rdbase is not None and not RDBASE_RE.fullmatch(spec.rdbase):
            raise ImageError(f"--rdbase={spec.rdbase!r}: ramdisk base should be one of: top asis 0xNNNNNNNN")
        if spec.rootmode is not None and spec.rootmode not in ("rw", "ro"):
            raise ImageError(f"--rootmode={spec.rootmode!r}: root mode should be either rw or ro")
        text = f"{spec.rootmode or 'rw'} root={rootdir}"
    if nfsroot is not None:
        text += f" nfsroot={nfsroot}"
    if ip is not None:
        text += f" ip={ip}"
    if dialect == "1.4" and spec.rdbase is not None:
        text += f" rdbase={spec.rdbase}"
    if spec.append:
        text += f" {spec.append}"
    return text, warnings
