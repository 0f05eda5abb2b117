"""Read any supported chest X-ray file (PNG, JPEG, WEBP, BMP, TIFF, DICOM) into a 2-D array.

This is the one place that knows about file formats: EXIF orientation, palette/RGB/RGBA to
gray, 16-bit PNG, DICOM modality/VOI LUTs, MONOCHROME1 inversion, and decompression-bomb limits.
Everything downstream sees a :class:`LoadedImage` whose pixels are MONOCHROME2 (bright = dense).
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from cxrlab.errors import ImageReadError

#: Default pixel limit (width * height). A 4k x 4k film is 16.7 M pixels; DICOM mammo can be more.
DEFAULT_MAX_PIXELS = 64_000_000

IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff"})
DICOM_SUFFIXES = frozenset({".dcm", ".dicom"})
SUPPORTED_SUFFIXES = IMAGE_SUFFIXES | DICOM_SUFFIXES


@dataclass(frozen=True)
class LoadedImage:
    """A decoded image: 2-D ``uint8`` or ``uint16`` pixels, MONOCHROME2."""

    pixels: np.ndarray
    bits: int
    format: str
    meta: dict[str, str] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()

    @property
    def height(self) -> int:
        return int(self.pixels.shape[0])

    @property
    def width(self) -> int:
        return int(self.pixels.shape[1])


def is_dicom_bytes(head: bytes) -> bool:
    """True when the bytes carry the DICOM preamble magic ``DICM`` at offset 128."""
    return len(head) >= 132 and head[128:132] == b"DICM"


def read_image(
    source: str | Path | bytes,
    *,
    name: str | None = None,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    reduce_to: int | None = None,
) -> LoadedImage:
    """Decode a file path or raw bytes.

    ``reduce_to`` lets JPEG decoding downscale in the DCT domain (to no less than that size on the
    short side), which is much faster for large files when only a thumbnail is needed.
    Raises :class:`ImageReadError` naming the file and the problem.
    """
    label = name or (str(source) if not isinstance(source, bytes) else "<upload>")
    try:
        data = source if isinstance(source, bytes) else Path(source).read_bytes()
    except OSError as exc:
        raise ImageReadError(label, f"cannot read file ({exc.strerror or exc})") from None
    if not data:
        raise ImageReadError(label, "file is empty (0 bytes)")
    suffix = Path(label).suffix.lower()
    if is_dicom_bytes(data[:132]) or suffix in DICOM_SUFFIXES:
        return _read_dicom(data, label, max_pixels)
    return _read_raster(data, label, max_pixels, reduce_to)


def _read_raster(data: bytes, label: str, max_pixels: int, reduce_to: int | None) -> LoadedImage:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(data))
            fmt = img.format or "unknown"
            width, height = img.size
            if width * height > max_pixels:
                raise ImageReadError(
                    label, f"image is {width}x{height} = {width * height:,} pixels, over the limit of {max_pixels:,}"
                )
            if reduce_to and fmt == "JPEG":
                img.draft("L", (reduce_to, reduce_to))
            img = ImageOps.exif_transpose(img)
            pixels, bits = _pil_to_gray(img)
    except ImageReadError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageReadError(label, f"decompression bomb refused ({exc})") from None
    except UnidentifiedImageError:
        raise ImageReadError(label, "not a recognised image format (PNG, JPEG, WEBP, BMP, TIFF or DICOM)") from None
    except (OSError, ValueError, SyntaxError) as exc:
        raise ImageReadError(label, f"corrupt or truncated image ({exc})") from None
    if pixels.ndim != 2 or pixels.size == 0:
        raise ImageReadError(label, f"unexpected decoded shape {pixels.shape}")
    return LoadedImage(pixels=pixels, bits=bits, format=fmt)


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


def _read_dicom(data: bytes, label: str, max_pixels: int) -> LoadedImage:
    import pydicom
    from pydicom.pixels import apply_modality_lut, apply_voi_lut

    try:
        ds = pydicom.dcmread(io.BytesIO(data), force=True)
    except Exception as exc:  # pydicom raises many types for corrupt files
        raise ImageReadError(label, f"not a readable DICOM file ({exc})") from None
    meta = dicom_meta(ds)
    if "PixelData" not in ds:
        raise ImageReadError(label, "DICOM file has no pixel data")
    rows, cols = int(ds.get("Rows", 0)), int(ds.get("Columns", 0))
    if rows * cols > max_pixels:
        raise ImageReadError(label, f"DICOM is {cols}x{rows} pixels, over the limit of {max_pixels:,}")
    try:
        arr = ds.pixel_array
    except Exception as exc:
        tsyntax = getattr(getattr(ds, "file_meta", None), "TransferSyntaxUID", "unknown")
        raise ImageReadError(
            label,
            f"unsupported or corrupt DICOM pixel data (transfer syntax {tsyntax}): {exc}. "
            "Compressed DICOM may need 'pip install pylibjpeg pylibjpeg-libjpeg'",
        ) from None
    if int(ds.get("NumberOfFrames", 1) or 1) > 1:
        arr = arr[0]
    photometric = meta.get("photometric", "MONOCHROME2")
    if arr.ndim == 3:  # RGB / YBR colour DICOM
        arr = arr.astype(np.float64) @ np.array([0.299, 0.587, 0.114])
    else:
        arr = apply_modality_lut(arr, ds)
        if "WindowCenter" in ds or "VOILUTSequence" in ds:
            arr = apply_voi_lut(arr, ds)
    arr = np.asarray(arr, dtype=np.float64)
    if photometric == "MONOCHROME1":
        arr = arr.max() - arr
    bits = int(ds.get("BitsStored", 16) or 16)
    if bits <= 8:
        lo, hi = arr.min(), arr.max()
        scaled = np.zeros(arr.shape) if hi <= lo else (arr - lo) * (255.0 / (hi - lo))
        return LoadedImage(pixels=np.round(scaled).astype(np.uint8), bits=bits, format="DICOM", meta=meta)
    return LoadedImage(pixels=_rescale_to_uint16(arr), bits=bits, format="DICOM", meta=meta)


def dicom_meta(ds) -> dict[str, str]:
    """The DICOM header fields cxrlab records in the manifest."""
    fields = {
        "patient_id": "PatientID",
        "view": "ViewPosition",
        "photometric": "PhotometricInterpretation",
        "bits_stored": "BitsStored",
        "modality": "Modality",
        "body_part": "BodyPartExamined",
        "patient_age": "PatientAge",
        "patient_sex": "PatientSex",
    }
    out: dict[str, str] = {}
    for key, tag in fields.items():
        value = ds.get(tag)
        if value not in (None, ""):
            out[key] = str(value).strip()
    return out


def to_uint8(image: LoadedImage) -> np.ndarray:
    """8-bit grayscale view of an image; >8-bit data is min-max stretched over its used range."""
    px = image.pixels
    if px.dtype == np.uint8:
        return px
    lo, hi = int(px.min()), int(px.max())
    if hi <= lo:
        return np.zeros(px.shape, dtype=np.uint8)
    return np.round((px.astype(np.float32) - lo) * (255.0 / (hi - lo))).astype(np.uint8)
