"""Slow: reproducible real kernels. Each kernel is built a second time, from scratch, in another
(longer) directory, and the sha256 of the bzImage, of every staged module and of the installed
netboot image must equal the first build's.

* Linux 2.4.18 (RAMSES_K24_TARBALL): the first build is the k24_real_project session fixture
  (server + client), the second uses `wrapper = "ccache"` with a cold cache, so it also shows
  that the wrapper is not part of the build's identity; then `rm -rf build` and a third, warm
  build must hit ccache for nearly every unit and still give the same images.
* Debian linux-source-6.1: the first build is the modern_client_project session fixture
  (tinyconfig + RamsesCluster.conf, client kernel and netboot image, through ccache when it is
  installed); the second build shares its ccache, so it checks what the pipeline and kbuild add
  (link, compress, timestamps, paths, the netboot image) without compiling 1,200 units twice;
  compile-level determinism across directories is what the cold 2.4.18 twin checks.
"""

from __future__ import annotations

import dataclasses
import shutil
import time
from pathlib import Path

import pytest

from ..lib.reprolib import differences, image_digests
from ..lib.support import Project
from ..pipeline.test_wrappers import ccache_stats

pytestmark = pytest.mark.slow


def _twin(proj: Project, where, **changes) -> Project:
    where.mkdir(parents=True)
    return dataclasses.replace(proj, dir=where, **changes).setup()


# ------------------------------------------------------------------ 2.4.18

K24_TASKS = ("kernel-server", "kernel-client", "modules-server", "modules-client", "netboot-image")


@pytest.fixture(scope="module")
def k24_twin(k24_real_project, tmp_path_factory):
    if not shutil.which("ccache"):
        pytest.skip("ccache missing: apt-get install ccache (.ci/run does)")
    k24_real_project.doit("netboot-image", timeout=600)
    base = tmp_path_factory.mktemp("k24-twin")
    cache = base / "ccache"
    twin = _twin(k24_real_project, base / "a-second" / "and-longer" / "directory",
                 overrides={"kernel": {"wrapper": "ccache"}}, extra_env={"CCACHE_DIR": str(cache)})
    t0 = time.monotonic()
    twin.doit(*K24_TASKS, timeout=3600)
    print(f"\n2.4.18 second build (ccache, cold) in {time.monotonic() - t0:.0f} s: {ccache_stats(cache)}")
    return twin, cache


def test_k24_two_builds_in_two_directories_are_identical(k24_real_project, k24_twin):
    twin, _ = k24_twin
    a = image_digests(k24_real_project, ("server", "client"))
    b = image_digests(twin, ("server", "client"))
    print(f"\n2.4.18: {len(a)} files compared, e.g. client bzImage {a['build/client/artifacts/bzImage']}")
    assert sum("/staging/" in k for k in a) >= 2 and "tftpboot/vmlinuz-2.4.18-cluster" in a, a
    assert differences(a, b) == []


def test_k24_ccache_warm_rebuild_after_rm_rf_build(k24_real_project, k24_twin):
    twin, cache = k24_twin
    cold = ccache_stats(cache)
    shutil.rmtree(twin.dir / "build")
    t0 = time.monotonic()
    twin.doit(*K24_TASKS, timeout=3600)
    warm_s = time.monotonic() - t0
    total = ccache_stats(cache)
    warm = {"hits": total["hits"] - cold["hits"], "misses": total["misses"] - cold["misses"]}
    print(f"\n2.4.18 rebuild after rm -rf build in {warm_s:.0f} s: ccache {warm} (cold build: {cold})")
    assert warm["hits"] >= 300 and warm["misses"] <= warm["hits"] // 100, warm
    assert differences(image_digests(k24_real_project, ("server", "client")),
                       image_digests(twin, ("server", "client"))) == []


# ------------------------------------------------------------------ 6.1

def test_modern_two_builds_in_two_directories_are_identical(modern_client_project, tmp_path_factory):
    first = modern_client_project
    first.doit("kernel-client", "modules-client", "netboot-image", timeout=3600)
    twin = _twin(first, tmp_path_factory.mktemp("modern-twin") / "a-second" / "and-longer" / "directory")
    t0 = time.monotonic()
    twin.doit("kernel-client", "modules-client", "netboot-image", timeout=3600)
    cache = first.extra_env.get("CCACHE_DIR")
    print(f"\n6.1 second build in {time.monotonic() - t0:.0f} s"
          + (f", ccache {ccache_stats(Path(cache))}" if cache else ""))
    a, b = image_digests(first), image_digests(twin)
    print(f"6.1: {sorted(a)}; client bzImage {a['build/client/artifacts/bzImage']}")
    assert "tftpboot/vmlinuz-6.1-cluster" in a, a
    assert differences(a, b) == []
