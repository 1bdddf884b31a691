"""`python3 -m ramsesbuild`: the `ramsesbuild` command (ramsesbuild/commands.py)."""

import sys

from .commands import main

sys.exit(main())
