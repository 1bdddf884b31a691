#!/usr/bin/env python3
"""The pipeline's own make command for a profile's tree, for benchmarks that compare with make.

    python3 bench/pipeline_make.py PROFILE SCRATCH TARGET...

Copies the part of the built tree that make writes to into SCRATCH (2.4: the whole in-tree
source; modern: the O= directory, the source tree stays shared and read-only), then prints, NUL
separated, the exact command the pipeline would run there: `env -i` with the pipeline's
environment (KBUILD_BUILD_*, SOURCE_DATE_EPOCH, PATH shims, wrapper variables) followed by
Tree.make_cmd (same make variables, same -j). A benchmark runs that and so never changes the
tree it measures; bash reads it with `mapfile -d '' cmd < <(python3 bench/pipeline_make.py ...)`.
"""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ramsesbuild import settings
from ramsesbuild.paths import BuildPaths
from ramsesbuild.steps.kernel import make_tree


def main(argv: list[str]) -> int:
    if len(argv) < 3:
        print(__doc__, file=sys.stderr)
        return 2
    profile, scratch, targets = argv[0], Path(argv[1]).resolve(), argv[2:]
    s = settings.load()
    tree = make_tree(s, BuildPaths(s).profile(profile), s.profiles[profile].arch)
    if not tree.image.is_file():
        print(f"no built {profile} kernel at {tree.image}: run doit kernel-{profile} first", file=sys.stderr)
        return 1
    copy = scratch / ("obj" if tree.family.out_of_tree else "src")
    if copy.exists():
        print(f"{copy} exists; give an empty scratch directory", file=sys.stderr)
        return 1
    scratch.mkdir(parents=True, exist_ok=True)
    subprocess.run(["cp", "-a", str(tree.obj), str(copy)], check=True)
    if tree.family.out_of_tree:
        tree = dataclasses.replace(tree, obj=copy)
    else:
        tree = dataclasses.replace(tree, src=copy, obj=copy)
    env = [f"{k}={v}" for k, v in sorted(tree.env().items())]
    cmd = ["env", "-i", *env, *tree.make_cmd(*targets, jobs=tree.jobs)]
    sys.stdout.write("\0".join(cmd) + "\0")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
