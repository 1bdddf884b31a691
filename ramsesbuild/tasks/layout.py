"""Where every stage reads and writes. One place, so tasks and tests agree."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..settings import Settings


@dataclass(frozen=True)
class ProfileLayout:
    root: Path

    @property
    def src(self) -> Path:
        return self.root / "src"

    @property
    def obj_modern(self) -> Path:
        return self.root / "obj"

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

    def download(self, name: str) -> Path:
        return self.settings.download_dir / name

    @property
    def verified(self) -> Path:
        return self.settings.build_dir / "state" / "verified.json"

    def profile(self, name: str) -> ProfileLayout:
        return ProfileLayout(self.settings.profile_dir(name))

    @property
    def netboot_artifact(self) -> Path:
        n = self.settings.netboot
        return self.profile("client").artifacts / n.output_name(self.settings.version)

    @property
    def netboot_installed(self) -> Path:
        n = self.settings.netboot
        return n.tftpboot / n.output_name(self.settings.version)

    @property
    def db(self) -> Path:
        return self.settings.build_dir / ".doit.db"
