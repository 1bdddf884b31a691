"""Verify a downloaded tarball: pinned sha256 first, then the OpenPGP signature with
python-gnupg in a private, throw-away GNUPGHOME holding only the pinned keys.

kernel.org's ``linux-X.tar.sign`` covers the *uncompressed* tar: the compressed file is
decompressed by a child process (as unpack does) into a pipe that gpg reads itself: no
temporary copy, and no signed byte passes through Python.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import os
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import VerifyError
from .fsutil import CHUNK, sha256_file
from .log import TaskLog, say
from .progress import Progress
from .settings import Source
from .state import VerifiedStamp as Verified  # the verify step's result is its stamp (declared in state)

if TYPE_CHECKING:
    from .unpack import Expected


class SignatureError(VerifyError):
    """The detached signature did not verify. *refetch*: a fresh copy of the .sign may help
    (damaged in transit), as opposed to a verdict about the key (revoked, not pinned)."""

    def __init__(self, message: str, refetch: bool = True):
        super().__init__(message)
        self.refetch = refetch


_SUFFIX_FORMAT = {".gz": "gzip", ".tgz": "gzip", ".bz2": "bzip2", ".xz": "xz"}  # tarstream.DECOMPRESSORS names
_SIG_SUFFIXES = (".sign", ".asc", ".sig")


def verify_with_refetch(source: Source, tarball: Path, signature: Path | None, download_dir: Path,
                        log: TaskLog) -> Verified:
    """verify(); a signature that fails is fetched once more from the mirrors and checked again
    (a .sign damaged in transit would otherwise keep its name and fail every later run)."""
    try:
        return verify(source, tarball, signature, log)
    except SignatureError as exc:
        if not exc.refetch or signature is None or source.signature is None:
            raise
        from .fetch import Wanted, fetch_one

        log.line(f"signature check failed ({exc}); fetching {source.signature} again from the mirrors")
        say(f"verify: {signature.name} did not verify; fetching it once more from the mirrors")
        signature.unlink(missing_ok=True)
        fetch_one(Wanted(source.signature, source.signature_sha256), source.mirrors, download_dir, log)
        try:
            return verify(source, tarball, signature, log)
        except SignatureError as again:
            raise SignatureError(f"{again} (a fresh copy of {signature.name} from the mirrors failed the same "
                                 "way, so the .sign on the mirror does not match the pinned tarball: check "
                                 "both out of band before trusting either)", refetch=False) from None


def verify(source: Source, tarball: Path, signature: Path | None, log: TaskLog) -> Verified:
    package = None
    if source.dpkg:
        package, measured = verify_dpkg(source, tarball, log)
    else:
        assert source.sha256 is not None
        check_sha256(tarball, source.sha256)
        measured = source.sha256
        log.line(f"{tarball.name}: sha256 {source.sha256} matches the pin")
    if not source.signature:
        reason = source.unsigned or f"Debian package {package}, authenticated by apt and checked with dpkg --verify"
        log.line(f"no OpenPGP signature checked: {reason}")
        return Verified(tarball.name, measured, None, None, None, reason, package)
    assert signature is not None
    covers = signed_data_kind(source.tarball, source.signature)
    with private_gpg(source.keys, source.signers, log) as gpg:
        result = verify_detached(gpg, signature, tarball, covers)
    signer, when = check_result(result, signature, tarball, source.signers)
    log.line(f"{signature.name}: good signature by pinned key {signer} ({covers} data), made {when}")
    return Verified(tarball.name, measured, signer, when, covers, None, package)


def check_sha256(tarball: Path, pinned: str) -> None:
    got = sha256_file(tarball)
    if got != pinned:
        raise VerifyError(
            f"{tarball}: measured sha256 {got}, but ramses.toml pins {pinned}. The file is corrupt or "
            "tampered with: delete it and run again to re-download; change the pin only after "
            "checking the new file's signature yourself."
        )


def verify_dpkg(source: Source, tarball: Path, log: TaskLog) -> tuple[str, str]:
    """Trust the apt chain for a package-installed tarball: the file must belong to the package,
    `dpkg --verify` must report it unchanged, and our copy must equal it. An optional sha256 pin
    is checked too, and a mismatch says what was measured and how to re-pin."""
    import shutil
    import subprocess

    pkg, local = source.dpkg, source.local_file()
    assert pkg is not None and local is not None
    if not shutil.which("dpkg-query") or not shutil.which("dpkg"):
        raise VerifyError(f"dpkg = {pkg!r} needs dpkg (a Debian-family system); elsewhere pin sha256 instead")

    def run(*cmd: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(cmd, capture_output=True, text=True)

    owner = run("dpkg-query", "-S", str(local))
    owners = [o.strip() for o in owner.stdout.split(":", 1)[0].split(",")] if owner.returncode == 0 else []
    if pkg not in owners:
        raise VerifyError(f"{local}: not installed by the Debian package {pkg} (dpkg-query -S: "
                          f"{(owner.stdout or owner.stderr).strip() or 'no owner'}); apt-get install {pkg}")
    version = run("dpkg-query", "-W", "-f", "${Version}", pkg).stdout.strip()
    check, measured, original = _dpkg_verify_and_hash(pkg, tarball, local)
    changed = [line for line in check.stdout.splitlines() if line.rstrip().endswith(str(local))]
    if changed or check.returncode not in (0, 1):
        raise VerifyError(f"{local}: dpkg --verify {pkg} reports it changed since {pkg} {version} installed it "
                          f"({'; '.join(changed) or check.stderr.strip()}); reinstall it: "
                          f"apt-get install --reinstall {pkg}")
    if measured != original:
        raise VerifyError(f"{tarball}: differs from {local}; delete it and run again to copy it afresh")
    label = f"{pkg} {version}"
    if source.sha256 and measured != source.sha256:
        raise VerifyError(
            f"{tarball}: measured sha256 {measured} ({label}, unchanged per dpkg --verify), but ramses.toml "
            f"pins {source.sha256}. If you upgraded {pkg}, re-pin: sha256 = \"{measured}\" in "
            f"[source.\"{source.version}\"], or delete the sha256 line to trust dpkg --verify alone."
        )
    log.line(f"{local}: installed by {label}, dpkg --verify reports it unchanged; sha256 {measured}"
             + (" matches the pin" if source.sha256 else " (no pin: dpkg --verify is the check)"))
    return label, measured


def _dpkg_verify_and_hash(pkg: str, copy: Path, original: Path) -> tuple[Any, str, str]:
    """`dpkg --verify pkg` (which reads every file of the package) while the sha256 of our copy
    and of the package's file are computed, side by side: three reads of the same size at once,
    not one after the other. Returns (dpkg's CompletedProcess, sha256 of copy, of original)."""
    import subprocess
    from concurrent.futures import ThreadPoolExecutor

    proc = subprocess.Popen(["dpkg", "--verify", pkg], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        with ThreadPoolExecutor(max_workers=2) as pool:  # hashlib and file reads release the GIL
            ours, theirs = pool.submit(sha256_file, copy), pool.submit(sha256_file, original)
            hashes = ours.result(), theirs.result()
        out, err = proc.communicate()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err), hashes[0], hashes[1]


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
    if dot and f".{ext}" in _SUFFIX_FORMAT and stem in (base, base + ".tar" if ext == "tgz" else base):
        return "uncompressed"
    raise VerifyError(
        f"signature {signature!r} does not belong to {tarball!r}; expected {tarball}.sign or "
        f"{base}.sign (kernel.org signs the uncompressed tar). Fix [source] in ramses.toml."
    )


def _decompress_command(tarball: Path) -> tuple[str, ...]:
    from .tarstream import DECOMPRESSORS

    fmt = next(d for d in DECOMPRESSORS if d.name == _SUFFIX_FORMAT[tarball.suffix])
    command = fmt.installed_command()
    if command:
        return command
    raise VerifyError(f"{tarball}: cannot decompress it to check the signature: {fmt.commands[-1][0]} is not "
                      f"installed (apt-get install {fmt.package})")


def _feed(tarball: Path, fd: int, bar: Progress, errors: list[OSError]) -> None:
    """Copy *tarball* into the pipe *fd* (and close it), counting bytes on *bar*."""
    try:
        with open(tarball, "rb", buffering=0) as src:
            while chunk := src.read(CHUNK):
                view = memoryview(chunk)
                while view:
                    view = view[os.write(fd, view):]
                bar.update(len(chunk))
    except BrokenPipeError:
        pass  # the reader stopped (gpg gave up): its verdict says why
    except OSError as exc:
        errors.append(exc)
    finally:
        os.close(fd)


def verify_detached(gpg: Any, signature: Path, tarball: Path, covers: str) -> Any:
    """gpg's verdict on *signature* over *tarball* (as stored, or decompressed when the signature
    covers the uncompressed tar).

    No signed data passes through Python: a thread copies the file into a decompressor (a child
    process, `xz -T0` / `lbzip2` / ... as unpack uses) or straight into a pipe, and gpg reads
    that pipe itself through its /proc path; so verifying costs what `xz -dc | gpg --verify`
    costs. Decompression errors are told apart from bad signatures."""
    import signal
    import subprocess
    import threading

    command = _decompress_command(tarball) if covers == "uncompressed" else None
    errors: list[OSError] = []
    proc: subprocess.Popen[bytes] | None = None
    with open(signature, "rb") as sig, tempfile.TemporaryFile() as stderr, \
            Progress(f"verify {tarball.name}", total=tarball.stat().st_size, bytes_=True) as bar:
        read_end, write_end = os.pipe()
        try:
            if command is None:
                feed_fd = write_end
            else:
                try:
                    proc = subprocess.Popen((os.path.basename(command[0]), *command[1:]), executable=command[0],
                                            stdin=subprocess.PIPE, stdout=write_end, stderr=stderr)
                finally:
                    os.close(write_end)
                assert proc.stdin is not None
                feed_fd = os.dup(proc.stdin.fileno())
                proc.stdin.close()
            feeder = threading.Thread(target=_feed, args=(tarball, feed_fd, bar, errors), daemon=True)
            feeder.start()
            result = gpg.verify_file(sig, data_filename=f"/proc/{os.getpid()}/fd/{read_end}", close_file=False)
        finally:
            os.close(read_end)  # a gpg that stopped early: the feeder and the decompressor get EPIPE
        feeder.join()
        rc = proc.wait() if proc is not None else 0
        if errors:
            raise VerifyError(f"{tarball}: cannot read it ({errors[0].strerror}); delete it and run again")
        if rc not in (0, -signal.SIGPIPE):
            stderr.seek(0)
            why = stderr.read(2000).decode(errors="replace").strip().splitlines()
            raise VerifyError(f"{tarball}: cannot decompress it ({why[0] if why else f'exit status {rc}'}); "
                              "delete it and run again to re-download")
    if rc == -signal.SIGPIPE and not getattr(result, "valid", False) and not getattr(result, "status", None):
        raise SignatureError(f"{signature}: gpg stopped at once: the signature file is damaged or is not "
                             "an OpenPGP signature")
    return result


@contextlib.contextmanager
def private_gpg(keys: tuple[Path, ...], signers: tuple[str, ...], log: TaskLog):
    """A GPG bound to a fresh GNUPGHOME that holds exactly the pinned keys."""
    import gnupg

    home = tempfile.mkdtemp(prefix="ramses-gnupg-")
    try:
        try:
            gpg = gnupg.GPG(gnupghome=home)
        except OSError:
            raise VerifyError("gpg is not installed (needed to check the OpenPGP signature): "
                              "apt-get install gnupg") from None
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
    key_status = getattr(result, "key_status", None)
    if status == "signature bad":
        raise SignatureError(
            f"{where}: BAD signature: the tarball matches its pinned sha256 but not this signature, so the "
            ".sign is damaged or belongs to another file. Do not use this tarball until it verifies."
        )
    if status == "no public key":
        raise SignatureError(
            f"{where}: made by unknown key {result.key_id}, which is not among the pinned signers "
            f"({', '.join(signers)}). Do not trust this tarball."
        )
    if key_status == "signing key was revoked":
        raise SignatureError(
            f"{where}: made by key {fpr or result.key_id}, which has been REVOKED: its owner withdrew it "
            "(possibly compromised). Do not use this tarball; find a release signed by a valid key.",
            refetch=False)
    expired = key_status == "signing key has expired" and status == "signature valid" and bool(fpr)
    if not result.valid and not expired:
        detail = {"signature expected but not found": "the file holds no OpenPGP signature",
                  "unexpected data": "the file is not an OpenPGP signature",
                  "signature error": "gpg could not check it (damaged or unsupported signature)"}.get(
                      status or "", status or "no valid OpenPGP signature found")
        raise SignatureError(f"{where}: signature check failed: {detail}. Do not use this tarball.")
    if expired:
        say(f"verify: note: pinned key {fpr} has expired since it made this signature; an expired key "
            "still proves who signed (a revoked one would not)")
    if fpr not in signers:
        raise SignatureError(
            f"{where}: signed by {fpr}, which is not a pinned signer ({', '.join(signers)}); "
            "if that key is legitimate, pin its fingerprint in ramses.toml after checking it out of band",
            refetch=False)
    when = _dt.datetime.fromtimestamp(int(result.sig_timestamp), _dt.UTC).isoformat()
    return fpr, when


# ------------------------------------------------------------------ what later steps may trust

def unpack_anchor(source: Source) -> Expected:
    """What the bytes unpack reads must hash to, from a trust root (never from build/ state):
    the sha256 pinned in ramses.toml, or, for a dpkg-verified source without a pin, dpkg's own
    record of the package's file (the md5 that `dpkg --verify` checks)."""
    from .unpack import Expected

    if source.sha256:
        return Expected("sha256", source.sha256, f'the sha256 pinned in ramses.toml [source."{source.version}"]')
    pkg, local = source.dpkg, source.local_file()
    assert pkg is not None and local is not None
    return Expected("md5", dpkg_md5(pkg, local), f"dpkg's record of {local} (package {pkg})")


def dpkg_md5(pkg: str, local: Path) -> str:
    """The md5 that dpkg recorded for *local* when it installed *pkg* (its md5sums control file)."""
    import subprocess

    try:
        found = subprocess.run(["dpkg-query", "--control-path", pkg, "md5sums"], capture_output=True, text=True)
    except FileNotFoundError:
        raise VerifyError(f"dpkg = {pkg!r} needs dpkg (a Debian-family system); elsewhere pin sha256 instead") from None
    want = str(local).lstrip("/")
    for path in found.stdout.split():
        try:
            lines = Path(path).read_text(errors="replace").splitlines()
        except OSError:
            continue
        for line in lines:
            digest, _, name = line.partition("  ")
            if name == want and len(digest) == 32:
                return digest.lower()
    raise VerifyError(f"{local}: dpkg has no md5 on record for it in {pkg}; reinstall the package "
                      f"(apt-get install --reinstall {pkg}) or pin sha256 in ramses.toml")
