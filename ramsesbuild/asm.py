"""Assemble our own x86 sources (GNU as + ld) into flat binaries.

Used by the developer tools that regenerate the shipped loader blobs (the NBI first stage, the
3Com MBA header) and by the tests that check the shipped bytes come from the shipped source.
Nothing at pipeline run time needs an assembler.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

from .errors import ImageError

TOOLS = ("as", "ld", "nm")


def have_binutils() -> bool:
    return all(shutil.which(t) for t in TOOLS)


def assemble_flat(source: Path, *, origin: int = 0, defsyms: dict[str, int] | None = None,
                  linker_script: str | None = None) -> tuple[bytes, dict[str, int]]:
    """Assemble *source* (32-bit as; the source may switch to .code16) into a flat binary.

    Links at *origin* (``-Ttext``) or with *linker_script*. Returns the bytes and the object's
    symbol addresses (from ``nm``), e.g. to measure a buffer between two labels.
    """
    missing = [t for t in TOOLS if shutil.which(t) is None]
    if missing:
        raise ImageError(f"{source}: {', '.join(missing)} not found; install binutils to assemble it")
    syms = [arg for name, value in (defsyms or {}).items() for arg in ("--defsym", f"{name}={value}")]
    with tempfile.TemporaryDirectory(prefix="ramses-asm-") as tmp:
        obj, out = Path(tmp, "a.o"), Path(tmp, "a.bin")
        link = [f"-Ttext={origin:#x}"]
        if linker_script is not None:
            script = Path(tmp, "flat.ld")
            script.write_text(linker_script)
            link = ["-T", str(script)]
        _run(["as", "--32", *syms, "-o", str(obj), str(source)], source)
        _run(["ld", "-m", "elf_i386", *link, "--oformat=binary", "-o", str(out), str(obj)], source)
        listing = _run(["nm", str(obj)], source)
        data = out.read_bytes()
    symbols = {p[2]: int(p[0], 16) for p in (line.split() for line in listing.splitlines()) if len(p) == 3}
    return data, symbols


def _run(cmd: list[str], source: Path) -> str:
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise ImageError(f"{source}: `{' '.join(cmd)}` failed:\n{proc.stderr.strip()}")
    return proc.stdout
