"""Read PNG / JPEG / WEBP / BMP / TIFF / GIF files with Pillow into 2-D gray pixels.

EXIF orientation, palette/RGB/RGBA to gray, 16-bit PNG, the pixel limit (checked from the header,
before decoding), colour photographs refused by their chroma, multi-frame files (animated GIF,
multi-page TIFF) read at their first frame with a warning. Colour JPEGs are checked for chroma on a
1/8-scale DCT decode and then decoded straight to gray, which saves two thirds of the memory.
"""

from __future__ import annotations

import math
import warnings
from typing import BinaryIO

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from cxrlab.errors import ImageReadError, ImageRefusedError, ImageTooLargeError, UnknownFormatError
from cxrlab.io.colour import Chroma, measure_chroma
from cxrlab.io.flags import image_warnings
from cxrlab.io.loaded import LoadedImage

_COLOUR_MODES = frozenset({"RGB", "RGBA", "RGBX", "RGBa", "P", "PA", "CMYK", "YCbCr", "LAB", "HSV"})
_JPEG_FORMATS = frozenset({"JPEG", "MPO"})


def read_raster(
    source: BinaryIO, label: str, max_pixels: int, reduce_to: int | None = None, radiograph_only: bool = True
) -> LoadedImage:
    """Decode the first frame of an image file. Raises :class:`ImageReadError`."""
    try:
        with warnings.catch_warnings():
            # Pillow's own bomb limit is a process-wide constant; cxrlab applies ``max_pixels`` instead.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            return _decode(source, label, max_pixels, reduce_to, radiograph_only)
    except ImageReadError:
        raise
    except Image.DecompressionBombError as exc:
        raise ImageTooLargeError(label, f"decompression bomb refused by Pillow, whose hard limit is "
                                    f"{2 * (Image.MAX_IMAGE_PIXELS or 0):,} pixels ({exc})") from None
    except UnidentifiedImageError:
        raise UnknownFormatError(label, "not a recognised image format (PNG, JPEG, WEBP, BMP, TIFF or DICOM)") from None
    except (OSError, ValueError, SyntaxError, EOFError) as exc:
        raise ImageReadError(label, f"corrupt or truncated image ({exc})") from None


def _decode(source: BinaryIO, label: str, max_pixels: int, reduce_to: int | None, radiograph_only: bool) -> LoadedImage:
    img = Image.open(source)
    fmt = img.format or "unknown"
    width, height = img.size
    if width * height > max_pixels:
        raise ImageTooLargeError(label, f"image is {width}x{height} = {width * height:,} pixels, over the limit of "
                                    f"{max_pixels:,}")
    frames = _frame_count(img)
    notes: list[str] = []
    if img.mode in _COLOUR_MODES:
        chroma = _jpeg_chroma(source) if fmt in _JPEG_FORMATS else _chroma(img)
        if chroma.is_colour and radiograph_only:
            raise ImageRefusedError(label, chroma.refusal(f"photograph ({fmt} {img.mode})"))
        if chroma.is_tinted:
            notes.append(chroma.tint_warning())
        if fmt in _JPEG_FORMATS:
            source.seek(0)
            img = Image.open(source)
    if fmt in _JPEG_FORMATS:
        img.draft("L", (reduce_to, reduce_to) if reduce_to else img.size)
    img = ImageOps.exif_transpose(img)
    pixels, bits = _pil_to_gray(img)
    if pixels.ndim != 2 or pixels.size == 0:
        raise ImageReadError(label, f"unexpected decoded shape {pixels.shape}")
    return LoadedImage(pixels=pixels, bits=bits, format=fmt, warnings=image_warnings(pixels, frames=frames) + tuple(notes))


def _frame_count(img: Image.Image) -> int:
    if not getattr(img, "is_animated", False) and img.format not in ("TIFF", "MPO"):
        return 1
    try:
        return max(int(getattr(img, "n_frames", 1)), 1)
    finally:
        img.seek(0)


def _jpeg_chroma(source: BinaryIO) -> Chroma:
    """Chroma of a colour JPEG from a DCT-domain 1/8-scale decode (cheap at any size)."""
    source.seek(0)
    small = Image.open(source)
    small.draft("RGB", (max(small.size[0] // 8, 1), max(small.size[1] // 8, 1)))
    return measure_chroma(np.asarray(small.convert("RGB")))


def _chroma(img: Image.Image) -> Chroma:
    work = img if img.mode in ("RGB", "RGBA") else img.convert("RGB")
    factor = max(1, math.ceil(max(work.size) / 1024))
    if factor > 1:
        work = work.reduce(factor)
    return measure_chroma(np.asarray(work))


def _pil_to_gray(img: Image.Image) -> tuple[np.ndarray, int]:
    mode = img.mode
    if mode in ("I;16", "I;16B", "I;16L", "I;16N"):
        return np.asarray(img, dtype=np.uint16), 16
    if mode == "I":
        arr = np.asarray(img, dtype=np.int64)
        if arr.min() >= 0 and arr.max() <= 255:
            return arr.astype(np.uint8), 8
        return _rescale_to_uint16(arr.astype(np.float64)), 16
    if mode == "F":
        return _rescale_to_uint16(np.asarray(img, dtype=np.float64)), 16
    if mode == "L":
        return np.asarray(img, dtype=np.uint8), 8
    if mode in ("LA", "RGBA", "PA"):
        img = img.convert("RGBA") if mode == "PA" else img
        img = img.convert("RGB") if img.mode == "RGBA" else img.convert("L")
    return np.asarray(img.convert("L"), dtype=np.uint8), 8


def _rescale_to_uint16(arr: np.ndarray) -> np.ndarray:
    lo, hi = float(np.min(arr)), float(np.max(arr))
    if hi <= lo:
        return np.zeros(arr.shape, dtype=np.uint16)
    return np.round((arr - lo) * (65535.0 / (hi - lo))).astype(np.uint16)
