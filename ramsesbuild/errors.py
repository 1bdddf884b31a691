"""Exception types. Every message names the file involved and what to do about it."""

from __future__ import annotations


class RamsesError(Exception):
    """Base class: a failure the user can act on. The message is shown as-is."""


class SettingsError(RamsesError):
    """ramses.toml is missing, malformed or inconsistent."""


class FetchError(RamsesError):
    """No mirror delivered the file."""


class VerifyError(RamsesError):
    """Checksum or OpenPGP signature check failed."""


class UnpackError(RamsesError):
    """The archive is unsafe or unusable."""


class PatchError(RamsesError):
    """A patch in the series does not apply cleanly."""


class KconfigError(RamsesError):
    """A fragment is malformed or a requested option did not land in .config."""


class FamilyError(RamsesError):
    """The kernel tree matches no family rule."""


class BuildError(RamsesError):
    """make failed; the message names the log."""


class InstallError(RamsesError):
    """Installing an artefact failed."""


class ImageError(RamsesError):
    """A netboot image (NBI/ELF/3Com) could not be built or is invalid."""


class BootConfigError(RamsesError):
    """The node inventory or generated boot configuration is invalid."""


class BootTestError(RamsesError):
    """A boot test cannot run: qemu, a boot ROM or the image is missing or unusable."""
