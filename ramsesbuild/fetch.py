"""Download the kernel tarball and its signature: mirrors in order, HTTP Range resume,
progress bar, sha256 check of the tarball before it is renamed into place."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING
from urllib.parse import unquote, urlparse

from .errors import FetchError
from .fsutil import CHUNK, ensure_dir, open_nofollow, sha256_file
from .log import TaskLog
from .settings import Source

if TYPE_CHECKING:
    from .progress import Progress

TIMEOUT = (15, 60)  # connect, read seconds
NET_CHUNK = 64 * 1024  # small, so a dropped connection keeps most of what arrived


@dataclass(frozen=True)
class Wanted:
    name: str
    sha256: str | None  # None: no pin for this file (e.g. the signature)
    fresh: bool = False  # copy it again even if present (the verify step compares it with the original)


def wanted_files(source: Source) -> list[Wanted]:
    # No pin on a Debian package's file: the copy is always made afresh (as cheap as hashing
    # the present one), and the verify step checks that it equals the package's file.
    files = [Wanted(source.tarball, source.sha256, fresh=bool(source.dpkg and not source.sha256))]
    if source.signature:
        files.append(Wanted(source.signature, source.signature_sha256))
    return files


def fetch_all(source: Source, dest_dir: Path, log: TaskLog) -> list[Path]:
    return [fetch_one(w, source.mirrors, dest_dir, log) for w in wanted_files(source)]


def fetch_one(want: Wanted, mirrors: tuple[str, ...], dest_dir: Path, log: TaskLog) -> Path:
    ensure_dir(dest_dir)
    final = dest_dir / want.name
    if final.exists() and not want.fresh and (want.sha256 is None or sha256_file(final) == want.sha256):
        log.line(f"{final}: already present")
        return final
    partial = dest_dir / f".{want.name}.partial"
    failures = []
    for mirror in mirrors:
        url = mirror.rstrip("/") + "/" + want.name
        log.section(f"fetch {url}")
        try:
            _download(url, partial, log)
            _check_pin(partial, want, url)
        except FetchError as exc:
            log.line(f"failed: {exc}")
            failures.append(f"  {url}: {exc}")
            continue
        os.replace(partial, final)
        log.line(f"{final}: complete ({final.stat().st_size} bytes)")
        return final
    raise FetchError(
        f"could not fetch {want.name}; every mirror failed:\n" + "\n".join(failures) +
        "\nCheck the mirrors list in ramses.toml, or put the file into "
        f"{dest_dir} yourself (it is still verified)."
    )


def _check_pin(path: Path, want: Wanted, url: str) -> None:
    if want.sha256 is None:
        return
    got = sha256_file(path)
    if got != want.sha256:
        path.unlink()  # a resumed or corrupt download is not kept
        raise FetchError(f"sha256 {got} does not match the pinned {want.sha256}")


def _download(url: str, partial: Path, log: TaskLog) -> None:
    scheme = urlparse(url).scheme
    if scheme in ("http", "https"):
        _download_http(url, partial, log)
    elif scheme in ("file", ""):
        _copy_local(Path(unquote(urlparse(url).path)), partial, log)
    else:
        raise FetchError(f"unsupported URL scheme {scheme!r} (use https://, http:// or file://)")


def _progress(total: int | None, initial: int, name: str) -> Progress:
    from .progress import Progress

    return Progress(f"download {name}", total=total, initial=initial, bytes_=True)


def _partial_size(partial: Path) -> int:
    """Bytes already downloaded (0: none). A symlink there is a LinkError, never followed."""
    try:
        fd = open_nofollow(partial, os.O_RDONLY)
    except FileNotFoundError:
        return 0
    try:
        return os.fstat(fd).st_size
    finally:
        os.close(fd)


def _open_partial(partial: Path, append: bool) -> IO[bytes]:
    """The .partial file for writing: appended to (a resumed download) or truncated; opened with
    O_NOFOLLOW, so a planted symlink is refused instead of written through."""
    flags = os.O_WRONLY | os.O_CREAT | (os.O_APPEND if append else os.O_TRUNC)
    return os.fdopen(open_nofollow(partial, flags, 0o644), "ab" if append else "wb")


def _download_http(url: str, partial: Path, log: TaskLog) -> None:
    import requests

    have = _partial_size(partial)
    headers = {"Range": f"bytes={have}-"} if have else {}
    try:
        with requests.get(url, stream=True, timeout=TIMEOUT, headers=headers) as resp:
            if resp.status_code == 416 and have:
                # Range past the end: the partial file may already be complete; let the pin decide.
                log.line(f"server says the {have} bytes we hold are complete")
                return
            if resp.status_code not in (200, 206):
                raise FetchError(f"HTTP {resp.status_code} {resp.reason}")
            if resp.status_code == 200 and have:
                log.line(f"server ignored Range; restarting from 0 (had {have} bytes)")
                have = 0
            elif have:
                log.line(f"resuming at byte {have}")
            length = resp.headers.get("Content-Length")
            total = int(length) + have if length else None
            name = partial.name[1:].removesuffix(".partial")
            with _open_partial(partial, append=bool(have)) as fh, _progress(total, have, name) as bar:
                for chunk in resp.iter_content(NET_CHUNK):
                    fh.write(chunk)
                    bar.update(len(chunk))
            if total is not None and _partial_size(partial) != total:
                raise FetchError(f"connection closed at {_partial_size(partial)} of {total} bytes; run again to resume")
    except (requests.exceptions.ChunkedEncodingError, requests.exceptions.ContentDecodingError):
        got = _partial_size(partial)
        raise FetchError(f"the connection dropped mid-transfer ({got} bytes kept); run again to resume") from None
    except requests.exceptions.Timeout:
        raise FetchError(f"no answer within {TIMEOUT[1]} s (timeout); run again to resume, or try another "
                         "mirror") from None
    except requests.exceptions.ConnectionError as exc:
        raise FetchError(f"cannot connect: {_connection_reason(str(exc))}") from None
    except requests.RequestException as exc:
        raise FetchError(f"{type(exc).__name__}: {exc}") from None


def _connection_reason(text: str) -> str:
    """The useful part of urllib3's nested connection error text."""
    if m := re.search(r"Failed to resolve '([^']+)'", text):
        return f"cannot resolve host {m.group(1)} (no DNS or no network?)"
    for needle, say in (("Connection refused", "connection refused"), ("timed out", "timed out"),
                        ("Network is unreachable", "network unreachable"),
                        ("No route to host", "no route to host"), ("CERTIFICATE_VERIFY_FAILED", "TLS certificate "
                                                                                               "not trusted")):
        if needle in text:
            return say
    return text.split("Caused by ")[-1].strip("()'\" ")[:160]


def _copy_local(src: Path, partial: Path, log: TaskLog) -> None:
    if not src.is_file():
        raise FetchError(f"{src}: no such file")
    with open(src, "rb") as fin, _open_partial(partial, append=False) as fout, \
            _progress(src.stat().st_size, 0, src.name) as bar:
        while chunk := fin.read(CHUNK):
            fout.write(chunk)
            bar.update(len(chunk))
    log.line(f"copied {src}")

