"""Safe extraction of a kernel tarball into a profile's source tree.

Refuses absolute member names, ``..`` components, links that escape the tree and special
files, naming the offending member. The single top-level directory of the archive (``linux/``
for 2.4 tarballs, ``linux-X.Y/`` later) is stripped. Extraction goes to a temporary directory
that is renamed into place only when complete.
"""

from __future__ import annotations

import posixpath
import tarfile
from pathlib import Path

from .errors import UnpackError
from .fsutil import atomic_dir
from .log import TaskLog


def unpack(tarball: Path, dest: Path, log: TaskLog, limits: object | None = None) -> str:
    """Extract *tarball* into *dest* (replacing it); return the stripped top-level name."""
    with atomic_dir(dest, suffix=".unpacking") as tmp:
        top, count = _extract(tarball, tmp)
    log.line(f"extracted {count} members of {tarball.name} (top directory {top!r}) into {dest}")
    return top


def _extract(tarball: Path, into: Path) -> tuple[str, int]:
    top: str | None = None
    count = 0
    try:
        with tarfile.open(tarball, mode="r|*") as tf:
            for member in tf:
                if member.name in (".", "./") or member.type in (tarfile.XGLTYPE,):
                    continue
                name = check_member(member, tarball)
                first, _, rest = name.partition("/")
                if top is None:
                    top = first
                elif first != top:
                    raise UnpackError(
                        f"{tarball}: member {member.name!r} is outside the top directory {top!r}; "
                        "a kernel tarball must hold exactly one top-level directory"
                    )
                if not rest:
                    continue  # the top directory itself
                member.name = rest
                if member.islnk():
                    member.linkname = _strip_top(member.linkname, top, tarball, member)
                tf.extract(member, into, set_attrs=True, filter="data")
                count += 1
    except tarfile.FilterError as exc:  # second line of defence
        raise UnpackError(f"{tarball}: refused unsafe member: {exc}") from None
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise UnpackError(f"{tarball}: cannot extract ({exc}); delete it and run again to re-download") from None
    if top is None:
        raise UnpackError(f"{tarball}: archive is empty")
    return top, count


def check_member(member: tarfile.TarInfo, tarball: Path) -> str:
    """Return the normalised member name, or raise UnpackError naming the member."""
    raw = member.name
    if raw.startswith("/") or (len(raw) > 1 and raw[1] == ":"):
        raise UnpackError(f"{tarball}: refusing absolute path {raw!r}")
    parts = [p for p in raw.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise UnpackError(f"{tarball}: refusing {raw!r}: '..' would write outside the tree")
    if not (member.isfile() or member.isdir() or member.issym() or member.islnk()):
        raise UnpackError(f"{tarball}: refusing {raw!r}: special file (device, fifo) in a source tarball")
    name = "/".join(parts)
    if member.issym():
        target = member.linkname
        resolved = posixpath.normpath(posixpath.join(posixpath.dirname(name), target))
        if target.startswith("/") or resolved == ".." or resolved.startswith("../") or _depth(resolved) < 1:
            raise UnpackError(f"{tarball}: refusing symlink {raw!r} -> {target!r}: it points outside the tree")
    return name


def _depth(path: str) -> int:
    """Number of components below the top-level directory (links must stay inside it)."""
    return len([p for p in path.split("/") if p]) - 1


def _strip_top(linkname: str, top: str, tarball: Path, member: tarfile.TarInfo) -> str:
    parts = [p for p in linkname.split("/") if p not in ("", ".")]
    if linkname.startswith("/") or ".." in parts or not parts or parts[0] != top or len(parts) < 2:
        raise UnpackError(f"{tarball}: refusing hard link {member.name!r} -> {linkname!r}: target outside the tree")
    return "/".join(parts[1:])


__all__ = ["unpack", "check_member"]
