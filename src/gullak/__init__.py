"""Gullak: rewards, wallet and loyalty platform."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("gullak")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0"
