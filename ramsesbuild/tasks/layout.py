"""Where every stage reads and writes. One place, so tasks, the summary, `status` and the
tests agree.

    build/<profile>/          one per profile: obj/ (modern O=), state/, artifacts/, staging/, shims/
    build/<profile>/src       the profile's own source tree (families that build in the tree: 2.4)
    build/source/src          one read-only source tree shared by every profile (O= families)
    build/state/              verified.json
    build/logs/<task>.log     per-task logs
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..family import Family, family_for_version
from ..paths import SHARED_TREE
from ..settings import Profile, Settings


@dataclass(frozen=True)
class TreeLayout:
    """An unpacked, patched source tree and its state (unpack/patch stamps, applied patches)."""

    name: str  # "source" for a shared tree, else the profile name
    root: Path

    @property
    def src(self) -> Path:
        return self.root / "src"

    @property
    def state(self) -> Path:
        return self.root / "state" / "tree"

    def stamp(self, step: str) -> Path:
        return self.state / f"{step}.json"


@dataclass(frozen=True)
class ProfileLayout:
    name: str
    root: Path
    tree: TreeLayout
    in_tree: bool  # make writes into tree.src (2.4) instead of obj/

    @property
    def src(self) -> Path:
        return self.tree.src

    @property
    def obj(self) -> Path:
        return self.tree.src if self.in_tree else self.root / "obj"

    @property
    def state(self) -> Path:
        return self.root / "state"

    @property
    def artifacts(self) -> Path:
        return self.root / "artifacts"

    @property
    def staging(self) -> Path:
        return self.root / "staging"

    @property
    def shims(self) -> Path:
        return self.root / "shims"

    def stamp(self, step: str) -> Path:
        return self.state / f"{step}.json"

    @property
    def config(self) -> Path:
        return self.artifacts / "config"

    @property
    def image(self) -> Path:
        return self.artifacts / "bzImage"


@dataclass(frozen=True)
class Layout:
    settings: Settings

    @property
    def family(self) -> Family:
        return family_for_version(self.settings.version)

    def download(self, name: str) -> Path:
        return self.settings.download_dir / name

    @property
    def state(self) -> Path:
        return self.settings.build_dir / "state"

    @property
    def verified(self) -> Path:
        return self.state / "verified.json"

    @property
    def summary(self) -> Path:
        return self.settings.build_dir / "summary.json"

    @property
    def lock(self) -> Path:
        return self.settings.build_dir / ".lock"

    def trees(self) -> list[TreeLayout]:
        """The source trees to unpack and patch: one shared tree, or one per profile."""
        if self.family.out_of_tree:
            return [TreeLayout(SHARED_TREE, self.settings.build_dir / SHARED_TREE)]
        return [self.profile(name).tree for name in self.settings.profiles]

    def profile(self, name: str) -> ProfileLayout:
        root = self.settings.profile_dir(name)
        if self.family.out_of_tree:
            return ProfileLayout(name, root, TreeLayout(SHARED_TREE, self.settings.build_dir / SHARED_TREE), False)
        return ProfileLayout(name, root, TreeLayout(name, root), True)

    def netboot_artifact(self, profile: Profile) -> Path:
        assert profile.netboot is not None
        return self.profile(profile.name).artifacts / profile.netboot.output_name(self.settings.version)

    def netboot_installed(self, profile: Profile) -> Path:
        assert profile.netboot is not None
        return profile.netboot.tftpboot / profile.netboot.output_name(self.settings.version)

    @property
    def db(self) -> Path:
        return self.settings.build_dir / ".doit.db"

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
