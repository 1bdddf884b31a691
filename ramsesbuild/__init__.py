"""ramsesbuild: the Ramses diskless-cluster kernel and netboot-image pipeline."""

__version__ = "0.1.0"
