"""wrappers.toml, declared: the compiler wrappers [kernel] wrapper may name.

One table per wrapper (its name is the table's). Read by :mod:`ramsesbuild.wrappers` and
documented in docs/reference/wrappers-toml.md by :mod:`ramsesbuild.docgen`.
"""

from __future__ import annotations

from ..kinds import Flag, Strings, StrMap, Text
from ..schema import FileSchema, Key, Section, Shape, Sub

ENV_FIELDS = ("basedir", "distcc_hosts")
ENV_DEFAULT_FIELDS = (*ENV_FIELDS, "cache_home")


class WrapperTable(Section):
    TITLE = "[<wrapper>]"
    DOC = "One compiler wrapper; `[kernel] wrapper = \"<wrapper>\"` in ramses.toml selects it."
    description = Key(Text(), "one line for messages and the reference")
    prefix = Key(Strings(nonempty=True), "programs run in front of the real compiler (looked up on PATH)")
    commands = Key(StrMap(), "programs the wrapper runs -> the Debian package providing each (a missing one "
                   "fails the build naming `apt-get install <package>`)")
    hosts = Key(Flag(), "needs a distcc host list: [kernel] distcc_hosts, else $DISTCC_HOSTS (never distcc's "
                "silent fallback to /etc/distcc/hosts)", False)
    env = Key(StrMap(ENV_FIELDS), "environment for every make ({basedir}: the directory holding the source tree "
              "and build directory, so ccache shares hits across profiles and projects; {distcc_hosts}: "
              "[kernel] distcc_hosts joined by spaces, unset when empty)", {})
    env_default = Key(StrMap(ENV_DEFAULT_FIELDS), "like env, but only for variables not already in the "
                      "environment ({cache_home}: $XDG_CACHE_HOME, else ~/.cache)", {})


class WrappersToml(Section):
    TITLE = "wrappers.toml"
    TABLES = (Sub("", WrapperTable, Shape.MAP, names_doc="the wrapper's name"),)


WRAPPERS_TOML = FileSchema(
    file="wrappers.toml",
    page="wrappers-toml.md",
    doc=("Compiler wrappers, shipped as `ramsesbuild/data/wrappers.toml`. A wrapper runs in front of the "
         "compiler that CC and HOSTCC name: a program of that name (gcc) first on make's PATH, in "
         "build/<profile>/shims, runs `<prefix> /usr/bin/gcc \"$@\"`. The make command lines stay the same "
         "with or without a wrapper (kbuild records each object's full command), so a wrapper is not part "
         "of a build's identity: changing it re-runs nothing, never triggers 2.4's `make clean`, and the "
         "images are the same bytes."),
    root=WrappersToml,
    declared_in="ramsesbuild/schemas/wrappers.py",
)
