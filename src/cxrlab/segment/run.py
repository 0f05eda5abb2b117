"""The two end-to-end steps behind ``cxrlab segment``: train a segmenter (masks -> pairs ->
split -> U-Net -> run folder) and predict lung boxes for a manifest."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from cxrlab.data.manifest import read_manifest, write_manifest
from cxrlab.errors import ConfigError
from cxrlab.io.atomic import atomic_path, write_text
from cxrlab.segment.masks import open_masks
from cxrlab.segment.pairs import assign_split, images_from_folder, load_pairs, match_masks
from cxrlab.segment.sheet import contact_sheet, overlay, save_png
from cxrlab.segment.train import SegTrainConfig, SegTrainResult, train_segmenter

Log = Callable[[str], None]


@dataclass(frozen=True)
class SegmentRun:
    out: Path
    result: SegTrainResult
    masks_total: int
    matched: int
    skipped: int
    sources: dict[str, int]  # matched films per source


def segment_train(
    cfg: SegTrainConfig, out: str | Path, *, masks: str | Path | None = None,
    manifest: str | Path | None = None, data: str | Path | None = None, log: Log = print,
) -> SegmentRun:
    """Pair masks with the films of ``manifest`` (or found under ``data``), split by group, train."""
    if (manifest is None) == (data is None):
        raise ConfigError("give exactly one of a manifest (--manifest) or a data folder (--data)")
    out = Path(out)
    source = open_masks(masks)
    images = read_manifest(manifest) if manifest is not None else images_from_folder(data)
    table = match_masks(images, source)
    where = manifest if manifest is not None else data
    log(f"{len(source)} masks in {source.path}; {len(table)} match films in {where}")
    if len(table) < 4:
        raise ConfigError(f"{where}: only {len(table)} film(s) match a mask in {source.path} by file name; need at least 4")
    paired = assign_split(load_pairs(table, source, cfg.size), cfg.val_fraction, cfg.seed)
    tbl = paired.table
    log(f"{len(tbl)} pairs in {tbl['group'].nunique()} groups: train {int((tbl.split == 'train').sum())}, "
        f"val {int((tbl.split == 'val').sum())}; {len(paired.skipped)} unreadable film(s) skipped")
    with atomic_path(out / "pairs.csv") as tmp:
        tbl.to_csv(tmp, index=False)
    info = {"masks": str(source.path), "masks_total": len(source), "matched": len(table), "pairs": len(tbl),
            "groups": int(tbl["group"].nunique())}
    result = train_segmenter(paired, cfg, out, log=log, data_info=info)
    with atomic_path(out / "history.csv") as tmp:
        pd.DataFrame(result.history).to_csv(tmp, index=False)
    summary = {"best_epoch": result.best_epoch, **result.metrics, "seconds": round(result.seconds, 1), **info}
    write_text(out / "metrics.json", json.dumps(summary, indent=2))
    _val_sheet(paired, out)
    sources = tbl["source"].value_counts().to_dict()
    return SegmentRun(out, result, len(source), len(table), len(paired.skipped), {str(k): int(v) for k, v in sources.items()})


def _val_sheet(paired, out: Path, count: int = 16) -> Path:
    """Val films with predicted (red) vs reference (green) masks and the crop box (yellow)."""
    from cxrlab.segment.checkpoint import load_segmenter
    from cxrlab.segment.lungs import expand_box, keep_largest, lung_bbox, box_fraction
    from cxrlab.segment.predict import predict_probs

    model, meta = load_segmenter(out / "checkpoint")
    images, masks = paired.subset("val")
    images, masks = images[:count], masks[:count]
    probs = predict_probs(model, images, meta.mean, meta.std)
    tiles = []
    for img, prob, truth in zip(images, probs, masks):
        pred = keep_largest(prob >= meta.threshold)
        box = lung_bbox(pred)
        box = expand_box(box_fraction(box, pred.shape), pred.shape) if box else None
        tiles.append(overlay(img, pred, truth, box))
    return save_png(contact_sheet(tiles), out / "val_sheet.png")


def segment_predict(
    seg_run: str | Path, manifest: str | Path, out: str | Path, *, sheet: bool = True,
    progress: Callable[[int], None] | None = None, seed: int = 0, threads: int = 0,
) -> tuple[Path, pd.DataFrame, dict[int, str]]:
    """Write ``out`` = the manifest plus ``lung_*`` columns; a ``<out stem>_sheet.png`` of 16 films."""
    import torch

    from cxrlab.segment.checkpoint import load_segmenter
    from cxrlab.segment.predict import add_lung_boxes, lung_boxes

    if threads > 0:
        torch.set_num_threads(threads)
    model, meta = load_segmenter(seg_run)
    df = read_manifest(manifest)
    boxes, errors = lung_boxes(list(df["path"]), model, meta, progress=progress)
    result = add_lung_boxes(df, boxes)
    out = Path(out)
    write_manifest(result, out)
    if sheet and len(result):
        predicted_sheet(result, model, meta, out.with_name(out.stem + "_sheet.png"), seed=seed)
    return out, result, errors


def predicted_sheet(df: pd.DataFrame, model, meta, path: Path, count: int = 16, seed: int = 0) -> Path:
    """Random readable films with the predicted mask (red) and crop box (yellow)."""
    from cxrlab.errors import ImageReadError
    from cxrlab.io.images import read_image, to_uint8
    from cxrlab.segment.lungs import expand_box, keep_largest
    from cxrlab.segment.pairs import resize_gray
    from cxrlab.segment.predict import predict_probs

    rng = np.random.default_rng(seed)
    tiles = []
    for i in rng.permutation(len(df)):
        if len(tiles) == count:
            break
        try:
            img = resize_gray(to_uint8(read_image(df["path"].iloc[i], reduce_to=meta.size)), meta.size)
        except ImageReadError:
            continue
        pred = keep_largest(predict_probs(model, img[None], meta.mean, meta.std)[0] >= meta.threshold)
        row = df.iloc[i]
        box = expand_box((row.lung_x0, row.lung_y0, row.lung_x1, row.lung_y1), img.shape) if row.lung_ok else None
        tiles.append(overlay(img, pred, None, box))
    return save_png(contact_sheet(tiles), path)
