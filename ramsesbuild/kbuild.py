"""Drive the kernel's own make: configure (base + fragments + oldconfig + check), build the
image and modules, install modules into a staging directory. Family differences come from
ramsesbuild/data/families.toml; this module only interprets them."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import threading
from dataclasses import dataclass
from pathlib import Path

from . import kconfig
from .errors import BuildError, KconfigError, ToolMissing
from .family import Family, TreeVersion
from .fsutil import atomic_copy, atomic_dir, atomic_write_text, ensure_dir, write_if_changed
from .interrupt import own_group
from .lock import inherited
from .log import TaskLog, say
from .wrappers import Wrapper

# Lines that mark one compiled unit, for the progress bar (2.4 prints whole gcc commands).
_UNIT = re.compile(r"^\s*(CC|AS|LD|AR|HOSTCC)\s|^\s*(\S*/)?(gcc|cc|as|ld)\b.*\s-(c|o)\s")


@dataclass(frozen=True)
class Tree:
    """One profile's kernel tree and where make writes its output."""

    src: Path
    obj: Path  # == src for in-tree (2.4) builds
    family: Family
    version: TreeVersion
    arch: str
    jobs: int
    shims: Path  # directory of PATH shims
    epoch: int  # SOURCE_DATE_EPOCH for reproducible builds
    user_vars: tuple[tuple[str, str], ...] = ()
    wrapper: Wrapper | None = None  # ccache/distcc via PATH shims: never on the make command line
    distcc_hosts: tuple[str, ...] = ()

    @property
    def config(self) -> Path:
        return self.obj / ".config"

    @property
    def image(self) -> Path:
        return self.obj / self.family.image

    def make_vars(self) -> dict[str, str]:
        out = self.family.resolved_make_vars(self.arch, self.src.absolute())  # {src}: for prefix maps
        out.update(dict(self.user_vars))
        return out

    def compilers(self) -> tuple[str, ...]:
        """The programs CC and HOSTCC name (kbuild's defaults when unset): what a wrapper wraps."""
        mv = self.make_vars()
        cc = mv.get("CC") or f"{mv.get('CROSS_COMPILE', '')}gcc"
        return tuple(sorted({cc.split()[0], (mv.get("HOSTCC") or "gcc").split()[0]}))

    def make_cmd(self, *targets: str, jobs: int = 1, **extra: str) -> list[str]:
        cmd = ["make", "-C", str(self.src)]
        if self.family.out_of_tree:
            cmd.append(f"O={self.obj}")
        if jobs > 1:
            cmd.append(f"-j{jobs}")
        cmd += [f"{k}={v}" for k, v in {**self.make_vars(), **extra}.items()]
        return cmd + list(targets)

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update(self.family.resolved_env(self.epoch))
        env["SOURCE_DATE_EPOCH"] = str(self.epoch)
        env["PATH"] = f"{self.shims}{os.pathsep}{env.get('PATH', '/usr/bin:/bin')}"
        for var in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL"):  # doit may run under make; do not leak
            env.pop(var, None)
        if self.wrapper is not None:
            # ccache's base: the directory holding both the source tree and the build directory
            base = Path(os.path.commonpath([self.src.absolute().parent, self.obj.absolute()]))
            env.update(self.wrapper.environment(base, self.distcc_hosts, env))
        return env

    def check_wrapper(self) -> None:
        """Fail with one actionable line if the wrapper's programs or distcc hosts are missing."""
        if self.wrapper is not None:
            env = self.env()
            self.wrapper.check(env["PATH"], self.distcc_hosts, env)


def require_tools(family: Family) -> None:
    """Name every missing program the family's build needs, with the package to install."""
    import shutil

    missing = {tool: pkg for tool, pkg in family.tools.items() if shutil.which(tool) is None}
    if missing:
        pkgs = " ".join(sorted(set(missing.values())))
        raise ToolMissing(f"{', '.join(missing)} not found (needed to build a {family.name} kernel): "
                          f"apt-get install {pkgs}")


def write_shims(tree: Tree) -> None:
    """The programs first on make's PATH (build/<profile>/shims), and nothing else there:

    * the family's shims for reproducible images: fixed whoami/hostname answers for 2.4's
      compile.h, `date` pinned to the tarball's epoch, `gzip -n` (see families.toml);
    * with a [kernel] wrapper, one program per compiler that CC and HOSTCC name (gcc), which
      runs e.g. `ccache /usr/bin/gcc "$@"`. The wrapper thus reaches every compile while the
      make command lines stay the same: kbuild records each object's full command and would
      recompile every unit after a change of CC, so the wrapper stays out of the build's identity.
    """
    ensure_dir(tree.shims)
    host_path = os.environ.get("PATH", "/usr/bin:/bin")
    scripts = {}
    for name, shim in tree.family.shims.items():
        if shim.program:
            real = _which(shim.program, host_path, tree.family.name)
            args = " ".join(shlex.quote(a.format(epoch=tree.epoch)) for a in shim.args)
            scripts[name] = f"#!/bin/sh\nexec {shlex.quote(real)} {args} \"$@\"\n"
        else:
            scripts[name] = f"#!/bin/sh\necho {shlex.quote(shim.answer)}\n" if shim.answer else "#!/bin/sh\necho\n"
    if tree.wrapper is not None:
        for compiler in tree.compilers():
            if "/" in compiler:
                raise BuildError(f"[kernel] wrapper = {tree.wrapper.name!r} needs CC/HOSTCC to name a compiler "
                                 f"on PATH, not {compiler!r}; fix [kernel] make_vars in ramses.toml")
            real = _which(compiler, host_path, tree.family.name)
            prefix = " ".join(shlex.quote(_which(w, host_path, tree.wrapper.name)) for w in tree.wrapper.prefix)
            scripts[compiler] = (f"#!/bin/sh\n# [kernel] wrapper = {tree.wrapper.name}\n"
                                 f"exec {prefix} {shlex.quote(real)} \"$@\"\n")
    for stale in tree.shims.iterdir():
        if stale.name not in scripts:
            stale.unlink()
    for name, script in sorted(scripts.items()):
        write_if_changed(tree.shims / name, script.encode(), perms=0o755)


def _which(program: str, path: str, needed_by: str) -> str:
    real = shutil.which(program, path=path)
    if real is None:
        raise ToolMissing(f"{program} is not installed (needed by {needed_by}); apt-get install {program}")
    return real


def run_make(tree: Tree, log: TaskLog, *targets: str, jobs: int = 1, stdin_text: str = "",
             what: str = "", total: int | None = None, estimated: bool = False, **extra: str) -> int:
    """Run make, streaming output to the log with a progress bar; return compiled-unit count.

    *total* is the unit count of the previous build, or an estimate (*estimated*) for a first
    build: the bar then shows a percentage."""
    from .progress import Progress

    cmd = tree.make_cmd(*targets, jobs=jobs, **extra)
    log.section(shlex.join(cmd))
    try:  # its own process group: make and its compilers stop with the run (ramsesbuild.interrupt)
        proc = subprocess.Popen(cmd, stdin=subprocess.PIPE if stdin_text else subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=tree.env(),
                                text=True, errors="replace", bufsize=1, process_group=0,
                                pass_fds=inherited())  # an orphaned make keeps the project lock
    except FileNotFoundError:
        raise ToolMissing("make is not installed: apt-get install make gcc") from None
    if stdin_text:
        threading.Thread(target=_feed, args=(proc, stdin_text), daemon=True).start()
    units = 0
    with own_group(proc), Progress(what or f"make {' '.join(targets)}", total=total, unit="units",
                                   estimated=estimated) as bar:
        assert proc.stdout is not None
        for line in proc.stdout:
            log.write(line)
            if _UNIT.search(line):
                units += 1
                bar.update(1)
        rc = proc.wait()
    if rc != 0:
        raise BuildError(
            f"`make {' '.join(targets)}` failed (exit {rc}) in {tree.obj}; fix the cause shown in the last "
            f"lines of the log:\n{_indent(log.tail(20))}"
        )
    return units


def _feed(proc: subprocess.Popen, text: str) -> None:
    """Answer interactive prompts (2.4 `yes "" | make oldconfig`) until make exits."""
    assert proc.stdin is not None
    try:
        while proc.poll() is None:
            proc.stdin.write(text * 256)
            proc.stdin.flush()
    except (BrokenPipeError, OSError, ValueError):
        pass


def _indent(text: str) -> str:
    return "\n".join("    " + line for line in text.splitlines())


# ---------------------------------------------------------------- configuration

@dataclass(frozen=True)
class ConfigReport:
    requests: int
    optional_misses: tuple[str, ...]
    redefinitions: tuple[str, ...]


def configure(tree: Tree, base: str, fragments: tuple[Path, ...], log: TaskLog,
              base_cache: Path | None = None, base_key: str = "") -> ConfigReport:
    """Base config, then forced + fragment values, then oldconfig; fail on any required miss.

    With *base_cache*, the base config made by make (tinyconfig, defconfig...) is kept there
    with *base_key* (what it depends on: tree generation, base, arch, make variables), so a
    fragment change costs one oldconfig, as by hand, instead of base + oldconfig."""
    from .ksymbols import check_config_text, scan_tree

    fam = tree.family
    requests = kconfig.parse_forced(fam.forced, fam.name)
    for frag in fragments:
        requests += kconfig.parse_fragment(frag, fam.name)
    requests, notes = kconfig.effective(requests)
    # Fragments are data: every value against its symbol's type before any make runs
    symbols = scan_tree(tree.src)
    kconfig.check_types(requests, symbols.declared)
    tree.check_wrapper()  # modern Kconfig runs $(CC): fail clearly before it does
    write_shims(tree)
    for note in notes:
        log.line(f"note: {note}")
    ensure_dir(tree.obj)  # never through a link (it would take make's output elsewhere)
    base_text = _cached_base(tree, base, log, base_cache, base_key)
    check_config_text(base_text, _base_origin(tree, base), symbols.declared)  # also a cached copy
    atomic_write_text(tree.config, kconfig.merge(base_text, requests), perms=0o644)
    run_make(tree, log, fam.oldconfig, stdin_text=fam.oldconfig_stdin, what=fam.oldconfig)
    final = tree.config.read_text()
    required, optional = kconfig.check(requests, final, symbols.defined)
    for miss in optional:
        log.line(f"warning: {miss.describe()}")
        say(f"warning: {miss.describe()}")
    if required:
        raise KconfigError(kconfig.failure_message(tree.config, required))
    log.line(f"all {len(requests)} requested options landed ({len(optional)} optional misses)")
    return ConfigReport(len(requests), tuple(m.describe() for m in optional), tuple(notes))


def _base_origin(tree: Tree, base: str) -> str:
    """Where a base config's lines come from, for messages."""
    kind, _, arg = tree.family.base_recipe(base).partition(":")
    return {"copy": str(tree.src / arg), "file": arg}.get(kind, f"the {arg} base config made by make")


def _cached_base(tree: Tree, base: str, log: TaskLog, cache: Path | None, key: str) -> str:
    if cache is None:
        return _base_config(tree, base, log)
    key_file = cache.with_suffix(".key")
    try:
        if key and key_file.read_text() == key:
            log.line(f"base config: {base!r} from {cache} (same tree, base and make variables)")
            return cache.read_text()
    except OSError:
        pass
    text = _base_config(tree, base, log)
    write_if_changed(cache, text.encode())
    write_if_changed(key_file, key.encode())
    return text


def _base_config(tree: Tree, base: str, log: TaskLog) -> str:
    kind, _, arg = tree.family.base_recipe(base).partition(":")
    if kind == "copy":
        src = tree.src / arg
        if not src.is_file():
            raise KconfigError(f"{src}: base config for {base!r} missing from the kernel tree")
        log.line(f"base config: {src}")
        return src.read_text()
    if kind == "file":
        try:
            log.line(f"base config: {arg}")
            return Path(arg).read_text()
        except FileNotFoundError:
            raise KconfigError(f"{arg}: base config file not found; fix [profile.*] base in ramses.toml") from None
    tree.config.unlink(missing_ok=True)
    run_make(tree, log, arg, what=arg)
    return tree.config.read_text()


def config_value(tree: Tree, symbol: str) -> str | None:
    return kconfig.read_config(tree.config.read_text()).get(symbol)


# ---------------------------------------------------------------- build and install

def build(tree: Tree, log: TaskLog, last_units: int | None = None) -> int:
    fam = tree.family
    tree.check_wrapper()
    write_shims(tree)
    if tree.wrapper is not None:
        log.line(f"compiler wrapper: {tree.wrapper.name} ({tree.wrapper.description}) in front of "
                 f"{', '.join(tree.compilers())} through {tree.shims}")
    make_vars = _clean_if_vars_changed(tree, log)
    if fam.dep:
        _pin_version_counter(tree)
        run_make(tree, log, "dep", jobs=1, what="make dep")
        _check_dep_log(tree, log)
    targets = [t for t in fam.build_targets if t != "modules" or modules_enabled(tree)]
    total = last_units if last_units is not None else fam.estimate_units(tree.config.read_text(errors="replace"))
    units = run_make(tree, log, *targets, jobs=tree.jobs, what=f"{tree.obj.parent.name}: {' '.join(targets)}",
                     total=total, estimated=last_units is None)
    if not tree.image.is_file():
        raise BuildError(f"make succeeded but {tree.image} was not produced; see the log")
    write_if_changed(tree.obj / VARS_RECORD, make_vars.encode())
    return units


VARS_RECORD = ".ramses-make-vars"


def _clean_if_vars_changed(tree: Tree, log: TaskLog) -> str:
    """Families whose kbuild does not track compiler flags get `make clean` when they change."""
    now = json.dumps(tree.make_vars(), sort_keys=True) + "\n"
    try:
        before = (tree.obj / VARS_RECORD).read_text()
    except FileNotFoundError:
        return now  # fresh tree: nothing stale to clean
    if before != now and tree.family.clean_on_vars_change:
        log.line(f"make variables changed since the last build ({before.strip()} -> {now.strip()}): "
                 "make clean, because this family does not rebuild objects on flag changes")
        run_make(tree, log, "clean", what="make clean")
    return now


def modules_enabled(tree: Tree) -> bool:
    return config_value(tree, "CONFIG_MODULES") == "y"


def _pin_version_counter(tree: Tree) -> None:
    """2.4's newversion bumps .version on every link; pin it so builds say #1."""
    atomic_write_text(tree.obj / ".version", "0\n", perms=0o644)


def _check_dep_log(tree: Tree, log: TaskLog) -> None:
    """2.4 `make dep` exits 0 even when it fails (e.g. genksyms missing): read its output."""
    text = log.text()
    section = text[text.rfind("==== "):]
    bad = [line for line in section.splitlines()[1:] if any(p in line for p in tree.family.dep_log_errors)]
    if bad:
        raise BuildError("`make dep` reported errors although it exited 0:\n" + _indent("\n".join(bad[:15])))


def modules_install(tree: Tree, staging: Path, log: TaskLog) -> int:
    """Install modules under *staging* (INSTALL_MOD_PATH), never into the host. Returns count."""
    with atomic_dir(staging) as tmp:
        if modules_enabled(tree):
            run_make(tree, log, "modules_install", what="modules_install", INSTALL_MOD_PATH=str(tmp))
        else:
            log.line("CONFIG_MODULES is not set: nothing to install")
        count = sum(1 for p in tmp.rglob("*") if p.suffix in (".o", ".ko") or p.name.endswith((".ko.xz", ".ko.gz")))
    log.line(f"{count} modules installed into {staging}")
    return count


def export_artifacts(tree: Tree, artifacts: Path) -> dict[str, Path]:
    out = {"image": artifacts / "bzImage"}
    atomic_copy(tree.image, out["image"])
    sysmap = tree.obj / "System.map"
    if sysmap.exists():
        out["System.map"] = artifacts / "System.map"
        atomic_copy(sysmap, out["System.map"])
    return out
