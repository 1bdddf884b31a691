"""Our own first-stage loader: the code an NBI/ELF loader jumps to, which places the command
line (substituting ip=rom / nfsroot=rom from the DHCP reply), patches the setup header,
moves the initrd and jumps to the kernel's real-mode setup.

Source: ``ramsesbuild/data/nbi/first-stage.s`` (GNU as, .code16/.code32), one file
assembled in three flavours. The assembled bytes are shipped next to it; tests re-assemble
the source and require identical bytes, and ``python -m ramsesbuild.nbi.firststage``
regenerates them together with ``first-stage.json`` (size, sha256 and the command-line
buffer size of each flavour, read from the assembler's symbols).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import ImageError
from ..pkgdata import DATA


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
MANIFEST_NAME = "first-stage.json"
LINKER_SCRIPT = "SECTIONS { . = 0; .text : { *(.text) } /DISCARD/ : { *(*) } }\n"


def data_dir() -> Path:
    return DATA / "nbi"


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


def manifest() -> dict[str, dict[str, object]]:
    """The shipped first-stage.json: {blob name: {size, sha256, cmdline_capacity}}."""
    import json

    path = data_dir() / MANIFEST_NAME
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise ImageError(f"{path}: unreadable first-stage manifest ({exc}); reinstall ramsesbuild") from None


def cmdline_capacity(flavour: Flavour) -> int:
    """Longest command line (bytes) the bundled first stage keeps at boot, substitutions included."""
    entry: dict[str, Any] = manifest()[flavour.name]
    return int(entry["cmdline_capacity"])


def identity() -> str:
    """A short hash of all shipped first-stage blobs: changes whenever images would change."""
    import hashlib

    h = hashlib.sha256()
    for flavour in FLAVOURS.values():
        h.update(bundled(flavour))
    return h.hexdigest()[:16]


def assemble(flavour: Flavour, source: Path | None = None) -> bytes:
    """Assemble *source* (default: the shipped one) with GNU as/ld; return the flat binary."""
    return assemble_with_info(flavour, source)[0]


def assemble_with_info(flavour: Flavour, source: Path | None = None) -> tuple[bytes, dict[str, object]]:
    """Assemble like assemble(); also return the manifest entry (size, sha256, cmdline_capacity)."""
    import hashlib

    from .. import asm

    source = source or source_path()
    data, addr = asm.assemble_flat(source, defsyms={"FLAVOUR": flavour.symbol}, linker_script=LINKER_SCRIPT)
    info = {"size": len(data), "sha256": hashlib.sha256(data).hexdigest(),
            "cmdline_capacity": addr["logbuf"] - addr["cmdbuf"] - 1}
    return data, info


def main(argv: list[str] | None = None) -> int:
    """Re-assemble the shipped blobs and manifest from the source (developer tool)."""
    import json

    entries = {}
    for flavour in FLAVOURS.values():
        data, info = assemble_with_info(flavour)
        target = data_dir() / f"{flavour.name}.bin"
        target.write_bytes(data)
        entries[flavour.name] = info
        print(f"{target}: {len(data)} bytes, command line up to {info['cmdline_capacity']} bytes")
    (data_dir() / MANIFEST_NAME).write_text(json.dumps(entries, indent=2, sort_keys=True) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
