from ramsesbuild.doit_entry import load_project  # doit's tasks come from the installed ramsesbuild

DOIT_CONFIG, task_ramses = load_project()  # settings: ramses.toml here, or $RAMSES_CONFIG
