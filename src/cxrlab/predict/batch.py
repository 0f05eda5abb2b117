"""``predict_files``: many image files through a Predictor, in batches, into CSV rows.

Decoding runs in a thread pool one batch ahead of inference. Unreadable files become rows with an
``error`` and never stop the run.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import numpy as np

from cxrlab.errors import ImageReadError
from cxrlab.explain.overlay import overlay_heatmap, png_bytes
from cxrlab.io.atomic import atomic_open, write_bytes
from cxrlab.io.images import DEFAULT_MAX_PIXELS, HEADER_FIELDS
from cxrlab.predict.predictor import Prediction, Predictor


def csv_columns(classes: Sequence[str]) -> list[str]:
    return ["path", "label", "probability", "decision", "flagged", *[f"prob_{c}" for c in classes], "heatmap", "error",
            *HEADER_FIELDS]


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

    def load(path) -> tuple[np.ndarray, dict[str, str]] | str:
        try:
            return predictor.load_view(path, name=str(path), max_pixels=max_pixels)[:2]
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
    ok = [i for i, item in enumerate(loaded) if isinstance(item, tuple)]
    preds = predictor.predict_views(np.stack([loaded[i][0] for i in ok]), heatmaps=heatmap_dir is not None) if ok else []
    by_index = dict(zip(ok, preds))
    for i, path in enumerate(chunk):
        if i not in by_index:
            yield _error_row(path, str(loaded[i]))
            continue
        heat = _write_heatmap(by_index[i], heatmap_dir, offset + i, Path(path)) if heatmap_dir is not None else ""
        yield _row(path, by_index[i], heat) | {k: loaded[i][1].get(k, "") for k in HEADER_FIELDS}


def _row(path, pred: Prediction, heatmap: str) -> dict[str, str]:
    row = {"path": str(path), "label": pred.label, "probability": f"{pred.probabilities[pred.label]:.6f}",
           "decision": pred.decision.label, "flagged": ";".join(pred.decision.flagged),
           "heatmap": heatmap, "error": ""}
    row.update({f"prob_{c}": f"{p:.6f}" for c, p in pred.probabilities.items()})
    return row


def _error_row(path, reason: str) -> dict[str, str]:
    return {"path": str(path), "label": "", "probability": "", "decision": "", "flagged": "", "heatmap": "",
            "error": reason}


def _write_heatmap(pred: Prediction, folder, index: int, path: Path) -> str:
    if pred.heatmap is None:
        return ""
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", path.stem)[:60] or "image"
    target = Path(folder) / f"{index:06d}_{stem}_{pred.heatmap_class}.png"
    write_bytes(target, png_bytes(overlay_heatmap(pred.image, pred.heatmap)))
    return str(target)


def write_csv(rows: Iterator[dict[str, str]], out: str | Path, classes: Sequence[str]) -> dict[str, int]:
    """Write rows atomically; returns counts ``{"images", "errors"}`` plus one per decision."""
    counts: dict[str, int] = {"images": 0, "errors": 0}
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
    return counts
