#!/usr/bin/env python3
"""The pipeline against the same work typed by hand and against TuxMake, as ratios measured in
one run, interleaved (A B C A B C ...), with the load average recorded at every measurement.

    bench/pipeline.sh [--runs N] [--work DIR] [--keep] [ROW ...]      (ROW default: full)

Rows (``all`` = every row, in this order; the rows after ``full`` reuse its built project):

  full     Debian's 6.1 (/usr/src/linux-source-6.1.tar.xz), tinyconfig + kconfigs/RamsesCluster.conf,
           client kernel from an empty build dir: (a) `doit kernel-client` (fetch = copy from
           /usr/src, verify with dpkg, unpack, config, compile); (b) by hand: tar xf, make
           tinyconfig, scripts/kconfig/merge_config.sh -m, make olddefconfig, make -jN bzImage,
           with O= and ARCH=i386; (c) tar xf + TuxMake (--runtime null --target-arch i386
           --kconfig tinyconfig --kconfig-add FRAGMENT, targets `config kernel`: kernel depends
           on TuxMake's `default`, i.e. plain `make`, which with tinyconfig's CONFIG_MODULES unset
           builds what bzImage needs). TuxMake would cross-compile i386 with i686-linux-gnu-gcc; it
           gets CROSS_COMPILE=<host triplet>- instead, the host's own gcc under its triplet name
           (/usr/bin/x86_64-linux-gnu-gcc is gcc), which the pipeline and the hand sequence run
           with -m32. The three final .config files must be identical (apart from
           CONFIG_CC_VERSION_TEXT, which spells the compiler's name).
  noop     bench/noop.sh on the project `full` built (no-op doit vs no-op make bzImage).
  config   one fragment line changed (CONFIG_DEFAULT_HOSTNAME, alternating), `doit config-client`
           vs by hand: merge_config.sh -m onto the current .config + make olddefconfig.
  ccache   [kernel] wrapper = "ccache", warm rebuild after rm -rf build vs tar xf + TuxMake
           --wrapper ccache (own cache each, filled by one cold build first; reported too).
  k24      Linux 2.4.18 ($RAMSES_K24_TARBALL), client profile, fresh tree: `doit kernel-client`
           (unpack, patch series, config, make dep/bzImage/modules, modules_install; fetch and
           verify done before, untimed) vs by hand: tar xjf, patch -p1 per series entry, the
           merged .config, yes "" | make oldconfig, make dep, make -jN bzImage modules,
           make modules_install, with the pipeline's make variables.
  verify   OpenPGP verify of the uncompressed tar (throw-away key), the pipeline's verify
           (sha256 pin + gpg in a private GNUPGHOME) vs `xz -dc | gpg --verify` (and bz2 for
           2.4.18 when $RAMSES_K24_TARBALL is set).
  cli      `ramsesbuild mknbi-linux` on a 10 MB bzImage vs a bare `python3 -c pass`.
  start    `doit list` on the 6.1 project vs `doit list` on a one-task dodo.py (doit's own start).
  unpack   bench/unpack.sh (pipeline unpack vs tar xf).

Everything happens in a scratch directory (default under /var/tmp, removed at the end unless
--keep): its own projects, trees, ccache directories and GNUPGHOMEs. Nothing outside it is
changed. Python runs with this checkout on PYTHONPATH and its bytecode cached in the scratch
directory (PYTHONPYCACHEPREFIX), as an installed package has it. Any failing step stops the
benchmark with its exit code and the end of its output. Defaults keep `all` under an hour on 2
cores; --runs N sets every row's repetitions.
"""

from __future__ import annotations

import argparse
import os
import shlex
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHIPPED = REPO / "ramsesbuild" / "data" / "project"  # what `ramsesbuild init` writes
sys.path.insert(0, str(REPO))

from ramsesbuild import kconfig, settings  # noqa: E402
from ramsesbuild.patch import read_series  # noqa: E402
from ramsesbuild.paths import BuildPaths  # noqa: E402
from ramsesbuild.steps.kernel import make_tree  # noqa: E402

TARBALL_61 = Path("/usr/src/linux-source-6.1.tar.xz")
FRAGMENT = SHIPPED / "kconfigs" / "RamsesCluster.conf"
ROWS = ("full", "noop", "config", "ccache", "k24", "verify", "cli", "start", "unpack")
DEFAULT_RUNS = {"full": 2, "noop": 5, "config": 5, "ccache": 2, "k24": 2, "verify": 3, "cli": 20, "start": 20,
                "unpack": 3}
GOALS = {"full-hand": 1.03, "full-tux": 0.97, "k24": 1.03, "config": 1.05, "ccache": 0.97, "noop": 0.05,
         "verify": 1.1, "unpack": 1.1}
JOBS = os.cpu_count() or 1
PY = sys.executable


class StepFailed(Exception):
    def __init__(self, cmd: str, rc: int, tail: str):
        super().__init__(f"FAILED (exit {rc}): {cmd}\n{tail}")
        self.rc = rc


def load1() -> float:
    return float(Path("/proc/loadavg").read_text().split()[0])


@dataclass
class Sample:
    seconds: float
    load: float  # 1-minute load average when the measurement started


@dataclass
class Series:
    name: str
    samples: list[Sample] = field(default_factory=list)

    @property
    def median(self) -> float:
        return statistics.median(s.seconds for s in self.samples)

    def loads(self) -> str:
        ls = [s.load for s in self.samples]
        return f"{min(ls):.2f}-{max(ls):.2f}" if len(ls) > 1 else f"{ls[0]:.2f}"


@dataclass
class Result:
    measurement: str
    ours: Series
    reference: Series
    goal: float | None
    note: str = ""
    difference: bool = False  # report ours - reference (ms) instead of a ratio

    def line(self) -> str:
        loads = f"load {self.ours.loads()} / {self.reference.loads()}"
        if self.difference:
            d = (self.ours.median - self.reference.median) * 1000
            goal = "" if self.goal is None else \
                f"(goal <= +{self.goal:.0f} ms{'  met' if d <= self.goal else '  NOT met'})"
            return (f"{self.measurement:<66} {self.ours.median * 1000:8.1f} ms {self.reference.median * 1000:8.1f} ms"
                    f"  {d:+6.1f} ms  {goal}  {loads}")
        ratio = self.ours.median / self.reference.median
        verdict = "" if self.goal is None else ("  met" if ratio <= self.goal else "  NOT met")
        goal = f"(goal <= {self.goal})" if self.goal is not None else ""
        return (f"{self.measurement:<66} {self.ours.median:8.2f} s  {self.reference.median:8.2f} s"
                f"  {ratio:6.3f}  {goal}{verdict}  {loads}")


class Bench:
    def __init__(self, work: Path, runs: int | None, verbose: bool):
        self.work = work
        self.runs = runs
        self.verbose = verbose
        self.results: list[Result] = []
        self.env = {k: v for k, v in os.environ.items()
                    if k not in ("PYTHONDONTWRITEBYTECODE", "MAKEFLAGS", "MFLAGS", "MAKELEVEL", "RAMSES_CONFIG",
                                 "CCACHE_DIR", "RAMSES_JOBS")}
        self.env["PYTHONPATH"] = os.pathsep.join([str(REPO), *filter(None, [os.environ.get("PYTHONPATH")])])
        self.env["PYTHONPYCACHEPREFIX"] = str(work / "pycache")
        self.project = work / "project"  # the 6.1 project of row `full`, reused by noop and config
        self.out = work / "last-output"

    def reps(self, row: str) -> int:
        return self.runs or DEFAULT_RUNS[row]

    # ---------------------------------------------------------------- running things

    def run(self, cmd: list[str] | str, cwd: Path | None = None, env: dict[str, str] | None = None,
            stdin: str | None = None) -> None:
        """Run a command (a list, or a shell string), quietly; on failure raise StepFailed."""
        shell = isinstance(cmd, str)
        text = cmd if shell else shlex.join(cmd)
        if self.verbose:
            print(f"    $ {text}", flush=True)
        with open(self.out, "w") as out:
            proc = subprocess.run(cmd, shell=shell, cwd=cwd, env={**self.env, **(env or {})}, stdout=out,
                                  stderr=subprocess.STDOUT, input=stdin.encode() if stdin is not None else None,
                                  stdin=None if stdin is not None else subprocess.DEVNULL,
                                  executable="/bin/bash" if shell else None)
        if proc.returncode != 0:
            tail = "\n".join(self.out.read_text(errors="replace").splitlines()[-25:])
            raise StepFailed(text[:300], proc.returncode, tail)

    def timed(self, series: Series, steps: Callable[[], None]) -> float:
        subprocess.run(["sync"], check=True)
        load = load1()
        t0 = time.perf_counter()
        steps()
        seconds = time.perf_counter() - t0
        series.samples.append(Sample(seconds, load))
        return seconds

    def doit(self, project: Path, *args: str, env: dict[str, str] | None = None) -> None:
        self.run([PY, "-m", "doit", "-f", str(REPO / "dodo.py"), *args], cwd=project,
                 env={"RAMSES_CONFIG": str(project / "ramses.toml"), **(env or {})})

    def rm(self, *paths: Path) -> None:
        for p in paths:
            if p.is_symlink() or p.is_file():
                p.unlink()
            elif p.exists():
                shutil.rmtree(p)
        subprocess.run(["sync"], check=True)

    def report(self, result: Result) -> None:
        self.results.append(result)
        print(f"  => {result.line()}" + (f"\n     ({result.note})" if result.note else ""), flush=True)

    # ---------------------------------------------------------------- shared set-up

    def need(self, *programs: str) -> None:
        missing = [p for p in programs if shutil.which(p) is None]
        if missing:
            raise SystemExit(f"bench/pipeline: {', '.join(missing)} not installed "
                             "(apt-get install make gcc bc bison flex libelf-dev libssl-dev ccache gnupg xz-utils; "
                             "pip install tuxmake)")

    def tarball_61(self) -> Path:
        if not TARBALL_61.is_file():
            if os.geteuid() == 0 and shutil.which("apt-get"):
                self.run(["apt-get", "install", "-y", "-q", "linux-source-6.1"])
            else:
                raise SystemExit(f"bench/pipeline: no {TARBALL_61}; apt-get install linux-source-6.1")
        return TARBALL_61

    def tuxmake(self) -> str:
        beside = Path(PY).parent / "tuxmake"  # not a pyenv-style shim: what a venv's bin/ holds
        found = str(beside) if beside.is_file() else shutil.which("tuxmake")
        if found is None:
            raise SystemExit("bench/pipeline: tuxmake is not installed: pip install tuxmake")
        return found

    def native_prefix(self) -> str:
        """The host gcc's own triplet prefix (x86_64-linux-gnu-): TuxMake's i386 default is a
        cross compiler, i686-linux-gnu-gcc, which is not the compiler the pipeline runs."""
        triplet = subprocess.run(["gcc", "-dumpmachine"], capture_output=True, text=True,
                                 check=True).stdout.strip()
        if not shutil.which(f"{triplet}-gcc"):
            raise SystemExit(f"bench/pipeline: no {triplet}-gcc for TuxMake (apt-get install gcc)")
        return f"{triplet}-"

    def modern_fragment(self, dest: Path, extra: str = "") -> Path:
        """RamsesCluster.conf as plain .config lines for the modern family (what merge_config.sh
        and TuxMake take; the pipeline reads the #@ family sections itself)."""
        requests, _ = kconfig.effective(kconfig.parse_fragment(FRAGMENT, "modern"))
        dest.write_text("".join(r.as_line() + "\n" for r in requests) + extra)
        return dest

    def project_61(self, root: Path, extra_kernel: str = "") -> Path:
        (root / "kconfigs").mkdir(parents=True, exist_ok=True)
        (root / "patches").mkdir(exist_ok=True)  # no series for 6.1
        shutil.copy(FRAGMENT, root / "kconfigs" / FRAGMENT.name)
        (root / "ramses.toml").write_text(f"""[kernel]
version = "6.1"
arch = "i386"
jobs = 0
{extra_kernel}
[source."6.1"]
tarball = "{TARBALL_61.name}"
mirrors = ["file://{TARBALL_61.parent}/"]
dpkg = "linux-source-6.1"

[profile.client]
base = "tinyconfig"
fragments = ["kconfigs/{FRAGMENT.name}"]

[netboot]
profiles = []
""")
        return root

    def built_obj(self, project: Path) -> Path:
        return project / "build" / "client" / "obj"

    @staticmethod
    def config_body(path: Path) -> list[str]:
        """A .config without its generated header comment (kernel version, date)."""
        return [line for line in path.read_text().splitlines() if line and not line.startswith("# Automatically")
                and not line.startswith("# Linux/") and not line.startswith("# Compiler:")
                and not line.startswith("CONFIG_CC_VERSION_TEXT=")]  # "gcc" or "x86_64-linux-gnu-gcc": one binary

    def same_config(self, configs: dict[str, Path]) -> None:
        first_name, first = next(iter(configs.items()))
        for name, path in configs.items():
            if sorted(self.config_body(path)) != sorted(self.config_body(first)):
                raise StepFailed(f"compare {first} {path}", 1,
                                 f"the {name} build's .config differs from the {first_name} build's: they do not "
                                 f"build the same kernel (diff {first} {path})")

    def warm_up_python(self) -> None:
        """Fill the bytecode cache (an installed package has its .pyc) before anything is timed."""
        self.run([PY, "-c", "import ramsesbuild.commands, ramsesbuild.nbi.mknbi, ramsesbuild.tasks, doit, gnupg, tqdm, "
                            "ramsesbuild.verify, ramsesbuild.unpack, ramsesbuild.kbuild, ramsesbuild.fetch"])

    # ---------------------------------------------------------------- rows

    def row_full(self) -> None:
        self.need("make", "gcc", "bc", "bison", "flex", "xz")
        tarball, tux = self.tarball_61(), self.tuxmake()
        self.run([tux, "--version"])  # its bytecode, too
        frag = self.modern_fragment(self.work / "client-modern.conf")
        self.project_61(self.project)
        hand, tuxdir = self.work / "hand", self.work / "tux"
        a, b, c = Series("pipeline"), Series("by hand"), Series("tar + TuxMake")
        c_only, c_tar = Series("TuxMake alone"), Series("tar xf (TuxMake side)")
        print(f"full: Linux 6.1 ({tarball}), tinyconfig + {FRAGMENT.name}, -j{JOBS}, {self.reps('full')} runs")
        for i in range(self.reps("full")):
            self.rm(self.project / "build", self.project / "downloads")
            s = self.timed(a, lambda: self.doit(self.project, "kernel-client"))
            print(f"  run {i + 1}  pipeline  {s:7.1f} s  (load {a.samples[-1].load:.2f})", flush=True)

            self.rm(hand)
            s = self.timed(b, lambda: self.by_hand_61(tarball, hand, frag))
            print(f"  run {i + 1}  by hand   {s:7.1f} s  (load {b.samples[-1].load:.2f})", flush=True)
            self.same_config({"pipeline": self.project / "build" / "client" / "artifacts" / "config",
                              "by-hand": hand / "obj" / ".config"})
            self.rm(hand)

            self.rm(tuxdir)
            s = self.timed(c, lambda: self.tar_and_tuxmake(tarball, tuxdir, frag, c_tar, c_only))
            print(f"  run {i + 1}  TuxMake   {s:7.1f} s  (tar xf {c_tar.samples[-1].seconds:.1f} s, "
                  f"tuxmake {c_only.samples[-1].seconds:.1f} s; load {c.samples[-1].load:.2f})", flush=True)
            self.same_config({"pipeline": self.project / "build" / "client" / "artifacts" / "config",
                              "TuxMake": tuxdir / "out" / "config"})
            self.rm(tuxdir)
        self.report(Result("6.1 full pipeline vs by hand", a, b, GOALS["full-hand"]))
        self.report(Result("6.1 full pipeline vs tar xf + TuxMake", a, c, GOALS["full-tux"],
                           note="the pipeline and the by-hand sequence unpack the tarball; so does the TuxMake side"))
        self.report(Result("6.1 full pipeline vs TuxMake alone (no unpack)", a, c_only, None,
                           note="TuxMake given an already unpacked tree: less work than the pipeline does"))

    def by_hand_61(self, tarball: Path, hand: Path, frag: Path) -> None:
        hand.mkdir(parents=True)
        self.run(["tar", "xf", str(tarball), "-C", str(hand)])
        src = next(hand.iterdir())
        src.rename(hand / "src")
        make = ["make", "-C", str(hand / "src"), f"O={hand / 'obj'}", "ARCH=i386"]
        self.run([*make, "tinyconfig"])
        self.run(["scripts/kconfig/merge_config.sh", "-m", "-O", str(hand / "obj"), str(hand / "obj" / ".config"),
                  str(frag)], cwd=hand / "src")
        self.run([*make, "olddefconfig"])
        self.run([*make, f"-j{JOBS}", "bzImage"])
        if not (hand / "obj" / "arch" / "x86" / "boot" / "bzImage").is_file():
            raise StepFailed("make bzImage (by hand)", 1, "no arch/x86/boot/bzImage")

    def tar_and_tuxmake(self, tarball: Path, tuxdir: Path, frag: Path, tar_series: Series, tux_series: Series,
                        wrapper: str | None = None, env: dict[str, str] | None = None) -> None:
        tuxdir.mkdir(parents=True)
        t0 = time.perf_counter()
        self.run(["tar", "xf", str(tarball), "-C", str(tuxdir)])
        next(p for p in tuxdir.iterdir()).rename(tuxdir / "src")
        t1 = time.perf_counter()
        cmd = [self.tuxmake(), "--runtime", "null", "--target-arch", "i386", "--kconfig", "tinyconfig",
               "--kconfig-add", str(frag), "-C", str(tuxdir / "src"), "-b", str(tuxdir / "build"),
               "-o", str(tuxdir / "out"), "-j", str(JOBS), *(["--wrapper", wrapper] if wrapper else []),
               f"CROSS_COMPILE={self.native_prefix()}", "config", "kernel"]
        self.run(cmd, env=env)
        t2 = time.perf_counter()
        tar_series.samples.append(Sample(t1 - t0, load1()))
        tux_series.samples.append(Sample(t2 - t1, load1()))
        if not (tuxdir / "out" / "bzImage").is_file():
            raise StepFailed(shlex.join(cmd), 1, f"TuxMake produced no {tuxdir / 'out' / 'bzImage'}")

    def ensure_built(self) -> None:
        """The project of row `full`, built (when that row did not run in this invocation)."""
        if not (self.project / "build" / "client" / "artifacts" / "bzImage").is_file():
            self.tarball_61()
            self.project_61(self.project)
            print("  (building the 6.1 client kernel once, untimed)", flush=True)
            self.doit(self.project, "kernel-client")

    def row_noop(self) -> None:
        self.ensure_built()
        print(f"noop: bench/noop.sh on {self.project}, {self.reps('noop')} runs", flush=True)
        proc = subprocess.run([str(REPO / "bench" / "noop.sh"), str(self.reps("noop"))], cwd=self.project,
                              env={**self.env, "RAMSES_CONFIG": str(self.project / "ramses.toml"),
                                   "RAMSES_BENCH_PYTHON": PY}, capture_output=True, text=True)
        print("\n".join("  " + line for line in proc.stdout.splitlines()))
        if proc.returncode != 0:
            raise StepFailed("bench/noop.sh", proc.returncode, proc.stderr)
        values = dict(line.split(None, 1) for line in proc.stdout.splitlines() if line.startswith("samples"))
        doit_s = [float(x) for x in values["samples"].split("|")[0].split()]
        make_s = [float(x) for x in values["samples"].split("|")[1].split()]
        load = float(proc.stdout.split("load average")[1].split()[0])
        self.report(Result("6.1 no-op doit kernel-client vs no-op make",
                           Series("doit", [Sample(s, load) for s in doit_s]),
                           Series("make", [Sample(s, load) for s in make_s]), GOALS["noop"]))

    def row_config(self) -> None:
        self.ensure_built()
        src = self.project / "build" / "source" / "src"
        hand = self.work / "config-hand"
        self.rm(hand)
        frag_a = self.modern_fragment(self.work / "frag-a.conf", 'CONFIG_DEFAULT_HOSTNAME="ramses-a"\n')
        frag_b = self.modern_fragment(self.work / "frag-b.conf", 'CONFIG_DEFAULT_HOSTNAME="ramses-b"\n')
        make = ["make", "-C", str(src), f"O={hand}", "ARCH=i386"]
        self.run([*make, "tinyconfig"])  # the by-hand tree, configured as the pipeline's (untimed)
        self.run(["scripts/kconfig/merge_config.sh", "-m", "-O", str(hand), str(hand / ".config"), str(frag_a)],
                 cwd=src)
        self.run([*make, "olddefconfig"])
        project_frag = self.project / "kconfigs" / FRAGMENT.name
        original = project_frag.read_text()
        a, b = Series("doit config-client"), Series("merge_config.sh + olddefconfig")
        print(f"config: one fragment line (CONFIG_DEFAULT_HOSTNAME), {self.reps('config')} runs", flush=True)
        try:
            for i in range(self.reps("config")):
                name = "ramses-b" if i % 2 == 0 else "ramses-a"
                project_frag.write_text(original + f'\n#@ family all\nCONFIG_DEFAULT_HOSTNAME="{name}"\n')
                s1 = self.timed(a, lambda: self.doit(self.project, "config-client"))
                frag = frag_b if name == "ramses-b" else frag_a
                s2 = self.timed(b, lambda frag=frag: (
                    self.run(["scripts/kconfig/merge_config.sh", "-m", "-O", str(hand), str(hand / ".config"),
                              str(frag)], cwd=src),
                    self.run([*make, "olddefconfig"])))
                for cfg in (self.built_obj(self.project) / ".config", hand / ".config"):
                    if f'CONFIG_DEFAULT_HOSTNAME="{name}"' not in cfg.read_text():
                        raise StepFailed("config change", 1, f"{cfg} does not have CONFIG_DEFAULT_HOSTNAME={name}")
                print(f"  run {i + 1}  doit {s1:6.2f} s (load {a.samples[-1].load:.2f})   by hand {s2:6.2f} s "
                      f"(load {b.samples[-1].load:.2f})", flush=True)
        finally:
            project_frag.write_text(original)
        self.report(Result("6.1 config-only change vs by hand", a, b, GOALS["config"]))

    def row_ccache(self) -> None:
        self.need("ccache", "make", "gcc")
        tarball, frag = self.tarball_61(), self.modern_fragment(self.work / "client-modern.conf")
        project = self.project_61(self.work / "ccache-project", 'wrapper = "ccache"')
        tuxdir = self.work / "ccache-tux"
        env_p = {"CCACHE_DIR": str(self.work / "ccache" / "pipeline")}
        env_t = {"CCACHE_DIR": str(self.work / "ccache" / "tuxmake")}
        cold_p, cold_t, tar_t, tux_t = Series("pipeline cold"), Series("TuxMake cold"), Series("tar"), Series("tux")
        print(f"ccache: cold builds fill each cache once, then {self.reps('ccache')} warm runs", flush=True)
        self.rm(project / "build", tuxdir)
        s = self.timed(cold_p, lambda: self.doit(project, "kernel-client", env=env_p))
        print(f"  cold  pipeline {s:7.1f} s  {self.ccache_stats(env_p)}", flush=True)
        s = self.timed(cold_t, lambda: self.tar_and_tuxmake(tarball, tuxdir, frag, tar_t, tux_t, "ccache", env_t))
        print(f"  cold  TuxMake  {s:7.1f} s  {self.ccache_stats(env_t)}", flush=True)
        a, c, c_only, c_tar = Series("pipeline"), Series("tar + TuxMake"), Series("TuxMake alone"), Series("tar")
        for i in range(self.reps("ccache")):
            self.rm(project / "build")
            self.run(["ccache", "-z"], env=env_p)
            s = self.timed(a, lambda: self.doit(project, "kernel-client", env=env_p))
            print(f"  run {i + 1}  pipeline warm {s:7.1f} s  {self.ccache_stats(env_p)} "
                  f"(load {a.samples[-1].load:.2f})", flush=True)
            self.rm(tuxdir)
            self.run(["ccache", "-z"], env=env_t)
            s = self.timed(c, lambda: self.tar_and_tuxmake(tarball, tuxdir, frag, c_tar, c_only, "ccache", env_t))
            print(f"  run {i + 1}  TuxMake warm  {s:7.1f} s  (tuxmake {c_only.samples[-1].seconds:.1f} s) "
                  f"{self.ccache_stats(env_t)} (load {c.samples[-1].load:.2f})", flush=True)
        self.rm(tuxdir)
        self.report(Result("6.1 ccache warm after rm -rf build vs tar xf + TuxMake --wrapper ccache", a, c,
                           GOALS["ccache"]))
        self.report(Result("6.1 ccache warm vs TuxMake --wrapper ccache alone", a, c_only, None,
                           note="TuxMake given an already unpacked tree"))

    def ccache_stats(self, env: dict[str, str]) -> str:
        proc = subprocess.run(["ccache", "--print-stats"], env={**self.env, **env}, capture_output=True, text=True)
        stats = dict(line.split("\t", 1) for line in proc.stdout.splitlines() if "\t" in line)
        hits = int(stats.get("direct_cache_hit", 0)) + int(stats.get("preprocessed_cache_hit", 0))
        return f"({hits} hits, {stats.get('cache_miss', '?')} misses)"

    def row_k24(self) -> None:
        tarball = os.environ.get("RAMSES_K24_TARBALL")
        if not tarball or not Path(tarball).is_file():
            raise SystemExit("bench/pipeline k24: set RAMSES_K24_TARBALL to a linux-2.4.18.tar.bz2")
        tarball_p = Path(tarball).resolve()
        project = self.work / "k24-project"
        (project / "kconfigs").mkdir(parents=True, exist_ok=True)
        shutil.copy(FRAGMENT, project / "kconfigs" / FRAGMENT.name)
        if not (project / "patches").exists():
            shutil.copytree(SHIPPED / "patches", project / "patches")
        sha = self.sha256(tarball_p)
        (project / "ramses.toml").write_text(f"""[kernel]
version = "2.4.18"
arch = "i386"
jobs = 0
[source."2.4.18"]
tarball = "{tarball_p.name}"
mirrors = ["file://{tarball_p.parent}/"]
sha256 = "{sha}"
unsigned = "benchmark: a local tarball pinned by sha256"
[profile.client]
base = "defconfig"
fragments = ["kconfigs/{FRAGMENT.name}"]
[netboot]
profiles = []
""")
        self.doit(project, "verify")  # fetch + verify: not part of this row
        s = settings.load(project / "ramses.toml")
        hand = self.work / "k24-hand"
        a, b = Series("pipeline"), Series("by hand")
        print(f"k24: Linux 2.4.18 ({tarball_p}), client, unpack + patch + build, {self.reps('k24')} runs", flush=True)
        for i in range(self.reps("k24")):
            self.rm(project / "build" / "client")
            sa = self.timed(a, lambda: self.doit(project, "kernel-client"))
            self.rm(hand)
            sb = self.timed(b, lambda: self.by_hand_24(s, tarball_p, hand, project))
            print(f"  run {i + 1}  pipeline {sa:6.1f} s (load {a.samples[-1].load:.2f})   by hand {sb:6.1f} s "
                  f"(load {b.samples[-1].load:.2f})", flush=True)
            self.same_config({"pipeline": project / "build" / "client" / "artifacts" / "config",
                              "by-hand": hand / "src" / ".config"})
        self.rm(hand)
        self.report(Result("2.4.18 total (unpack+patch+build) vs by hand", a, b, GOALS["k24"],
                           note=f"tar xjf uses bzip2; the pipeline uses {self.bz2_tool()}"))

    @staticmethod
    def sha256(path: Path) -> str:
        return subprocess.run(["sha256sum", str(path)], capture_output=True, text=True, check=True).stdout.split()[0]

    @staticmethod
    def bz2_tool() -> str:
        return next((t for t in ("lbzip2", "pbzip2", "bzip2") if shutil.which(t)), "bzip2")

    def by_hand_24(self, s: settings.Settings, tarball: Path, hand: Path, project: Path) -> None:
        hand.mkdir(parents=True)
        self.run(["tar", "xjf", str(tarball), "-C", str(hand)])
        next(hand.iterdir()).rename(hand / "src")
        src = hand / "src"
        for entry in read_series(s.patch_dir()):
            self.run(f"patch -p{entry.strip} -s < {shlex.quote(str(entry.path))}", cwd=src)
        # the .config an admin edits: defconfig with the fragment's k24 lines (as the pipeline merges them)
        fam = BuildPaths(s).family
        requests = kconfig.parse_forced(fam.forced, fam.name)
        requests += kconfig.parse_fragment(FRAGMENT, fam.name)
        requests, _ = kconfig.effective(requests)
        (src / ".config").write_text(kconfig.merge((src / "arch" / "i386" / "defconfig").read_text(), requests))
        tree = make_tree(s, BuildPaths(s).profile("client"), s.profiles["client"].arch)
        make = ["make", *[f"{k}={v}" for k, v in tree.family.resolved_make_vars(s.arch, src).items()]]
        self.run([*make, "oldconfig"], cwd=src, stdin="\n" * 10000)
        self.run([*make, "dep"], cwd=src)
        self.run([*make, f"-j{JOBS}", "bzImage", "modules"], cwd=src)
        self.run([*make, "modules_install", f"INSTALL_MOD_PATH={hand / 'staging'}"], cwd=src)
        if not (src / "arch" / "i386" / "boot" / "bzImage").is_file():
            raise StepFailed("make bzImage (2.4 by hand)", 1, "no arch/i386/boot/bzImage")

    def row_verify(self) -> None:
        self.need("gpg", "xz")
        tarballs = [self.tarball_61()]
        k24 = os.environ.get("RAMSES_K24_TARBALL")
        if k24 and Path(k24).is_file():
            tarballs.append(Path(k24).resolve())
        home = self.work / "gnupg"
        self.rm(home)
        home.mkdir(mode=0o700)
        genv = {"GNUPGHOME": str(home)}
        self.run(["gpg", "--batch", "--passphrase", "", "--quick-gen-key", "Bench Signer <bench@example.invalid>",
                  "ed25519", "sign", "never"], env=genv)
        fpr = subprocess.run(["gpg", "--with-colons", "--list-keys"], env={**self.env, **genv}, capture_output=True,
                             text=True, check=True).stdout.split("fpr:::::::::")[1].split(":")[0]
        key = self.work / "bench-key.asc"
        self.run(f"gpg --armor --export {fpr} > {shlex.quote(str(key))}", env=genv)
        driver = self.work / "verify_driver.py"
        driver.write_text(VERIFY_DRIVER)
        for tarball in tarballs:
            tool = "xz" if tarball.suffix == ".xz" else "bzip2"
            sig = self.work / (tarball.name.rsplit(".", 1)[0] + ".sign")
            self.run(f"{tool} -dc {shlex.quote(str(tarball))} | gpg --batch --detach-sign -o {shlex.quote(str(sig))}",
                     env=genv)
            sha = self.sha256(tarball)
            a, b, b2 = Series("pipeline verify"), Series(f"{tool} -dc | gpg --verify"), Series("+ sha256sum")
            ours = [PY, str(driver), str(tarball), str(sig), sha, fpr, str(key), str(self.work / "verify.log")]
            by_hand = f"{tool} -dc {shlex.quote(str(tarball))} | gpg --batch --verify {shlex.quote(str(sig))} -"
            with_sum = f"echo '{sha}  {tarball}' | sha256sum -c --quiet && {by_hand}"
            print(f"verify: {tarball.name} ({tool}), {self.reps('verify')} runs", flush=True)
            for i in range(self.reps("verify")):
                sa = self.timed(a, lambda cmd=ours: self.run(cmd))
                sb = self.timed(b, lambda cmd=by_hand: self.run(cmd, env=genv))
                sc = self.timed(b2, lambda cmd=with_sum: self.run(cmd, env=genv))
                print(f"  run {i + 1}  pipeline {sa:6.2f} s   {tool} | gpg {sb:6.2f} s   sha256sum + {tool} | gpg "
                      f"{sc:6.2f} s  (load {a.samples[-1].load:.2f})", flush=True)
            self.report(Result(f"signed verify ({tarball.name}) vs {tool} -dc | gpg --verify", a, b, GOALS["verify"],
                               note="the pipeline also checks the sha256 pin first"))
            self.report(Result(f"signed verify ({tarball.name}) vs sha256sum + {tool} -dc | gpg", a, b2, None))

    def row_cli(self) -> None:
        from mknbi import fake_bzimage  # bench/mknbi.py's synthetic bzImage

        kernel = self.work / "bzImage-10M"
        kernel.write_bytes(fake_bzimage(10 << 20))
        script = self.work / "ramsesbuild-cli"
        script.write_text(CONSOLE_SCRIPT)  # what pip writes for [project.scripts] ramsesbuild
        cli = [PY, str(script), "mknbi-linux", "--ip=rom", "--rootdir=rom", f"--output={self.work / 'out.nb'}",
               str(kernel)]
        bare = [PY, "-c", "pass"]
        self.run(cli)  # bytecode cache
        a, b = Series("mknbi-linux"), Series("python3 -c pass")
        print(f"cli: ramsesbuild mknbi-linux on a 10 MB bzImage vs {PY} -c pass, {self.reps('cli')} runs each",
              flush=True)
        for _ in range(self.reps("cli")):
            self.timed(a, lambda: self.run(cli))
            self.timed(b, lambda: self.run(bare))
        self.report(Result("mknbi-linux CLI vs bare interpreter", a, b, 60, difference=True))

    def row_start(self) -> None:
        if not (self.project / "ramses.toml").is_file():
            self.project_61(self.project)
        bare = self.work / "bare-doit"
        bare.mkdir(exist_ok=True)
        (bare / "dodo.py").write_text('def task_hello():\n    """one task"""\n    return {"actions": None}\n')
        ours = [PY, "-m", "doit", "-f", str(REPO / "dodo.py"), "list"]
        theirs = [PY, "-m", "doit", "-f", str(bare / "dodo.py"), "list"]
        env = {"RAMSES_CONFIG": str(self.project / "ramses.toml")}
        self.run(ours, cwd=self.project, env=env)
        self.run(theirs, cwd=bare)
        a, b = Series("doit list"), Series("doit list, one-task dodo.py")
        print(f"start: doit list on the 6.1 project vs on a one-task dodo.py, {self.reps('start')} runs each",
              flush=True)
        for _ in range(self.reps("start")):
            self.timed(a, lambda: self.run(ours, cwd=self.project, env=env))
            self.timed(b, lambda: self.run(theirs, cwd=bare))
        self.report(Result("doit list vs doit's own start (one-task dodo.py)", a, b, None, difference=True))

    def row_unpack(self) -> None:
        print(f"unpack: bench/unpack.sh, {self.reps('unpack')} runs", flush=True)
        proc = subprocess.run([str(REPO / "bench" / "unpack.sh"), str(self.tarball_61()), str(self.reps("unpack"))],
                              env={**self.env, "BENCH_DIR": str(self.work)}, capture_output=True, text=True)
        print("\n".join("  " + line for line in proc.stdout.splitlines()))
        if proc.returncode != 0:
            raise StepFailed("bench/unpack.sh", proc.returncode, proc.stderr)


VERIFY_DRIVER = '''import sys
from pathlib import Path
from ramsesbuild.errors import RamsesError
from ramsesbuild.log import TaskLog
from ramsesbuild.settings import Source
from ramsesbuild.verify import verify
tarball, sig, sha, fpr, key, log = sys.argv[1:]
src = Source(version="bench", tarball=Path(tarball).name, mirrors=("file:///nonexistent/",), sha256=sha,
             signature=Path(sig).name, signers=(fpr,), keys=(Path(key),))
try:
    with TaskLog(Path(log)) as lg:
        verify(src, Path(tarball), Path(sig), lg)
except RamsesError as exc:
    sys.exit(f"verify failed: {exc}")
'''

CONSOLE_SCRIPT = '''# -*- coding: utf-8 -*-
import re
import sys
from ramsesbuild.commands import main
if __name__ == '__main__':
    sys.argv[0] = re.sub(r'(-script\\.pyw|\\.exe)?$', '', sys.argv[0])
    sys.exit(main())
'''


def main() -> int:
    ap = argparse.ArgumentParser(prog="bench/pipeline.sh", description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    ap.add_argument("rows", nargs="*", default=["full"], help=f"rows to run: {', '.join(ROWS)}, or all")
    ap.add_argument("--runs", type=int, help="repetitions for every row (default: "
                    + ", ".join(f"{r} {n}" for r, n in DEFAULT_RUNS.items()) + ")")
    ap.add_argument("--work", type=Path, default=Path(os.environ.get("BENCH_DIR", "/var/tmp")),
                    help="where the scratch directory is made (default /var/tmp, or $BENCH_DIR)")
    ap.add_argument("--keep", action="store_true", help="keep the scratch directory")
    ap.add_argument("--reuse", type=Path, metavar="DIR",
                    help="use DIR, a scratch directory kept by --keep, again (its built 6.1 project serves the "
                         "noop and config rows); it is kept")
    ap.add_argument("-v", "--verbose", action="store_true", help="show every command")
    args = ap.parse_args()
    rows = list(ROWS) if "all" in args.rows else args.rows
    unknown = [r for r in rows if r not in ROWS]
    if unknown:
        ap.error(f"unknown row(s) {', '.join(unknown)}; rows: {', '.join(ROWS)}, all")
    if args.reuse:
        work, args.keep = args.reuse.resolve(), True
    else:
        args.work.mkdir(parents=True, exist_ok=True)
        work = Path(subprocess.run(["mktemp", "-d", str(args.work / "ramses-pipeline-bench.XXXXXX")],
                                   capture_output=True, text=True, check=True).stdout.strip())
    bench = Bench(work, args.runs, args.verbose)
    started = time.monotonic()
    print(f"bench/pipeline: rows {' '.join(rows)}; scratch {work}; {JOBS} cores; python {PY}")
    print(f"load average at start: {Path('/proc/loadavg').read_text().strip()}", flush=True)
    rc = 0
    try:
        bench.warm_up_python()
        for row in rows:
            getattr(bench, f"row_{row}")()
    except StepFailed as exc:
        print(f"bench/pipeline: {exc}", file=sys.stderr)
        rc = exc.rc or 1
    except SystemExit as exc:  # a missing tool or input, said in one line
        print(exc, file=sys.stderr)
        rc = 1
    except KeyboardInterrupt:
        rc = 130
    finally:
        if args.keep:
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    print(f"load average at end: {Path('/proc/loadavg').read_text().strip()}; {time.monotonic() - started:.0f} s")
    if bench.results:
        print(f"\n{'measurement':<66} {'ours':>10} {'reference':>10}  ratio")
        for result in bench.results:
            print(result.line())
    return rc


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    sys.exit(main())
