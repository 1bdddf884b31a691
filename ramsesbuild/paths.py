"""Where every stage reads and writes: the build paths. One place, so tasks, the summary,
`status` and the tests agree.

    build/<profile>/          one per profile: obj/ (modern O=), state/, artifacts/, staging/, shims/
    build/<profile>/src       the profile's own source tree (families that build in the tree: 2.4)
    build/source/src          one read-only source tree shared by every profile (O= families)
    build/state/              verified.json
    build/logs/<task>.log     per-task logs
    build/bootconf/           nodes.toml's generated dhcpd.conf, exports, tftpd-hpa (its default output)
    build/summary.json        what the last run produced

Every path doit stores and every path in a stamp goes through :func:`rel`: relative to the
project root, so a build directory restored into another checkout path is still up to date.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .family import Family
    from .settings import Profile, Settings

SHARED_TREE = "source"
STATE_DIR = "state"
LOG_DIR = "logs"
BOOTCONF_DIR = "bootconf"
# build/<profile> must not collide with these (ramses.toml's reader refuses them as profile names)
RESERVED_NAMES = (SHARED_TREE, STATE_DIR, LOG_DIR, BOOTCONF_DIR)


def rel(root: Path, path: Path | str) -> str:
    """*path* relative to the project root when it is inside it, else as given.

    Everything doit stores (file_dep, targets, config_changed values) and every path in a stamp
    goes through this (doit runs in the project root: see doit_entry.load_project).
    """
    p = Path(path)
    try:
        return str(p.relative_to(root))
    except ValueError:
        return str(p)


@dataclass(frozen=True)
class TreePaths:
    """An unpacked, patched source tree and its state (unpack/patch stamps, applied patches)."""

    name: str  # "source" for a shared tree, else the profile name
    root: Path

    @property
    def src(self) -> Path:
        return self.root / "src"

    @property
    def state(self) -> Path:
        return self.root / STATE_DIR / "tree"

    @property
    def unpacked_stamp(self) -> Path:
        return self.state / "unpacked.json"

    @property
    def patched_stamp(self) -> Path:
        return self.state / "patched.json"


@dataclass(frozen=True)
class ProfilePaths:
    name: str
    root: Path
    tree: TreePaths
    in_tree: bool  # make writes into tree.src (2.4) instead of obj/

    @property
    def src(self) -> Path:
        return self.tree.src

    @property
    def obj(self) -> Path:
        return self.tree.src if self.in_tree else self.root / "obj"

    @property
    def state(self) -> Path:
        return self.root / STATE_DIR

    @property
    def artifacts(self) -> Path:
        return self.root / "artifacts"

    @property
    def staging(self) -> Path:
        return self.root / "staging"

    @property
    def shims(self) -> Path:
        return self.root / "shims"

    @property
    def config_stamp(self) -> Path:
        return self.state / "config.json"

    @property
    def kernel_stamp(self) -> Path:
        return self.state / "kernel.json"

    @property
    def modules_stamp(self) -> Path:
        return self.state / "modules.json"

    @property
    def netboot_stamp(self) -> Path:
        return self.state / "netboot.json"

    @property
    def units(self) -> Path:
        """The last build's compiled-unit count (make's progress total next time)."""
        return self.state / "units"

    @property
    def base_config(self) -> Path:
        return self.state / "base.config"

    @property
    def config(self) -> Path:
        return self.artifacts / "config"

    @property
    def image(self) -> Path:
        return self.artifacts / "bzImage"


@dataclass(frozen=True)
class BuildPaths:
    """The build paths of one settings file."""

    settings: Settings

    @property
    def family(self) -> Family:
        from .family import family_for_version

        return family_for_version(self.settings.version)

    def download(self, name: str) -> Path:
        return self.settings.download_dir / name

    @property
    def state(self) -> Path:
        return self.settings.build_dir / STATE_DIR

    @property
    def verified(self) -> Path:
        return self.state / "verified.json"

    @property
    def summary(self) -> Path:
        return self.settings.build_dir / "summary.json"

    @property
    def lock(self) -> Path:
        return self.settings.build_dir / ".lock"

    @property
    def db(self) -> Path:
        return self.settings.build_dir / ".doit.db"

    def trees(self) -> list[TreePaths]:
        """The source trees to unpack and patch: one shared tree, or one per profile."""
        if self.family.out_of_tree:
            return [TreePaths(SHARED_TREE, self.settings.build_dir / SHARED_TREE)]
        return [self.profile(name).tree for name in self.settings.profiles]

    def profile(self, name: str) -> ProfilePaths:
        root = self.settings.profile_dir(name)
        if self.family.out_of_tree:
            return ProfilePaths(name, root, TreePaths(SHARED_TREE, self.settings.build_dir / SHARED_TREE), False)
        return ProfilePaths(name, root, TreePaths(name, root), True)

    def netboot_artifact(self, profile: Profile) -> Path:
        assert profile.netboot is not None
        return self.profile(profile.name).artifacts / profile.netboot.output_name(self.settings.version)

    def netboot_installed(self, profile: Profile) -> Path:
        assert profile.netboot is not None
        return profile.netboot.tftpboot / profile.netboot.output_name(self.settings.version)

    def netboot_stamps(self) -> list[Path]:
        """The netboot stamps in the build directory, of every profile that ever installed an image
        (also those no longer netbooted or gone from the settings)."""
        build = self.settings.build_dir
        return [p for p in build.glob(f"*/{STATE_DIR}/netboot.json") if p.parts[-3] not in RESERVED_NAMES]

    def temp_dirs(self) -> list[Path]:
        """Directories where an interrupted run may have left temp names (swept at start)."""
        s = self.settings
        dirs = [s.build_dir, self.state, s.log_dir, s.download_dir, s.tftpboot]
        for tree in self.trees():
            dirs += [tree.root, tree.state]
        for name in s.profiles:
            pl = self.profile(name)
            dirs += [pl.root, pl.state, pl.artifacts]
        return list(dict.fromkeys(dirs))
