"""Warnings about images that decode but deserve a second look (``LoadedImage.warnings``).

Detected once, in the reader, so that every consumer (predict, serve, index, explain) sees the
same: degenerate images (tiny, extreme aspect ratio, constant or nearly constant pixels),
non-frontal views, multi-frame files of which only the first frame is used, secondary captures
(digitised films). ``cxrlab index`` excludes degenerate films under :func:`degenerate`'s category.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

#: Smallest accepted side (pixels) and largest aspect ratio before an image counts as degenerate.
MIN_SIDE = 16
MAX_ASPECT = 4.0
#: Standard deviation (of 255, in the 8-bit view) under which an image counts as blank.
MIN_STD = 1.0
#: The kinds of degenerate image (``Degenerate.category``; the indexer's exclusion reasons).
TOO_SMALL = "degenerate image: too small"
SLIVER = "degenerate image: extreme aspect ratio"
BLANK = "degenerate image: blank"
DEGENERATE_CATEGORIES = (TOO_SMALL, SLIVER, BLANK)
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
    problem = degenerate_reason(pixels)
    if problem:
        found.append(problem)
    view_warning = view_reason(view, view_source)
    if view_warning:
        found.append(view_warning)
    if frames > 1:
        found.append(f"multi-frame file: first of {frames} frames used")
    if secondary_capture:
        found.append(SECONDARY_CAPTURE_WARNING)
    return tuple(found)


@dataclass(frozen=True)
class Degenerate:
    """Why an image is degenerate: ``category`` (one of :data:`DEGENERATE_CATEGORIES`, what the
    indexer counts) and ``detail`` (the sentence a user reads among the warnings)."""

    category: str
    detail: str


def degenerate(pixels: np.ndarray) -> Degenerate | None:
    """A tiny, extremely elongated, constant or nearly constant image, else None.

    "Nearly constant" is judged on the 8-bit view :func:`cxrlab.io.images.to_uint8` gives (16-bit
    data min-max stretched): a standard deviation under :data:`MIN_STD` of 255 on a strided sample.
    """
    height, width = int(pixels.shape[0]), int(pixels.shape[1])
    size = f"{width}x{height}"
    if min(width, height) < MIN_SIDE:
        return Degenerate(TOO_SMALL, f"degenerate image: {size} (under {MIN_SIDE} pixels on a side)")
    aspect = max(width, height) / min(width, height)
    if aspect > MAX_ASPECT:
        return Degenerate(SLIVER, f"degenerate image: {size} (aspect ratio {aspect:.1f}:1)")
    low, high = np.min(pixels), np.max(pixels)
    if low == high:
        return Degenerate(BLANK, f"degenerate image: {size} with constant pixels (all {low})")
    step = max(1, int(np.sqrt(height * width / 1_000_000)))  # a strided sample is plenty for a spread
    scale = 1.0 if pixels.dtype == np.uint8 else 255.0 / (float(high) - float(low))
    spread = float(np.std(pixels[::step, ::step], dtype=np.float64)) * scale
    if spread < MIN_STD:
        return Degenerate(BLANK, f"degenerate image: {size} with nearly constant pixels (std {spread:.2f} of 255)")
    return None


def degenerate_reason(pixels: np.ndarray) -> str | None:
    """``degenerate image: WxH ...`` for a degenerate image (see :func:`degenerate`), else None."""
    problem = degenerate(pixels)
    return problem.detail if problem else None


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
