"""Closed vocabularies of the settings files, declared once: image formats, NBI memory layouts,
boot methods, boot ROM kinds and named base configs.

Each is a StrEnum (a member *is* its string: it compares equal to it, formats as it and is
written to JSON as it), with a one-line doc per member and the behaviour that belongs to the
value. The schema takes a key's allowed values from here (:class:`ramsesbuild.schema.Choice`),
and the generated reference lists them with their docs.
"""

from __future__ import annotations

from enum import StrEnum


class ImageFormat(StrEnum):
    """[netboot] format: how a profile's kernel is wrapped for its nodes."""

    NBI = "nbi"
    ELF = "elf"
    RAW = "raw"

    @property
    def doc(self) -> str:
        return _DOCS[self]

    @property
    def wraps(self) -> bool:
        """Built by our mknbi (nbi/elf); raw is a plain copy of the bzImage."""
        return self is not ImageFormat.RAW


class NbiLayout(StrEnum):
    """[netboot] layout: the memory map of an NBI/ELF image."""

    RAMSES = "ramses"
    MKNBI_1_4_4 = "1.4.4"
    MKNBI_1_0 = "1.0"

    @property
    def doc(self) -> str:
        return _DOCS[self]

    @property
    def dialect(self) -> str:
        """mknbi command-line dialect: "1.0" only for the 1.0 layout, else "1.4"."""
        return "1.0" if self is NbiLayout.MKNBI_1_0 else "1.4"

    @property
    def has_elf(self) -> bool:
        """mkelf-linux appeared in mknbi 1.2: the 1.0 layout has no ELF variant."""
        return self is not NbiLayout.MKNBI_1_0


class BootMethod(StrEnum):
    """nodes.toml method: what the node's boot ROM loads."""

    DIRECT = "direct"
    IPXE = "ipxe"

    @property
    def doc(self) -> str:
        return _DOCS[self]


class RomKind(StrEnum):
    """nodes.toml rom: the node's boot ROM, for method "direct"."""

    ETHERBOOT = "etherboot"
    THREECOM = "3com"

    @property
    def doc(self) -> str:
        return _DOCS[self]

    def boot_image(self, image: str) -> str:
        """The file this ROM loads for the netboot image *image* (3Com MBA: its -imggen image)."""
        return mba_name(image) if self is RomKind.THREECOM else image


class NamedBase(StrEnum):
    """[profile.X] base: a base .config the kernel's own make target produces (families.toml
    bases says how, per family)."""

    DEFCONFIG = "defconfig"
    TINYCONFIG = "tinyconfig"
    ALLNOCONFIG = "allnoconfig"

    @property
    def doc(self) -> str:
        return _DOCS[self]


MBA_SUFFIX = "-imggen"


def mba_name(image: str) -> str:
    """The file name the recipe gives the 3Com MBA image of the NBI image *image* (the
    ``imggen -a`` output its dhcpd.conf names)."""
    return f"{image}{MBA_SUFFIX}"


_DOCS: dict[StrEnum, str] = {
    ImageFormat.NBI: "Etherboot tagged image (mknbi-linux)",
    ImageFormat.ELF: "ELF netboot image (mkelf-linux)",
    ImageFormat.RAW: "the plain bzImage, copied (for iPXE and other loaders of bzImages)",
    NbiLayout.RAMSES: "our layout: mknbi 1.4.4's tags with room for modern kernels' setup code",
    NbiLayout.MKNBI_1_4_4: "byte-compatible with mknbi 1.4.4 (protected-mode entry at 0x92800)",
    NbiLayout.MKNBI_1_0: "byte-compatible with mknbi 1.0 (real-mode entry at 9220:0000), NBI only",
    BootMethod.DIRECT: "the boot ROM loads the image itself (Etherboot NBI/ELF, a 3Com MBA image)",
    BootMethod.IPXE: "an iPXE script per node (ipxe/<name>.ipxe) loads the image as a bzImage with a command line",
    RomKind.ETHERBOOT: "Etherboot (or any ROM that loads the image itself)",
    RomKind.THREECOM: "3Com MBA / BootWare, TCP/IP boot method: loads <image>-imggen, the MBA image of the NBI image",
    NamedBase.DEFCONFIG: "the architecture's defconfig",
    NamedBase.TINYCONFIG: "make tinyconfig (modern kernels)",
    NamedBase.ALLNOCONFIG: "make allnoconfig (modern kernels)",
}
