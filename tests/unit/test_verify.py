"""verify with real gpg: pinned sha256 first, then a detached signature over the
uncompressed tar, checked in a private GNUPGHOME against pinned fingerprints."""

from __future__ import annotations

import os
import subprocess

import pytest

from ramsesbuild.errors import VerifyError
from ramsesbuild.fsutil import sha256_file
from ramsesbuild.log import TaskLog
from ramsesbuild.settings import Source
from ramsesbuild.verify import verify

from ..lib.support import make_fake_tarball, uncompressed
from ..lib.tools import need, needs


@pytest.fixture
def log(tmp_path):
    with TaskLog(tmp_path / "logs" / "verify.log") as lg:
        yield lg


@pytest.fixture
def tarball(tmp_path):
    need("bzip2")  # the signature covers the uncompressed tar: verify decompresses it
    return make_fake_tarball("k24", tmp_path)


def source_for(tarball, signer, sig_name="linux-2.4.18.tar.sign", keys=None, signers=None) -> Source:
    return Source(version="2.4.18", tarball=tarball.name, mirrors=("http://127.0.0.1:9/",),
                  sha256=sha256_file(tarball), signature=sig_name,
                  signers=tuple(signers or (signer.fingerprint,)), keys=tuple(keys or (signer.public_key,)))


def test_good_signature_over_uncompressed_tar(tmp_path, tarball, signer, log):
    sig = signer.sign(uncompressed(tarball), tmp_path / "linux-2.4.18.tar.sign")
    result = verify(source_for(tarball, signer), tarball, sig, log)
    assert result.signer == signer.fingerprint
    assert result.signed_data == "uncompressed"


def test_signature_over_compressed_file_is_supported_when_named_so(tmp_path, tarball, signer, log):
    sig = signer.sign(tarball.read_bytes(), tmp_path / "linux-2.4.18.tar.bz2.sign")
    result = verify(source_for(tarball, signer, sig_name=sig.name), tarball, sig, log)
    assert result.signed_data == "compressed"


def test_tampered_tarball_fails_on_sha256(tmp_path, tarball, signer, log):
    sig = signer.sign(uncompressed(tarball), tmp_path / "linux-2.4.18.tar.sign")
    src = source_for(tarball, signer)
    data = bytearray(tarball.read_bytes())
    data[100] ^= 0xFF
    tarball.write_bytes(bytes(data))
    with pytest.raises(VerifyError, match="measured sha256 .* but ramses.toml pins"):
        verify(src, tarball, sig, log)


def test_wrong_signature_is_bad(tmp_path, tarball, signer, log):
    sig = signer.sign(b"some other release\n", tmp_path / "linux-2.4.18.tar.sign")
    with pytest.raises(VerifyError, match="BAD signature.*damaged or belongs to another file"):
        verify(source_for(tarball, signer), tarball, sig, log)


def test_unknown_signer_is_refused(tmp_path, tarball, signer, other_signer, log):
    sig = other_signer.sign(uncompressed(tarball), tmp_path / "linux-2.4.18.tar.sign")
    with pytest.raises(VerifyError, match="unknown key .*not among the pinned signers"):
        verify(source_for(tarball, signer), tarball, sig, log)


def test_known_but_unpinned_signer_is_refused(tmp_path, tarball, signer, other_signer, log):
    """The key file holds both keys, but only the first is pinned."""
    both = tmp_path / "both.asc"
    both.write_bytes(signer.public_key.read_bytes() + other_signer.public_key.read_bytes())
    sig = other_signer.sign(uncompressed(tarball), tmp_path / "linux-2.4.18.tar.sign")
    with pytest.raises(VerifyError, match=f"signed by {other_signer.fingerprint}, which is not a pinned signer"):
        verify(source_for(tarball, signer, keys=(both,)), tarball, sig, log)


def test_revoked_key_is_refused(tmp_path, tarball, signer, log):
    """Like kernel.org's 517D0F0E: a revoked key must not verify anything (REVKEYSIG)."""
    sig = signer.sign(uncompressed(tarball), tmp_path / "linux-2.4.18.tar.sign")
    rev = (signer.home / "openpgp-revocs.d" / f"{signer.fingerprint}.rev").read_text()
    rev = rev.replace(":-----BEGIN", "-----BEGIN")  # gpg ships it commented out
    home = tmp_path / "revhome"
    home.mkdir(mode=0o700)
    env = {**os.environ, "GNUPGHOME": str(home)}
    subprocess.run(["gpg", "--batch", "--import", str(signer.public_key)], env=env, check=True, capture_output=True)
    subprocess.run(["gpg", "--batch", "--import"], input=rev.encode(), env=env, check=True, capture_output=True)
    revoked = tmp_path / "revoked.asc"
    revoked.write_bytes(subprocess.run(["gpg", "--batch", "--armor", "--export", signer.fingerprint], env=env,
                                       check=True, capture_output=True).stdout)
    subprocess.run(["gpgconf", "--homedir", str(home), "--kill", "all"], capture_output=True)
    with pytest.raises(VerifyError, match="revoked"):
        verify(source_for(tarball, signer, keys=(revoked,)), tarball, sig, log)


def test_pinned_fingerprint_missing_from_key_files(tmp_path, tarball, signer, other_signer, log):
    sig = signer.sign(uncompressed(tarball), tmp_path / "linux-2.4.18.tar.sign")
    src = source_for(tarball, signer, keys=(other_signer.public_key,))
    with pytest.raises(VerifyError, match=f"pinned signer\\(s\\) {signer.fingerprint} not found in the key files"):
        verify(src, tarball, sig, log)


def test_missing_key_file(tmp_path, tarball, signer, log):
    sig = signer.sign(uncompressed(tarball), tmp_path / "linux-2.4.18.tar.sign")
    with pytest.raises(VerifyError, match="pinned public key file is missing"):
        verify(source_for(tarball, signer, keys=(tmp_path / "nope.asc",)), tarball, sig, log)


def test_unsigned_source_only_with_explicit_reason(tmp_path, tarball, log):
    src = Source(version="6.1", tarball=tarball.name, mirrors=("file:///x/",), sha256=sha256_file(tarball),
                 unsigned="Debian package")
    assert verify(src, tarball, None, log).unsigned_reason == "Debian package"


@needs("gpg")
def test_expired_pinned_key_still_verifies_with_a_note(tmp_path, tarball, log, capfd):
    """A key that expired after signing still proves who signed (EXPKEYSIG, makepkg's rule); the
    message must not read like a failure ("signature valid; signing key has expired")."""
    import time

    from ..lib.support import Signer

    # gpg's own clock set back an hour: the key is made then, valid for a minute, and signs ten
    # seconds after it was made; at the real time below it has long expired (no sleeping for it)
    made = int(time.time()) - 3600
    home = tmp_path / "exp"
    home.mkdir(mode=0o700)
    env = {**os.environ, "GNUPGHOME": str(home)}
    subprocess.run(["gpg", "--batch", "--faked-system-time", str(made), "--passphrase", "", "--quick-gen-key",
                    "Expiring <e@example.invalid>", "ed25519", "sign", "seconds=60"],
                   env=env, check=True, capture_output=True)
    out = subprocess.run(["gpg", "--batch", "--with-colons", "--list-keys"], env=env, check=True,
                         capture_output=True, text=True).stdout
    fpr = next(line.split(":")[9] for line in out.splitlines() if line.startswith("fpr:"))
    pub = tmp_path / "exp.asc"
    pub.write_bytes(subprocess.run(["gpg", "--batch", "--armor", "--export", fpr], env=env, check=True,
                                   capture_output=True).stdout)
    signer = Signer(home, fpr, pub)
    sig = signer.sign(uncompressed(tarball), tmp_path / "linux-2.4.18.tar.sign", at=made + 10)
    signer.stop()
    result = verify(source_for(tarball, signer), tarball, sig, log)
    assert result.signer == fpr
    assert "has expired since it made this signature" in capfd.readouterr().err


def test_damaged_signature_is_a_signature_problem_not_a_bad_tarball(tmp_path, tarball, signer, log):
    """gpg may stop reading the data as soon as it sees the damage (a broken pipe on our side):
    the advice must be about the .sign (re-fetch it), never "delete the tarball"."""
    from ramsesbuild.verify import SignatureError

    good = signer.sign(uncompressed(tarball), tmp_path / "good.sign").read_bytes()
    sig = tmp_path / "linux-2.4.18.tar.sign"
    for cut in (len(good) // 2, 40, 0):
        sig.write_bytes(good[:cut])
        for _ in range(3):  # the broken pipe is a race: try it a few times
            with pytest.raises(SignatureError) as info:
                verify(source_for(tarball, signer), tarball, sig, log)
            assert info.value.refetch and "cannot decompress" not in str(info.value)


def test_pinned_but_corrupt_compressed_data_says_cannot_decompress(tmp_path, tarball, signer, log):
    """A tarball whose bytes match the pin but do not decompress (upstream damage): the
    decompressor's complaint, not a BAD signature."""
    sig = signer.sign(uncompressed(tarball), tmp_path / "linux-2.4.18.tar.sign")
    data = bytearray(tarball.read_bytes())
    data[len(data) // 2] ^= 0xFF
    tarball.write_bytes(bytes(data))
    with pytest.raises(VerifyError, match=r"cannot decompress it \(.*bzip2.*\); delete it and run again"):
        verify(source_for(tarball, signer), tarball, sig, log)


def test_large_signed_stream_passes_through_the_pipe(tmp_path, signer, log):
    """Many pipe buffers' worth of signed data (the feeder, the decompressor and gpg run side by
    side) verifies, and no signed byte is read by Python beyond the feeder's copy."""
    need("xz")
    import lzma
    import tarfile

    payload = tmp_path / "big.bin"
    payload.write_bytes(os.urandom(3 << 20))
    plain = tmp_path / "linux-2.4.18.tar"
    with tarfile.open(plain, "w") as tf:
        tf.add(payload, "linux/big.bin")
    big = tmp_path / "linux-2.4.18.tar.xz"
    big.write_bytes(lzma.compress(plain.read_bytes(), preset=0))  # random bytes: the fastest preset
    sig = signer.sign(plain.read_bytes(), tmp_path / "linux-2.4.18.tar.sign")
    src = Source(version="2.4.18", tarball=big.name, mirrors=("http://127.0.0.1:9/",), sha256=sha256_file(big),
                 signature=sig.name, signers=(signer.fingerprint,), keys=(signer.public_key,))
    assert verify(src, big, sig, log).signed_data == "uncompressed"
    other = signer.sign(b"something else", tmp_path / "other.sign")
    os.replace(other, sig)
    with pytest.raises(VerifyError, match="BAD signature"):
        verify(src, big, sig, log)
