#!/usr/bin/env bash
# The pipeline vs the same steps typed by hand vs TuxMake, as ratios, interleaved, with load
# averages: see bench/pipeline.py (or bench/pipeline.sh --help) for the rows and what each runs.
#
#   bench/pipeline.sh                 # row "full": Debian's 6.1, doit vs by hand vs TuxMake (~25 min)
#   bench/pipeline.sh all             # every row of issue 11's table (< 60 min on 2 cores)
#   bench/pipeline.sh --runs 1 config cli
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
exec python3 "$here/pipeline.py" "$@"
