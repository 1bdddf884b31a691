#!/usr/bin/env bash
# No-op pipeline vs no-op `make bzImage` on the same, already built, client tree.
#
#   RAMSES_CONFIG=/path/to/ramses.toml bench/noop.sh [runs]
#
# The project must have been built once (`doit kernel-client`). Both sides are measured in the
# same run, several times each; the median of each is printed with their ratio. A no-op doit
# run only stats the stamps and never starts make; kbuild's own no-op has to walk the tree
# (modern) or relinks every time (2.4: compile.h and .version change on every make).
set -euo pipefail
runs=${1:-5}
here=$(cd "$(dirname "$0")/.." && pwd)
: "${RAMSES_CONFIG:?set RAMSES_CONFIG to the settings file of a project built with doit kernel-client}"
export RAMSES_CONFIG

read -r src obj family vars < <(python3 - <<'PY'
import os, shlex
from ramsesbuild import settings, family
from ramsesbuild.tasks.kernel import make_tree
from ramsesbuild.tasks.layout import Layout
s = settings.load()
t = make_tree(s, Layout(s).profile("client"))
extra = " ".join(shlex.quote(f"{k}={v}") for k, v in t.make_vars().items())
print(t.src, t.obj, t.family.name, extra.replace(" ", "\x1f"))
PY
)
IFS=$'\x1f' read -r -a makevars <<<"$vars"
[ -f "$obj/.config" ] || { echo "no built client tree at $obj: run doit kernel-client first" >&1; exit 1; }
outarg=()
[ "$src" != "$obj" ] && outarg=("O=$obj")

# Make sure the pipeline is up to date before timing its no-op.
python3 -m doit -f "$here/dodo.py" kernel-client >/dev/null

time_runs() {  # prints one wall-clock time per run, in seconds
  for _ in $(seq "$runs"); do
    local t0 t1
    t0=$(date +%s.%N); "$@" >/dev/null 2>&1; t1=$(date +%s.%N)
    echo "$t1 - $t0" | bc -l
  done
}
median() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

doit_s=$(time_runs python3 -m doit -f "$here/dodo.py" kernel-client | median)
make_s=$(time_runs make -C "$src" "${outarg[@]}" "${makevars[@]}" -j"$(nproc)" bzImage | median)
printf 'family              %s\n' "$family"
printf 'no-op doit          %.3f s (median of %d)\n' "$doit_s" "$runs"
printf 'no-op make bzImage  %.3f s (median of %d)\n' "$make_s" "$runs"
printf 'ratio make/doit     %.1fx\n' "$(echo "$make_s / $doit_s" | bc -l)"
if [ "$family" = k24 ]; then
  echo "note: 2.4's make relinks on every call, so its 'no-op' rewrote the tree's bzImage; the pipeline's artefact (build/client/artifacts/bzImage) is untouched"
fi
