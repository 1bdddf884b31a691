"""Reproducible images on the fake kernel trees: two clean builds of the same inputs in two
different directories give byte-identical bzImages, staged modules and netboot images.

The fake 2.4 tree leaks what the real one does (tests/fakekernel/k24/Makefile): `date` in
compile.h, `gzip < file` storing the file's mtime, and __FILE__ of a header included by
absolute path. The real kernels are compared in tests/test_repro_real.py (slow)."""

from __future__ import annotations

import dataclasses
import time

import pytest

from .support import Project
from .reprolib import image_digests


def _twin(proj: Project, where) -> Project:
    """The same project (same mirror, tarball, settings) in another, longer directory."""
    where.mkdir(parents=True)
    twin = dataclasses.replace(proj, dir=where)
    return twin.setup()


@pytest.mark.parametrize("kind", ["k24_project", "modern_project"])
def test_two_builds_in_two_directories_are_identical(kind, request, tmp_path):
    first = request.getfixturevalue(kind)
    second = _twin(first, tmp_path / "elsewhere" / "with-a-longer-path" / "project")
    first.doit("kernel-client", "modules-client", "netboot-image")
    time.sleep(1.1)  # a second later: anything taken from the clock would differ
    second.doit("kernel-client", "modules-client", "netboot-image")
    a, b = image_digests(first), image_digests(second)
    assert any("/staging/" in k for k in a) and any(k.startswith("tftpboot/") for k in a), a
    assert a == b
