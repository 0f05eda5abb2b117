"""Contact sheets to look at segmentations: films with the predicted lung mask tinted red, the
reference mask outlined green and the lung box (with crop margin) drawn in yellow."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw
from scipy import ndimage

from cxrlab.io.atomic import atomic_path
from cxrlab.segment.lungs import Box


def overlay(gray: np.ndarray, pred: np.ndarray | None = None, truth: np.ndarray | None = None, box: Box | None = None) -> np.ndarray:
    """RGB uint8 tile: ``pred`` tinted red, ``truth`` outline green, ``box`` yellow (all same shape as ``gray``)."""
    rgb = np.repeat(gray[..., None].astype(np.float32), 3, axis=2)
    if pred is not None:
        p = pred.astype(bool)
        rgb[p] = rgb[p] * 0.6 + np.array([255, 0, 0], np.float32) * 0.4
    if truth is not None:
        t = truth.astype(bool)
        edge = t & ~ndimage.binary_erosion(t, iterations=max(1, gray.shape[0] // 128))
        rgb[edge] = (0, 255, 0)
    img = Image.fromarray(np.clip(rgb, 0, 255).astype(np.uint8))
    if box is not None:
        ImageDraw.Draw(img).rectangle([box[0], box[1], box[2] - 1, box[3] - 1], outline=(255, 230, 0), width=max(1, gray.shape[0] // 128))
    return np.asarray(img)


def contact_sheet(tiles: list[np.ndarray], cols: int = 4, gap: int = 2) -> np.ndarray:
    """Equal-size RGB tiles on a grid with black gaps."""
    if not tiles:
        raise ValueError("contact_sheet needs at least one tile")
    h, w = tiles[0].shape[:2]
    rows = (len(tiles) + cols - 1) // cols
    sheet = np.zeros((rows * (h + gap) - gap, cols * (w + gap) - gap, 3), dtype=np.uint8)
    for k, tile in enumerate(tiles):
        r, c = divmod(k, cols)
        sheet[r * (h + gap):r * (h + gap) + h, c * (w + gap):c * (w + gap) + w] = tile
    return sheet


def save_png(rgb: np.ndarray, path: str | Path) -> Path:
    path = Path(path)
    with atomic_path(path) as tmp:
        Image.fromarray(rgb).save(tmp, format="PNG")
    return path
