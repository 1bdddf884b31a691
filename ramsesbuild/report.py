"""What a run produced, for people and for machines: a doit reporter that prints each failure
as one block without doit's banners, and at the end a summary of the profiles the run touched
(kernel, modules, netboot image and its 3Com MBA image, what changed and which nodes boot it,
time per step), also written to build/summary.json: a :class:`ramsesbuild.state.Summary`,
documented in docs/reference/summary-json.md (generated from that class).
"""

from __future__ import annotations

import datetime as _dt
import time
from pathlib import Path
from typing import Any, TypeVar

from doit.reporter import ConsoleReporter

from .bootmap import describe, inventory_of, users
from .errors import RamsesError
from .paths import BuildPaths, rel
from .settings import Profile, Settings
from .sizes import human
from .state import (
    SUMMARY_SCHEMA,
    ConfigStamp,
    DamagedState,
    Failure,
    InstalledFile,
    KernelImage,
    KernelStamp,
    ModulesStamp,
    NetbootImage,
    NetbootStamp,
    NodeBoot,
    ProfileSummary,
    Result,
    StagedModules,
    Summary,
    TaskRun,
    TaskStatus,
    read_state,
    read_summary,
    write_state,
)

D = TypeVar("D", KernelStamp, ModulesStamp, NetbootStamp, ConfigStamp)
Uses = dict[str, tuple[NodeBoot, ...]]


def reporter_for(settings: Settings) -> type:
    """A ConsoleReporter subclass bound to *settings* (doit instantiates reporters itself)."""

    class RamsesReporter(_Reporter):
        bound = settings

    return RamsesReporter


class _Reporter(ConsoleReporter):
    desc = "ramsesbuild: console output with a summary (build/summary.json)"
    bound: Settings

    def __init__(self, outstream: Any, options: dict[str, Any]):
        super().__init__(outstream, options)
        self.started = time.time()
        self.start_of: dict[str, float] = {}
        self.status: dict[str, str] = {}
        self.seconds: dict[str, float] = {}
        self.messages: list[tuple[str, str]] = []

    def execute_task(self, task: Any) -> None:
        self.start_of[task.name] = time.monotonic()
        super().execute_task(task)

    def add_success(self, task: Any) -> None:
        if task.actions:
            self.status[task.name] = "ran"
            self.seconds[task.name] = time.monotonic() - self.start_of.get(task.name, time.monotonic())

    def skip_uptodate(self, task: Any) -> None:
        self.status[task.name] = "up-to-date"
        super().skip_uptodate(task)

    def add_failure(self, task: Any, fail: Any) -> None:
        self.status[task.name] = "failed"
        self.seconds[task.name] = time.monotonic() - self.start_of.get(task.name, time.monotonic())
        message = fail.get_msg().strip() if hasattr(fail, "get_msg") else str(fail)
        if type(fail).__name__ != "TaskFailed":  # doit's own (e.g. a missing file_dep)
            message = f"{task.name}: {message.splitlines()[-1] if message else type(fail).__name__}"
        self.messages.append((task.name, message))
        self.write(f"FAILED {message}\n")

    def complete_run(self) -> None:
        from .interrupt import stopped_line

        stopped = stopped_line()  # a signal ended the run: that one line is all the screen gets
        if stopped:
            running = [t for t in self.start_of if t not in self.status]
            self.messages.append((running[-1] if running else "", stopped))
        try:
            summary, notes = collect(self.bound, self.status, self.seconds, self.messages, self.started)
            for note in notes:
                self.write(f"ramsesbuild: {note}\n")
            if summary.profiles:
                if not stopped:
                    self.write(render(summary, self.bound))
                self._write(BuildPaths(self.bound).summary, summary)
        except (OSError, RamsesError) as exc:  # the summary must never hide the run's own result
            self.write(f"ramsesbuild: summary not written: {exc}\n")
        for msg in self.runtime_errors:
            self.write(f"ramsesbuild: doit: {msg.strip()}\n")
        if self.messages and not stopped:
            first = self.messages[0][1].splitlines()[0]
            if first.endswith(":"):  # a message whose list follows: the recap points back to it
                first = f"{first[:-1]} (details above)"
            self.write(f"ramsesbuild: FAILED {first}\n")

    def _write(self, path: Path, summary: Summary) -> None:
        try:
            read_summary(path)
        except DamagedState as exc:
            self.write(f"ramsesbuild: {exc}; rewritten\n")
        write_state(path, summary)


def _profile_tasks(name: str) -> tuple[str, ...]:
    return (f"config-{name}", f"compile-{name}", f"modules-{name}", f"netboot-image:{name}")


def collect(settings: Settings, status: dict[str, str], seconds: dict[str, float],
            messages: list[tuple[str, str]], started: float) -> tuple[Summary, list[str]]:
    """The run's summary, from the stamps of the profiles whose tasks the run looked at, and
    one line per stamp that could not be read."""
    from . import __version__

    notes: list[str] = []
    uses = _uses(settings)
    profiles = {name: _profile(settings, prof, status, uses, notes) for name, prof in settings.profiles.items()
                if any(t in status for t in _profile_tasks(name))}
    summary = Summary(
        schema=SUMMARY_SCHEMA, ramsesbuild=__version__, settings=str(settings.path),
        result=Result.FAILED if messages else Result.OK,
        started=_dt.datetime.fromtimestamp(started, _dt.UTC).isoformat(timespec="seconds"),
        seconds=round(time.time() - started, 3),
        tasks=tuple(TaskRun(t, TaskStatus(s), round(seconds[t], 3) if t in seconds else None)
                    for t, s in status.items()),
        profiles=profiles,
        failures=tuple(Failure(t, m) for t, m in messages),
    )
    return summary, notes


def _profile(settings: Settings, prof: Profile, status: dict[str, str], uses: Uses,
             notes: list[str]) -> ProfileSummary:
    pl = BuildPaths(settings).profile(prof.name)

    def stamp(path: Path, kind: type[D]) -> D | None:
        try:
            return read_state(path, kind)
        except DamagedState as exc:
            notes.append(f"{exc}; not in the summary (the next run of its step rewrites it)")
            return None

    kernel, modules = stamp(pl.kernel_stamp, KernelStamp), stamp(pl.modules_stamp, ModulesStamp)
    netboot = stamp(pl.netboot_stamp, NetbootStamp) if prof.netboot else None
    ran = status.get(f"netboot-image:{prof.name}") == "ran"
    return ProfileSummary(
        version=kernel.version if kernel else None, family=kernel.family if kernel else None,
        config=rel(settings.root, pl.config), fragments=tuple(rel(settings.root, f) for f in prof.fragments),
        image=KernelImage(kernel.image, kernel.image_size, kernel.image_sha256) if kernel else None,
        modules=StagedModules(modules.modules, modules.staging) if modules else None,
        netboot=_netboot(settings, netboot, ran, uses) if netboot else None,
    )


def _netboot(settings: Settings, st: NetbootStamp, ran: bool, uses: Uses) -> NetbootImage:
    mba = None
    if st.mba:
        mba = InstalledFile(path=rel(settings.root, settings.tftpboot / st.mba), size=st.mba_size,
                            sha256=st.mba_sha256, previous_sha256=st.mba_previous_sha256,
                            changed=ran and st.mba_previous_sha256 != st.mba_sha256, nodes=uses.get(st.mba, ()))
    return NetbootImage(path=st.installed, size=st.size, sha256=st.sha256, previous_sha256=st.previous_sha256,
                        changed=ran and st.previous_sha256 != st.sha256, nodes=uses.get(st.image, ()),
                        format=st.format, layout=st.layout, mba=mba)


def _uses(settings: Settings) -> Uses:
    if not settings.nodes.exists():
        return {}
    try:
        return users(inventory_of(settings))
    except RamsesError:
        return {}  # boot-config reports it


def _shown(path: str, settings: Settings) -> str:
    return rel(settings.root, path) if Path(path).is_absolute() else path


def _size(n: int | None) -> str:
    return human(n) if n is not None else "?"


def _change(f: InstalledFile) -> str:
    if not f.changed:
        return ""
    return f"  CHANGED (was {f.previous_sha256[:16]})" if f.previous_sha256 else "  NEW"


def render(summary: Summary, settings: Settings) -> str:
    """Plain text, no control characters: the same in a terminal and in a CI log."""
    ran = [t for t in summary.tasks if t.status is TaskStatus.RAN]
    fresh = [t for t in summary.tasks if t.status is TaskStatus.UP_TO_DATE]
    lines = [f"== ramsesbuild summary: {len(ran)} task(s) ran, {len(fresh)} up to date, {summary.seconds:.1f} s"]
    secs = {t.name: t.seconds for t in summary.tasks}

    def took(task: str) -> str:
        s = secs.get(task)
        return f"  [{task} {s:.1f} s]" if s is not None else ("  [up to date]" if task in secs else "")

    for name, p in summary.profiles.items():
        lines.append(f"{name}: Linux {p.version} ({p.family})" if p.version else f"{name}: not built yet")
        if p.image:
            lines.append(f"  kernel   {_shown(p.image.path, settings)}  {_size(p.image.size)}  "
                         f"sha256 {p.image.sha256[:16]}{took(f'compile-{name}')}")
        if p.modules:
            lines.append(f"  modules  {p.modules.count} staged in {_shown(p.modules.staging, settings)}"
                         f"{took(f'modules-{name}')}")
        if p.netboot:
            n = p.netboot
            lines.append(f"  netboot  {n.format}  {_shown(n.path, settings)}  {_size(n.size)}  "
                         f"sha256 {(n.sha256 or '')[:16]}{_change(n)}{took(f'netboot-image:{name}')}")
            if n.nodes:
                lines.append(f"           booted by {describe(n.nodes)}")
            if n.mba:
                m = n.mba
                lines.append(f"  3Com MBA {_shown(m.path, settings)}  {_size(m.size)}  sha256 {(m.sha256 or '')[:16]}"
                             f"{_change(m)}")
                if m.nodes:
                    lines.append(f"           booted by {describe(m.nodes)}")
    lines.append(f"(details: {_shown(str(BuildPaths(settings).summary), settings)})")
    return "\n".join(lines) + "\n"
