"""Films a chest X-ray classifier should not be trusted on: degenerate pictures (a few pixels, a
sliver, a blank) and lateral views. ``cxrlab index`` leaves degenerate films out of the manifest;
``predict`` and ``serve`` still answer but carry the warnings next to the probabilities.

The image reader may already have warned (``LoadedImage.warnings``); :func:`film_warnings` keeps
those and adds a check of its own only when the reader said nothing about that problem.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cxrlab.data.layouts.common import is_lateral
from cxrlab.io.images import LoadedImage

#: A film whose short side has fewer pixels than this is not a radiograph.
MIN_SIDE = 16
#: Long side / short side above this: a sliver, not a chest (real films are ~0.7-1.5).
MAX_ASPECT = 4.0
#: Standard deviation (of 255) below which the 8-bit view is blank.
MIN_STD = 1.0

TOO_SMALL = "degenerate image: too small"
SLIVER = "degenerate image: extreme aspect ratio"
BLANK = "degenerate image: blank"


@dataclass(frozen=True)
class Degenerate:
    category: str  # one of the constants above (what the index counts)
    detail: str  # the sentence a user reads


def degenerate(pixels: np.ndarray, gray: np.ndarray | None = None) -> Degenerate | None:
    """Why a decoded film is degenerate, or None. ``pixels`` as decoded (any depth), ``gray`` its 8-bit view."""
    h, w = int(pixels.shape[0]), int(pixels.shape[1])
    if min(h, w) < MIN_SIDE:
        return Degenerate(TOO_SMALL, f"{TOO_SMALL}: {w}x{h} pixels (a chest film has hundreds on each side)")
    if max(h, w) / min(h, w) > MAX_ASPECT:
        return Degenerate(SLIVER, f"{SLIVER}: {w}x{h} pixels is not the shape of a chest film")
    lo, hi = int(pixels.min()), int(pixels.max())
    if lo == hi:
        return Degenerate(BLANK, f"{BLANK}: every pixel has the value {lo}")
    step = max(1, int(np.sqrt(h * w / 1_000_000)))  # a strided sample is plenty for a spread
    spread = float(np.std(gray[::step, ::step], dtype=np.float64)) if gray is not None else float("inf")
    if spread < MIN_STD:
        return Degenerate(BLANK, f"{BLANK}: almost every pixel has the same value (std {spread:.2f} of 255)")
    return None


def film_warnings(image: LoadedImage, gray: np.ndarray | None = None) -> tuple[str, ...]:
    """Every warning a prediction on this film must carry: the reader's, then degenerate / lateral."""
    found = list(image.warnings)
    said = " ".join(found).lower()
    problem = degenerate(image.pixels, gray)
    if problem and "degenerate" not in said:
        found.append(problem.detail)
    view = image.meta.get("view", "")
    if view and is_lateral(view) and "lateral" not in said:
        found.append(f"lateral view (ViewPosition {view}): the model was trained on frontal (PA/AP) films only")
    return tuple(found)
