"""Which doit command is running and which tasks it names, as data for the task generators.

doit gives a dodo file neither (its task creators are called with no arguments), so the entry
point (ramsesbuild.doit_entry) reads the command line once and parses it with doit's own
parsers: loader options before the command (``-f dodo.py``), ``name=value`` variables, the
command (``run`` when none is given) and that command's own options. What the task generators
need from it is here: whether the command writes (and so takes the project lock), and whether
`doit clean` named a task (so it removes installed images and downloads).
"""

from __future__ import annotations

import fnmatch
from collections.abc import Sequence
from dataclasses import dataclass

# doit commands that only read: they never take the project lock.
READ_ONLY_COMMANDS = ("list", "info", "help", "dumpdb", "tabcompletion")


@dataclass(frozen=True)
class Invocation:
    command: str = "run"
    tasks: tuple[str, ...] = ()  # the task names (or patterns) given to the command

    @property
    def writes(self) -> bool:
        """Can this command change the project (build, clean, forget)? It then takes the lock."""
        return self.command not in READ_ONLY_COMMANDS

    def names(self, task: str) -> bool:
        """Was *task* (or its group) named after `doit clean`? `doit clean` alone, and
        `--clean-all`, name nothing: they never remove installed images or downloads."""
        if self.command != "clean":
            return False
        group = task.split(":", 1)[0]
        return any(fnmatch.fnmatchcase(task, n) or n == group for n in self.tasks)

    @classmethod
    def parse(cls, args: Sequence[str]) -> Invocation:
        """The invocation *args* (doit's command line without the program name) make, as doit
        itself reads them."""
        from doit.cmd_base import DodoTaskLoader
        from doit.cmdparse import CmdOption, CmdParse, CmdParseError
        from doit.doit_cmd import DoitMain

        rest = list(args)
        try:  # loader options may come before the command
            _, rest = CmdParse([CmdOption(o) for o in DodoTaskLoader.cmd_options]).parse_only(rest)
        except CmdParseError:
            pass
        rest = [a for a in rest if a.startswith("-") or "=" not in a]  # doit's command-line variables
        commands = DoitMain(DodoTaskLoader()).get_cmds()
        command = rest.pop(0) if rest and rest[0] in commands else "run"
        try:
            cmd = commands.get_plugin(command)(task_loader=DodoTaskLoader(), config={}, cmds=commands)
            _, names = cmd.cmdparser.parse(rest)
        except (CmdParseError, TypeError, AttributeError):
            names = [a for a in rest if not a.startswith("-")]  # doit reports the usage error itself
        return cls(command, tuple(names))
