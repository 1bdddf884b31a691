"""`ramsesbuild status`: what the tftpboot directory holds, which node boots what, and whether
every node boots what the settings say.

Per image: its kind, size and sha256; when this build directory installed it, the profile,
kernel version and config fragments it came from; the nodes that boot it and how (the same
words and the same rule as the run's summary: ramsesbuild.bootmap). Per node (nodes.toml): the
file DHCP names, and each reason it would boot something other than what the settings say:

    MISSING    a file of its boot is not in the tftp root
    CHANGED    an image is not the bytes this build directory installed there
    STALE      an image this build directory installed, which no profile makes now
    OUTDATED   an image installed from other [netboot] settings or another kernel than now

(An image of the right name with no record at all, e.g. after `doit clean`, is shown as not
installed by this build directory, not flagged.)

Then the last run's result (build/summary.json). Exit code 1 when a node has such a reason, 0
otherwise. ``--json`` prints the same as a JSON document (:class:`Status`, documented in
docs/reference/status-json.md, generated from these classes).
"""

from __future__ import annotations

import argparse
import json
import os
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

from .bootconf.inventory import Inventory, Node
from .bootmap import describe, inventory_of, routes, users
from .errors import RamsesError
from .formats import ImageKind, sniff_file
from .paths import BuildPaths, rel
from .settings import Settings
from .sizes import human
from .state import DamagedState, KernelStamp, NetbootStamp, NodeBoot, doc, read_state, read_summary, to_json

STATUS_SCHEMA = 1


class Origin(StrEnum):
    BUILT = "built"
    CHANGED = "changed"
    STALE = "stale"
    OTHER = "other"

    @property
    def phrase(self) -> str:
        return {"built": "", "changed": "changed since this build directory installed it",
                "stale": "stale: installed by this build directory, no profile makes it now",
                "other": ""}[self.value]


class Problem(StrEnum):
    MISSING = "missing"
    CHANGED = "changed"
    STALE = "stale"
    OUTDATED = "outdated"


@dataclass(frozen=True)
class Image:
    kind: ImageKind | None = field(metadata=doc("what the file is (ramsesbuild.formats; null: unreadable)"))
    size: int = field(metadata=doc("bytes"))
    sha256: str = field(metadata=doc("hex"))
    origin: Origin = field(metadata=doc(
        '"built": the bytes this build directory installed; "changed": another file is there now; "stale": '
        'installed by this build directory, but no profile makes it now; "other": not installed by it'))
    profile: str | None = field(metadata=doc("the profile that installed it (built, changed, stale)"))
    version: str | None = field(metadata=doc("its kernel's version (built)"))
    family: str | None = field(metadata=doc("its kernel's family (built)"))
    fragments: tuple[str, ...] = field(metadata=doc("the profile's config fragments (built)"))
    nodes: tuple[NodeBoot, ...] = field(metadata=doc("the nodes that boot it, and how (as in summary.json)"))


@dataclass(frozen=True)
class NodeProblem:
    file: str = field(metadata=doc("the file of the node's boot, relative to the tftp root"))
    problem: Problem = field(metadata=doc("why the node would not boot what the settings say"))
    detail: str = field(metadata=doc("one line: what is wrong and what to run"))


@dataclass(frozen=True)
class NodeRoot:
    node_class: str = field(metadata=doc("its class: the profile whose [profile.X.root] it runs"))
    base: str = field(metadata=doc("the class's base root (exported read-only), absolute"))
    own: str = field(metadata=doc("the node's own directory (exported to it alone), absolute"))
    built: bool = field(metadata=doc("false until root-<class> has built the base root"))


@dataclass(frozen=True)
class NodeStatus:
    name: str = field(metadata=doc("nodes.toml name"))
    mac: str = field(metadata=doc("lower case, colon separated"))
    ip: str = field(metadata=doc("its fixed address"))
    method: str = field(metadata=doc("direct or ipxe (nodes.toml method)"))
    boots: str = field(metadata=doc("the file DHCP names (its iPXE script for ipxe nodes)"))
    image: str = field(metadata=doc("the netboot image it ends up running"))
    problems: tuple[NodeProblem, ...] = field(metadata=doc("empty when it boots what the settings say"))
    root: NodeRoot | None = field(default=None, metadata=doc("its node root (null: its class has none)"))


@dataclass(frozen=True)
class LastRun:
    result: str = field(metadata=doc("ok or failed"))
    started: str = field(metadata=doc("UTC ISO time"))
    seconds: float = field(metadata=doc("how long it took"))
    summary: str = field(metadata=doc("build/summary.json, relative to the project root"))


@dataclass(frozen=True)
class Status:
    """`ramsesbuild status --json`."""

    schema: int = field(metadata=doc(f"{STATUS_SCHEMA}; raised when a field changes meaning or goes away"))
    settings: str = field(metadata=doc("the settings file, absolute"))
    tftpboot: str = field(metadata=doc("the tftp root, absolute"))
    tftpboot_exists: bool = field(metadata=doc("false before the first install"))
    images: dict[str, Image] = field(metadata=doc("every file in the tftp root, by path relative to it"))
    nodes_file: str | None = field(metadata=doc("nodes.toml (null: there is none)"))
    nodes: tuple[NodeStatus, ...] = field(metadata=doc("every node of nodes.toml, in its order"))
    last_run: LastRun | None = field(metadata=doc("the last doit run (null: none recorded)"))
    notes: tuple[str, ...] = field(metadata=doc("stamps or a summary that could not be read"))

    @property
    def ok(self) -> bool:
        """Every node boots what the settings say."""
        return not any(n.problems for n in self.nodes)


# ---------------------------------------------------------------- what the build directory installed

@dataclass(frozen=True)
class Installed:
    """One file a netboot stamp says this build directory installed."""

    stamp: NetbootStamp
    sha256: str | None


def installed(s: Settings, notes: list[str]) -> dict[str, Installed]:
    """Each file the build directory installed (netboot and MBA images), of every profile that
    ever did, relative to the tftp root."""
    from .steps.netboot import installed_stamps, stamp_files

    out: dict[str, Installed] = {}
    for stamp in installed_stamps(s).values():
        if isinstance(stamp, DamagedState):
            notes.append(f"{stamp}; the next doit run installs the image again")
            continue
        for name, sha in zip(stamp_files(stamp), (stamp.sha256, stamp.mba_sha256), strict=False):
            out[name] = Installed(stamp, sha)
    return out


def _scan(root: Path) -> dict[str, Path]:
    found: dict[str, Path] = {}
    if root.is_dir():
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
            for name in sorted(filenames):
                if not name.startswith("."):
                    path = Path(dirpath) / name
                    found[str(path.relative_to(root))] = path
    return found


def _image(path: Path, record: Installed | None, wanted: bool, sha: str, uses: tuple[NodeBoot, ...]) -> Image:
    try:
        kind: ImageKind | None = sniff_file(path)
    except OSError:
        kind = None
    if record is None:
        origin = Origin.OTHER
    elif not wanted:
        origin = Origin.STALE
    else:
        origin = Origin.BUILT if record.sha256 == sha else Origin.CHANGED
    st = record.stamp if record is not None else None
    built = origin is Origin.BUILT and st is not None
    return Image(kind=kind, size=path.stat().st_size, sha256=sha, origin=origin, profile=st.profile if st else None,
                 version=st.version if built and st else None, family=st.family if built and st else None,
                 fragments=st.fragments if built and st else (), nodes=uses)


# ---------------------------------------------------------------- does each node boot what the settings say?

@dataclass(frozen=True)
class _Expected:
    """What the settings say about the files of the tftp root."""

    wanted: dict[str, str]  # file -> the netboot profile that makes it
    identities: dict[str, str]  # netboot profile -> digest of its netboot step's identity now
    kernels: dict[str, str | None]  # netboot profile -> sha256 of its kernel now


def _expected(s: Settings, notes: list[str]) -> _Expected:
    from .steps.base import digest
    from .steps.netboot import NetbootImage
    from .vocabulary import mba_name

    wanted: dict[str, str] = {}
    identities: dict[str, str] = {}
    kernels: dict[str, str | None] = {}
    for prof in s.netboot_profiles:
        step = NetbootImage(s, prof)
        wanted[step.installed.name] = prof.name
        if step.nb.mba:
            wanted[mba_name(step.installed.name)] = prof.name
        identities[prof.name] = digest(step.identity())
        try:
            kernel = read_state(step.pl.kernel_stamp, KernelStamp)
        except DamagedState as exc:
            notes.append(f"{exc}; the next doit run builds the kernel again")
            kernel = None
        kernels[prof.name] = kernel.image_sha256 if kernel else None
    return _Expected(wanted, identities, kernels)


def _problems(inv: Inventory, node: Node, present: dict[str, str], done: dict[str, Installed],
              expected: _Expected) -> tuple[NodeProblem, ...]:
    out: list[NodeProblem] = []
    for file, _ in routes(inv, node):
        if file not in present:
            out.append(NodeProblem(file, Problem.MISSING, f"{file} not in tftpboot"))
            continue
        record, profile = done.get(file), expected.wanted.get(file)
        if profile is None:
            if record is not None:
                out.append(NodeProblem(file, Problem.STALE, f"{file}: no profile makes it now (doit retires it)"))
            continue
        if record is None:
            continue  # no record (doit clean keeps the image, not its stamp): nothing to compare
        if record.sha256 != present[file]:
            out.append(NodeProblem(file, Problem.CHANGED, f"{file}: not the bytes netboot-image:{profile} "
                                                           "installed (run doit to install them again)"))
        elif record.stamp.identity and record.stamp.identity != expected.identities.get(profile):
            out.append(NodeProblem(file, Problem.OUTDATED, f"{file}: installed with other [netboot] settings "
                                                            f"than now (run doit: netboot-image:{profile})"))
        elif record.stamp.kernel_sha256 and record.stamp.kernel_sha256 != expected.kernels.get(profile):
            out.append(NodeProblem(file, Problem.OUTDATED, f"{file}: {profile}'s kernel changed since it was "
                                                            f"installed (run doit: netboot-image:{profile})"))
    return tuple(out)


# ---------------------------------------------------------------- node roots

def _roots(s: Settings, inv: Inventory) -> dict[str, NodeRoot]:
    """Each node of a class with a node root: where its system is, and whether it is built."""
    from .noderoot.project import config, layer_spec

    cfg = config(s)
    if cfg is None:
        return {}
    spec = layer_spec(cfg, inv)
    return {n.name: NodeRoot(n.root, str(spec.cluster.base(n.root)), str(spec.cluster.node_dir(n.name)),
                             cfg.root_stamp(n.root).exists()) for n in spec.nodes}


# ---------------------------------------------------------------- the whole answer

def _last_run(s: Settings, notes: list[str]) -> LastRun | None:
    path = BuildPaths(s).summary
    try:
        summary = read_summary(path)
    except DamagedState as exc:
        notes.append(f"{exc}; the next doit run rewrites it")
        return None
    if summary is None:
        return None
    return LastRun(summary.result.value, summary.started, summary.seconds, rel(s.root, path))


def collect(settings_path: Path) -> Status:
    from . import settings as _settings
    from .fsutil import sha256_file

    s = _settings.load(settings_path)
    notes: list[str] = []
    done = installed(s, notes)
    files = _scan(s.tftpboot)
    present = {name: sha256_file(path) for name, path in files.items()}
    expected = _expected(s, notes)
    inv = inventory_of(s) if s.nodes.exists() else None
    uses = users(inv, present.__contains__) if inv is not None else {}
    images = {name: _image(path, done.get(name), name in expected.wanted, present[name], uses.get(name, ()))
              for name, path in files.items()}
    roots = _roots(s, inv) if inv is not None else {}
    nodes = tuple(NodeStatus(node.name, node.mac, str(node.ip), node.method.value, inv.boot_filename(node), node.image,
                             _problems(inv, node, present, done, expected), roots.get(node.name))
                  for node in inv.nodes) if inv else ()
    root = s.tftpboot
    return Status(schema=STATUS_SCHEMA, settings=str(s.path), tftpboot=str(root), tftpboot_exists=root.is_dir(),
                  images=images, nodes_file=str(s.nodes) if inv is not None else None, nodes=nodes,
                  last_run=_last_run(s, notes), notes=tuple(notes))


_FLAG = {Problem.MISSING: "MISSING", Problem.CHANGED: "CHANGED", Problem.STALE: "STALE",
         Problem.OUTDATED: "OUTDATED"}


def render(st: Status) -> str:
    lines = [f"tftpboot: {st.tftpboot}" + ("" if st.tftpboot_exists else "  (does not exist yet)")]
    if not st.images:
        lines.append("  (empty)")
    for name, i in st.images.items():
        origin = ""
        if i.origin is Origin.BUILT:
            frags = ", ".join(Path(f).name for f in i.fragments)
            origin = f"  Linux {i.version} ({i.family}), profile {i.profile}: {frags}"
        elif i.origin.phrase:
            origin = f"  ({i.origin.phrase})"
        kind = i.kind.value if i.kind else "unreadable"
        lines.append(f"  {name:<32} {kind:<12} {human(i.size):>10}  sha256 {i.sha256[:16]}{origin}")
        if i.nodes:
            lines.append(f"  {'':<32} booted by {describe(i.nodes)}")
    if st.nodes_file:
        lines.append(f"nodes: {st.nodes_file}")
        for n in st.nodes:
            boots = n.boots if n.boots == n.image else f"{n.boots} -> {n.image}"
            lines.append(f"  {n.name:<12} {n.ip:<15} {n.mac}  {n.method:<6} {boots}")
            lines += [f"  {'':<12} {_FLAG[p.problem]}: {p.detail}" for p in n.problems]
            if nr := n.root:
                unbuilt = "" if nr.built else f"  (not built yet: doit root-{nr.node_class})"
                lines.append(f"  {'':<12} root {nr.node_class}: {nr.base} + {nr.own}{unbuilt}")
    else:
        lines.append("nodes: no nodes.toml")
    if st.last_run:
        r = st.last_run
        lines.append(f"last run: {r.result}, started {r.started}, {r.seconds:.1f} s ({r.summary})")
    lines += [f"note: {n}" for n in st.notes]
    return "\n".join(lines)


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="ramsesbuild status", description=__doc__.splitlines()[0] if __doc__ else "")
    ap.add_argument("--config", type=Path, default=None,
                    help="settings file (default: $RAMSES_CONFIG or ./ramses.toml)")
    ap.add_argument("--json", action="store_true", help="print JSON instead of text (docs/reference/status-json.md)")
    return ap


def main(argv: list[str]) -> int:
    args = parser().parse_args(argv)
    from .settings import default_path

    try:
        st = collect(args.config or default_path())
    except OSError as exc:
        from .errors import os_error_message

        raise RamsesError(os_error_message(exc, "reading the tftpboot directory")) from None
    print(json.dumps(to_json(st), indent=1, sort_keys=True) if args.json else render(st))
    return 0 if st.ok else 1
