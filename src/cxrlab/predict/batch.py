"""``predict_files``: many image files through a Predictor, in batches, into CSV rows.

Decoding runs in a thread pool one batch ahead of inference. Unreadable files (and files refused as
not radiographs) become rows with an ``error`` and never stop the run; films predicted with a
caveat (lateral view, degenerate image...: the reader's ``LoadedImage.warnings``) carry it in
``warnings``; DICOM header fields (``HEADER_FIELDS``) fill their own columns. Heatmap PNGs are drawn on the
film itself, at its aspect and resolution (see :mod:`cxrlab.explain.overlay`).
"""

from __future__ import annotations

import csv
import re
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import numpy as np

from cxrlab.errors import ImageReadError
from cxrlab.explain.overlay import film_overlay, png_bytes
from cxrlab.io.atomic import atomic_open, write_bytes
from cxrlab.io.images import DEFAULT_MAX_PIXELS, HEADER_FIELDS
from cxrlab.predict.predictor import Film, Prediction, Predictor

#: Several warnings of one film share its ``warnings`` cell, separated by this.
WARNING_SEPARATOR = "; "


def csv_columns(classes: Sequence[str]) -> list[str]:
    return ["path", "label", "probability", "decision", "flagged", *[f"prob_{c}" for c in classes], "heatmap",
            "warnings", "error", *HEADER_FIELDS]


def predict_files(
    predictor: Predictor,
    paths: Sequence[str | Path],
    batch_size: int = 32,
    heatmap_dir: str | Path | None = None,
    workers: int = 2,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    on_progress: Callable[[int], None] | None = None,
) -> Iterator[dict[str, str]]:
    """Yield one CSV row (dict) per path, in input order."""
    batch_size = max(int(batch_size), 1)
    chunks = [list(paths[i:i + batch_size]) for i in range(0, len(paths), batch_size)]

    def load(path) -> Film | str:
        try:
            return predictor.read(path, name=str(path), max_pixels=max_pixels, keep_film=heatmap_dir is not None)
        except ImageReadError as exc:
            return exc.reason

    with ThreadPoolExecutor(max_workers=max(int(workers), 1)) as pool:
        pending: list[Future] = [pool.submit(load, p) for p in chunks[0]] if chunks else []
        for index, chunk in enumerate(chunks):
            loaded = [f.result() for f in pending]
            pending = [pool.submit(load, p) for p in chunks[index + 1]] if index + 1 < len(chunks) else []
            offset = index * batch_size
            yield from _predict_chunk(predictor, chunk, loaded, offset, heatmap_dir)
            if on_progress:
                on_progress(len(chunk))


def _predict_chunk(predictor: Predictor, chunk, loaded, offset: int, heatmap_dir) -> Iterator[dict[str, str]]:
    ok = [i for i, item in enumerate(loaded) if isinstance(item, Film)]
    views = np.stack([loaded[i].view for i in ok]) if ok else None
    preds = predictor.predict_views(views, heatmaps=heatmap_dir is not None) if ok else []
    by_index = dict(zip(ok, preds))
    for i, path in enumerate(chunk):
        if i not in by_index:
            yield _error_row(path, str(loaded[i]))
            continue
        film: Film = loaded[i]
        heat = ""
        if heatmap_dir is not None:
            heat = _write_heatmap(predictor, by_index[i], film, heatmap_dir, offset + i, Path(path))
        meta = film.meta or {}
        yield _row(path, by_index[i], heat, film.warnings) | {k: meta.get(k, "") for k in HEADER_FIELDS}
        loaded[i] = None  # the film's pixels are not needed any more


def _row(path, pred: Prediction, heatmap: str, warnings: Sequence[str] = ()) -> dict[str, str]:
    row = {"path": str(path), "label": pred.label, "probability": f"{pred.probabilities[pred.label]:.6f}",
           "decision": pred.decision.label, "flagged": ";".join(pred.decision.flagged),
           "heatmap": heatmap, "warnings": WARNING_SEPARATOR.join(warnings), "error": ""}
    row.update({f"prob_{c}": f"{p:.6f}" for c, p in pred.probabilities.items()})
    return row


def _error_row(path, reason: str) -> dict[str, str]:
    return {"path": str(path), "label": "", "probability": "", "decision": "", "flagged": "", "heatmap": "",
            "warnings": "", "error": reason}


def _write_heatmap(predictor: Predictor, pred: Prediction, film: Film, folder, index: int, path: Path) -> str:
    if pred.heatmap is None or film.display is None:
        return ""
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", path.stem)[:60] or "image"
    target = Path(folder) / f"{index:06d}_{stem}_{pred.heatmap_class}.png"
    write_bytes(target, png_bytes(film_overlay(film.display, pred.heatmap, predictor.preprocess_config)))
    return str(target)


def write_csv(rows: Iterator[dict[str, str]], out: str | Path, classes: Sequence[str]) -> dict[str, int]:
    """Write rows atomically; returns counts ``{"images", "errors", "warned"}`` plus one per decision."""
    counts: dict[str, int] = {"images": 0, "errors": 0, "warned": 0}
    with atomic_open(out, "w", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=csv_columns(classes), restval="", lineterminator="\n")
        writer.writeheader()
        for row in rows:
            writer.writerow(row)
            counts["images"] += 1
            if row["error"]:
                counts["errors"] += 1
            else:
                counts[row["decision"]] = counts.get(row["decision"], 0) + 1
                counts["warned"] += bool(row["warnings"])
    return counts
