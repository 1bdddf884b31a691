r"""What a value must be to go into one output format, and how it is written there: one rule per
format, each a small pure function that returns the value ready for its file or raises
BootConfigError naming the value, what it was for, and why. (ISC dhcpd.conf, exports, iPXE
scripts and kernel command lines get theirs in the shared format-rule module; these two are
the Kea and web-server formats.)

* Kea (kea-dhcp4.conf, JSON): :func:`kea_text`. JSON carries any character as an escape, but
  Kea's parser decodes ``\u`` escapes only up to U+00FF, so text beyond ASCII is written as raw
  UTF-8 (which Kea passes through), and quotes, backslashes and control characters as JSON
  escapes. Refused: NUL (DHCP clients read the fields and string options as C strings: the
  value would end there), text that is not valid Unicode, and values longer (in UTF-8 bytes)
  than the DHCP field or option holds. An option's ``data`` is read once more, as a
  comma-separated list: a comma ends the value (silently: ``/root,v3`` arrives as ``/root``)
  unless written ``\,``, a backslash is written ``\\``, and spaces around the value are
  trimmed, so :func:`kea_option_text` escapes the first two and refuses the last.
* nginx (the web-server site): :func:`nginx_text`. Every value is written as a double-quoted
  token; nginx decodes ``\"``, ``\\``, ``\n``, ``\r`` and ``\t`` there. Refused: ``$``
  (nginx expands variables in paths and has no escape for it), NUL (paths are C strings), text
  that is not valid Unicode, and tokens longer than nginx's 4 KiB configuration buffer.
"""

from __future__ import annotations

import json

from ..errors import BootConfigError

# DHCP limits (bytes): the BOOTP `file` field as Kea checks it; one option's payload.
KEA_FILE_MAX = 127
KEA_OPTION_MAX = 255
KEA_HOSTNAME_MAX = 255
NGINX_TOKEN_MAX = 4000  # nginx reads its configuration through a 4096-byte buffer


def _utf8(value: str, what: str, fmt: str) -> bytes:
    try:
        return value.encode("utf-8")
    except UnicodeEncodeError:
        raise BootConfigError(f"{what} {value!r} is not valid Unicode text; {fmt} cannot carry it") from None


def kea_text(value: str, what: str, limit: int) -> str:
    """*value* as a JSON string literal that Kea reads back as exactly *value*."""
    data = _utf8(value, what, "kea-dhcp4.conf")
    if "\0" in value:
        raise BootConfigError(f"{what} {value!r} contains a NUL character; DHCP clients would read "
                              "only the part before it: remove it")
    if len(data) > limit:
        raise BootConfigError(f"{what} is {len(data)} bytes; a DHCP client gets at most {limit} there: "
                              "use a shorter name or path")
    return json.dumps(value, ensure_ascii=False)


def kea_option_text(value: str, what: str, limit: int = KEA_OPTION_MAX) -> str:
    """*value* as the ``data`` of a Kea string option (csv-format), as a JSON string literal."""
    if not value or value != value.strip():
        raise BootConfigError(f"{what} {value!r} is empty or starts or ends with white space, which Kea trims "
                              "from option data: remove it")
    kea_text(value, what, limit)  # the checks on the value itself
    return kea_text(value.replace("\\", "\\\\").replace(",", "\\,"), what, 4 * limit)


def nginx_text(value: str, what: str) -> str:
    """*value* as a double-quoted nginx token that nginx reads back as exactly *value*."""
    data = _utf8(value, what, "the nginx configuration")
    if "$" in value:
        raise BootConfigError(f"{what} {value!r} contains '$', which nginx expands as a variable "
                              "(it has no escape for it): rename it without '$'")
    if "\0" in value:
        raise BootConfigError(f"{what} {value!r} contains a NUL character, which nginx cannot "
                              "carry: remove it")
    if len(data) > NGINX_TOKEN_MAX:
        raise BootConfigError(f"{what} is {len(data)} bytes; nginx reads at most {NGINX_TOKEN_MAX} "
                              "per value: use a shorter path")
    escaped = (value.replace("\\", "\\\\").replace('"', '\\"')
               .replace("\n", "\\n").replace("\r", "\\r").replace("\t", "\\t"))
    return f'"{escaped}"'
