"""The doit command lines of README.md and docs/ name tasks a project really has: every task word
of every `doit ...` command, in a ```sh block or in inline code, is one that `doit list --all`
shows for a project with the shipped nodes.toml."""

from __future__ import annotations

import re
import shutil

from ..lib.docs import REPO, pages, shell_lines
from ..lib.support import SHIPPED

DOIT_COMMANDS = {"list", "info", "clean", "forget", "run", "help"}  # doit's own sub-commands


def doit_task_words() -> dict[str, set[str]]:
    """Task name -> the pages naming it in a `doit ...` command line."""
    words: dict[str, set[str]] = {}
    for page in pages():
        lines = shell_lines(page) + re.findall(r"`(doit [^`]+)`", page.read_text())
        for line in lines:
            line = line.replace("<class>", "client").replace("<profile>", "client")  # a placeholder: a real name
            for command in re.findall(r"(?:^|&& )doit((?: [\w:=.-]+)*)", line):
                for word in command.split():
                    if "=" not in word and not word.startswith("-") and word not in DOIT_COMMANDS:
                        words.setdefault(word, set()).add(str(page.relative_to(REPO)))
    return words


def test_every_task_a_recipe_names_exists(k24_project):
    p = k24_project
    shutil.copy(SHIPPED / "nodes.toml", p.dir / "nodes.toml")
    p.set("profile.client.root.suite", "bookworm")  # a node class with a root: its tasks are listed too
    listed = {line.split()[0] for line in p.doit("list", "--all").stdout.splitlines() if line.strip()}
    named = doit_task_words()
    assert {"kernel-client", "netboot-image", "boot-config"} <= set(named), named
    unknown = {word: sorted(where) for word, where in named.items() if word not in listed}
    assert unknown == {}, f"not tasks of a project: {unknown}; doit list --all: {sorted(listed)}"
