#!/usr/bin/env bash
# No-op pipeline vs no-op `make bzImage` on the same, already built, client kernel.
#
#   RAMSES_CONFIG=/path/to/ramses.toml bench/noop.sh [runs]
#
# The project must have been built once (`doit kernel-client`). Both sides are measured in the
# same run, interleaved, several times each; the median of each is printed with their ratio.
# A no-op doit run only stats the stamps and never starts make; kbuild's own no-op has to walk
# the tree (modern) or relinks every time (2.4: compile.h and .version change on every make).
#
# The make side is the pipeline's own command (bench/pipeline_make.py: same make variables,
# same environment with KBUILD_BUILD_* and the PATH shims, same -j), run on a scratch copy of
# what make writes to, so the benchmark never changes the tree or the images it measures.
# Any failing command stops the script with its exit code and output.
#
# doit runs on the interpreter itself (sys.executable of python3, or $RAMSES_BENCH_PYTHON), not
# through a wrapper such as a pyenv shim, with its bytecode cached in the scratch directory
# (PYTHONPYCACHEPREFIX), as an installed package has its .pyc files.
set -euo pipefail
runs=${1:-5}
here=$(cd "$(dirname "$0")/.." && pwd)
: "${RAMSES_CONFIG:?set RAMSES_CONFIG to the settings file of a project built with doit kernel-client}"
export RAMSES_CONFIG
export PYTHONPATH="$here${PYTHONPATH:+:$PYTHONPATH}"
py=${RAMSES_BENCH_PYTHON:-$(python3 -c 'import sys; print(sys.executable)')}

scratch=$(mktemp -d "${TMPDIR:-/tmp}/ramses-noop.XXXXXX")
trap 'rm -rf "$scratch"' EXIT
unset PYTHONDONTWRITEBYTECODE
export PYTHONPYCACHEPREFIX=${PYTHONPYCACHEPREFIX:-$scratch/pycache}

run_or_die() {  # run "$@" quietly; on failure show its exit code and output, then stop
  local rc=0
  "$@" >"$scratch/out" 2>&1 || rc=$?
  if [ "$rc" -ne 0 ]; then
    echo "FAILED (exit $rc): $*" | cut -c1-300 >&2
    tail -n 25 "$scratch/out" >&2
    exit "$rc"
  fi
}

# The pipeline must be up to date before its no-op is timed.
run_or_die "$py" -m doit -f "$here/dodo.py" kernel-client
read -r image family < <("$py" -c 'from ramsesbuild import settings; from ramsesbuild.paths import BuildPaths
s = settings.load(); lay = BuildPaths(s); print(lay.profile("client").image, lay.family.name)')
before=$(sha256sum "$image")

mapfile -d '' make_cmd < <("$py" "$here/bench/pipeline_make.py" client "$scratch/tree" bzImage)
[ "${#make_cmd[@]}" -gt 3 ] || { echo "bench/pipeline_make.py gave no command" >&2; exit 1; }
run_or_die "${make_cmd[@]}"  # warm-up: the copy's first make may touch what the copy changed

now() { date +%s.%N; }
doit_times=() make_times=()
for _ in $(seq "$runs"); do
  t0=$(now); run_or_die "$py" -m doit -f "$here/dodo.py" kernel-client; t1=$(now)
  doit_times+=("$(echo "$t1 - $t0" | bc -l)")
  t0=$(now); run_or_die "${make_cmd[@]}"; t1=$(now)
  make_times+=("$(echo "$t1 - $t0" | bc -l)")
done
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
doit_s=$(median "${doit_times[@]}")
make_s=$(median "${make_times[@]}")

[ "$(sha256sum "$image")" = "$before" ] || { echo "BUG: the benchmark changed $image" >&2; exit 1; }
printf 'family              %s\n' "$family"
printf 'load average        %s\n' "$(cut -d' ' -f1-3 /proc/loadavg)"
printf 'no-op doit          %.3f s (median of %d)\n' "$doit_s" "$runs"
printf 'no-op make bzImage  %.3f s (median of %d; the pipeline'"'"'s command on a scratch copy)\n' "$make_s" "$runs"
printf 'ratio doit/make     %.3f\n' "$(echo "$doit_s / $make_s" | bc -l)"
printf 'samples             %s | %s\n' "${doit_times[*]}" "${make_times[*]}"
