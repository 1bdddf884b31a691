"""From the mirrors to patched source trees: fetch, verify, unpack:<tree>, patch:<tree>."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import ClassVar

from .. import family as _family
from ..log import TaskLog
from ..paths import BuildPaths, TreePaths, rel
from ..settings import Settings
from ..state import PatchedStamp, UnpackedStamp, VerifiedStamp, read_state, write_state
from .base import Check, Identity, Kept, Stage, Stamp, Step, TaskName


class Fetch(Step):
    identity_doc: ClassVar[dict[str, str]] = {
        "tarball": "[source] tarball", "sha256": "[source] sha256", "signature": "[source] signature",
        "local": "size and time of a dpkg-installed tarball (an apt upgrade)"}

    def __init__(self, settings: Settings):
        self.settings = settings
        src = settings.source
        self.name = TaskName(Stage.FETCH)
        what = src.tarball + (f" and {src.signature}" if src.signature else "")
        self.doc = f"download {what} (mirrors in order, resumable)"
        self.files = [BuildPaths(settings).download(name) for name in src.files()]  # names only: nothing read

    def identity(self) -> Identity:
        src = self.settings.source
        return {"tarball": src.tarball, "sha256": src.sha256, "signature": src.signature,
                "local": _local_identity(src.local_file()) if src.dpkg else None}

    def targets(self) -> list[Path]:
        return self.files

    def run(self, log: TaskLog) -> None:
        from ..fetch import fetch_all

        fetch_all(self.settings.source, self.settings.download_dir, log)

    def kept(self) -> Kept:
        return Kept(tuple(self.files), "the verified download")


def _local_identity(path: Path | None) -> str:
    """Size and mtime of a package-installed tarball: an apt upgrade re-fetches and re-verifies."""
    if path is None:
        return ""
    try:
        st = path.stat()
    except OSError:
        return "missing"
    return f"{st.st_size}:{st.st_mtime_ns}"


class Verify(Step):
    identity_doc: ClassVar[dict[str, str]] = {
        "sha256": "[source] sha256", "signers": "[source] signers", "unsigned": "[source] unsigned",
        "dpkg": "[source] dpkg"}

    def __init__(self, settings: Settings):
        self.settings = settings
        self.paths = BuildPaths(settings)
        src = settings.source
        self.name = TaskName(Stage.VERIFY)
        self.doc = ("check the pinned sha256 (or dpkg --verify) and the OpenPGP signature (private GNUPGHOME, "
                    "pinned signers)")
        self.stamp = Stamp(self.paths.verified, VerifiedStamp)
        self.tarball = self.paths.download(src.tarball)
        self.signature = self.paths.download(src.signature) if src.signature else None
        self.described = self.paths.verified.with_name("verified-file.json")  # which file the record describes

    def inputs(self) -> list[Path]:
        return [self.tarball] + ([self.signature] if self.signature else []) + list(self.settings.source.keys)

    def identity(self) -> Identity:
        src = self.settings.source
        return {"sha256": src.sha256, "signers": list(src.signers), "unsigned": src.unsigned, "dpkg": src.dpkg}

    def checks(self) -> list[Check]:
        return [Check("the verify record holds the pin and signers and describes this very tarball (a record "
                      "that disagrees is checked again, never trusted)", self.record_holds)]

    def record_holds(self) -> bool:
        from ..trust import record_holds  # light: runs at every doit start

        return record_holds(self.paths.verified, self.described, self.tarball, self.settings.source)

    def run(self, log: TaskLog) -> None:
        from ..fsutil import unlink_file
        from ..trust import file_identity
        from ..verify import verify_with_refetch

        unlink_file(self.described)
        before = file_identity(self.tarball)
        write_state(self.paths.verified, verify_with_refetch(self.settings.source, self.tarball, self.signature,
                                                             self.settings.download_dir, log))
        write_state(self.described, before)

    def outputs(self) -> list[Path]:
        return [self.paths.verified, self.described]


class Unpack(Step):
    def __init__(self, settings: Settings, tree: TreePaths):
        self.settings = settings
        self.tree = tree
        self.paths = BuildPaths(settings)
        self.name = TaskName(Stage.UNPACK, tree.name)
        self.doc = f"extract the verified tarball into {rel(settings.root, tree.src)}"
        self.stamp = Stamp(tree.unpacked_stamp, UnpackedStamp)

    def inputs(self) -> list[Path]:
        return [self.paths.verified]

    def checks(self) -> list[Check]:
        makefile = self.tree.src / "Makefile"
        return [Check(f"{rel(self.settings.root, makefile)} exists (the tree was not deleted by hand)",
                      makefile.is_file)]

    clears_stamp = False  # run() reads the previous stamp first

    def run(self, log: TaskLog) -> None:
        from ..fsutil import unlink_file
        from ..patch import reset_state
        from ..state import DamagedState
        from ..unpack import tree_is_current, unpack
        from ..verify import unpack_anchor

        tree, settings = self.tree, self.settings
        expect = unpack_anchor(settings.source)  # the pin or dpkg's record, never build/ state
        try:
            previous = read_state(tree.unpacked_stamp, UnpackedStamp)
        except DamagedState:
            previous = None
        unlink_file(tree.unpacked_stamp)  # a failure never leaves an old success behind
        if previous is not None and tree_is_current(previous, expect, tree.src):  # doit's records lost
            log.line(f"{tree.src}: already unpacked from these verified bytes ({previous.source}), "
                     "patched as its state says: kept (delete the tree to unpack it afresh)")
            write_state(tree.unpacked_stamp, previous)
            return
        reset_state(tree.state)
        top = unpack(self.paths.download(settings.source.tarball), tree.src, log, limits=settings.unpack_limits,
                     expect=expect)
        fam, version = _family.detect(tree.src)
        _check_version(settings, version)
        # a new generation id makes every later step re-run on a fresh tree, even when the
        # tarball is the same (doit compares stamp contents)
        write_state(tree.unpacked_stamp, UnpackedStamp(top=top, version=str(version), family=fam.name,
                                                       sha256=settings.source.sha256, generation=uuid.uuid4().hex,
                                                       source=f"{expect.algorithm}:{expect.digest}"))

    def outputs(self) -> list[Path]:
        return [self.tree.src, self.tree.state]


def unpack_doc(settings: Settings) -> str:
    """The unpack group's line in `doit list`."""
    where = ("one source tree shared by every profile (build/source/src, O= builds)"
             if BuildPaths(settings).family.out_of_tree
             else "one tree per profile (build/<profile>/src; this family builds in the tree)")
    return f"extract the verified tarball safely: {where}"


def _check_version(settings: Settings, version: _family.TreeVersion) -> None:
    from ..errors import FamilyError

    if not version.matches(settings.version):
        raise FamilyError(
            f"{settings.source.tarball} contains Linux {version}, but ramses.toml says version "
            f"{settings.version!r}; fix [kernel] version or the [source] entry"
        )


class Patch(Step):
    identity_doc: ClassVar[dict[str, str]] = {"series": "the patch directory ([source] patches, [paths] patches)"}

    def __init__(self, settings: Settings, tree: TreePaths):
        from ..patch import series_files

        self.settings = settings
        self.tree = tree
        self.name = TaskName(Stage.PATCH, tree.name)
        self.series = settings.patch_dir()
        self.series_files = series_files(self.series)
        self.doc = (f"apply {self.series.name}/series to {rel(settings.root, tree.src)}" if self.series_files
                    else f"nothing to apply ({rel(settings.root, self.series)}/series does not exist)")
        self.stamp = Stamp(tree.patched_stamp, PatchedStamp)

    def inputs(self) -> list[Path]:
        return [self.tree.unpacked_stamp, *self.series_files]

    def identity(self) -> Identity:
        return {"series": rel(self.settings.root, self.series)}

    def run(self, log: TaskLog) -> None:
        from ..patch import apply_series, check_series_place

        s, tree = self.settings, self.tree
        check_series_place(s.patches_dir, self.series, s.version)
        applied = apply_series(tree.src, self.series, tree.state, log)
        write_state(tree.patched_stamp, PatchedStamp(series=rel(s.root, self.series), generation=generation(tree),
                                                     patches=tuple((a["name"], a["sha256"]) for a in applied)))


def patch_doc(settings: Settings) -> str:
    """The patch group's line in `doit list`."""
    from ..patch import series_files

    pdir = settings.patch_dir()
    if series_files(pdir):
        return f"apply {pdir.name}/series to each source tree (dry-run first, no fuzz)"
    return f"no patch series for {settings.version} ({rel(settings.root, pdir)}/series does not exist)"


def generation(tree: TreePaths) -> str:
    """Which unpack of *tree* the later steps work on."""
    unpacked = read_state(tree.unpacked_stamp, UnpackedStamp)
    return unpacked.generation if unpacked else ""
