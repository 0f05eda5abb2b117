"""Read any supported chest X-ray file (PNG, JPEG, WEBP, BMP, TIFF, GIF, DICOM) into a 2-D array.

This is the one place that knows about file formats. The format is sniffed from the content, not the
file name. DICOM (:mod:`cxrlab.io.dicom`): header first, pixel limits before anything is inflated or
decoded, only chest radiographs accepted (others raise :class:`~cxrlab.errors.ImageRefusedError`),
first frame only, modality/VOI LUTs, MONOCHROME1. Other formats (:mod:`cxrlab.io.raster`): EXIF,
palette/RGB/RGBA to gray, 16-bit, colour photographs refused. Everything downstream sees a
:class:`LoadedImage` whose pixels are MONOCHROME2 (bright = dense), with ``warnings`` for what
deserves a second look (:mod:`cxrlab.io.flags`). Any unexpected decoder failure becomes an
:class:`~cxrlab.errors.ImageReadError` naming the file.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import os
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

import numpy as np

from cxrlab.errors import EmptyImageError, ImageReadError
from cxrlab.io.dicom_meta import HEADER_FIELDS, dicom_meta
from cxrlab.io.flags import image_warnings
from cxrlab.io.loaded import LoadedImage

__all__ = [
    "DEFAULT_MAX_PIXELS", "DICOM_SUFFIXES", "HEADER_FIELDS", "IMAGE_SUFFIXES", "SUPPORTED_SUFFIXES", "LoadedImage",
    "dicom_meta", "image_warnings", "is_dicom_bytes", "read_image", "sniff_format", "to_uint8",
]

#: Default pixel limit (width * height). A 4k x 4k film is 16.7 M pixels; DICOM mammo can be more.
DEFAULT_MAX_PIXELS = 64_000_000

IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff"})
DICOM_SUFFIXES = frozenset({".dcm", ".dicom"})
SUPPORTED_SUFFIXES = IMAGE_SUFFIXES | DICOM_SUFFIXES

_MAGIC = (
    (b"\x89PNG\r\n\x1a\n", "PNG"), (b"\xff\xd8\xff", "JPEG"), (b"GIF87a", "GIF"), (b"GIF89a", "GIF"),
    (b"BM", "BMP"), (b"II*\x00", "TIFF"), (b"MM\x00*", "TIFF"), (b"\x00\x00\x00\x0cjP  ", "JPEG 2000"),
)
_DICOM_GROUPS = frozenset({0x0002, 0x0008})


def is_dicom_bytes(head: bytes) -> bool:
    """True when the bytes carry the DICOM preamble magic ``DICM`` at offset 128."""
    return len(head) >= 132 and head[128:132] == b"DICM"


def sniff_format(head: bytes, suffix: str = "") -> str:
    """``DICOM`` or a raster format name from the first 132 bytes; the suffix only breaks ties
    (DICOM files without a preamble); ``""`` when nothing is recognised."""
    if is_dicom_bytes(head):
        return "DICOM"
    for magic, name in _MAGIC:
        if head.startswith(magic):
            return name
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "WEBP"
    if suffix.lower() in DICOM_SUFFIXES:
        return "DICOM"
    if len(head) >= 8 and (int.from_bytes(head[:2], "little") in _DICOM_GROUPS
                           or int.from_bytes(head[:2], "big") in _DICOM_GROUPS):
        return "DICOM"  # a bare DICOM dataset (no preamble, no file meta)
    return ""


def read_image(
    source: str | Path | bytes,
    *,
    name: str | None = None,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    reduce_to: int | None = None,
    radiograph_only: bool = True,
) -> LoadedImage:
    """Decode a file path or raw bytes (the first frame of multi-frame files).

    ``reduce_to`` lets JPEG decoding downscale in the DCT domain (to no less than that size on the
    short side), which is much faster for large files when only a thumbnail is needed.
    ``radiograph_only=False`` decodes any DICOM object / colour picture instead of refusing it (the
    reason then comes back among the warnings).
    Raises :class:`ImageReadError` (or its subclass :class:`~cxrlab.errors.ImageRefusedError`)
    naming the file and the problem.
    """
    from cxrlab.io.dicom import read_dicom
    from cxrlab.io.raster import read_raster

    label = name or (str(source) if not isinstance(source, bytes) else "<upload>")
    try:
        with _opened(source, label) as fh:
            suffix = Path(label).suffix.lower()
            kind = sniff_format(fh.read(132), suffix)
            fh.seek(0)
            if kind == "DICOM":
                return read_dicom(fh, label, max_pixels, radiograph_only)
            image = read_raster(fh, label, max_pixels, reduce_to, radiograph_only)
            if suffix in DICOM_SUFFIXES:
                note = f"file named {suffix} holds a {image.format} image, read as {image.format}"
                image = dataclasses.replace(image, warnings=(*image.warnings, note))
            return image
    except ImageReadError:
        raise
    except MemoryError:
        raise ImageReadError(label, "out of memory while decoding") from None
    except Exception as exc:  # a decoder bug on one odd file must never become a traceback
        raise ImageReadError(label, f"unexpected error while decoding ({type(exc).__name__}: "
                                    f"{' '.join(str(exc).split())[:300]})") from None


@contextlib.contextmanager
def _opened(source: str | Path | bytes, label: str) -> Iterator[BinaryIO]:
    if isinstance(source, bytes):
        if not source:
            raise EmptyImageError(label, "file is empty (0 bytes)")
        yield io.BytesIO(source)
        return
    try:
        fh = open(source, "rb")  # noqa: SIM115 - closed below
    except OSError as exc:
        raise ImageReadError(label, f"cannot read file ({exc.strerror or exc})") from None
    with fh:
        if os.fstat(fh.fileno()).st_size == 0:
            raise EmptyImageError(label, "file is empty (0 bytes)")
        yield fh


def to_uint8(image: LoadedImage) -> np.ndarray:
    """8-bit grayscale view of an image; >8-bit data is min-max stretched over its used range."""
    px = image.pixels
    if px.dtype == np.uint8:
        return px
    lo, hi = int(px.min()), int(px.max())
    if hi <= lo:
        return np.zeros(px.shape, dtype=np.uint8)
    levels = np.arange(lo, hi + 1, dtype=np.float32)  # a lookup table: no float copy of the image
    table = np.rint((levels - lo) * np.float32(255.0 / (hi - lo))).astype(np.uint8)
    return table[px - np.asarray(lo, dtype=px.dtype)] if lo else table[px]
