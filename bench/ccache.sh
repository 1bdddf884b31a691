#!/usr/bin/env bash
# ccache on a real kernel: the client kernel compile without a wrapper, with ccache and an empty
# cache (cold), and with ccache again after `rm -rf build` (warm), all in one run.
#
#   bench/ccache.sh TARBALL VERSION [base]
#   bench/ccache.sh "$RAMSES_K24_TARBALL" 2.4.18                    # ~3 min on 2 cores
#   bench/ccache.sh /usr/src/linux-source-6.1.tar.xz 6.1 tinyconfig # ~12 min on 2 cores
#
# It works in a throw-away project in a temp directory (its own ramses.toml pinning TARBALL's
# sha256, the shipped kconfigs/ and patches/, its own CCACHE_DIR), so it touches neither your
# project nor your ccache. Only `doit kernel-client` is timed: fetch/verify/unpack/patch/config
# run first, untimed, each time. Prints the times, ccache's hit/miss counts and the ratios.
set -euo pipefail
tarball=$(realpath "${1:?usage: bench/ccache.sh TARBALL VERSION [base]}")
version=${2:?usage: bench/ccache.sh TARBALL VERSION [base]}
base=${3:-defconfig}
here=$(cd "$(dirname "$0")/.." && pwd)
export PYTHONPATH="$here${PYTHONPATH:+:$PYTHONPATH}"
command -v ccache >/dev/null || { echo "ccache is not installed: apt-get install ccache" >&2; exit 1; }

work=$(mktemp -d "${TMPDIR:-/tmp}/ramses-ccache.XXXXXX")
trap 'rm -rf "$work"' EXIT
export CCACHE_DIR="$work/ccache" RAMSES_CONFIG="$work/project/ramses.toml"
mkdir -p "$work/project/downloads"
ln -s "$tarball" "$work/project/downloads/$(basename "$tarball")"
cp -r "$here/ramsesbuild/data/project/kconfigs" "$work/project/kconfigs"  # what `ramsesbuild init` writes
if [ "${version%%.*}" = 2 ]; then cp -r "$here/ramsesbuild/data/project/patches" "$work/project/patches"
else mkdir "$work/project/patches"; fi  # no series for this version

settings() {  # settings WRAPPER ("" = none)
  local wrapper_line=""
  [ -z "$1" ] || wrapper_line="wrapper = \"$1\""
  cat > "$RAMSES_CONFIG" <<EOF
[kernel]
version = "$version"
arch = "i386"
jobs = 0
$wrapper_line
[source."$version"]
tarball = "$(basename "$tarball")"
mirrors = ["file://$(dirname "$tarball")/"]
sha256 = "$(sha256sum "$tarball" | cut -d' ' -f1)"
unsigned = "benchmark of a local file"
[profile.server]
base = "$base"
fragments = ["kconfigs/RamsesServer.conf"]
[profile.client]
base = "$base"
fragments = ["kconfigs/RamsesCluster.conf"]
[netboot]
EOF
}

doit_quiet() {
  local rc=0
  (cd "$work/project" && python3 -m doit -f "$here/dodo.py" "$@") >"$work/out" 2>&1 || rc=$?
  if [ "$rc" -ne 0 ]; then echo "FAILED (exit $rc): doit $*" >&2; tail -n 25 "$work/out" >&2; exit "$rc"; fi
}

timed_build() {  # fresh build dir, untimed preparation, timed kernel-client; prints seconds
  rm -rf "$work/project/build"
  doit_quiet config-client
  local t0 t1
  t0=$(date +%s.%N); doit_quiet kernel-client; t1=$(date +%s.%N)
  echo "$t1 - $t0" | bc -l
}

stats() { ccache --print-stats | awk -F'\t' '$1=="direct_cache_hit"||$1=="preprocessed_cache_hit"{h+=$2} $1=="cache_miss"{m=$2} END{print h+0, m+0}'; }

load0=$(cut -d' ' -f1-3 /proc/loadavg)
settings "";       plain=$(timed_build)
settings ccache;   cold=$(timed_build);  read -r h1 m1 < <(stats)
warm=$(timed_build); read -r h2 m2 < <(stats)
load1=$(cut -d' ' -f1-3 /proc/loadavg)

printf 'kernel              %s (%s), client profile, jobs = all cores\n' "$version" "$(basename "$tarball")"
printf 'load average        %s (start), %s (end)\n' "$load0" "$load1"
printf 'no wrapper          %7.1f s\n' "$plain"
printf 'ccache cold         %7.1f s  (%d hits, %d misses)\n' "$cold" "$h1" "$m1"
printf 'ccache warm         %7.1f s  (%d hits, %d misses, after rm -rf build)\n' "$warm" "$((h2 - h1))" "$((m2 - m1))"
printf 'ratio warm/cold     %.3f\n' "$(echo "$warm / $cold" | bc -l)"
printf 'ratio warm/plain    %.3f\n' "$(echo "$warm / $plain" | bc -l)"
printf 'ratio cold/plain    %.3f  (what filling the cache costs)\n' "$(echo "$cold / $plain" | bc -l)"
