"""What a run produced, for people and for machines: a doit reporter that prints each failure
as one block without doit's banners, and at the end a summary of the profiles the run touched
(kernel, modules, netboot image, what changed and which nodes boot it, time per step), also
written to build/summary.json (schema below).

summary.json (schema 1):
    {"schema": 1, "ramsesbuild": "<version>", "settings": "<ramses.toml>", "result": "ok" | "failed",
     "started": "<UTC ISO time>", "seconds": <float>,
     "tasks": [{"name": "compile-client", "status": "ran" | "up-to-date" | "failed", "seconds": <float|null>}],
     "profiles": {"<name>": {"version", "family", "config", "fragments": [...],   (paths: relative to
                                                                               the project root when inside it)
                             "image": {"path", "size", "sha256"} | null,
                             "modules": {"count", "staging"} | null,
                             "netboot": {"path", "format", "layout", "size", "sha256", "previous_sha256",
                                         "changed": bool, "nodes": [...]} | null}},
     "failures": [{"task", "message"}]}
"""

from __future__ import annotations

import datetime as _dt
import json
import time
from pathlib import Path
from typing import Any

from doit.reporter import ConsoleReporter

from .errors import RamsesError
from .settings import Settings

SCHEMA = 1


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
            summary = collect(self.bound, self.status, self.seconds, self.messages, self.started)
            if summary["profiles"]:
                if not stopped:
                    self.write(render(summary, self.bound))
                _write_json(self.bound.build_dir / "summary.json", summary)
        except (OSError, RamsesError) as exc:  # the summary must never hide the run's own result
            self.write(f"ramsesbuild: summary not written: {exc}\n")
        for msg in self.runtime_errors:
            self.write(f"ramsesbuild: doit: {msg.strip()}\n")
        if self.messages and not stopped:
            first = self.messages[0][1].splitlines()[0]
            if first.endswith(":"):  # a message whose list follows: the recap points back to it
                first = f"{first[:-1]} (details above)"
            self.write(f"ramsesbuild: FAILED {first}\n")


def _write_json(path: Path, data: dict[str, Any]) -> None:
    from .fsutil import atomic_write_text

    atomic_write_text(path, json.dumps(data, indent=1, sort_keys=True) + "\n")


def _profile_tasks(name: str) -> tuple[str, ...]:
    return (f"config-{name}", f"compile-{name}", f"modules-{name}", f"netboot-image:{name}")


def collect(settings: Settings, status: dict[str, str], seconds: dict[str, float],
            messages: list[tuple[str, str]], started: float) -> dict[str, Any]:
    from . import __version__
    from .tasks.common import read_stamp, rel
    from .tasks.layout import Layout

    lay = Layout(settings)
    nodes = _nodes_by_image(settings)
    profiles: dict[str, Any] = {}
    for name, prof in settings.profiles.items():
        if not any(t in status for t in _profile_tasks(name)):
            continue
        pl = lay.profile(name)
        kernel, modules = read_stamp(pl.stamp("kernel")), read_stamp(pl.stamp("modules"))
        netboot = read_stamp(pl.stamp("netboot")) if prof.netboot else {}
        ran_netboot = status.get(f"netboot-image:{name}") == "ran"
        profiles[name] = {
            "version": kernel.get("version"), "family": kernel.get("family"),
            "config": rel(settings.root, pl.config), "fragments": [rel(settings.root, f) for f in prof.fragments],
            "image": {"path": kernel["image"], "size": kernel.get("image_size"), "sha256": kernel["image_sha256"]}
            if kernel.get("image") else None,
            "modules": {"count": modules["modules"], "staging": modules["staging"]} if modules else None,
            "netboot": {
                "path": netboot["installed"], "format": netboot.get("format"), "layout": netboot.get("layout"),
                "size": netboot.get("size"), "sha256": netboot.get("sha256"),
                "previous_sha256": netboot.get("previous_sha256"),
                "changed": ran_netboot and netboot.get("previous_sha256") != netboot.get("sha256"),
                "nodes": nodes.get(netboot.get("image", ""), []),
                "mba": {"path": netboot["mba"], "sha256": netboot.get("mba_sha256"),
                        "nodes": nodes.get(netboot["mba"], [])} if netboot.get("mba") else None,
            } if netboot else None,
        }
    return {
        "schema": SCHEMA, "ramsesbuild": __version__, "settings": str(settings.path),
        "result": "failed" if messages else "ok",
        "started": _dt.datetime.fromtimestamp(started, _dt.UTC).isoformat(timespec="seconds"),
        "seconds": round(time.time() - started, 3),
        "tasks": [{"name": t, "status": s, "seconds": round(seconds[t], 3) if t in seconds else None}
                  for t, s in status.items()],
        "profiles": profiles,
        "failures": [{"task": t, "message": m} for t, m in messages],
    }


def _nodes_by_image(settings: Settings) -> dict[str, list[str]]:
    if not settings.nodes.exists():
        return {}
    from .errors import RamsesError
    from .tasks.bootconf import load_inventory

    try:
        inv = load_inventory(settings, settings.nodes)
    except RamsesError:
        return {}
    out: dict[str, list[str]] = {}
    for node in inv.nodes:  # what the node's ROM (or its iPXE script) loads
        out.setdefault(node.boot_image, []).append(node.name)
    return out


def _rel(path: str, settings: Settings) -> str:
    try:
        return str(Path(path).relative_to(settings.root)) if Path(path).is_absolute() else path
    except ValueError:
        return path


def _human(n: int | None) -> str:
    from .tasks.common import human

    return human(n) if n is not None else "?"


def render(summary: dict[str, Any], settings: Settings) -> str:
    """Plain text, no control characters: the same in a terminal and in a CI log."""
    ran = [t for t in summary["tasks"] if t["status"] == "ran"]
    fresh = [t for t in summary["tasks"] if t["status"] == "up-to-date"]
    lines = [f"== ramsesbuild summary: {len(ran)} task(s) ran, {len(fresh)} up to date, "
             f"{summary['seconds']:.1f} s"]
    secs = {t["name"]: t["seconds"] for t in summary["tasks"]}

    def took(task: str) -> str:
        s = secs.get(task)
        return f"  [{task} {s:.1f} s]" if s is not None else ("  [up to date]" if task in secs else "")

    for name, p in summary["profiles"].items():
        head = f"{name}: Linux {p['version']} ({p['family']})" if p["version"] else f"{name}: not built yet"
        lines.append(head)
        if p["image"]:
            img = p["image"]
            lines.append(f"  kernel   {_rel(img['path'], settings)}  {_human(img['size'])}  "
                         f"sha256 {img['sha256'][:16]}{took(f'compile-{name}')}")
        if p["modules"]:
            m = p["modules"]
            lines.append(f"  modules  {m['count']} staged in {_rel(m['staging'], settings)}{took(f'modules-{name}')}")
        if p["netboot"]:
            n = p["netboot"]
            change = ""
            if n["changed"]:
                was = (n["previous_sha256"] or "")[:16]
                change = f"  CHANGED (was {was})" if was else "  NEW"
            lines.append(f"  netboot  {n['format']}  {_rel(n['path'], settings)}  {_human(n['size'])}  "
                         f"sha256 {(n['sha256'] or '')[:16]}{change}{took(f'netboot-image:{name}')}")
            if n["nodes"]:
                lines.append(f"           booted by {', '.join(n['nodes'])}")
            if n.get("mba"):
                m = n["mba"]
                lines.append(f"  3Com MBA {m['path']}  sha256 {(m['sha256'] or '')[:16]}"
                             + (f"  booted by {', '.join(m['nodes'])}" if m["nodes"] else ""))
    lines.append(f"(details: {_rel(str(settings.build_dir / 'summary.json'), settings)})")
    return "\n".join(lines) + "\n"
