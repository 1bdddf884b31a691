#!/usr/bin/env bash
# Pipeline unpack (ramsesbuild.unpack, hashing the bytes it reads against the pin as the unpack
# task does) vs GNU `tar xf` on the same tarball, interleaved, then the bzip2 "zero member"
# series that used to be super-linear.
#
#   bench/unpack.sh [tarball] [runs]
#
# The default tarball is Debian's /usr/src/linux-source-6.1.tar.xz (installed with
# `apt-get install linux-source-6.1` when missing and running as root). Every run extracts
# into a fresh directory under $BENCH_DIR (default /var/tmp) that is removed (and synced)
# before the next run; the tarball is only read, nothing else is touched. The first pair of
# trees is compared with `diff -r` (set VERIFY=0 to skip). Wall and CPU times include the
# decompressor (tar's `xz -d` child, the pipeline's `xz -dc -T0`). Exits non-zero if any
# step fails.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
default=/usr/src/linux-source-6.1.tar.xz
tarball=${1:-$default}
runs=${2:-3}
verify=${VERIFY:-1}

if [ ! -f "$tarball" ]; then
  if [ "$tarball" = "$default" ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    apt-get install -y -q linux-source-6.1 >/dev/null
  else
    echo "no tarball at $tarball (apt-get install linux-source-6.1, or pass a path)" >&2
    exit 1
  fi
fi
[ -x /usr/bin/time ] || { echo "needs GNU time (apt-get install time)" >&2; exit 1; }
tarball=$(readlink -f "$tarball")
work=$(mktemp -d "${BENCH_DIR:-/var/tmp}/unpack-bench.XXXXXX")
trap 'rm -rf "$work"' EXIT
# the interpreter itself (not a pyenv-style shim), bytecode cached as an installed package has it
py=${RAMSES_BENCH_PYTHON:-$(python3 -c 'import sys; print(sys.executable)')}
unset PYTHONDONTWRITEBYTECODE
export PYTHONPYCACHEPREFIX=${PYTHONPYCACHEPREFIX:-$work/pycache}

# pipeline side: the same call the unpack task makes, which hashes the stream it reads against
# the pin (argv[4], measured once before the runs, as ramses.toml pins it)
cat >"$work/unpack.py" <<'PY'
import sys
from pathlib import Path
from ramsesbuild.errors import UnpackError
from ramsesbuild.log import TaskLog
from ramsesbuild.unpack import Expected, unpack
try:
    with TaskLog(Path(sys.argv[3])) as log:
        unpack(Path(sys.argv[1]), Path(sys.argv[2]), log, expect=Expected("sha256", sys.argv[4], "the pin"))
except UnpackError as exc:
    sys.exit(f"unpack failed: {exc}")
PY
pin=$(sha256sum "$tarball" | cut -d' ' -f1)

measure() {  # measure NAME CMD...: one "wall user sys maxrss_kb" line appended to $work/NAME.times
  local name=$1; shift
  /usr/bin/time -f '%e %U %S %M' -o "$work/one" "$@"
  cat "$work/one" >>"$work/$name.times"
}
run_tar() { mkdir "$work/tar"; measure tar tar -xf "$tarball" -C "$work/tar"; }
run_pipeline() {
  measure pipeline env PYTHONPATH="$here" "$py" "$work/unpack.py" "$tarball" "$work/ours/src" "$work/unpack.log" "$pin"
}
clean() { rm -rf "$work/tar" "$work/ours"; sync; }
median() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
col() { awk -v c="$2" '{print $c}' "$work/$1.times" | median; }

echo "tarball       $tarball ($(du -h "$tarball" | cut -f1))"
echo "load average  before: $(cut -d' ' -f1-3 /proc/loadavg)"
cat "$tarball" >/dev/null  # both sides start from a cached tarball
for i in $(seq "$runs"); do
  if [ $((i % 2)) = 1 ]; then run_tar; run_pipeline; else run_pipeline; run_tar; fi
  if [ "$i" = 1 ] && [ "$verify" = 1 ]; then
    top=$(ls "$work/tar")
    diff -r --no-dereference -q "$work/tar/$top" "$work/ours/src" >/dev/null \
      || { echo "pipeline tree differs from tar's (diff -r $work/tar/$top $work/ours/src)" >&2; exit 1; }
  fi
  clean
  printf 'run %d         tar %6.2f s (user %5.2f s)   pipeline %6.2f s (user %5.2f s, peak RSS %d MB)\n' "$i" \
    "$(tail -1 "$work/tar.times" | cut -d' ' -f1)" "$(tail -1 "$work/tar.times" | cut -d' ' -f2)" \
    "$(tail -1 "$work/pipeline.times" | cut -d' ' -f1)" "$(tail -1 "$work/pipeline.times" | cut -d' ' -f2)" \
    "$(( $(tail -1 "$work/pipeline.times" | cut -d' ' -f4) / 1024 ))"
done
echo "load average  after:  $(cut -d' ' -f1-3 /proc/loadavg)"
[ "$verify" = 1 ] && echo "trees         identical (diff -r, run 1)"
tar_s=$(col tar 1); pipe_s=$(col pipeline 1)
tar_u=$(col tar 2); pipe_u=$(col pipeline 2)
tar_y=$(col tar 3); pipe_y=$(col pipeline 3)
printf 'wall (median of %d)  tar %.2f s, pipeline %.2f s: ratio %.3f (goal <= 1.1)\n' "$runs" "$tar_s" "$pipe_s" \
  "$(echo "$pipe_s / $tar_s" | bc -l)"
printf 'user CPU            tar %.2f s, pipeline %.2f s (system CPU: tar %.2f s, pipeline %.2f s)\n' "$tar_u" "$pipe_u" "$tar_y" "$pipe_y"

# bzip2: one zero-filled member of 16/32/64 MiB (a few hundred bytes compressed).
# Python's tarfile stream mode took time quadratic in the member size here.
PYTHONPATH="$here" "$py" - "$work" <<'PY'
import bz2, io, sys, tarfile, time
from pathlib import Path
from ramsesbuild.log import TaskLog
from ramsesbuild.unpack import unpack
work = Path(sys.argv[1])
times = {}
for mib in (16, 32, 64):
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as tf:
        info = tarfile.TarInfo("linux")
        info.type = tarfile.DIRTYPE
        tf.addfile(info)
        info = tarfile.TarInfo("linux/zero")
        info.size = mib << 20
        tf.addfile(info, io.BytesIO(bytes(info.size)))
    tb = work / f"zero{mib}.tar.bz2"
    tb.write_bytes(bz2.compress(raw.getvalue()))
    with TaskLog(work / "zero.log") as log:
        t0 = time.perf_counter()
        unpack(tb, work / f"zero{mib}", log)
        times[mib] = time.perf_counter() - t0
print("bz2 zero member  " + ", ".join(f"{m} MiB {t:.2f} s" for m, t in times.items())
      + f" ({tb.stat().st_size} B compressed at 64 MiB); 64/16 ratio {times[64] / times[16]:.1f} (linear: 4)")
PY
