"""Shared fixtures. Everything here is real: gpg, an HTTP server on 127.0.0.1, make."""

from __future__ import annotations

import shutil

import pytest

from .support import FAKE_KINDS, Mirror, Project, Signer, make_fake_tarball, uncompressed
from ramsesbuild.fsutil import sha256_file


@pytest.fixture(scope="session")
def signer(tmp_path_factory):
    if not shutil.which("gpg"):
        pytest.skip("gpg is not installed (apt-get install gnupg)")
    s = Signer.create(tmp_path_factory.mktemp("gpg") / "home")
    yield s
    s.stop()


@pytest.fixture(scope="session")
def other_signer(tmp_path_factory):
    if not shutil.which("gpg"):
        pytest.skip("gpg is not installed (apt-get install gnupg)")
    s = Signer.create(tmp_path_factory.mktemp("gpg2") / "home", name="Mallory Unpinned")
    yield s
    s.stop()


@pytest.fixture
def mirror(tmp_path):
    m = Mirror(tmp_path / "mirror")
    yield m
    m.close()


def _project(tmp_path, mirror, signer, kind: str, **kw) -> Project:
    tarball = make_fake_tarball(kind, mirror.root)
    _, _, name, version = FAKE_KINDS[kind]
    sig_name = None
    if signer is not None:
        sig_name = name.rsplit(".", 1)[0] + ".sign"  # kernel.org style: covers the uncompressed tar
        signer.sign(uncompressed(tarball), mirror.root / sig_name)
    proj = Project(dir=tmp_path / "project", mirror_url=mirror.url, tarball=name, version=version,
                   sha256=sha256_file(tarball), signature=sig_name, signer=signer, **kw)
    proj.dir.mkdir()
    return proj.setup()


@pytest.fixture
def k24_project(tmp_path, mirror, signer):
    """A 2.4-style fake kernel, served over HTTP with a kernel.org-style signature."""
    return _project(tmp_path, mirror, signer, "k24")


@pytest.fixture
def modern_project(tmp_path, mirror, signer):
    """A modern-style fake kernel (O= builds, olddefconfig), tinyconfig base."""
    return _project(tmp_path, mirror, signer, "modern", profile_base="tinyconfig")
