"""DICOM pixel values -> MONOCHROME2 display values: modality LUT, VOI LUT / window, MONOCHROME1.

Computed in float32, in place where possible, so that a 64 M-pixel frame costs a few hundred MB and
not the gigabytes of float64 copies. A VOI step that cannot apply (``WindowWidth = 0``, a broken VOI
LUT) is skipped with a warning; it never fails the file.
"""

from __future__ import annotations

from typing import Any

import numpy as np


def to_display(arr: np.ndarray, ds: Any, notes: list[str]) -> np.ndarray:
    """Grayscale frame (2-D) -> float32 MONOCHROME2 values (any range). Appends warnings to ``notes``."""
    arr = _modality(arr, ds, notes)
    arr = _voi(arr, ds, notes)
    out = np.asarray(arr, dtype=np.float32)
    if str(ds.get("PhotometricInterpretation", "")).strip().upper() == "MONOCHROME1":
        np.subtract(np.max(out), out, out=out)
    return out


def colour_to_gray(rgb: np.ndarray) -> np.ndarray:
    """``(H, W, 3)`` RGB -> float32 luma (ITU-R 601, as Pillow's ``convert("L")``)."""
    gray = rgb[..., 0].astype(np.float32)
    gray *= 0.299
    gray += 0.587 * rgb[..., 1].astype(np.float32)
    gray += 0.114 * rgb[..., 2].astype(np.float32)
    return gray


def stretch(values: np.ndarray, bits: int) -> np.ndarray:
    """Min-max stretch to uint8 (``bits <= 8``) or uint16."""
    top = 255.0 if bits <= 8 else 65535.0
    lo, hi = float(np.min(values)), float(np.max(values))
    dtype = np.uint8 if bits <= 8 else np.uint16
    if not (np.isfinite(lo) and np.isfinite(hi)) or hi <= lo:
        return np.zeros(values.shape, dtype=dtype)
    out = values.astype(np.float32, copy=values.dtype != np.float32)
    out -= lo
    out *= top / (hi - lo)
    np.rint(out, out=out)
    return out.astype(dtype)


def _modality(arr: np.ndarray, ds: Any, notes: list[str]) -> np.ndarray:
    if "ModalityLUTSequence" in ds:
        from pydicom.pixels import apply_modality_lut

        try:
            return apply_modality_lut(arr, ds)
        except Exception as exc:  # a malformed LUT must not fail the file
            notes.append(f"modality LUT ignored ({_short(exc)})")
            return arr
    slope, intercept = _number(ds.get("RescaleSlope"), 1.0), _number(ds.get("RescaleIntercept"), 0.0)
    if slope == 1.0 and intercept == 0.0:
        return arr
    out = arr.astype(np.float32)
    out *= slope
    out += intercept
    return out


def _voi(arr: np.ndarray, ds: Any, notes: list[str]) -> np.ndarray:
    if "VOILUTSequence" in ds:
        from pydicom.pixels import apply_voi

        try:
            return apply_voi(arr, ds, index=0)
        except Exception as exc:  # a malformed LUT must not fail the file
            notes.append(f"VOI LUT ignored ({_short(exc)}): pixels min-max stretched")
            return arr
    if "WindowCenter" not in ds or "WindowWidth" not in ds:
        return arr
    center, width = _first(ds.get("WindowCenter")), _first(ds.get("WindowWidth"))
    if center is None or width is None or width <= 0:
        raw = str(ds.get("WindowWidth", "")).strip()
        notes.append(f"VOI window ignored (WindowWidth={raw or 'empty'}): pixels min-max stretched")
        return arr
    function = str(ds.get("VOILUTFunction", "LINEAR") or "LINEAR").strip().upper()
    out = arr.astype(np.float32, copy=False)  # the decoded frame is ours to overwrite
    if function == "SIGMOID":
        out -= center
        out *= -4.0 / width
        np.exp(out, out=out)
        out += 1.0
        np.reciprocal(out, out=out)
        return out
    if function == "LINEAR_EXACT":
        out -= center
        out /= width
    else:  # LINEAR (PS3.3 C.11.2.1.2.1)
        out -= center - 0.5
        out /= max(width - 1.0, 1e-6)
    out += 0.5
    np.clip(out, 0.0, 1.0, out=out)
    return out


def _first(value: Any) -> float | None:
    if value is None:
        return None
    try:
        item = value[0] if hasattr(value, "__len__") and not isinstance(value, str | bytes) else value
        number = float(item)
    except (TypeError, ValueError, IndexError):
        return None
    return number if np.isfinite(number) else None


def _number(value: Any, default: float) -> float:
    number = _first(value)
    return default if number is None else number


def _short(exc: Exception) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text[:150]
