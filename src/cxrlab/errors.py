"""Exceptions that carry a user-facing message (the CLI prints them without a traceback)."""

from __future__ import annotations

from pathlib import Path


class CxrlabError(Exception):
    """Base class: the message is meant for the user."""


class ImageReadError(CxrlabError):
    """An image file could not be decoded. Always names the file and the reason.

    The subclasses below say what kind of problem it is (raised where that is known), so callers
    such as the web service can tell them apart by type, never by the wording of ``reason``; a
    plain ``ImageReadError`` is a corrupt, truncated or otherwise unreadable file."""

    def __init__(self, path: str | Path, reason: str) -> None:
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")


class EmptyImageError(ImageReadError):
    """The file has no bytes at all."""


class ImageTooLargeError(ImageReadError):
    """The header declares more pixels or bytes than the limit (``max_pixels``, Pillow's bomb
    ceiling, a deflated header's size): refused before anything is decoded."""


class UnknownFormatError(ImageReadError):
    """The content is not an image format cxrlab reads (PNG, JPEG, WEBP, BMP, TIFF or DICOM)."""


class UnsupportedDicomError(ImageReadError):
    """A DICOM file cxrlab cannot decode: not readable as DICOM, no pixel data, a pixel layout or
    transfer syntax no installed decoder reads (the reason names what to install, if anything)."""


class ImageRefusedError(ImageReadError):
    """The file decodes, but is not an image the models may judge (CT, MR, ultrasound, RT dose,
    segmentation, colour photograph...). ``reason`` says why, e.g. "not a chest radiograph:
    Modality CT". Per-file error handling treats it like any unreadable file: an error row or an
    HTTP 4xx, never class probabilities; the indexer excludes such files with the reason."""


class ConfigError(CxrlabError):
    """A configuration, label scheme or manifest is invalid."""
