"""The most confident mistakes: the wrong predictions the model was surest about.

They are the quickest way to spot label noise, duplicated films with different labels, text
markers, or a whole source the model misreads.
"""

from __future__ import annotations

import io
import os

import numpy as np
from PIL import Image

from cxrlab.report.html import data_uri, esc


def confident_mistakes(probs: np.ndarray, targets: np.ndarray, limit: int = 12) -> np.ndarray:
    """Row indices of wrong predictions, highest predicted probability first."""
    probs, targets = np.asarray(probs), np.asarray(targets)
    preds = probs.argmax(axis=1)
    wrong = np.flatnonzero(preds != targets)
    confidence = probs[wrong, preds[wrong]]
    return wrong[np.argsort(-confidence, kind="stable")][:limit]


def thumbnail_png(image: np.ndarray, size: int = 160) -> bytes:
    img = Image.fromarray(np.asarray(image, dtype=np.uint8))
    img.thumbnail((size, size), Image.Resampling.LANCZOS)
    buf = io.BytesIO()
    img.save(buf, format="PNG", optimize=True)
    return buf.getvalue()


def gallery_items(indices, images, probs, targets, classes, paths, sources) -> list[dict]:
    """JSON-ready records (no pixels) for the mistakes at ``indices``."""
    preds = np.asarray(probs).argmax(axis=1)
    items = []
    for i in indices:
        items.append({
            "row": int(i), "path": str(paths[i]), "source": str(sources[i]),
            "true": classes[int(targets[i])], "predicted": classes[int(preds[i])],
            "probability": float(probs[i, preds[i]]), "probability_true": float(probs[i, targets[i]]),
        })
    return items


def gallery_html(items: list[dict], images: np.ndarray, overlays: dict[int, np.ndarray] | None = None) -> str:
    """A grid of thumbnails captioned with true/predicted class and probability: the heatmap over
    the film where ``overlays`` has one for the row (see :mod:`cxrlab.evaluate.gallery_heatmaps`),
    else the model's view."""
    if not items:
        return "<p>No mistakes in this set.</p>"
    overlays = overlays or {}
    cells = []
    for item in items:
        picture = overlays.get(item["row"])
        src = data_uri(thumbnail_png(images[item["row"]]) if picture is None else thumbnail_png(picture, 240))
        name = os.path.basename(item["path"])
        cells.append(
            f'<figure><img src="{src}" alt="{esc(name)}">'
            f'<div><span class="true">true: {esc(item["true"])}</span><br>'
            f'<span class="pred">predicted: {esc(item["predicted"])} ({item["probability"]:.0%})</span><br>'
            f'<span class="small" title="{esc(item["path"])}">{esc(item["source"])} · {esc(name[:28])}</span></div></figure>'
        )
    return f'<div class="gallery">{"".join(cells)}</div>'
