"""Every file the settings name, checked before anything is fetched.

A missing fragment, signing key, base config, initrd or first stage (or the Debian package a
``dpkg`` source comes from) used to show only after download, verify and unpack. `doit` now
checks them when it starts a run, with a few stat calls (a no-op run stays fast), and says, per
missing file, which line of ramses.toml names it. The settings file is read again only then,
to find the lines.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .errors import SettingsError
from .schema import KeyBase
from .schemas.ramses import NetbootTable, ProfileTable, SourceTable
from .settings import Settings


@dataclass(frozen=True)
class Named:
    """A file the settings name, and where: the table and key (for the line) and a fix."""

    path: Path
    tables: tuple[tuple[str, ...], ...]  # where the key may be set, most specific first
    key: KeyBase  # the schema's key: renaming it there renames it here
    fix: str = ""


def named_files(s: Settings) -> list[Named]:
    src = s.source
    source = ("source", src.version)
    out = [Named(k, (source,), SourceTable.keys) for k in src.keys]
    local = src.local_file()
    if src.dpkg and local is not None:
        out.append(Named(local, (source,), SourceTable.mirrors,
                         f"it comes from the Debian package {src.dpkg}: apt-get install {src.dpkg}"))
    if src.patches is not None:
        out.append(Named(src.patches, (source,), SourceTable.patches))
    for prof in s.profiles.values():
        profile = ("profile", prof.name)
        out += [Named(f, (profile,), ProfileTable.fragments)
                for f in prof.fragments]
        if "/" in prof.base:
            out.append(Named(Path(prof.base), (profile,), ProfileTable.base))
        nb = prof.netboot
        if nb is None:
            continue
        layers = ((*profile, "netboot"), ("netboot",))
        files = ((NetbootTable.initrd, nb.initrd), (NetbootTable.first32, nb.first32))
        out += [Named(p, layers, key) for key, p in files if p]
    return out


def check_inputs(s: Settings) -> None:
    """Raise SettingsError, one line per missing file, when a file the settings name is missing."""
    missing = [n for n in named_files(s) if not n.path.exists()]
    if not missing:
        return
    from .tomlload import read_document

    doc = read_document(s.path, SettingsError)
    lines = []
    for n in missing:
        key = n.key.name
        table = next((t for t in n.tables if doc.line_of(t, key) is not None), n.tables[0])
        shown = _shown(n.path, s.root)
        fix = f"; {n.fix}" if n.fix else ""
        lines.append(str(doc.fail(f"{key} names {shown}, which does not exist{fix}", table, key)))
    raise SettingsError("\n".join(lines))


def _shown(path: Path, root: Path) -> str:
    try:
        return str(path.relative_to(root))
    except ValueError:
        return str(path)
