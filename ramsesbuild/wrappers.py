"""Compiler wrappers (ccache, distcc, ccache+distcc) from ramsesbuild/data/wrappers.toml:
what runs in front of the compiler (kbuild.write_shims puts it there) and what goes into
make's environment."""

from __future__ import annotations

import functools
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from .errors import BuildError, SettingsError, ToolMissing, WrapperError
from .pkgdata import DATA
from .schemas.wrappers import WrappersToml, WrapperTable
from .tomlload import Table, read_document


@dataclass(frozen=True)
class Wrapper:
    name: str
    description: str
    prefix: tuple[str, ...]
    commands: tuple[tuple[str, str], ...]  # (program, Debian package)
    hosts: bool
    env: tuple[tuple[str, str], ...]
    env_default: tuple[tuple[str, str], ...]

    def environment(self, basedir: Path, distcc_hosts: tuple[str, ...],
                    environ: dict[str, str]) -> dict[str, str]:
        """Variables to add to *environ* (already-set env_default variables are left alone)."""
        cache_home = environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
        values = {"basedir": str(basedir), "distcc_hosts": " ".join(distcc_hosts), "cache_home": cache_home}
        out = {k: v.format(**values) for k, v in self.env}
        out.update({k: v.format(**values) for k, v in self.env_default if not environ.get(k)})
        return {k: v for k, v in out.items() if v}

    def check(self, path: str, distcc_hosts: tuple[str, ...], environ: dict[str, str]) -> None:
        """One actionable error when a program is missing or distcc has nowhere to compile."""
        missing = [(prog, pkg) for prog, pkg in self.commands if shutil.which(prog, path=path) is None]
        if missing:
            progs = ", ".join(p for p, _ in missing)
            pkgs = " ".join(sorted({pkg for _, pkg in missing}))
            raise ToolMissing(
                f"[kernel] wrapper = {self.name!r} needs {progs} (not installed): "
                f"apt-get install {pkgs} (or remove wrapper from ramses.toml)"
            )
        if self.hosts and not distcc_hosts and not environ.get("DISTCC_HOSTS", "").strip():
            raise BuildError(
                f"[kernel] wrapper = {self.name!r} but no distcc hosts are given; set [kernel] "
                "distcc_hosts in ramses.toml (e.g. [\"node1/4\", \"node2/4\", \"localhost/2\"]) or "
                "DISTCC_HOSTS in the environment"
            )


WRAPPERS_FILE = DATA / "wrappers.toml"


@functools.cache
def _packaged_wrappers() -> dict[str, Wrapper]:
    return load_wrappers(WRAPPERS_FILE)


def load_wrappers(path: Path | None = None) -> dict[str, Wrapper]:
    """Read a wrappers file strictly (unknown or missing keys name file:line); default: ours."""
    if path is None:
        return _packaged_wrappers()
    top = read_document(Path(path), WrapperError).root()
    WrappersToml.check_names(top)
    return {name: _wrapper(name, WrapperTable.check(t)) for name, t in top.named_tables().items()}


def names() -> tuple[str, ...]:
    return tuple(load_wrappers())


def get(name: str) -> Wrapper:
    try:
        return load_wrappers()[name]
    except KeyError:
        raise SettingsError(
            f"compiler wrapper {name!r} is not in ramsesbuild/data/wrappers.toml "
            f"(known: {', '.join(names())}); fix [kernel] wrapper in ramses.toml"
        ) from None


def _wrapper(name: str, t: Table) -> Wrapper:
    k = WrapperTable
    return Wrapper(
        name=name,
        description=t.get(k.description),
        prefix=t.get(k.prefix),
        commands=tuple(t.get(k.commands).items()),
        hosts=t.get(k.hosts),
        env=tuple(t.get(k.env).items()),
        env_default=tuple(t.get(k.env_default).items()),
    )
