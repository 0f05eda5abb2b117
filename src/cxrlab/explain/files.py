"""``cxrlab explain``: Grad-CAM overlays for image files, written as PNGs on the film itself (its
aspect and resolution, up to ``OVERLAY_MAX_SIDE`` pixels on the long side), not on the model's view."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cxrlab.data.model_view import view_of
from cxrlab.data.preprocess import require_whole_film
from cxrlab.errors import ImageReadError
from cxrlab.explain.gradcam import gradcam
from cxrlab.explain.overlay import display_film, film_overlay, png_bytes
from cxrlab.io.atomic import write_bytes
from cxrlab.io.images import read_image, to_uint8


@dataclass(frozen=True)
class Explained:
    path: str
    output: str = ""  # the overlay PNG ("" when the image could not be read)
    explained_class: str = ""
    predicted: str = ""
    probability: float = float("nan")  # of the predicted class
    error: str = ""


def explain_files(run: str | Path, paths: Sequence[str | Path], out_dir: str | Path,
                  class_name: str | None = None, which: str = "best") -> list[Explained]:
    """Grad-CAM overlay PNGs for ``paths`` (unreadable files are reported, not fatal)."""
    from cxrlab.models.loading import load_checkpoint

    model, meta = load_checkpoint(run, which)
    require_whole_film(meta.preprocess, str(run))
    cfg = meta.preprocess
    results: list[Explained | None] = [None] * len(paths)
    views, shown, readable = [], [], []
    for i, path in enumerate(paths):
        try:
            image = read_image(path)
            gray = to_uint8(image)
            view = view_of(image, path, cfg)
        except ImageReadError as exc:
            results[i] = Explained(str(path), error=exc.reason)
            continue
        views.append(view)
        shown.append(display_film(gray))
        readable.append(i)
    if views:
        res = gradcam(model, meta, views, class_name, preprocessed=True)
        for j, i in enumerate(readable):
            cls = meta.classes[int(res.targets[j])]
            pred = int(res.probs[j].argmax())
            target = Path(out_dir) / f"{i:04d}_{_safe(Path(paths[i]).stem)}_gradcam_{_safe(cls)}.png"
            write_bytes(target, png_bytes(film_overlay(shown[j], res.cams[j], cfg)))
            results[i] = Explained(str(paths[i]), str(target), cls, meta.classes[pred], float(res.probs[j, pred]))
    return [r for r in results if r is not None]

def _safe(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text)[:60] or "image"
