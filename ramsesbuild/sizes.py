"""Sizes as people write and read them: "8G" in a settings file, "1.2 MiB" in a report."""

from __future__ import annotations

import re

_SIZE = re.compile(r"^\s*(\d+)\s*([KMGT]?)(i?B)?\s*$", re.IGNORECASE)
_UNITS = " KMGT"


def parse_size(text: str) -> int | None:
    """Bytes in "8G", "500M", "64KiB" or "1048576" (binary units), else None."""
    m = _SIZE.match(text)
    if not m:
        return None
    return int(m.group(1)) << (10 * _UNITS.index((m.group(2) or " ").upper()))


def size_text(n: int) -> str:
    """The shortest way parse_size() reads back as *n*: "8G", "500M", "1000"."""
    for i in range(len(_UNITS) - 1, 0, -1):
        if n and n % (1 << (10 * i)) == 0:
            return f"{n >> (10 * i)}{_UNITS[i]}"
    return str(n)


def human(n: float) -> str:
    """A byte count for people: "512 B", "1.5 KiB", "3.2 GiB"."""
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GiB"
