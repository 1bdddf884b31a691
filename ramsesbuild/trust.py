"""Whether the verification record may be trusted, checked at every doit start (so this module
imports little: no gpg, no decompressor, no progress bar).

The verify step records *what* it checked (build/state/verified.json) and *which file* it was
(build/state/verified-file.json: inode, size, mtime, ctime). doit itself takes an unchanged mtime
as proof of unchanged bytes; :func:`record_holds` does not.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from .settings import Source
from .state import VerifiedStamp


@dataclass(frozen=True)
class VerifiedFile:
    """build/state/verified-file.json: which file the verification record describes. Its
    inode, size, mtime and ctime change whenever its bytes may have (ctime cannot be set back by
    a user, unlike mtime). Not a dependency of any step: a new copy of the same bytes (a CI
    cache restore) re-runs verify only, whose record then comes out the same."""

    dev: int
    ino: int
    size: int
    mtime_ns: int
    ctime_ns: int


def file_identity(path: Path) -> VerifiedFile:
    st = os.stat(path)
    return VerifiedFile(st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


def record_holds(record: Path, identity: Path, tarball: Path, source: Source) -> bool:
    """verify's own up-to-date check, beside doit's (which takes an unchanged mtime as proof of
    unchanged bytes). The record must agree with ramses.toml (tarball, pin, pinned signers), and
    describe this very file: same inode, size, mtime and ctime as when it was verified. A file
    that is not (a CI cache restore, a copy, or a substitute) is checked again by content, against
    the trust root, not against the record: its sha256 must be the pin (or, for a dpkg source,
    its md5 dpkg's record of the package's file); then the identity is brought up to date and
    nothing runs. Otherwise the verify step runs and says what is wrong."""
    from .state import DamagedState, read_state, write_state

    try:
        data = read_state(record, VerifiedStamp)
        seen = read_state(identity, VerifiedFile)
        now = file_identity(tarball)
    except (OSError, DamagedState):
        return False
    if data is None or data.tarball != source.tarball:
        return False
    if source.sha256 and data.sha256 != source.sha256:
        return False
    if source.signature and data.signer not in source.signers:
        return False
    if seen == now:
        return True
    if not _same_bytes(tarball, data.sha256, source):
        return False
    write_state(identity, now)
    return True


def _same_bytes(tarball: Path, recorded: str, source: Source) -> bool:
    """Does *tarball* still hold the bytes the trust root names (and the record recorded)? One read."""
    import hashlib

    from .errors import VerifyError
    from .fsutil import CHUNK, sha256_file
    from .verify import unpack_anchor

    try:
        anchor = unpack_anchor(source)
        if anchor.algorithm == "sha256":  # the pin; the digest is shared with doit's file_dep check
            return sha256_file(tarball) == anchor.digest == recorded
        sha, other = hashlib.sha256(), hashlib.new(anchor.algorithm)
        with open(tarball, "rb") as fh:
            while chunk := fh.read(CHUNK):
                sha.update(chunk)
                other.update(chunk)
    except (OSError, VerifyError):
        return False
    return other.hexdigest() == anchor.digest and sha.hexdigest() == recorded
