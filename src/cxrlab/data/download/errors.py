"""User-facing errors of the dataset downloader (all :class:`~cxrlab.errors.CxrlabError`)."""

from __future__ import annotations

from cxrlab.errors import CxrlabError


class DatasetError(CxrlabError):
    """Unknown dataset, dataset that needs manual steps, bad destination..."""


class DownloadError(CxrlabError):
    """A download failed (HTTP error, interrupted, incomplete). Names the URL."""


class OfflineError(DownloadError):
    """The host could not be reached at all: the machine seems offline."""


class ChecksumError(DownloadError):
    """The downloaded bytes do not match the expected SHA-256 (the file is removed)."""


class UnsafeArchiveError(CxrlabError):
    """An archive member would land outside the destination (zip-slip), is a link or device, or
    the archive is corrupt or too large once unpacked. Nothing is extracted."""
