"""MknbiOptions: everything build_image needs besides the kernel and output paths."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..errors import ImageError
from ..vocabulary import ImageFormat, NbiLayout

# the formats our mknbi writes (ramses.toml's raw is a plain copy) and the layouts, declared in vocabulary
FORMATS = tuple(f.value for f in ImageFormat if f.wraps)
LAYOUTS = tuple(layout.value for layout in NbiLayout)
DEFAULT_LAYOUT = NbiLayout.RAMSES.value


@dataclass(frozen=True)
class MknbiOptions:
    """Options of ``mknbi-linux`` / ``mkelf-linux``.

    ``layout`` selects the memory map and header style:

    * ``"ramses"`` (default): our layout for modern kernels. Same tags and 32-bit entry as
      mknbi 1.4.4, but room for up to 63 setup sectors (modern bzImages have 30-40; both
      historic layouts hold at most 16) and a kernel stack/heap that never overlaps the
      command line. ELF output also loads the header block so the first stage can find
      its segments under loaders that pass no arguments (iPXE).
    * ``"1.4.4"``: byte-compatible with mknbi 1.4.4 (protected-mode entry at 0x92800).
    * ``"1.0"``: byte-compatible with mknbi 1.0 (real-mode entry at 9220:0000), NBI only.

    ``first32`` replaces the bundled first stage (e.g. the original ``first32@0x92800.linux``
    for byte-identical 1.4.4 output). ``relocseg`` moves the real-mode block (1.4.4:
    0x8000 or 0x9000; ramses: 0x1000..0x9000 in steps of 0x1000, default 0x8000 for
    protocol >= 2.02 bzImages, else 0x9000). ``append == ""`` means "not given".
    """

    format: str = "nbi"
    append: str = ""
    ip: str | None = None
    rootdir: str | None = None
    initrd: Path | None = None
    first32: Path | None = None
    relocseg: int | None = None
    layout: str = DEFAULT_LAYOUT
    param: str | None = None
    rootmode: str | None = None
    rdbase: str | None = None
    rdmode: str | None = None
    rdnopad: bool = False
    progreturns: bool = False

    def __post_init__(self) -> None:
        if self.format not in FORMATS:
            raise ImageError(f"unknown image format {self.format!r}: use one of {', '.join(FORMATS)}")
        if self.layout not in LAYOUTS:
            raise ImageError(f"unknown layout {self.layout!r}: use one of {', '.join(LAYOUTS)}")
        if not NbiLayout(self.layout).has_elf and self.format == ImageFormat.ELF:
            raise ImageError("layout 1.0 has no ELF variant (mkelf-linux appeared in 1.2): use layout 1.4.4 or ramses")
        if self.relocseg is not None and not isinstance(self.relocseg, int):
            raise ImageError(f"relocseg must be an integer segment such as 0x9000, got {self.relocseg!r}")
        for name in ("initrd", "first32"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, Path):
                object.__setattr__(self, name, Path(value))

    @property
    def dialect(self) -> str:
        """Command-line dialect: "1.0" only for the 1.0 layout."""
        return NbiLayout(self.layout).dialect
