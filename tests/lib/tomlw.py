"""A small TOML writer for the tests' settings files: nested dicts of tables, scalars, lists of
scalars and inline tables (dicts inside a table's keys that are marked with :class:`Inline`)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

_BARE = re.compile(r"[A-Za-z0-9_-]+")


class Inline(dict):
    """A dict written as an inline table (`make_vars = { KCFLAGS = "-g" }`)."""


def dumps(doc: dict[str, Any]) -> str:
    """*doc* as TOML: top-level scalars first, then one [table] per dict, depth first."""
    return "\n".join(_table((), doc)).lstrip("\n") + "\n"


def key(name: str) -> str:
    return name if _BARE.fullmatch(name) else json.dumps(name)


def value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int | float):
        return repr(v)
    if isinstance(v, str | Path):
        return json.dumps(str(v))  # a JSON string is a TOML basic string
    if isinstance(v, Inline):
        return "{ " + ", ".join(f"{key(k)} = {value(x)}" for k, x in v.items()) + " }"
    if isinstance(v, list | tuple):
        return "[" + ", ".join(value(x) for x in v) + "]"
    raise TypeError(f"cannot write {v!r} as TOML")


def _table(path: tuple[str, ...], table: dict[str, Any]) -> list[str]:
    scalars = {k: v for k, v in table.items() if v is not None and not _is_table(v)}
    tables = {k: v for k, v in table.items() if _is_table(v)}
    lines = []
    if path and (scalars or not tables):
        lines += ["", f"[{'.'.join(key(p) for p in path)}]"]
    lines += [f"{key(k)} = {value(v)}" for k, v in scalars.items()]
    for k, v in tables.items():
        lines += _table((*path, k), v)
    return lines


def _is_table(v: Any) -> bool:
    return isinstance(v, dict) and not isinstance(v, Inline)
