"""Our own first-stage loader: the code an NBI/ELF loader jumps to, which places the command
line (substituting ip=rom / nfsroot=rom from the DHCP reply), patches the setup header,
moves the initrd and jumps to the kernel's real-mode setup.

Source: ``ramsesbuild/data/nbi/first-stage.s`` (GNU as, .code16/.code32), one file
assembled in three flavours. The assembled bytes are shipped next to it; tests re-assemble
the source and require identical bytes, and ``python -m ramsesbuild.nbi.firststage``
regenerates them.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from ..errors import ImageError


@dataclass(frozen=True)
class Flavour:
    name: str  # file stem of the shipped blob
    symbol: int  # FLAVOUR value passed to the assembler
    description: str


FLAVOURS = {
    "16": Flavour("first16", 1, "16-bit NBI entry (far call, layout 1.0)"),
    "32": Flavour("first32", 2, "32-bit NBI entry (flat protected mode, layouts 1.4.4 and ramses)"),
    "32elf": Flavour("first32elf", 3, "32-bit ELF entry, no arguments (layout ramses, ELF)"),
}
SOURCE_NAME = "first-stage.s"
LINKER_SCRIPT = "SECTIONS { . = 0; .text : { *(.text) } /DISCARD/ : { *(*) } }\n"


def data_dir() -> Path:
    return Path(str(resources.files("ramsesbuild") / "data" / "nbi"))


def source_path() -> Path:
    return data_dir() / SOURCE_NAME


def flavour_for(layout: str, fmt: str) -> Flavour:
    if layout == "1.0":
        return FLAVOURS["16"]
    return FLAVOURS["32elf"] if fmt == "elf" else FLAVOURS["32"]


def bundled(flavour: Flavour) -> bytes:
    """The shipped, pre-assembled first stage."""
    path = data_dir() / f"{flavour.name}.bin"
    try:
        return path.read_bytes()
    except OSError as exc:
        raise ImageError(f"{path}: bundled first stage missing ({exc.strerror}); reinstall ramsesbuild or run "
                         "`python -m ramsesbuild.nbi.firststage` to assemble it") from None


def identity() -> str:
    """A short hash of all shipped first-stage blobs: changes whenever images would change."""
    h = hashlib.sha256()
    for flavour in FLAVOURS.values():
        h.update(bundled(flavour))
    return h.hexdigest()[:16]


def assemble(flavour: Flavour, source: Path | None = None) -> bytes:
    """Assemble *source* (default: the shipped one) with GNU as/ld; return the flat binary."""
    source = source or source_path()
    for tool in ("as", "ld"):
        if shutil.which(tool) is None:
            raise ImageError(f"`{tool}` not found: install binutils to assemble {source}")
    with tempfile.TemporaryDirectory(prefix="ramses-first-") as tmp:
        obj, out, script = Path(tmp, "f.o"), Path(tmp, "f.bin"), Path(tmp, "flat.ld")
        script.write_text(LINKER_SCRIPT)
        steps = [
            ["as", "--32", "--defsym", f"FLAVOUR={flavour.symbol}", "-o", str(obj), str(source)],
            ["ld", "-m", "elf_i386", "-T", str(script), "--oformat", "binary", "-o", str(out), str(obj)],
        ]
        for cmd in steps:
            proc = subprocess.run(cmd, capture_output=True, text=True)
            if proc.returncode != 0:
                raise ImageError(f"{source}: `{' '.join(cmd[:1])}` failed for flavour {flavour.name}:\n"
                                 f"{proc.stderr.strip()}")
        return out.read_bytes()


def main(argv: list[str] | None = None) -> int:
    """Re-assemble the shipped blobs from the source (developer tool)."""
    for flavour in FLAVOURS.values():
        data = assemble(flavour)
        target = data_dir() / f"{flavour.name}.bin"
        target.write_bytes(data)
        print(f"{target}: {len(data)} bytes, sha256 {hashlib.sha256(data).hexdigest()[:16]}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
