"""The installed distribution's version, read from its metadata (one source: pyproject.toml)."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("sepconv")
except PackageNotFoundError:  # imported from a checkout that was never installed
    __version__ = "0+unknown"
