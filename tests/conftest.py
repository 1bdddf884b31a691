"""Shared fixtures. Everything here is real: gpg, an HTTP server on 127.0.0.1, make.

The default suite runs on every core (pytest-xdist, ``-n auto`` in pyproject.toml); the slow
suite (``-m slow``) runs in one process, because its session fixtures build real kernels once
and share them between tests.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest

from ramsesbuild.fsutil import sha256_file

from .lib.support import FAKE_KINDS, Mirror, Project, Signer, make_fake_tarball, nodes_toml, uncompressed
from .lib.tools import need_pipeline_tools

# Subprocesses started by name (python3 in the fake kernels' Makefiles and the bench scripts,
# doit, ramsesbuild) are this interpreter's, as in an activated virtual environment: the
# set-up runs the tests as .venv/bin/pytest without activating anything.
os.environ["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"


def pytest_xdist_auto_num_workers(config: pytest.Config) -> int:
    """`-n auto`: one worker per core for the default suite; none when slow tests are selected
    (one 6.1 and one 2.4.18 build per session, not per worker)."""
    marks = config.getoption("markexpr") or ""
    if "slow" in marks.replace("not slow", ""):
        return 0
    return max(1, min(os.cpu_count() or 1, 8))


@pytest.fixture(scope="session", autouse=True)
def private_home(tmp_path_factory):
    """Each test session (each xdist worker) runs with a HOME and XDG_CACHE_HOME of its own, so
    nothing the tests start reads or writes the developer's dotfiles and caches, and workers
    never share one by accident. The iPXE boot ROMs stay shared: they are built once per
    machine (minutes), keyed by content (ramsesbuild/ipxerom.py)."""
    real_cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    home = tmp_path_factory.mktemp("home")
    cache = home / ".cache"
    (cache / "ramsesbuild").mkdir(parents=True)
    roms = real_cache / "ramsesbuild" / "ipxe"
    try:
        roms.mkdir(parents=True, exist_ok=True)
        (cache / "ramsesbuild" / "ipxe").symlink_to(roms)
    except OSError:
        pass  # a read-only real home: the ROMs get built in this session's cache instead
    saved = {k: os.environ.get(k) for k in ("HOME", "XDG_CACHE_HOME", "PYTHONPYCACHEPREFIX", "PYTHONDONTWRITEBYTECODE")}
    os.environ.update(HOME=str(home), XDG_CACHE_HOME=str(cache))
    # The Python processes the tests start (doit, ramsesbuild, bench) keep their bytecode in this
    # session's cache, as an installed package has its .pyc: without it (PYTHONDONTWRITEBYTECODE
    # set, a read-only checkout) every one of them would compile all of ramsesbuild again, and
    # nothing is written next to the sources either way
    os.environ["PYTHONPYCACHEPREFIX"] = str(cache / "pycache")
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
    yield home
    for k, v in saved.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v



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
    need_pipeline_tools(kind)
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


# ------------------------------------------------------------------ real modern kernel (slow)

DEBIAN_TARBALL = "/usr/src/linux-source-6.1.tar.xz"

TWO_NODES = nodes_toml("node01", "node02")
# One ramses.toml, three node classes: the i386 server and client, and an x86_64 UEFI class (its
# own arch, EFI stub, a raw image) that tests/slow/test_cluster_box_modern.py boots with OVMF
MODERN_CLASSES = {"server": ["kconfigs/RamsesServer.conf"], "client": ["kconfigs/RamsesCluster.conf"],
                  "uefi": ["kconfigs/RamsesCluster.conf", "kconfigs/RamsesUefi.conf"]}
UEFI_CLASS = {"arch": "x86_64", "netboot": {"format": "raw", "output": "vmlinuz-{version}-uefi", "append": ""}}


@pytest.fixture(scope="session")
def modern_real_project(tmp_path_factory):
    """Debian's linux-source-6.1 through a plain `doit` with the shipped kconfigs: the i386 server
    and client and the x86_64 UEFI node class (tinyconfig bases), modules, the netboot images and
    the boot configuration for two nodes. The source is trusted through dpkg --verify, as the
    shipped ramses.toml does; the compiler runs through ccache when it is installed (a real modern kernel through the wrapper).
    Minutes of CPU; built once per session."""
    from pathlib import Path

    from .lib.support import SHIPPED

    tarball = Path(DEBIAN_TARBALL)
    if not tarball.exists():
        pytest.skip(f"{tarball} missing: apt-get install linux-source-6.1 (.ci/run does)")
    # ccache (cold here) lets the reproducibility test's second build in another directory take
    # its objects from the cache: CI time goes to linking and comparing, not to compiling twice
    wrapper: dict = {"overrides": {}, "extra_env": {}}
    if shutil.which("ccache"):
        # $RAMSES_TEST_CCACHE: a ccache shared between test sessions (development machines with
        # several checkouts); by default a cold cache of this session's own
        cache = os.environ.get("RAMSES_TEST_CCACHE") or str(tmp_path_factory.mktemp("modern-ccache"))
        wrapper = {"overrides": {"kernel": {"wrapper": "ccache"}}, "extra_env": {"CCACHE_DIR": cache}}
    wrapper["overrides"]["profile"] = {"uefi": UEFI_CLASS}
    proj = Project(dir=tmp_path_factory.mktemp("modern-real"), mirror_url=f"file://{tarball.parent}/",
                   tarball=tarball.name, version="6.1", sha256="", dpkg="linux-source-6.1",
                   profile_base="tinyconfig", kconfigs=SHIPPED / "kconfigs", nodes=TWO_NODES,
                   profiles=MODERN_CLASSES, **wrapper)
    proj.setup()
    proj.run = proj.doit(timeout=3600, process=True)  # type: ignore[attr-defined]
    return proj


@pytest.fixture(scope="session")
def modern_client_project(modern_real_project):
    """The 6.1 project whose client kernel and netboot image the boot tests use."""
    return modern_real_project


@pytest.fixture(scope="session")
def modern_client_kernel(modern_client_project):
    """Path of the pipeline-built i386 bzImage (e1000, serial console, IP_PNP DHCP, ROOT_NFS, initrd)."""
    return modern_client_project.dir / "build" / "client" / "artifacts" / "bzImage"


# ------------------------------------------------------------------ real Linux 2.4.18 (slow)

@pytest.fixture(scope="session")
def k24_real_project(tmp_path_factory, signer):
    """The real 2.4.18 through `doit` once per session: server + client kernels and modules.
    The client's netboot settings are ip=rom, rootdir=rom, append "console=ttyS0" (the
    cluster-in-a-box test runs `doit netboot-image` on this project)."""
    from .lib.k24.guest24 import real_tarball
    from .lib.support import SHIPPED

    tarball = real_tarball("build and boot the real 2.4.18")
    for tool in ("gcc", "ld", "make", "patch", "bzip2", "perl"):
        if not shutil.which(tool):
            pytest.skip(f"{tool} missing")
    mirror = tmp_path_factory.mktemp("k24-mirror")
    (mirror / "linux-2.4.18.tar.bz2").symlink_to(tarball.resolve())
    signer.sign(uncompressed(tarball), mirror / "linux-2.4.18.tar.sign")  # kernel.org style: the .tar
    proj = Project(dir=tmp_path_factory.mktemp("k24-real"), mirror_url=f"file://{mirror}/",
                   tarball="linux-2.4.18.tar.bz2", version="2.4.18", sha256=sha256_file(tarball),
                   signature="linux-2.4.18.tar.sign", signer=signer, netboot_append="console=ttyS0",
                   kconfigs=SHIPPED / "kconfigs", patches=SHIPPED / "patches")
    proj.setup()
    proj.doit("kernel-server", "kernel-client", "modules-server", "modules-client", timeout=3600, process=True)
    return proj


# ------------------------------------------------------------------ NBI-capable iPXE ROMs (slow)

@pytest.fixture(scope="session")
def ipxe_roms():
    """{qemu NIC model: iPXE ROM with IMAGE_NBI + IMAGE_ELF}: $RAMSES_IPXE_ROM, else built once per
    machine from $RAMSES_IPXE_TARBALL into ~/.cache/ramsesbuild/ipxe (ramsesbuild.ipxerom)."""
    import os
    from pathlib import Path

    from ramsesbuild import ipxerom
    from ramsesbuild.errors import RamsesError

    if os.environ.get(ipxerom.ENV_ROM):
        try:
            ipxerom.check_given_roms()
        except RamsesError as exc:
            pytest.fail(str(exc))
        given = {k: v for k, v in ipxerom.find_roms({ipxerom.ENV_ROM: os.environ[ipxerom.ENV_ROM]}).items()}
        return given
    tarball = os.environ.get("RAMSES_IPXE_TARBALL")
    if not tarball:
        pytest.skip("no NBI-capable boot ROM: set RAMSES_IPXE_ROM=/path/to/10ec8139.rom[:8086100e.rom], or "
                    "RAMSES_IPXE_TARBALL=/path/to/ipxe.tar.xz to build one (.ci/run sets it)")
    try:
        built = ipxerom.build_roms(Path(tarball), jobs=2)
    except RamsesError as exc:
        pytest.fail(str(exc))
    return {n.qemu_device: built / n.rom_name for n in ipxerom.NICS.values()}
