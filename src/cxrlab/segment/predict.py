"""Run a lung segmenter: probability maps for films, and lung boxes for every manifest row.

Boxes are written as fractions of the film's width/height (``lung_x0, lung_y0, lung_x1,
lung_y1``), so a later preprocessing step can crop the film decoded at any resolution
(:func:`cxrlab.segment.lungs.crop_to_box`). ``lung_area`` is the mask's share of the film;
``lung_ok`` is False when the mask looks implausible (nothing found, tiny, or one-sided) -
crop those films not at all.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from cxrlab.errors import ImageReadError
from cxrlab.io.images import read_image, to_uint8
from cxrlab.segment.lungs import box_fraction, keep_largest, lung_bbox

MEAN, STD = 0.5, 0.25  # films are x/255 -> (x - MEAN) / STD
BOX_COLUMNS = ("lung_x0", "lung_y0", "lung_x1", "lung_y1", "lung_area", "lung_ok")
MIN_AREA, MIN_WIDTH, MIN_HEIGHT = 0.05, 0.3, 0.2  # plausibility limits (fractions of the film)


def to_tensor(images: np.ndarray, mean: float = MEAN, std: float = STD) -> torch.Tensor:
    """uint8 (N, H, W) -> normalised float (N, 1, H, W)."""
    return (torch.from_numpy(np.array(images, dtype=np.float32))[:, None] / 255.0 - mean) / std


@torch.no_grad()
def predict_probs(model, images: np.ndarray, mean: float = MEAN, std: float = STD, batch_size: int = 32) -> np.ndarray:
    """Lung probability per pixel, float32 (N, H, W), for uint8 films already at model size."""
    model.eval()
    out = [torch.sigmoid(model(to_tensor(images[i:i + batch_size], mean, std)))[:, 0].numpy()
           for i in range(0, len(images), batch_size)]
    return np.concatenate(out).astype(np.float32) if out else np.zeros((0,) + images.shape[1:], np.float32)


def box_row(mask: np.ndarray) -> dict[str, object]:
    """The ``lung_*`` columns for one predicted mask (cleaned to its two largest regions)."""
    mask = keep_largest(mask)
    box = lung_bbox(mask)
    if box is None:
        return {"lung_x0": 0.0, "lung_y0": 0.0, "lung_x1": 1.0, "lung_y1": 1.0, "lung_area": 0.0, "lung_ok": False}
    x0, y0, x1, y1 = box_fraction(box, mask.shape)
    area = float(mask.mean())
    ok = area >= MIN_AREA and (x1 - x0) >= MIN_WIDTH and (y1 - y0) >= MIN_HEIGHT
    return {"lung_x0": round(x0, 4), "lung_y0": round(y0, 4), "lung_x1": round(x1, 4), "lung_y1": round(y1, 4),
            "lung_area": round(area, 4), "lung_ok": bool(ok)}


def lung_boxes(
    paths: list[str], model, meta, batch_size: int = 32, progress: Callable[[int], None] | None = None
) -> tuple[pd.DataFrame, dict[int, str]]:
    """Lung box columns (one row per path, in order) and ``{row: reason}`` for unreadable films
    (their row has ``lung_ok`` False and the whole-film box)."""
    from cxrlab.segment.pairs import resize_gray

    rows: list[dict[str, object]] = []
    errors: dict[int, str] = {}
    for start in range(0, len(paths), batch_size):
        films, where = [], []
        for i in range(start, min(start + batch_size, len(paths))):
            try:
                films.append(resize_gray(to_uint8(read_image(paths[i], reduce_to=meta.size)), meta.size))
                where.append(i)
            except ImageReadError as exc:
                errors[i] = exc.reason
        probs = predict_probs(model, np.stack(films), meta.mean, meta.std) if films else []
        found = {i: box_row(p >= meta.threshold) for i, p in zip(where, probs)}
        for i in range(start, min(start + batch_size, len(paths))):
            rows.append(found.get(i) or box_row(np.zeros((1, 1), dtype=bool)))
        if progress:
            progress(min(start + batch_size, len(paths)) - start)
    return pd.DataFrame(rows, columns=list(BOX_COLUMNS)), errors


def add_lung_boxes(df: pd.DataFrame, boxes: pd.DataFrame) -> pd.DataFrame:
    """The manifest with the ``lung_*`` columns (replaced if already there)."""
    out = df.drop(columns=[c for c in BOX_COLUMNS if c in df.columns]).reset_index(drop=True)
    return pd.concat([out, boxes.reset_index(drop=True)], axis=1)


def default_output(manifest: str | Path) -> Path:
    return Path(manifest).with_name("manifest_lungs.csv")
