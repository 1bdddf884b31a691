"""Reproducible images on the fake kernel trees: two clean builds of the same inputs in two
different directories give byte-identical bzImages, staged modules and netboot images.

The fake 2.4 tree leaks what the real one does (tests/data/fakekernel/k24/Makefile): `date` in
compile.h, `gzip < file` storing the file's mtime, and __FILE__ of a header included by
absolute path. The real kernels are compared in tests/slow/test_repro.py (slow)."""

from __future__ import annotations

import dataclasses
import shutil
import time

import pytest

from ..lib.reprolib import image_digests
from ..lib.support import Project


def _twin(proj: Project, where) -> Project:
    """The same project (same mirror, tarball, settings) in another, longer directory."""
    where.mkdir(parents=True)
    twin = dataclasses.replace(proj, dir=where)
    return twin.setup()


@pytest.mark.parametrize("kind, wrapper", [("k24_project", None), ("modern_project", None),
                                           ("k24_project", "ccache"), ("modern_project", "ccache")])
def test_two_builds_in_two_directories_are_identical(kind, wrapper, request, tmp_path):
    """The second build may use a compiler wrapper: it is not part of the build's identity."""
    if wrapper and not shutil.which(wrapper):
        pytest.skip(f"{wrapper} missing: apt-get install {wrapper}")
    first = request.getfixturevalue(kind)
    second = _twin(first, tmp_path / "elsewhere" / "with-a-longer-path" / "project")
    if wrapper:
        second.extra_env = {**second.extra_env, "CCACHE_DIR": str(tmp_path / "ccache")}
        second.set("kernel.wrapper", wrapper)
    first.doit("kernel-client", "modules-client", "netboot-image")
    # into the next whole second: every clock reading of the second build (date, gzip's mtime, in
    # whole seconds) differs from every reading of the first
    time.sleep(1.02 - time.time() % 1)
    second.doit("kernel-client", "modules-client", "netboot-image")
    a, b = image_digests(first), image_digests(second)
    assert any("/staging/" in k for k in a) and any(k.startswith("tftpboot/") for k in a), a
    assert a == b
