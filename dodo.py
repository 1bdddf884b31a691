from ramsesbuild.dodo import *  # noqa: F403  (doit's tasks come from the installed ramsesbuild)
