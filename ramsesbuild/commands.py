"""`ramsesbuild` command line: a thin dispatcher to per-concern sub-commands.

Each sub-command lives in its own module and exposes ``main(argv: list[str]) -> int``.
The table maps the public command name to ``"module:function"`` so importing the CLI
stays cheap and one module's import error does not break the others.
"""

from __future__ import annotations

import importlib
import sys

from .errors import RamsesError

COMMANDS: dict[str, tuple[str, str]] = {
    "init": ("ramsesbuild.scaffold:main", "write a new project (settings, nodes, fragments, CI file); then doit"),
    "mknbi-linux": ("ramsesbuild.nbi.mknbi:mknbi_linux", "wrap a Linux kernel into a tagged NBI image"),
    "mkelf-linux": ("ramsesbuild.nbi.mknbi:mkelf_linux", "wrap a Linux kernel into an ELF netboot image"),
    "nbi-info": ("ramsesbuild.nbi.mknbi:nbi_info", "dump and validate an NBI image"),
    "imggen": ("ramsesbuild.imggen.command:main", "prepend a 3Com MBA TCP/IP image header"),
    "status": ("ramsesbuild.status:main", "what tftpboot holds and which node boots what"),
    "boot-test": ("ramsesbuild.boottest:main", "boot a netboot image in qemu and report how far it got"),
    "ipxe-rom": ("ramsesbuild.ipxerom:main", "build NBI-capable iPXE boot ROMs from an iPXE tarball (cached)"),
    "node-reset": ("ramsesbuild.noderoot.cli:main", "return nodes' own directories to pristine (keys kept)"),
}


def usage() -> str:
    lines = ["usage: ramsesbuild [--version] COMMAND [ARGS...]", "", "commands:"]
    lines += [f"  {name:<14} {doc}" for name, (_, doc) in COMMANDS.items()]
    lines += ["", "The build pipeline itself runs with doit in a project (`ramsesbuild init DIR` writes one): "
              "`doit list` shows its tasks."]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if not args or args[0] in ("-h", "--help"):
        print(usage())
        return 0 if args else 2
    if args[0] in ("--version", "-V", "version"):
        from . import __version__

        print(f"ramsesbuild {__version__}")
        return 0
    name, rest = args[0], args[1:]
    if name not in COMMANDS:
        print(f"ramsesbuild: unknown command {name!r}\n\n{usage()}", file=sys.stderr)
        return 2
    target = COMMANDS[name][0]
    module_name, func_name = target.split(":")
    try:
        func = getattr(importlib.import_module(module_name), func_name)
        return int(func(rest) or 0)
    except RamsesError as exc:
        print(f"ramsesbuild {name}: error: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        from .errors import os_error_message

        print(f"ramsesbuild {name}: error: {os_error_message(exc)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
