"""The installed version of spyglass."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("spyglass")
except PackageNotFoundError:  # running from a source tree that was not installed
    __version__ = "0.0.0"
