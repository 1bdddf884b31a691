"""Safe, fast extraction of a kernel tarball into a profile's source tree.

Containment holds by construction, whatever the Python patch level:

* Names are checked lexically (no absolute names, no ``..``, no special files, one top-level
  directory, which is stripped) and every member is recorded in a model of the tree being
  built (directory, file or symlink per path).
* Nothing is ever written through a symlink. Regular files, directories and hard links are
  created first, while the tree holds no symlink at all; a member whose path passes through a
  path that the archive makes a symlink, a file, or that already exists, is refused. Hard
  links may only point to a regular file already extracted.
* Symlinks are created last, after every target has been resolved in the model (following
  the archive's own symlinks, ``..`` against the real parent, at most 40 nested links, no
  loops): a target that leaves the tree is refused. No ``realpath`` is involved.
* Every file system call works relative to directory descriptors opened one component at a
  time with ``O_NOFOLLOW|O_DIRECTORY``; files are created with ``O_CREAT|O_EXCL|O_NOFOLLOW``,
  links with ``linkat``/``symlinkat``. So even a flaw in the model could not make a write
  leave the tree.

Decompression runs in a separate process and the archive is read once, as a stream
(:mod:`ramsesbuild.tarstream`). :class:`UnpackLimits` caps the decompressed size and the
member count.

Modes come from the archive without setuid/setgid/sticky and group/other write bits
(directories always keep ``u+rwx``); mtimes come from the archive (directories' are set
last). Extraction goes to a temporary directory ``.<dest name>.<random>.unpacking`` beside
*dest*, swapped into place only when complete (:func:`ramsesbuild.fsutil.atomic_dir`).

The bytes unpacked are the bytes verified: with an :class:`Expected` digest (the sha256 pinned
in ramses.toml, or dpkg's record of a package's file), the stream is hashed as it is read (the
same single read) and a tree whose source does not match is never swapped into place, whatever
the state files say.
"""

from __future__ import annotations

import errno
import os
import time
from dataclasses import dataclass
from pathlib import Path

from .errors import UnpackError
from .fsutil import atomic_dir
from .log import TaskLog
from .settings import UnpackLimits  # caps from ramses.toml [unpack]
from .state import UnpackedStamp
from .tarstream import Member, TarStream

TEMP_SUFFIX = ".unpacking"  # temp trees are named .<dest name>.<random>.unpacking
MODE_MASK = 0o755  # no setuid/setgid/sticky, no group/other write
MAX_LINK_DEPTH = 40  # symlinks resolved through symlinks (Linux gives up after 40 too)
PATH_MAX = 4096
_BUSY = "\0"  # a symlink whose resolution is in progress (no path contains NUL)
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_FILE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
_KIND_NAMES = {"d": "directory", "f": "file", "l": "symlink"}


@dataclass(frozen=True)
class Expected:
    """What the tarball's bytes must hash to, and on whose word (for the message)."""

    algorithm: str  # a hashlib name: "sha256", "md5"
    digest: str  # lower-case hex
    anchor: str  # e.g. 'the sha256 pinned in ramses.toml [source."2.4.18"]'

    def check(self, tarball: Path, measured: dict[str, str]) -> None:
        got = measured[self.algorithm]
        if got != self.digest:
            raise UnpackError(
                f"{tarball}: the bytes read for unpacking have {self.algorithm} {got}, but {self.anchor} says "
                f"{self.digest}: the file changed after it was verified (replaced, or damaged on disk). Nothing "
                "was unpacked; delete it and run again (it is fetched and verified afresh)")


def tree_is_current(stamp: UnpackedStamp, expect: Expected, src: Path) -> bool:
    """Does the unpack stamp of the tree at *src* say it holds the bytes *expect* names (and is
    the tree still there)? Then unpacking again would give the same tree: keep it, with its
    generation, so the steps after it need not run again."""
    return (bool(stamp.generation) and stamp.source == f"{expect.algorithm}:{expect.digest}"
            and (src / "Makefile").is_file())


def unpack(tarball: Path, dest: Path, log: TaskLog, limits: UnpackLimits | None = None,
           expect: Expected | None = None) -> str:
    """Extract *tarball* into *dest* (replacing it atomically); return the stripped top-level name.
    With *expect*, the tree is swapped into place only if the bytes read hash to it."""
    tarball, dest = Path(tarball), Path(dest)
    limits = limits or UnpackLimits()
    started = time.monotonic()
    try:
        with atomic_dir(dest, suffix=TEMP_SUFFIX) as tmp:
            ex = _Extraction(tarball, tmp, dest, limits, expect)
            ex.run()
    except OSError as exc:  # creating the temp directory or swapping it into place
        raise _os_error(exc, tarball, dest, None) from None
    if expect is not None:
        log.line(f"{tarball.name}: the bytes unpacked have the {expect.algorithm} of {expect.anchor}")
    log.line(f"extracted {ex.members} members ({ex.stream_bytes} bytes of tar) of {tarball.name} "
             f"(top directory {ex.top!r}) into {dest} in {time.monotonic() - started:.1f} s"
             + (f" with {ex.command}" if ex.command else ""))
    assert ex.top is not None
    return ex.top


def check_member(member: Member, tarball: Path) -> str:
    """Return the member's normalised name (top directory included), or raise UnpackError.

    Lexical checks only: absolute names, ``..``, NUL bytes, special files, absolute or empty
    link targets. Everything that depends on other members is decided by the tree model.
    """
    raw = member.name
    if "\0" in raw or "\0" in member.linkname:
        raise _refuse(tarball, raw, "NUL byte in the name")
    if max(len(raw), len(member.linkname)) >= PATH_MAX:
        raise _refuse(tarball, raw[:100] + "...", f"name or link target longer than {PATH_MAX - 1} "
                                                  "characters")
    if raw.startswith("/"):
        raise _refuse(tarball, raw, "absolute path")
    parts = [p for p in raw.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise _refuse(tarball, raw, "'..' would write outside the tree")
    if member.kind not in ("file", "dir", "symlink", "hardlink"):
        raise _refuse(tarball, raw, f"{member.kind} (a source tarball holds only files, "
                                    "directories and links)")
    if member.kind in ("symlink", "hardlink"):
        if not member.linkname:
            raise _refuse(tarball, raw, f"{_member_kind(member)} with an empty target")
        if member.linkname.startswith("/"):
            raise _refuse(tarball, raw, f"{_member_kind(member)} to the absolute path {member.linkname!r} "
                                        "points outside the tree")
    return "/".join(parts)


def _refuse(tarball: Path, name: str, why: str) -> UnpackError:
    return UnpackError(f"{tarball}: refusing member {name!r}: {why}")


def _os_error(exc: OSError, tarball: Path, dest: Path, member: str | None) -> UnpackError:
    where = f" (member {member!r})" if member else ""
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return UnpackError(f"{tarball}: disk full while unpacking into {dest.parent}{where}: "
                           f"{exc.strerror}; free space on that file system and run again")
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return UnpackError(f"{tarball}: cannot unpack into {dest}{where}: {exc.strerror}; "
                           f"make {dest.parent} writable and run again")
    return UnpackError(f"{tarball}: cannot unpack into {dest}{where}: {exc.strerror}")


def _current_umask() -> int | None:
    """The process umask, read without changing it (None if the kernel does not say)."""
    try:
        with open("/proc/self/status", encoding="ascii", errors="replace") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    return None


class _DirFds:
    """Descriptors of the directories on the current path, each opened from its parent with
    O_NOFOLLOW|O_DIRECTORY (so a symlink, should one ever be there, is an error, never
    followed). Archives list members directory by directory, so moving to the next member's
    directory usually reuses every descriptor but one."""

    def __init__(self, root_fd: int):
        self.root = root_fd
        self._path = ""
        self._parts: list[str] = []
        self._fds: list[int] = []

    def fd(self, path: str) -> int:
        """The descriptor of directory *path* (relative to the root), created if missing."""
        if path == self._path:
            return self._fds[-1] if self._fds else self.root
        parts = path.split("/") if path else []
        keep = 0
        for old, new in zip(self._parts, parts, strict=False):
            if old != new:
                break
            keep += 1
        for fd in self._fds[keep:]:
            os.close(fd)
        del self._fds[keep:], self._parts[keep:]
        cur = self._fds[-1] if self._fds else self.root
        for part in parts[keep:]:
            cur = _open_dir(part, cur, create=True)
            self._fds.append(cur)
            self._parts.append(part)
        self._path = path
        return cur

    def open_existing(self, path: str) -> int:
        """A new descriptor of existing directory *path*; the caller closes it."""
        cur = os.dup(self.root)
        for part in path.split("/") if path else []:
            try:
                nxt = _open_dir(part, cur, create=False)
            finally:
                os.close(cur)
            cur = nxt
        return cur

    def close(self) -> None:
        for fd in self._fds:
            os.close(fd)
        self._fds, self._parts, self._path = [], [], ""


def _open_dir(name: str, parent_fd: int, create: bool) -> int:
    try:
        return os.open(name, _DIR_FLAGS, dir_fd=parent_fd)
    except FileNotFoundError:
        if not create:
            raise
    os.mkdir(name, 0o755, dir_fd=parent_fd)  # a parent the archive does not list
    return os.open(name, _DIR_FLAGS, dir_fd=parent_fd)


class _Extraction:
    """One run: read the stream, check each member against the model, create it."""

    def __init__(self, tarball: Path, root: Path, dest: Path, limits: UnpackLimits, expect: Expected | None = None):
        self.tarball = tarball
        self.root = root  # the temporary directory
        self.dest = dest
        self.limits = limits
        self.expect = expect
        self.top: str | None = None
        self.members = 0
        self.stream_bytes = 0
        self.command = ""
        self.umask = _current_umask()
        # The model: every path below the root that exists or will exist -> d / f / l.
        self.kinds: dict[str, str] = {"": "d"}
        self.links: dict[str, str] = {}  # symlink path -> target, in archive order
        self.resolved: dict[str, str] = {}  # symlink path -> where it leads (see _resolve_link)
        self.link_mtimes: dict[str, int] = {}
        self.dir_attrs: dict[str, tuple[int, int]] = {}  # listed directory -> (mode, mtime_ns)
        self.root_attrs: tuple[int, int] | None = None
        self.current: str | None = None

    def run(self) -> None:
        root_fd = os.open(self.root, _DIR_FLAGS)
        dirs = _DirFds(root_fd)
        try:
            digests = (self.expect.algorithm,) if self.expect else ()
            with TarStream(self.tarball, self.limits.max_bytes, digests=digests) as stream:
                self.command = " ".join(stream.command)
                for member in stream.members():
                    self.current = member.name
                    self._add(member, stream, dirs)
                self.current = None
                stream.finish()
                self.stream_bytes = stream.offset
                if self.expect is not None:
                    self.expect.check(self.tarball, stream.hexdigests())
            if self.top is None:
                raise UnpackError(f"{self.tarball}: the archive is empty; delete it and run again "
                                  "to re-download")
            self._make_symlinks(dirs)
            self._set_dir_attrs(dirs, root_fd)
        except OSError as exc:
            raise _os_error(exc, self.tarball, self.dest, self.current) from None
        finally:
            dirs.close()
            os.close(root_fd)

    # ------------------------------------------------------------------ members

    def _add(self, m: Member, stream: TarStream, dirs: _DirFds) -> None:
        self.members += 1
        if self.members > self.limits.max_members:
            raise UnpackError(f"{self.tarball}: refusing member {m.name!r}: the archive has more than "
                              f"{self.limits.max_members} members (UnpackLimits.max_members); "
                              "raise the limit if this tarball is genuine")
        rel = self._relative(check_member(m, self.tarball), m)
        if rel is None:
            return
        kind = self.kinds.get(rel)
        mode = m.mode & MODE_MASK
        if m.kind == "dir":
            if kind == "d":  # listed twice, or created earlier as a parent
                self.dir_attrs[rel] = (mode | 0o700, m.mtime_ns)
                return
            self._no_duplicate(m, kind)
            parent, base = self._parent(rel, m)
            os.mkdir(base, 0o700, dir_fd=dirs.fd(parent))
            self.kinds[rel] = "d"
            self.dir_attrs[rel] = (mode | 0o700, m.mtime_ns)
            return
        self._no_duplicate(m, kind)
        parent, base = self._parent(rel, m)
        if m.kind == "file":
            fd = os.open(base, _FILE_FLAGS, mode, dir_fd=dirs.fd(parent))
            try:
                stream.copy_data(fd, f"member {m.name!r}")
                if self.umask is None or mode & self.umask:
                    os.fchmod(fd, mode)
                os.utime(fd, ns=(m.mtime_ns, m.mtime_ns))
            finally:
                os.close(fd)
            self.kinds[rel] = "f"
        elif m.kind == "hardlink":
            self._hardlink(m, rel, parent, base, dirs)
        else:  # symlink: created at the end, when the whole tree is known
            self.kinds[rel] = "l"
            self.links[rel] = m.linkname
            self.link_mtimes[rel] = m.mtime_ns

    def _relative(self, name: str, m: Member) -> str | None:
        """Strip the single top-level directory; None for the top directory itself."""
        top, _, rel = name.partition("/")
        if not top:  # "." or "./"
            if m.kind == "dir":
                return None
            raise _refuse(self.tarball, m.name, "not a directory, but named as the archive root")
        if self.top is None:
            self.top = top
        elif top != self.top:
            raise _refuse(self.tarball, m.name, f"outside the top directory {self.top!r}; a kernel "
                                                "tarball holds exactly one top-level directory")
        if rel:
            return rel
        if m.kind != "dir":
            raise _refuse(self.tarball, m.name, "the top level must be a directory")
        self.root_attrs = ((m.mode & MODE_MASK) | 0o700, m.mtime_ns)
        return None

    def _no_duplicate(self, m: Member, kind: str | None) -> None:
        if kind is not None:
            raise _refuse(self.tarball, m.name, f"a second member at this path would replace a "
                                                f"{_KIND_NAMES[kind]} with a {_member_kind(m)}")

    def _parent(self, rel: str, m: Member) -> tuple[str, str]:
        """Check that *rel*'s parent is (or can be made) a plain directory of the model."""
        parent, _, base = rel.rpartition("/")
        kind = self.kinds.get(parent)
        if kind == "d":
            return parent, base
        missing = []
        path = parent
        while kind is None:
            missing.append(path)
            path = path.rpartition("/")[0]
            kind = self.kinds.get(path)
        if kind != "d":
            what = ("a symlink: refusing to write through it" if kind == "l"
                    else "a file, not a directory")
            raise _refuse(self.tarball, m.name, f"{self.top}/{path} is {what}")
        for path in missing:
            self.kinds[path] = "d"  # created by _DirFds when first needed
        return parent, base

    def _hardlink(self, m: Member, rel: str, parent: str, base: str, dirs: _DirFds) -> None:
        target = "/".join(p for p in m.linkname.split("/") if p not in ("", "."))
        top, _, trel = target.partition("/")
        if ".." in target.split("/") or top != self.top or not trel:
            raise _refuse(self.tarball, m.name, f"hard link to {m.linkname!r}: the target is outside "
                                                "the tree")
        tkind = self.kinds.get(trel)
        if tkind != "f":
            why = ("a member not extracted before it" if tkind is None
                   else f"a {_KIND_NAMES[tkind]}, not a regular file")
            raise _refuse(self.tarball, m.name, f"hard link to {m.linkname!r}: the target is {why}")
        tparent, _, tbase = trel.rpartition("/")
        src_fd = dirs.open_existing(tparent)
        try:
            os.link(tbase, base, src_dir_fd=src_fd, dst_dir_fd=dirs.fd(parent), follow_symlinks=False)
        finally:
            os.close(src_fd)
        self.kinds[rel] = "f"

    # ------------------------------------------------------------------ symlinks, last

    def _make_symlinks(self, dirs: _DirFds) -> None:
        for rel in self.links:  # all checked before any is created
            self.current = f"{self.top}/{rel}"
            self._resolve_link(rel, 0)
        for rel, target in self.links.items():
            self.current = f"{self.top}/{rel}"
            parent, _, base = rel.rpartition("/")
            dfd = dirs.fd(parent)
            os.symlink(target, base, dir_fd=dfd)
            mtime = self.link_mtimes[rel]
            os.utime(base, ns=(mtime, mtime), dir_fd=dfd, follow_symlinks=False)
        self.current = None

    def _resolve_link(self, link: str, depth: int) -> str:
        """Where symlink *link* leads in the finished tree, as the kernel would resolve it
        (root-relative, canonical); refuse when it leaves the root. Each link is resolved
        once (memoised), so the work is linear in the total length of the link targets."""
        done = self.resolved.get(link)
        if done is not None:
            if done is _BUSY:
                raise _refuse(self.tarball, self.current or link, f"symlink loop through {link!r}")
            return done
        if depth > MAX_LINK_DEPTH:
            raise _refuse(self.tarball, self.current or link,
                          f"symlink chain longer than {MAX_LINK_DEPTH} links")
        self.resolved[link] = _BUSY
        path = link.rpartition("/")[0]
        for part in self.links[link].split("/"):
            if part in ("", "."):
                continue
            if part == "..":
                if not path:  # the parent of the root is outside
                    raise _refuse(self.tarball, f"{self.top}/{link}",
                                  f"symlink to {self.links[link]!r} points outside the tree")
                path = path.rpartition("/")[0]
                continue
            path = f"{path}/{part}" if path else part
            if len(path) > PATH_MAX:
                raise _refuse(self.tarball, f"{self.top}/{link}",
                              f"symlink to {self.links[link]!r} resolves to a path longer than {PATH_MAX}")
            if self.kinds.get(path) == "l":
                path = self._resolve_link(path, depth + 1)
        self.resolved[link] = path
        return path

    # ------------------------------------------------------------------ directories, very last

    def _set_dir_attrs(self, dirs: _DirFds, root_fd: int) -> None:
        for rel, (mode, mtime) in self.dir_attrs.items():
            self.current = f"{self.top}/{rel}"
            fd = dirs.fd(rel)
            os.fchmod(fd, mode)
            os.utime(fd, ns=(mtime, mtime))
        self.current = None
        if self.root_attrs is None:  # the archive does not list its top directory
            os.fchmod(root_fd, 0o755)
            return
        mode, mtime = self.root_attrs
        os.fchmod(root_fd, mode)
        os.utime(root_fd, ns=(mtime, mtime))


def _member_kind(m: Member) -> str:
    return {"dir": "directory", "symlink": "symlink", "hardlink": "hard link"}.get(m.kind, m.kind)


__all__ = ["TEMP_SUFFIX", "Expected", "UnpackLimits", "check_member", "tree_is_current", "unpack"]
