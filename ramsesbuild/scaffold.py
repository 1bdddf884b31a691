"""`ramsesbuild init DIR`: a project of one's own from the installed package.

Writes what is the user's to keep in their own repository, and nothing that must be kept in
step with ramsesbuild (the code, the tested 2.4.18 patch series and the families stay in the
package):

    ramses.toml                 the settings (package data/project/ramses.toml), for the kernel chosen
    nodes.toml                  the node inventory, an example to edit
    kconfigs/*.conf             the shipped fragments, as starting points
    keys/                       the pinned kernel.org signing key (for [source."2.4.18"])
    patches/2.4.18/series       "#@ builtin 2.4.18": the tested series, then the user's own patches
    dodo.py                     two lines: doit's tasks come from the package
    .gitignore                  build/, downloads/, tftpboot/, doit's database
    the CI file chosen          .github/workflows/kernels.yml or .gitlab-ci.yml (package data/ci/)

Then `cd DIR && doit` builds. Nothing is overwritten: a file in the way is an error.
"""

from __future__ import annotations

import argparse
import re
from dataclasses import dataclass
from pathlib import Path

from .errors import InitError
from .pkgdata import DATA

PROJECT = DATA / "project"  # the project as shipped: the 2.4.18 settings, fragments, key, series
CI_DIR = DATA / "ci"
DODO = ("from ramsesbuild.doit_entry import load_project  # doit's tasks come from the installed ramsesbuild\n\n"
        "DOIT_CONFIG, task_ramses = load_project()  # settings: ramses.toml here, or $RAMSES_CONFIG\n")
RENAMED = {"gitignore": ".gitignore"}  # package data cannot hold dotfiles


@dataclass(frozen=True)
class Kernel:
    """A kernel a new project can build: the settings lines that differ from the shipped ones."""

    version: str
    base: str  # the profiles' base config
    about: str


KERNELS = {
    "2.4.18": Kernel("2.4.18", "defconfig", "Linux 2.4.18 from kernel.org (sha256 and OpenPGP pinned), with "
                                            "ramsesbuild's tested gcc 12 series"),
    "6.1": Kernel("6.1", "tinyconfig", "Debian's linux-source-6.1 (checked with dpkg --verify), tinyconfig bases"),
}
CI_FILES = {  # --ci choice: (package data file, where it goes in the project)
    "github": ("github-actions.yml", ".github/workflows/kernels.yml"),
    "gitlab": ("gitlab-ci.yml", ".gitlab-ci.yml"),
    "none": None,
}


def settings_text(kernel: Kernel) -> str:
    """The shipped ramses.toml with the chosen kernel: its version and the profiles' base."""
    text = (PROJECT / "ramses.toml").read_text()
    text, n = re.subn(r'^version = "[^"]*"', f'version = "{kernel.version}"', text, count=1, flags=re.M)
    text, m = re.subn(r'^base = "defconfig"', f'base = "{kernel.base}"', text, flags=re.M)
    if n != 1 or m < 1:  # the shipped file and this code disagree: a packaging bug, caught by the tests
        raise InitError(f"{PROJECT / 'ramses.toml'}: no version/base lines to set")
    return text


def project_files(kernel: Kernel, ci: str) -> dict[Path, bytes]:
    """Relative path -> content of every file `init` writes."""
    files: dict[Path, bytes] = {}
    for path in sorted(PROJECT.rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts:
            rel = path.relative_to(PROJECT)
            files[rel.with_name(RENAMED.get(rel.name, rel.name))] = path.read_bytes()
    files[Path("ramses.toml")] = settings_text(kernel).encode()
    files[Path("dodo.py")] = DODO.encode()
    choice = CI_FILES[ci]
    if choice is not None:
        files[Path(choice[1])] = ci_text(choice[0], kernel).encode()
    return files


CI_PACKAGES = ("git", "ca-certificates", "python3", "python3-venv", "libc6-dev", "ccache")  # besides the build's
LIBRARIES = {"modern": ("libelf-dev", "libssl-dev")}  # headers a family's kbuild may need (objtool, sign-file)


def ci_text(name: str, kernel: Kernel) -> str:
    """A CI file of the package (data/ci/) with DEBIAN_PACKAGES for this kernel's build."""
    from .family import family_for_version

    packages = sorted({*CI_PACKAGES, *needed_packages(kernel),
                       *LIBRARIES.get(family_for_version(kernel.version).name, ())})
    text = (CI_DIR / name).read_text()
    text, n = re.subn(r"^(\s*DEBIAN_PACKAGES: ).*$", lambda m: m.group(1) + " ".join(packages), text,
                      count=1, flags=re.M)
    if n != 1:
        raise InitError(f"{CI_DIR / name}: no DEBIAN_PACKAGES line to set")
    return text


def write_project(dest: Path, kernel: Kernel, ci: str) -> list[Path]:
    from .fsutil import atomic_write_bytes

    files = project_files(kernel, ci)
    in_the_way = [rel for rel in files if (dest / rel).exists() or (dest / rel).is_symlink()]
    if in_the_way:
        raise InitError(f"{dest / in_the_way[0]}: already exists; `ramsesbuild init` writes a new project "
                        "and overwrites nothing: choose an empty or new directory")
    try:
        for rel, data in files.items():
            atomic_write_bytes(dest / rel, data, perms=0o644)
    except OSError as exc:
        from .errors import os_error_message

        raise InitError(os_error_message(exc, "writing the new project")) from None
    return sorted(files)


SUFFIX_PACKAGES = {".bz2": "bzip2", ".xz": "xz-utils", ".gz": "gzip", ".zst": "zstd"}


def needed_packages(kernel: Kernel) -> list[str]:
    """Debian packages a build of this kernel needs: its family's tools (families.toml), the
    tarball's decompressor, patch, gnupg, and the package a dpkg source comes from."""
    import tomllib

    from .family import family_for_version

    source = tomllib.loads(settings_text(kernel))["source"][kernel.version]
    packages = set(family_for_version(kernel.version).tools.values()) | {"patch", "gnupg"}
    packages |= {pkg for suffix, pkg in SUFFIX_PACKAGES.items() if source["tarball"].endswith(suffix)}
    if "dpkg" in source:
        packages.add(source["dpkg"])
    return sorted(packages)


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="ramsesbuild init", description="Write a new ramsesbuild project into DIR: "
                                 "settings, nodes.toml, kconfig fragments, .gitignore, a CI file and a one-line "
                                 "dodo.py; then `cd DIR && doit` builds it.")
    ap.add_argument("dir", type=Path, help="the project directory (new, or without these files)")
    ap.add_argument("--kernel", choices=sorted(KERNELS), default="6.1",
                    help="; ".join(f"{k.version}: {k.about}" for k in KERNELS.values()) + " (default %(default)s)")
    ap.add_argument("--ci", choices=list(CI_FILES), default="none",
                    help="CI file: GitHub Actions (.github/workflows/kernels.yml), GitLab CI (.gitlab-ci.yml) or "
                         "none (default %(default)s)")
    args = ap.parse_args(argv)
    kernel = KERNELS[args.kernel]
    written = write_project(args.dir, kernel, args.ci)
    print(f"ramsesbuild init: wrote {len(written)} files into {args.dir} for {kernel.about}:")
    for rel in written:
        print(f"  {rel}")
    print(f"next: apt-get install {' '.join(needed_packages(kernel))}   (what the build needs, if missing)")
    print(f"      cd {args.dir} && doit        (then `ramsesbuild status`; edit nodes.toml for your nodes)")
    return 0
