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


class LockError(RamsesError):
    """Another run holds the project's build directory."""


class LinkError(RamsesError):
    """A symbolic link is where the pipeline writes: it is never written through."""


class ToolMissing(RamsesError):
    """A program the pipeline needs is not installed; the message names the package."""


def os_error_message(exc: OSError, doing: str = "") -> str:
    """One line for an OSError: the path, what happened, and what to do about it."""
    import errno

    path = exc.filename or "?"
    if exc.filename2:
        path = f"{path} -> {exc.filename2}"
    what = f" while {doing}" if doing else ""
    code = exc.errno
    if code == errno.ENOSPC or code == errno.EDQUOT:
        return (f"{path}: no space left on the device{what}; free space there (df -h {exc.filename or '.'}) "
                "and run again: the interrupted step starts over, nothing half-written is kept")
    if code in (errno.EACCES, errno.EPERM):
        return (f"{path}: permission denied{what}; give this user write access there, or point ramses.toml "
                "[paths] at a directory you own")
    if code == errno.EROFS:
        return f"{path}: read-only file system{what}; remount it read-write or point ramses.toml [paths] elsewhere"
    if code in (errno.ENOTDIR, errno.EEXIST):
        return (f"{path}: a file is in the way{what} (a directory was expected, or the name already exists); "
                "move it away and run again")
    if code == errno.EISDIR:
        return f"{path}: is a directory{what}, where a file was expected; move it away and run again"
    if code == errno.ENOENT:
        return f"{path}: no such file or directory{what}"
    return f"{path}: {exc.strerror or exc}{what}"


class BootTestError(RamsesError):
    """A boot test cannot run: qemu, a boot ROM or the image is missing or unusable."""


class RootError(RamsesError):
    """A node root or a node's per-node layer could not be built, written or reset."""


class RootSettingError(RootError):
    """A node root could not be built because of one of its class's [profile.X.root] settings:
    *key* names it, for the caller that knows the settings file to point at its line."""

    def __init__(self, message: str, key: str) -> None:
        super().__init__(message)
        self.key = key


class WrapperError(RamsesError):
    """A compiler-wrapper file (wrappers.toml) is malformed."""


class InitError(RamsesError):
    """`ramsesbuild init` cannot write the project (a file in the way, an unwritable place)."""
