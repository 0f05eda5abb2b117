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
    """The file decodes, but is not an image the models may judge (CT, MR, ultrasound, RT dose,
    segmentation, colour photograph...). ``reason`` says why, e.g. "not a chest radiograph:
    Modality CT". Per-file error handling treats it like any unreadable file: an error row or an
    HTTP 4xx, never class probabilities; the indexer excludes such files with the reason."""


class ConfigError(CxrlabError):
    """A configuration, label scheme or manifest is invalid."""
