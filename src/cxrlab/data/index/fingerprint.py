"""Per-image fingerprints computed once at indexing: exact pixel hash, perceptual hash, intensity stats.

- ``pixel_sha1``: SHA-1 of the decoded 8-bit pixels and shape -> same picture in another container
  (PNG vs lossless re-save) is an exact duplicate even when the file bytes differ.
- ``phash``: 64-bit DCT perceptual hash of a 32x32 thumbnail (robust to re-encoding, resizing and
  global brightness/contrast changes), as 16 hex digits.
"""

from __future__ import annotations

import hashlib

import numpy as np
from PIL import Image
from scipy.fft import dctn


def pixel_sha1(gray: np.ndarray) -> str:
    h = hashlib.sha1()
    h.update(np.asarray(gray.shape, dtype=np.int64).tobytes())
    h.update(np.ascontiguousarray(gray).tobytes())
    return h.hexdigest()


def thumbnail(gray: np.ndarray, size: int = 32) -> np.ndarray:
    """A size x size float32 thumbnail (area-averaged) of a uint8 image."""
    img = Image.fromarray(gray).resize((size, size), Image.Resampling.BOX)
    return np.asarray(img, dtype=np.float32)


def phash_bits(thumb32: np.ndarray) -> np.ndarray:
    """64 booleans: low-frequency 8x8 DCT coefficients above their median."""
    coeffs = dctn(thumb32.astype(np.float64), norm="ortho")[:8, :8].ravel()
    return coeffs > np.median(coeffs[1:])


def phash_hex(gray: np.ndarray) -> str:
    bits = phash_bits(thumbnail(gray, 32))
    value = 0
    for b in bits:
        value = (value << 1) | int(b)
    return f"{value:016x}"


def phash_to_int(hex_digits: str) -> int:
    return int(hex_digits, 16)


def fingerprint(gray: np.ndarray) -> dict[str, object]:
    """Everything the manifest records about an image's pixels."""
    g = gray.astype(np.float32)
    return {
        "pixel_sha1": pixel_sha1(gray),
        "phash": phash_hex(gray),
        "mean": round(float(g.mean()) / 255.0, 5),
        "std": round(float(g.std()) / 255.0, 5),
    }
