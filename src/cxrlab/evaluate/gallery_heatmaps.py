"""Grad-CAM heatmaps for the report's mistakes gallery, drawn on each film at its own aspect (the
file the manifest names), so the gallery shows *what made the model so sure* of its wrong answer.

Needs torch (the evaluation has the model loaded anyway). A film that cannot be re-read falls back
to the model's view; a model Grad-CAM cannot explain leaves plain thumbnails.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from cxrlab.data.preprocess import crop_to_box, row_box
from cxrlab.errors import CxrlabError, ImageReadError
from cxrlab.explain.overlay import display_film, film_overlay, overlay_heatmap
from cxrlab.io.images import read_image, to_uint8

#: Long side, in pixels, of a film in the gallery.
GALLERY_SIDE = 240


def mistake_overlays(model, meta, df: pd.DataFrame, views: np.ndarray, rows: Sequence[int]) -> dict[int, np.ndarray]:
    """``{row: RGB uint8 overlay}`` of the predicted class's Grad-CAM for the given rows of a set
    (``views`` are the preprocessed images the model saw, aligned with ``df``); ``{}`` when the model
    cannot be explained."""
    from cxrlab.explain.gradcam import gradcam

    rows = [int(r) for r in rows]
    if not rows:
        return {}
    cfg = meta.preprocess
    try:
        result = gradcam(model, meta, [np.asarray(views[r]) for r in rows], preprocessed=True)
    except CxrlabError:
        return {}
    out = {}
    for j, r in enumerate(rows):
        film = _film(df.iloc[r], cfg)
        cam = result.cams[j]
        out[r] = film_overlay(film, cam, cfg) if film is not None else overlay_heatmap(np.asarray(views[r]), cam)
    return out


def _film(row, cfg) -> np.ndarray | None:
    """The film of a manifest row as the model's input was cut from it (lung crop included), small."""
    try:
        gray = to_uint8(read_image(row["path"]))
    except ImageReadError:
        return None
    box = row_box(row) if cfg.crop == "lungs" else None
    if box is not None:
        gray = crop_to_box(gray, box, cfg.crop_margin)
    return display_film(gray, GALLERY_SIDE)
