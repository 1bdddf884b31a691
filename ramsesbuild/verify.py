"""Verify a downloaded tarball: pinned sha256 first, then the OpenPGP signature with
python-gnupg in a private, throw-away GNUPGHOME holding only the pinned keys.

kernel.org's ``linux-X.tar.sign`` covers the *uncompressed* tar: the compressed file is
decompressed as a stream straight into gpg's stdin (no temporary copy).
"""

from __future__ import annotations

import bz2
import contextlib
import datetime as _dt
import gzip
import lzma
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import IO

from .errors import VerifyError
from .fsutil import sha256_file
from .log import TaskLog
from .settings import Source

_DECOMPRESSORS = {".gz": gzip.open, ".tgz": gzip.open, ".bz2": bz2.open, ".xz": lzma.open}
_SIG_SUFFIXES = (".sign", ".asc", ".sig")


@dataclass(frozen=True)
class Verified:
    tarball: str
    sha256: str
    signer: str | None  # primary-key fingerprint, None for an explicitly unsigned source
    signed_at: str | None
    signed_data: str | None  # "uncompressed" or "compressed"
    unsigned_reason: str | None

    def as_dict(self) -> dict:
        return asdict(self)


def verify(source: Source, tarball: Path, signature: Path | None, log: TaskLog) -> Verified:
    check_sha256(tarball, source.sha256)
    log.line(f"{tarball.name}: sha256 {source.sha256} matches the pin")
    if not source.signature:
        log.line(f"no OpenPGP signature checked: {source.unsigned}")
        return Verified(tarball.name, source.sha256, None, None, None, source.unsigned)
    assert signature is not None
    covers = signed_data_kind(source.tarball, source.signature)
    with private_gpg(source.keys, source.signers, log) as gpg:
        with open_signed_stream(tarball, covers) as stream:
            result = gpg.verify_file(stream, extra_args=[str(signature), "-"])
    signer, when = check_result(result, signature, tarball, source.signers)
    log.line(f"{signature.name}: good signature by pinned key {signer} ({covers} data), made {when}")
    return Verified(tarball.name, source.sha256, signer, when, covers, None)


def check_sha256(tarball: Path, pinned: str) -> None:
    got = sha256_file(tarball)
    if got != pinned:
        raise VerifyError(
            f"{tarball}: sha256 is {got} but ramses.toml pins {pinned}. The file is corrupt or "
            "tampered with: delete it and run again to re-download; change the pin only after "
            "checking the new file's signature yourself."
        )


def signed_data_kind(tarball: str, signature: str) -> str:
    """Does the signature cover the tarball as stored, or its uncompressed tar?"""
    stem = signature
    for suffix in _SIG_SUFFIXES:
        if stem.endswith(suffix):
            stem = stem[: -len(suffix)]
            break
    if stem == tarball:
        return "compressed"
    base, dot, ext = tarball.rpartition(".")
    if dot and f".{ext}" in _DECOMPRESSORS and stem in (base, base + ".tar" if ext == "tgz" else base):
        return "uncompressed"
    raise VerifyError(
        f"signature {signature!r} does not belong to {tarball!r}; expected {tarball}.sign or "
        f"{base}.sign (kernel.org signs the uncompressed tar). Fix [source] in ramses.toml."
    )


@contextlib.contextmanager
def open_signed_stream(tarball: Path, covers: str) -> Iterator[IO[bytes]]:
    if covers == "compressed":
        with open(tarball, "rb") as fh:
            yield fh
        return
    opener = _DECOMPRESSORS[tarball.suffix]
    try:
        with opener(tarball, "rb") as fh:
            yield fh
    except (OSError, EOFError, lzma.LZMAError) as exc:
        raise VerifyError(f"{tarball}: cannot decompress ({exc}); delete it and run again") from None


@contextlib.contextmanager
def private_gpg(keys: tuple[Path, ...], signers: tuple[str, ...], log: TaskLog):
    """A GPG bound to a fresh GNUPGHOME that holds exactly the pinned keys."""
    import gnupg

    home = tempfile.mkdtemp(prefix="ramses-gnupg-")
    try:
        gpg = gnupg.GPG(gnupghome=home)
        imported: set[str] = set()
        for key in keys:
            try:
                data = key.read_bytes()
            except FileNotFoundError:
                raise VerifyError(f"{key}: pinned public key file is missing; restore it (see keys/README)") from None
            res = gpg.import_keys(data)
            if not res.fingerprints:
                raise VerifyError(f"{key}: contains no OpenPGP public key gpg can import ({res.stderr.strip()[-200:]})")
            imported.update(f.upper() for f in res.fingerprints)
            log.line(f"imported {key.name}: {', '.join(res.fingerprints)}")
        missing = [s for s in signers if s not in imported]
        if missing:
            raise VerifyError(
                f"pinned signer(s) {', '.join(missing)} not found in the key files "
                f"{', '.join(str(k) for k in keys)}; add the right public key to keys/"
            )
        yield gpg
    finally:
        shutil.rmtree(home, ignore_errors=True)


def check_result(result, signature: Path, tarball: Path, signers: tuple[str, ...]) -> tuple[str, str]:
    """Accept only a good, unrevoked, unexpired signature whose primary key is pinned.

    Trust levels are ignored on purpose: in a private keyring nothing is trusted, the pin is
    the trust decision (Arch makepkg's validpgpkeys semantics).
    """
    status = getattr(result, "status", None)
    fpr = (getattr(result, "pubkey_fingerprint", None) or getattr(result, "fingerprint", None) or "").upper()
    where = f"{signature} over {tarball.name}"
    if status == "signature bad":
        raise VerifyError(
            f"{where}: BAD signature: the data does not match it, so the tarball is corrupt or "
            "tampered with (or the .sign belongs to another file). Do not use this tarball."
        )
    if status == "no public key":
        raise VerifyError(
            f"{where}: made by unknown key {result.key_id}, which is not among the pinned signers "
            f"({', '.join(signers)}). Do not trust this tarball."
        )
    if not result.valid:
        detail = status or "no valid OpenPGP signature found"
        if getattr(result, "key_status", None):
            detail += f"; {result.key_status}"
        raise VerifyError(f"{where}: signature check failed ({detail}). Do not use this tarball.")
    if fpr not in signers:
        raise VerifyError(
            f"{where}: signed by {fpr}, which is not a pinned signer ({', '.join(signers)}); "
            "if that key is legitimate, pin its fingerprint in ramses.toml after checking it out of band"
        )
    when = _dt.datetime.fromtimestamp(int(result.sig_timestamp), _dt.timezone.utc).isoformat()
    return fpr, when
