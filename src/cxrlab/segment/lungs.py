"""Lung masks -> boxes, crops and masked films (numpy + Pillow + scipy, no torch), and the
Dice / IoU overlap scores. Boxes are ``(x0, y0, x1, y1)`` with exclusive ends, in pixels of the
mask they come from, or as fractions of width/height (``box_fraction``) so they can be applied
to the same film decoded at any resolution.
"""

from __future__ import annotations

import numpy as np
from PIL import Image
from scipy import ndimage

from cxrlab.data.preprocess import crop_to_box, expand_box, row_box  # noqa: F401 - re-exported

Box = tuple[int, int, int, int]


def keep_largest(mask: np.ndarray, n: int = 2, min_fraction: float = 0.1) -> np.ndarray:
    """The ``n`` largest connected regions of a bool mask (the two lungs), dropping specks smaller
    than ``min_fraction`` of the largest one."""
    labels, count = ndimage.label(mask)
    if count == 0:
        return np.zeros(mask.shape, dtype=bool)
    sizes = np.bincount(labels.ravel())[1:]
    order = np.argsort(sizes)[::-1][:n]
    keep = [int(k) + 1 for k in order if sizes[k] >= min_fraction * sizes[order[0]]]
    return np.isin(labels, keep)


def lung_bbox(mask: np.ndarray) -> Box | None:
    """Tight box around the True pixels of a 2-D mask; ``None`` when the mask is empty."""
    rows = np.flatnonzero(mask.any(axis=1))
    cols = np.flatnonzero(mask.any(axis=0))
    if rows.size == 0:
        return None
    return int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1


def box_fraction(box: Box, shape: tuple[int, int]) -> tuple[float, float, float, float]:
    """Pixel box -> fractions of (width, height) of an image of ``shape`` (H, W)."""
    h, w = shape
    x0, y0, x1, y1 = box
    return x0 / w, y0 / h, x1 / w, y1 / h


def _fit_mask(mask: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    if mask.shape == shape:
        return mask.astype(bool)
    img = Image.fromarray(mask.astype(np.uint8) * 255).resize((shape[1], shape[0]), Image.Resampling.BILINEAR)
    return np.asarray(img) >= 128


def crop_to_lungs(gray: np.ndarray, mask: np.ndarray, margin: float = 0.1) -> np.ndarray:
    """Crop a uint8 film to the box around its lung mask (resized to the film if needed) plus
    ``margin`` x the box size on each side. An empty mask returns the film unchanged."""
    mask = _fit_mask(mask, gray.shape[:2])
    box = lung_bbox(mask)
    if box is None:
        return gray
    return crop_to_box(gray, box_fraction(box, mask.shape), margin)


def mask_lungs(gray: np.ndarray, mask: np.ndarray, dilate: float = 0.02, fill: int = 0) -> np.ndarray:
    """Set everything outside the (dilated) lung mask to ``fill``: the model sees lung fields only.
    ``dilate`` is a fraction of the image's longer side. An empty mask returns the film unchanged."""
    mask = _fit_mask(mask, gray.shape[:2])
    if not mask.any():
        return gray
    radius = int(round(dilate * max(gray.shape[:2])))
    if radius > 0:
        mask = ndimage.binary_dilation(mask, iterations=radius)
    out = np.full_like(gray, fill)
    out[mask] = gray[mask]
    return out


def dice_iou(pred: np.ndarray, truth: np.ndarray) -> tuple[float, float]:
    """Dice (F1) and IoU (Jaccard) of two binary masks, via scikit-learn; both empty -> (1, 1)."""
    from sklearn.metrics import f1_score, jaccard_score

    p, t = pred.ravel().astype(bool), truth.ravel().astype(bool)
    return (float(f1_score(t, p, zero_division=1.0)), float(jaccard_score(t, p, zero_division=1.0)))


def crop_manifest_row(gray: np.ndarray, row, margin: float = 0.1) -> np.ndarray:
    """Crop a film with the ``lung_*`` columns of its manifest row (a pandas Series or dict, from
    ``cxrlab segment predict``); rows without a plausible box (``lung_ok`` false or missing) leave
    the film unchanged."""
    box = row_box(row)
    return gray if box is None else crop_to_box(gray, box, margin)