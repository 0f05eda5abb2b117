"""Warnings about images that decode but deserve a second look (``LoadedImage.warnings``).

Detected once, in the reader, so that every consumer (predict, serve, index, explain) sees the
same: degenerate images (tiny, extreme aspect ratio, constant pixels), non-frontal views,
multi-frame files of which only the first frame is used, secondary captures (digitised films).
"""

from __future__ import annotations

import re

import numpy as np

#: Smallest accepted side (pixels) and largest aspect ratio before an image counts as degenerate.
MIN_SIDE = 16
MAX_ASPECT = 4.0
SECONDARY_CAPTURE_WARNING = "secondary capture: digitised film"

_LATERAL = frozenset({"L", "LL", "RL", "LAT", "LATERAL", "LEFT LATERAL", "RIGHT LATERAL", "LATERAL LEFT",
                      "LATERAL RIGHT", "LL LATERAL", "RL LATERAL"})
_OBLIQUE = frozenset({"LAO", "RAO", "LPO", "RPO", "OBL", "OBLIQUE", "LO", "RO", "LEFT OBLIQUE", "RIGHT OBLIQUE"})
_DECUBITUS = frozenset({"LLD", "RLD", "DECUBITUS", "LEFT LATERAL DECUBITUS", "RIGHT LATERAL DECUBITUS"})
_FRONTAL = re.compile(r"^(PA|AP|POSTERO ANTERIOR|ANTERO POSTERIOR|FRONTAL)\b")


def image_warnings(
    pixels: np.ndarray, *, frames: int = 1, view: str = "", view_source: str = "ViewPosition",
    secondary_capture: bool = False,
) -> tuple[str, ...]:
    """Human-readable warnings for a decoded 2-D image and what its file said about it."""
    found = []
    degenerate = degenerate_reason(pixels)
    if degenerate:
        found.append(degenerate)
    view_warning = view_reason(view, view_source)
    if view_warning:
        found.append(view_warning)
    if frames > 1:
        found.append(f"multi-frame file: first of {frames} frames used")
    if secondary_capture:
        found.append(SECONDARY_CAPTURE_WARNING)
    return tuple(found)


def degenerate_reason(pixels: np.ndarray) -> str | None:
    """``degenerate image: WxH ...`` for a tiny, extremely elongated or constant image, else None."""
    height, width = int(pixels.shape[0]), int(pixels.shape[1])
    size = f"{width}x{height}"
    if min(width, height) < MIN_SIDE:
        return f"degenerate image: {size} (under {MIN_SIDE} pixels on a side)"
    aspect = max(width, height) / min(width, height)
    if aspect > MAX_ASPECT:
        return f"degenerate image: {size} (aspect ratio {aspect:.1f}:1)"
    low, high = np.min(pixels), np.max(pixels)
    if low == high:
        return f"degenerate image: {size} with constant pixels (all {low})"
    return None


def view_kind(view: str) -> str:
    """``frontal``, ``lateral``, ``oblique``, ``decubitus``, ``unknown`` or ``""`` (not stated)."""
    text = re.sub(r"[\s_\-]+", " ", str(view).strip().upper())
    if not text:
        return ""
    if text in _LATERAL or text.startswith("LATERAL"):
        return "lateral"
    if text in _DECUBITUS or "DECUBITUS" in text:
        return "decubitus"
    if text in _OBLIQUE or "OBLIQUE" in text:
        return "oblique"
    if _FRONTAL.match(text):
        return "frontal"
    return "unknown"


def view_reason(view: str, source: str = "ViewPosition") -> str | None:
    kind = view_kind(view)
    if kind in ("", "frontal"):
        return None
    said = f"{source}={str(view).strip()}"
    if kind == "unknown":
        return f"view not recognised as frontal ({said})"
    return f"{kind} view ({said}): the model was trained on frontal films"
