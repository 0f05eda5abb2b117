"""Exceptions that carry a user-facing message (the CLI prints them without a traceback)."""

from __future__ import annotations

from pathlib import Path


class CxrlabError(Exception):
    """Base class: the message is meant for the user."""


class ImageReadError(CxrlabError):
    """An image file could not be decoded. Always names the file and the reason."""

    def __init__(self, path: str | Path, reason: str) -> None:
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")


class ImageRefusedError(ImageReadError):
    """A readable file that is not a chest radiograph cxrlab may classify (CT, MR, a report...):
    a per-file error with the reason, never probabilities."""


class ConfigError(CxrlabError):
    """A configuration, label scheme or manifest is invalid."""
