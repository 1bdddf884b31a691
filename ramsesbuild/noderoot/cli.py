"""`ramsesbuild node-reset NODE...`: return nodes' own directories to their pristine state.

What the node wrote (/var, /root, ...) is gone; its rendered files are fresh; its ssh host
keys and machine-id are kept. Reboot the node afterwards (the recipe: "If a client stops
working just rebuild it").
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

from ..errors import RootError


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="ramsesbuild node-reset", description=__doc__.splitlines()[0])
    ap.add_argument("nodes", nargs="+", metavar="NODE", help="node name(s) from nodes.toml")
    ap.add_argument("--config", default=os.environ.get("RAMSES_CONFIG", "ramses.toml"),
                    help="the project's ramses.toml (default: $RAMSES_CONFIG or ./ramses.toml)")
    args = ap.parse_args(argv)
    from .. import settings as _settings
    from ..bootmap import inventory_of
    from . import layer
    from .project import config, layer_spec

    s = _settings.load(Path(args.config))
    cfg = config(s)
    if cfg is None:
        raise RootError(f"{s.path}: no profile has a node root ([profile.<name>.root]); nothing to reset")
    spec = layer_spec(cfg, inventory_of(s))
    for name in args.nodes:
        start = time.monotonic()
        path = layer.reset(spec, name)
        print(f"node-reset: {name}: {path} is pristine again ({time.monotonic() - start:.2f} s; ssh host keys and "
              f"machine-id kept); reboot {name}")
    return 0
