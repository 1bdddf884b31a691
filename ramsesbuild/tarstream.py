"""Read a compressed tar archive as a stream of members, in time linear in its size.

Decompression runs in a separate process (``xz -dc -T0``, ``lbzip2``/``pbzip2``/``bzip2 -dc``,
``pigz``/``gzip -dc``, ``zstd -dc``) so it uses its own core; this module reads that
process's output from a pipe in fixed-size chunks and parses the tar headers itself
(ustar, GNU long names, pax extended headers). Member data is written straight from those
chunks, or spliced from the pipe, so each byte is handled a bounded number of times whatever
the compression ratio. (Python's ``tarfile`` in stream mode keeps the undelivered rest of
each decompressed chunk in one ``bytes`` and re-slices it on every read, which is quadratic
when a few bytes of bz2 expand to many MiB.)

Only the members a source tarball needs are interpreted; everything is reported as a
:class:`Member` and the caller decides what is acceptable. Failures are :class:`UnpackError`
lines that name the tarball.

With *digests*, the compressed bytes are hashed as they are read, so the caller can check that
what it unpacked is what was verified without reading the file twice: a thread reads the file,
hashes each chunk and writes it into the decompressor's pipe (instead of the decompressor
reading the file itself); an uncompressed tar is hashed as it is parsed.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import io
import os
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Self

from .errors import UnpackError

BLOCK = 512
CHUNK = 1 << 20  # pipe reads; the pipe is enlarged to this size when the kernel allows it
SPLICE_MIN = 1 << 17  # file data larger than this is spliced from the pipe, not copied
META_MAX = 1 << 20  # a pax header or GNU long name larger than this is refused
_ZERO = bytes(BLOCK)


@dataclass(frozen=True)
class Decompressor:
    """A compression format: its magic bytes, the commands that decompress it to stdout
    (best first; parallel ones when installed), and the Debian package of the last one."""

    name: str
    magic: bytes
    commands: tuple[tuple[str, ...], ...]
    package: str

    def installed_command(self) -> tuple[str, ...] | None:
        """The best installed command (program as a full path), or None."""
        for command in self.commands:
            path = shutil.which(command[0])
            if path:
                return (path, *command[1:])
        return None


DECOMPRESSORS = (
    Decompressor("xz", b"\xfd7zXZ\x00", (("xz", "-dc", "-T0"),), "xz-utils"),
    Decompressor("bzip2", b"BZh", (("lbzip2", "-dc"), ("pbzip2", "-dc"), ("bzip2", "-dc")), "bzip2"),
    Decompressor("gzip", b"\x1f\x8b", (("pigz", "-dc"), ("gzip", "-dc")), "gzip"),
    Decompressor("zstd", b"\x28\xb5\x2f\xfd", (("zstd", "-dcq"),), "zstd"),
)

_KINDS = {b"0": "file", b"\0": "file", b"7": "file", b"1": "hardlink", b"2": "symlink",
          b"3": "character device", b"4": "block device", b"5": "dir", b"6": "fifo"}


@dataclass(frozen=True, slots=True)
class Member:
    """One archive member as the header describes it (names as in the archive)."""

    name: str
    kind: str  # file, dir, symlink, hardlink, or a description of anything else
    size: int
    mode: int
    mtime_ns: int
    linkname: str = ""


class TarStream:
    """The members of *tarball*, read once, front to back, from a decompressor's pipe.

    Use as a context manager; iterate :meth:`members`; for a ``file`` member call
    :meth:`copy_data` before asking for the next one (data that is not consumed is skipped);
    call :meth:`finish` after the last member to check the decompressor's verdict.
    *max_bytes* caps the decompressed size: a header whose data would pass it is refused
    before any of that data is decompressed. *chunk* is the read size (tests use odd ones).
    """

    def __init__(self, tarball: Path, max_bytes: int, chunk: int = CHUNK, digests: tuple[str, ...] = ()):
        self.tarball = Path(tarball)
        self.max_bytes = max_bytes
        self.command: tuple[str, ...] = ()
        self.offset = 0  # bytes of the decompressed stream consumed so far
        self._hashes = [hashlib.new(name) for name in digests]  # over the file's bytes, as read
        self._feeder: _Feeder | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._stderr: IO[bytes] | None = None
        self._file: io.FileIO | None = None
        self._fd = -1
        self._splice = False
        self._view = memoryview(bytearray(chunk))
        self._io: io.FileIO | None = None  # unbuffered reads of self._fd into self._view
        self._pos = self._end = 0
        self._left = 0  # data bytes of the current member not yet consumed

    # ------------------------------------------------------------------ process

    def __enter__(self) -> Self:
        try:
            self._file = open(self.tarball, "rb", buffering=0)
            magic = os.pread(self._file.fileno(), 8, 0)  # the file offset stays at 0 for the child
        except OSError as exc:
            self.close()
            raise UnpackError(f"{self.tarball}: cannot read it ({exc.strerror}); "
                              "delete it and run again to re-download") from None
        fmt = next((d for d in DECOMPRESSORS if magic.startswith(d.magic)), None)
        if fmt is None:  # an uncompressed tar: read the file itself
            self._fd = self._file.fileno()
            self._io = self._file
            return self
        self.command = self._find_command(fmt)
        self._stderr = tempfile.TemporaryFile()
        try:
            # argv[0] is the bare name, so the tool's messages start with "xz:", not its path
            self._proc = subprocess.Popen((os.path.basename(self.command[0]), *self.command[1:]),
                                          executable=self.command[0],
                                          stdin=subprocess.PIPE if self._hashes else self._file,
                                          stdout=subprocess.PIPE, stderr=self._stderr, close_fds=True)
        except OSError as exc:
            self.close()
            raise UnpackError(f"{self.tarball}: cannot run {self.command[0]} ({exc.strerror}); "
                              f"reinstall it (apt-get install {fmt.package})") from None
        if self._hashes:
            assert self._proc.stdin is not None
            feed_fd = os.dup(self._proc.stdin.fileno())
            self._proc.stdin.close()
            with contextlib.suppress(OSError):
                fcntl.fcntl(feed_fd, fcntl.F_SETPIPE_SZ, CHUNK)
            self._feeder = _Feeder(self._file, feed_fd, self._hashes)
            self._feeder.start()
        assert self._proc.stdout is not None
        self._fd = self._proc.stdout.fileno()
        self._io = io.FileIO(self._fd, closefd=False)
        with contextlib.suppress(OSError):  # fewer, larger reads; optional
            fcntl.fcntl(self._fd, fcntl.F_SETPIPE_SZ, CHUNK)
        self._splice = hasattr(os, "splice")
        return self

    def _find_command(self, fmt: Decompressor) -> tuple[str, ...]:
        command = fmt.installed_command()
        if command:
            return command
        raise UnpackError(f"{self.tarball}: cannot decompress it: {fmt.commands[-1][0]} is not "
                          f"installed (apt-get install {fmt.package})")

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop the decompressor (if still running) and release everything."""
        if self._feeder is not None:
            self._feeder.stop = True
        if self._proc is not None:
            if self._proc.poll() is None:
                self._proc.kill()
            self._proc.wait()
            assert self._proc.stdout is not None
            self._proc.stdout.close()
            self._proc = None
        if self._feeder is not None:
            self._feeder.join()
            self._feeder = None
        for fh in (self._stderr, self._file):
            if fh is not None:
                fh.close()
        self._stderr = self._file = None

    def _decompressor_failed(self) -> UnpackError | None:
        """After EOF: the decompressor's complaint, if it exited with an error."""
        if self._proc is None:
            return None
        rc = self._proc.wait()
        if rc == 0:
            return None
        assert self._stderr is not None
        self._stderr.seek(0)
        lines = self._stderr.read(4096).decode(errors="replace").strip().splitlines()
        tool = os.path.basename(self.command[0])
        why = lines[0].strip().rstrip(";") if lines else f"exit status {rc}"
        if not why.startswith(f"{tool}:"):
            why = f"{tool}: {why}"
        return UnpackError(f"{self.tarball}: the compressed data is corrupt or truncated ({why}); "
                           "delete it and run again to re-download")

    def finish(self) -> None:
        """Read to the end of the stream and check that decompression succeeded."""
        self._pos = self._end = self._left = 0
        while n := self._fill():
            self.offset += n
            self._check_cap("data after the end of the archive")
        failure = self._decompressor_failed()
        if failure:
            raise failure
        if self._feeder is not None:
            self._feeder.join()
            if self._feeder.error is not None:
                raise UnpackError(f"{self.tarball}: cannot read it ({self._feeder.error.strerror}); "
                                  "delete it and run again to re-download")

    def hexdigests(self) -> dict[str, str]:
        """After :meth:`finish`: the digests of every byte of the file, by algorithm name."""
        if self._feeder is not None and not self._feeder.complete:
            raise UnpackError(f"{self.tarball}: the file was not read to its end; run again")
        return {h.name: h.hexdigest() for h in self._hashes}

    # ------------------------------------------------------------------ reading
    # One buffer, reused: bytes self._pos to self._end of it are read but not consumed.

    def _fill(self) -> int:
        """Refill the (fully consumed) buffer; 0 at the end of the stream."""
        assert self._io is not None
        self._pos = 0
        self._end = self._io.readinto(self._view) or 0
        if self._feeder is None and self._hashes:  # an uncompressed tar: these are the file's bytes
            for h in self._hashes:
                h.update(self._view[:self._end])
        return self._end

    def _truncated(self, what: str) -> UnpackError:
        failure = self._decompressor_failed()
        if failure:
            return failure
        return UnpackError(f"{self.tarball}: the archive is truncated (it ends inside {what}); "
                           "delete it and run again to re-download")

    def _check_cap(self, what: str) -> None:
        if self.offset > self.max_bytes:
            raise UnpackError(f"{self.tarball}: refusing {what}: the archive expands to more than "
                              f"{self.max_bytes} bytes (UnpackLimits.max_bytes); "
                              "raise the limit if this tarball is genuine")

    def _read(self, n: int, what: str) -> bytes:
        """Exactly *n* bytes (n is small: a header or metadata)."""
        pos = self._pos
        if pos + n <= self._end:
            self._pos = pos + n
            return bytes(self._view[pos:pos + n])
        parts = []
        while n:
            if self._pos == self._end and not self._fill():
                raise self._truncated(what)
            take = min(n, self._end - self._pos)
            parts.append(bytes(self._view[self._pos:self._pos + take]))
            self._pos += take
            n -= take
        return b"".join(parts)

    def _skip(self, n: int) -> None:
        while n:
            if self._pos == self._end and not self._fill():
                raise self._truncated("member data")
            take = min(n, self._end - self._pos)
            self._pos += take
            n -= take

    def copy_data(self, fd: int, what: str) -> None:
        """Write the current member's data to *fd*."""
        n, self._left = self._left, 0
        while n:
            if self._pos == self._end:
                if self._splice and n >= SPLICE_MIN:
                    n = self._splice_to(fd, n, what)
                    if not n:
                        return
                if not self._fill():
                    raise self._truncated(what)
            take = min(n, self._end - self._pos)
            _write_all(fd, self._view[self._pos:self._pos + take])
            self._pos += take
            n -= take

    def _splice_to(self, fd: int, n: int, what: str) -> int:
        """Move *n* bytes from the pipe to *fd* in the kernel; return what is left to copy."""
        while n:
            try:
                moved = os.splice(self._fd, fd, n)
            except OSError as exc:
                if exc.errno in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP):
                    self._splice = False  # this file system cannot: copy instead
                    return n
                raise
            if not moved:
                raise self._truncated(what)
            n -= moved
        return 0

    # ------------------------------------------------------------------ headers

    def members(self) -> Iterator[Member]:
        """Yield each member in archive order, until the end-of-archive block."""
        pax: dict[str, str] = {}
        long_name = long_link = None
        while True:
            self._skip(self._left)
            self._left = 0
            start = self.offset
            self.offset += BLOCK
            self._check_cap("a member header")
            block = self._read(BLOCK, "a header, before the end-of-archive block")
            if block == _ZERO:
                return
            _check_header(block, start, self.tarball)
            flag = block[156:157]
            size = _number(block[124:136], start, self.tarball)
            if size < 0:
                raise _corrupt(self.tarball, start, "negative size")
            if flag in (b"x", b"g", b"L", b"K"):
                data = self._metadata(size, start)
                if flag == b"x":
                    pax.update(_parse_pax(data, start, self.tarball))
                elif flag == b"g":
                    _check_global(_parse_pax(data, start, self.tarball), start, self.tarball)
                elif flag == b"L":
                    long_name = _cstr(data)
                else:
                    long_link = _cstr(data)
                continue
            if "size" in pax:
                size = _pax_int(pax["size"], start, self.tarball)
            name = pax.get("path") or long_name or _ustar_name(block)
            linkname = pax.get("linkpath") or long_link or _cstr(block[157:257])
            mtime_ns = (_pax_time(pax["mtime"], start, self.tarball) if "mtime" in pax
                        else _number(block[136:148], start, self.tarball) * 1_000_000_000)
            sparse = flag == b"S" or any(k.startswith("GNU.sparse.") for k in pax)
            pax, long_name, long_link = {}, None, None
            kind = "sparse file" if sparse else _KINDS.get(flag, f"member of type {flag!r}")
            if kind == "file" and flag == b"\0" and name.endswith("/"):
                kind = "dir"  # pre-POSIX archives mark directories by the slash alone
            padded = size + (-size % BLOCK)
            self.offset += padded
            self._check_cap(f"member {name!r}")
            self._left = size
            yield Member(name, kind, size, _number(block[100:108], start, self.tarball) & 0o7777,
                         mtime_ns, linkname)
            self._skip(self._left + (-size % BLOCK))
            self._left = 0

    def _metadata(self, size: int, start: int) -> bytes:
        if size > META_MAX:
            raise UnpackError(f"{self.tarball}: corrupt archive: a {size}-byte extended header at "
                              f"byte {start}; delete it and run again to re-download")
        padded = size + (-size % BLOCK)
        self.offset += padded
        self._check_cap("an extended header")
        data = self._read(size, "an extended header")
        self._skip(padded - size)
        return data


class _Feeder(threading.Thread):
    """Copies the compressed file into the decompressor's pipe (closing it at the end), hashing
    every byte on the way. If the decompressor stops reading early, the rest of the file is
    still hashed, so the digests always describe the whole file."""

    def __init__(self, src: io.FileIO, fd: int, hashes: list[hashlib._Hash]):
        super().__init__(name="tarstream-feeder", daemon=True)
        self.src, self.fd, self.hashes = src, fd, hashes
        self.stop = False
        self.complete = False
        self.error: OSError | None = None

    def run(self) -> None:
        buf = bytearray(CHUNK)
        view = memoryview(buf)
        writing = True
        try:
            while not self.stop:
                n = self.src.readinto(buf) or 0
                if not n:
                    self.complete = True
                    break
                for h in self.hashes:
                    h.update(view[:n])
                if writing:
                    try:
                        _write_all(self.fd, view[:n])
                    except BrokenPipeError:
                        writing = False  # the decompressor stopped: its verdict says why
        except OSError as exc:
            self.error = exc
        finally:
            with contextlib.suppress(OSError):
                os.close(self.fd)


def _write_all(fd: int, data: bytes | memoryview) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def _corrupt(tarball: Path, start: int, why: str) -> UnpackError:
    return UnpackError(f"{tarball}: corrupt archive: {why} in the header at byte {start}; "
                       "delete it and run again to re-download")


def _check_header(block: bytes, start: int, tarball: Path) -> None:
    stored = _number(block[148:156], start, tarball)
    unsigned = sum(block) - sum(block[148:156]) + 8 * 32
    if stored == unsigned:
        return
    signed = sum(b - 256 if b > 127 else b for b in block[:148] + block[156:]) + 8 * 32
    if stored != signed:
        raise _corrupt(tarball, start, "bad checksum")


def _number(field: bytes, start: int, tarball: Path) -> int:
    """An octal field, or GNU base-256 (first byte 0x80 positive, 0xff negative)."""
    if field[0] == 0x80:
        return int.from_bytes(field[1:], "big")
    if field[0] == 0xFF:
        return int.from_bytes(field, "big", signed=True)
    digits = field.split(b"\0", 1)[0].strip()
    try:
        return int(digits, 8) if digits else 0
    except ValueError:
        raise _corrupt(tarball, start, f"bad number {field!r}") from None


def _cstr(field: bytes) -> str:
    return field.split(b"\0", 1)[0].decode("utf-8", "surrogateescape")


def _ustar_name(block: bytes) -> str:
    name = _cstr(block[:100])
    if block[257:263] == b"ustar\0":  # POSIX: a prefix field (GNU uses those bytes otherwise)
        prefix = _cstr(block[345:500])
        if prefix:
            return f"{prefix}/{name}"
    return name


def _parse_pax(data: bytes, start: int, tarball: Path) -> dict[str, str]:
    """``"<len> <key>=<value>\\n"`` records."""
    out: dict[str, str] = {}
    pos = 0
    while pos < len(data):
        if data[pos] == 0:  # padding some writers leave
            break
        space = data.find(b" ", pos)
        try:
            length = int(data[pos:space])
        except ValueError:
            raise _corrupt(tarball, start, "bad pax record") from None
        record = data[space + 1:pos + length]
        if length <= 0 or not record.endswith(b"\n") or b"=" not in record:
            raise _corrupt(tarball, start, "bad pax record")
        key, _, value = record[:-1].partition(b"=")
        out[key.decode("utf-8", "surrogateescape")] = value.decode("utf-8", "surrogateescape")
        pos += length
    return out


def _check_global(keys: dict[str, str], start: int, tarball: Path) -> None:
    """A pax global header (git archive puts the commit id there) may not rename members."""
    bad = sorted(k for k in keys if k in ("path", "linkpath", "size") or k.startswith("GNU.sparse."))
    if bad:
        raise UnpackError(f"{tarball}: refusing the pax global header at byte {start}: it sets "
                          f"{', '.join(bad)} for every member; a kernel tarball does not do that")


def _pax_int(value: str, start: int, tarball: Path) -> int:
    if not value.isdigit():
        raise _corrupt(tarball, start, f"bad pax number {value!r}")
    return int(value)


def _pax_time(value: str, start: int, tarball: Path) -> int:
    """``"1700000000.123456789"`` (or negative) as integer nanoseconds, exactly."""
    sign = -1 if value.startswith("-") else 1
    whole, _, frac = value.lstrip("-").partition(".")
    if not whole.isdigit() or (frac and not frac.isdigit()):
        raise _corrupt(tarball, start, f"bad pax time {value!r}")
    return sign * (int(whole) * 1_000_000_000 + int((frac + "000000000")[:9]))


__all__ = ["DECOMPRESSORS", "Decompressor", "Member", "TarStream"]
