"""What the pipeline records between runs, declared once: one frozen dataclass per stamp
(a step's JSON target, which the next step lists as file_dep) and for build/summary.json.

Stamps and the summary are written and read only through :func:`write_state` and
:func:`read_state`, which check the shape against the dataclass: a stamp that is truncated,
garbage or of another shape is :class:`DamagedState`, never a KeyError three modules away.
Every path in them is relative to the project root (relocatable state). The summary.json
reference (docs/reference/summary-json.md) is generated from these classes; a field's
``metadata["doc"]`` is its line there.
"""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from .errors import RamsesError
from .vocabulary import ImageFormat, NbiLayout

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

D = TypeVar("D", bound="DataclassInstance")
SUMMARY_SCHEMA = 2


class DamagedState(RamsesError):
    """A stamp or summary.json that exists but cannot be read as its type."""


def doc(text: str) -> dict[str, str]:
    """A field's metadata: its line in the generated reference."""
    return {"doc": text}


# ---------------------------------------------------------------- stamps

@dataclass(frozen=True)
class VerifiedStamp:
    """build/state/verified.json: what the verify step checked."""

    tarball: str
    sha256: str
    signer: str | None  # primary-key fingerprint, None for an explicitly unsigned source
    signed_at: str | None
    signed_data: str | None  # "uncompressed" or "compressed"
    unsigned_reason: str | None
    package: str | None = None  # "linux-source-6.1 6.1.192-3" for a dpkg-verified source


@dataclass(frozen=True)
class UnpackedStamp:
    """build/<tree>/state/tree/unpacked.json: the tree a fresh unpack made."""

    top: str  # the tarball's top directory, stripped
    version: str  # from the tree's Makefile
    family: str
    sha256: str | None  # the tarball's pinned sha256
    generation: str  # new at every unpack: later steps re-run on a fresh tree
    source: str = ""  # "<hash>:<digest>" the unpacked bytes matched (the pin, or dpkg's record)


@dataclass(frozen=True)
class PatchedStamp:
    """build/<tree>/state/tree/patched.json: the series applied to that generation of the tree."""

    series: str  # the patch directory, relative to the project root
    generation: str
    patches: tuple[tuple[str, str], ...]  # (name, sha256) in order


@dataclass(frozen=True)
class ConfigStamp:
    """build/<profile>/state/config.json: how the profile's .config was made."""

    requests: int  # options the fragments request
    optional_misses: tuple[str, ...]
    redefinitions: tuple[str, ...]
    family: str
    fragments: tuple[str, ...]  # relative to the project root
    base: str


@dataclass(frozen=True)
class KernelStamp:
    """build/<profile>/state/kernel.json: the compiled kernel image."""

    version: str
    family: str
    units: int  # compiled units make reported
    image: str  # build/<profile>/artifacts/bzImage, relative to the project root
    image_size: int
    image_sha256: str


@dataclass(frozen=True)
class ModulesStamp:
    """build/<profile>/state/modules.json: the staged modules."""

    modules: int
    staging: str


@dataclass(frozen=True)
class RootStamp:
    """build/noderoots/root-<class>.json: a node class's base root (ramsesbuild.noderoot.build)."""

    root: str  # the base root, relative to the project root when inside it
    identity: str  # digest of what the tree is made of (the class's spec, our init/rc, the overrides)
    packages: dict[str, str]  # name -> version installed in it
    built_at: int  # a new tree: node-layers writes the cluster file into it again


@dataclass(frozen=True)
class RootModulesStamp:
    """build/noderoots/root-modules-<class>.json: the kernel modules copied into a base root."""

    versions: tuple[str, ...]  # /lib/modules/<version> trees installed


@dataclass(frozen=True)
class NetbootStamp:
    """build/<profile>/state/netboot.json: the image installed into the tftp root."""

    profile: str
    image: str  # relative to the tftp root
    installed: str  # relative to the project root
    artifact: str
    format: ImageFormat
    layout: NbiLayout | None  # None for format raw
    size: int
    sha256: str
    previous_sha256: str | None  # what the installed file held before (None: a new file)
    version: str | None
    family: str | None
    mba: str | None  # the 3Com MBA image, relative to the tftp root (mba = true)
    mba_sha256: str | None
    fragments: tuple[str, ...]
    base: str
    mba_size: int | None = None
    mba_previous_sha256: str | None = None  # what the MBA file held before (None: a new file)
    identity: str = ""  # digest of the step's identity (settings) that made it ("": not recorded)
    kernel_sha256: str | None = None  # the bzImage it wraps


# ---------------------------------------------------------------- build/summary.json

class TaskStatus(StrEnum):
    RAN = "ran"
    UP_TO_DATE = "up-to-date"
    FAILED = "failed"


class Result(StrEnum):
    OK = "ok"
    FAILED = "failed"


class BootRoute(StrEnum):
    """How a node comes to run an installed file."""

    DIRECT = "direct"  # its boot ROM loads this file (DHCP names it)
    IPXE_SCRIPT = "ipxe-script"  # its iPXE script loads this file
    WRAPPED = "wrapped"  # this image is inside the 3Com MBA image its ROM loads

    @property
    def phrase(self) -> str:
        return {"direct": "directly", "ipxe-script": "through its iPXE script",
                "wrapped": "inside its 3Com MBA image"}[self.value]


@dataclass(frozen=True)
class NodeBoot:
    name: str = field(metadata=doc("the node (nodes.toml name)"))
    route: BootRoute = field(metadata=doc(
        '"direct": its boot ROM loads this file; "ipxe-script": its iPXE script does; "wrapped": this image '
        "is inside the 3Com MBA image its ROM loads"))


@dataclass(frozen=True)
class TaskRun:
    name: str = field(metadata=doc("doit task name, e.g. compile-client"))
    status: TaskStatus = field(metadata=doc("what the task did in this run"))
    seconds: float | None = field(metadata=doc("how long it ran (null: up to date)"))


@dataclass(frozen=True)
class Failure:
    task: str = field(metadata=doc("the task that failed"))
    message: str = field(metadata=doc("its one-block message (the log's path on the last line)"))


@dataclass(frozen=True)
class KernelImage:
    path: str = field(metadata=doc("build/<profile>/artifacts/bzImage, relative to the project root"))
    size: int = field(metadata=doc("bytes"))
    sha256: str = field(metadata=doc("hex"))


@dataclass(frozen=True)
class StagedModules:
    count: int = field(metadata=doc("modules installed into the staging directory"))
    staging: str = field(metadata=doc("INSTALL_MOD_PATH, relative to the project root"))


@dataclass(frozen=True)
class InstalledFile:
    path: str = field(metadata=doc("the installed file, relative to the project root when inside it"))
    size: int | None = field(metadata=doc("bytes (null: not known)"))
    sha256: str | None = field(metadata=doc("hex"))
    previous_sha256: str | None = field(metadata=doc(
        "what the file held before this run installed it (null: it was new)"))
    changed: bool = field(metadata=doc("this run installed different bytes (NEW or CHANGED in the text summary)"))
    nodes: tuple[NodeBoot, ...] = field(metadata=doc("the nodes of nodes.toml that boot it, and how"))


@dataclass(frozen=True)
class NetbootImage(InstalledFile):
    format: ImageFormat = field(metadata=doc("nbi, elf or raw ([netboot] format)"))
    layout: NbiLayout | None = field(metadata=doc("[netboot] layout (null for raw)"))
    mba: InstalledFile | None = field(metadata=doc("its 3Com MBA image, <image>-imggen ([netboot] mba = true)"))


@dataclass(frozen=True)
class ProfileSummary:
    version: str | None = field(metadata=doc("the kernel's version (null: not built yet)"))
    family: str | None = field(metadata=doc("its family (families.toml)"))
    config: str = field(metadata=doc("build/<profile>/artifacts/config, relative to the project root"))
    fragments: tuple[str, ...] = field(metadata=doc("[profile] fragments, relative to the project root"))
    image: KernelImage | None = field(metadata=doc("the compiled kernel image"))
    modules: StagedModules | None = field(metadata=doc("the staged modules"))
    netboot: NetbootImage | None = field(metadata=doc("the installed netboot image (netboot profiles)"))


@dataclass(frozen=True)
class Summary:
    """build/summary.json (paths.BuildPaths.summary): what the last doit run produced."""

    schema: int = field(metadata=doc(f"{SUMMARY_SCHEMA}; raised when a field changes meaning or goes away"))
    ramsesbuild: str = field(metadata=doc("the package version that wrote it"))
    settings: str = field(metadata=doc("the settings file, absolute"))
    result: Result = field(metadata=doc("ok, or failed when a task failed"))
    started: str = field(metadata=doc("UTC ISO time the run started"))
    seconds: float = field(metadata=doc("how long the run took"))
    tasks: tuple[TaskRun, ...] = field(metadata=doc("every task the run looked at, in order"))
    profiles: dict[str, ProfileSummary] = field(metadata=doc("the profiles whose tasks the run looked at, by name"))
    failures: tuple[Failure, ...] = field(metadata=doc("the failed tasks' messages"))


# ---------------------------------------------------------------- JSON, by the declarations

class ShapeError(ValueError):
    """A JSON value that does not fit the declared type."""


def to_json(obj: DataclassInstance) -> dict[str, object]:
    """*obj* as JSON-ready data (enums as their strings, tuples as lists)."""
    return typing.cast(dict[str, object], json.loads(json.dumps(dataclasses.asdict(obj))))


def from_json(cls: type[D], data: object) -> D:
    """The *cls* instance *data* describes; ShapeError naming the field when it does not fit.
    A field that has a default may be missing (a stamp written before the field existed)."""
    if not isinstance(data, dict):
        raise ShapeError(f"expected a JSON object, got {_kind(data)}")
    hints = typing.get_type_hints(cls)
    values: dict[str, object] = {}
    for f in dataclasses.fields(cls):
        if f.name not in data:
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                raise ShapeError(f"{f.name} is missing")
            continue
        values[f.name] = _decode(hints[f.name], data[f.name], f.name)
    unknown = sorted(set(data) - {f.name for f in dataclasses.fields(cls)})
    if unknown:
        raise ShapeError(f"unknown field {unknown[0]!r}")
    return cls(**values)


def _kind(value: object) -> str:
    return {dict: "an object", list: "a list", str: "a string", bool: "true/false", type(None): "null",
            int: "a number", float: "a number"}.get(type(value), type(value).__name__)


def _decode(tp: object, value: object, where: str) -> object:
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin in (types.UnionType, typing.Union):
        if value is None and type(None) in args:
            return None
        (inner,) = [a for a in args if a is not type(None)]
        return _decode(inner, value, where)
    if origin is tuple:
        if not isinstance(value, list):
            raise ShapeError(f"{where}: expected a list, got {_kind(value)}")
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_decode(args[0], v, f"{where}[{i}]") for i, v in enumerate(value))
        if len(value) != len(args):
            raise ShapeError(f"{where}: expected {len(args)} items, got {len(value)}")
        return tuple(_decode(a, v, f"{where}[{i}]") for i, (a, v) in enumerate(zip(args, value, strict=True)))
    if origin is dict:
        if not isinstance(value, dict):
            raise ShapeError(f"{where}: expected an object, got {_kind(value)}")
        return {str(k): _decode(args[1], v, f"{where}.{k}") for k, v in value.items()}
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        try:
            return from_json(tp, value)
        except ShapeError as exc:
            raise ShapeError(f"{where}.{exc}" if str(exc)[0].isalpha() and " " in str(exc) else f"{where}: {exc}") \
                from None
    if isinstance(tp, type) and issubclass(tp, StrEnum):
        if not isinstance(value, str) or value not in [m.value for m in tp]:
            raise ShapeError(f"{where}: {value!r} is not one of {', '.join(m.value for m in tp)}")
        return tp(value)
    return _scalar(tp, value, where)


def _scalar(tp: object, value: object, where: str) -> object:
    if tp is float and isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if tp is int and isinstance(value, int) and not isinstance(value, bool):
        return value
    if tp in (str, bool) and type(value) is tp:
        return value
    raise ShapeError(f"{where}: expected {getattr(tp, '__name__', tp)}, got {_kind(value)}")


# ---------------------------------------------------------------- files

def write_state(path: Path, obj: DataclassInstance) -> None:
    """Write *obj* to *path* atomically (sorted keys: the same content gives the same bytes)."""
    from .fsutil import atomic_write_text

    atomic_write_text(path, json.dumps(dataclasses.asdict(obj), indent=1, sort_keys=True) + "\n")


def read_state(path: Path, cls: type[D]) -> D | None:
    """The *cls* recorded at *path*; None when there is no file; DamagedState when it cannot be read as one."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise DamagedState(f"{path}: cannot be read ({exc.strerror or exc})") from None
    try:
        data = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise DamagedState(f"{path}: damaged: not text (byte 0x{raw[_bad_byte(raw)]:02x})") from None
    except ValueError as exc:
        what = "empty" if not raw.strip() else f"not JSON ({getattr(exc, 'msg', exc)})"
        raise DamagedState(f"{path}: damaged: {what}") from None
    try:
        return from_json(cls, data)
    except (ShapeError, TypeError) as exc:
        raise DamagedState(f"{path}: damaged: not a {cls.__name__} ({exc})") from None


def _bad_byte(raw: bytes) -> int:
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return exc.start
    return 0


def read_summary(path: Path) -> Summary | None:
    """The last run's summary; None when there is none, or when an older ramsesbuild wrote it
    (another schema: the next run rewrites it); DamagedState when it is not a summary."""
    try:
        return read_state(path, Summary)
    except DamagedState as damaged:
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError):
            raise damaged from None
        schema = data.get("schema") if isinstance(data, dict) else None
        if isinstance(schema, int) and not isinstance(schema, bool) and schema < SUMMARY_SCHEMA:
            return None
        raise


def intact(path: Path, cls: type[D]) -> str | None:
    """Why *path* cannot be used as a *cls* (a missing file is not damage), or None."""
    try:
        read_state(path, cls)
    except DamagedState as exc:
        return str(exc)
    return None
