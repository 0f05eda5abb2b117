"""``evaluate_run``: checkpoint + manifest -> metrics.json, predictions.csv and report.html."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from cxrlab.artifacts.calibration import write_calibration
from cxrlab.artifacts.run_folder import EvaluationFolder, RunFolder
from cxrlab.errors import ConfigError
from cxrlab.evaluate.analysis import Calibration, analyse_set, compare_sets, fit_on_validation
from cxrlab.evaluate.calibration import apply_temperature
from cxrlab.evaluate.context import RunContext, load_context
from cxrlab.evaluate.inference import load_images, run_model
from cxrlab.evaluate.selection import EvalSet, map_targets, select_rows
from cxrlab.evaluate.thresholds import default_target_class
from cxrlab.io.atomic import atomic_path, write_text


@dataclass(frozen=True)
class EvaluateOptions:
    split: str | None = None
    source: str | None = None
    target_class: str | None = None  # default: COVID if the task has it, else the last class
    target_sensitivity: float = 0.95
    n_boot: int = 1000
    seed: int = 0
    calibrate: bool = True  # fit temperature + threshold on val and store them in evaluation/calibration.json
    batch_size: int = 64
    gallery: int = 12
    shortcut: bool = True
    which: str = "best"


@dataclass(frozen=True)
class SetResult:
    """One evaluated set: its readable rows, raw logits, features, images and analysis."""

    name: str
    df: pd.DataFrame
    logits: np.ndarray
    features: np.ndarray | None
    images: np.ndarray
    analysis: dict = field(default_factory=dict)
    external: bool = False

    @property
    def targets(self) -> np.ndarray:
        return self.df["target"].to_numpy(dtype=np.int64)

    def probs(self, temperature: float) -> np.ndarray:
        return apply_temperature(self.logits, temperature)


def default_out(run_dir: Path | None, ckpt_dir: Path, options: EvaluateOptions, manifest: Path | None = None) -> Path:
    """``RUN/evaluation`` for the run's own test split; ``RUN/evaluation-<what>`` for anything else
    (another split, a source, another manifest), so evaluations never overwrite each other."""
    base = RunFolder(run_dir or ckpt_dir.parent)
    parts = [options.source, options.split]
    if manifest is not None:
        parts.insert(0, manifest.parent.name if manifest.stem == "manifest" else manifest.stem)
    if not any(parts):
        return base.evaluation
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "-", "-".join(p for p in parts if p)).strip("-") or "other"
    return base.evaluation_of(slug)


def predict_set(model, meta, evalset: EvalSet, cache_root, batch_size: int, log) -> SetResult:
    """Run the model on a set; unreadable images are dropped and counted in ``evalset.excluded``."""
    log(f"{evalset.name}: preprocessing {len(evalset.df)} images")
    loaded = load_images(evalset.df, meta.preprocess, cache_root)
    ok = np.asarray(loaded.ok, dtype=bool)
    if not ok.any():
        first = next(iter(loaded.errors.values()), "unknown reason")
        raise ConfigError(f"{evalset.name}: none of the {len(ok)} images could be read (first error: {first})")
    if not ok.all():
        evalset.excluded["unreadable image"] = int((~ok).sum())
    df = evalset.df.loc[ok].reset_index(drop=True)
    images = np.asarray(loaded.images)[ok] if not ok.all() else loaded.images
    log(f"{evalset.name}: running the model on {len(df)} images")
    outputs = run_model(model, images, meta.mean, meta.std, meta.in_chans, batch_size)
    return SetResult(evalset.name, df, outputs.logits, outputs.features, images, external=evalset.external)


def calibration_for(ctx: RunContext, options: EvaluateOptions, cache_root, log) -> Calibration:
    """Fit temperature and threshold on the validation split and record them in the run's
    ``evaluation/calibration.json``, or fall back to the calibration the model was loaded with."""
    model, meta, run_df, df, ckpt_dir = ctx.model, ctx.meta, ctx.run_df, ctx.df, ctx.ckpt_dir
    classes = list(meta.classes)
    target = options.target_class or default_target_class(classes)
    if target not in classes:
        raise ConfigError(f"--target-class {target!r} is not a class of this model ({', '.join(classes)})")
    source = run_df if run_df is not None else df
    val = None
    if options.calibrate and "split" in source.columns and (source["split"] == "val").any():
        val_rows, _ = map_targets(source[source["split"] == "val"], meta.label_scheme)
        if len(val_rows):
            val = predict_set(model, meta, EvalSet("validation", val_rows), cache_root, options.batch_size, log)
    if val is None or not len(val.df):
        stored = meta.thresholds.get(target)
        threshold = float(stored) if isinstance(stored, (int, float)) else None
        note = "no validation split available" if options.calibrate else "calibration disabled"
        return Calibration(float(meta.temperature), threshold, target, options.target_sensitivity, False, {"note": note})
    cal = fit_on_validation(val.logits, val.targets, classes, target, options.target_sensitivity)
    thresholds = {k: float(v) for k, v in meta.thresholds.items() if isinstance(v, (int, float))}
    if cal.threshold is not None:
        thresholds[target] = cal.threshold
    path = write_calibration(ckpt_dir, cal.temperature, thresholds, target, options.target_sensitivity)
    shown = "none (no such image in validation)" if cal.threshold is None else f"{cal.threshold:.4g}"
    log(f"calibration: temperature {cal.temperature:.3f}, {target} threshold {shown} (stored in {path})")
    return cal


def jsonable(obj):
    """Plain JSON values: nan/inf -> null, numpy scalars/arrays -> Python."""
    if isinstance(obj, dict):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return jsonable(obj.tolist())
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


def write_predictions(path: Path, results: list[SetResult], classes, temperature: float) -> None:
    frames = []
    for res in results:
        probs = res.probs(temperature)
        frame = pd.DataFrame({
            "set": res.name, "path": res.df["path"], "source": res.df["source"],
            "group": res.df.get("group", res.df.get("patient_id", "")), "label": res.df["label"],
            "true": res.df["class"], "predicted": [classes[i] for i in probs.argmax(axis=1)],
        })
        for k, name in enumerate(classes):
            frame[f"prob_{name}"] = probs[:, k].round(6)
        frames.append(frame)
    with atomic_path(path) as tmp:
        pd.concat(frames).to_csv(tmp, index=False)


def evaluate_run(
    run: str | Path,
    manifest: str | Path | None = None,
    out: str | Path | None = None,
    cache_root: str | Path | None = None,
    options: EvaluateOptions = EvaluateOptions(),
    log: Callable[[str], None] = lambda _msg: None,
) -> Path:
    """Evaluate a run (or checkpoint folder) and write ``metrics.json``, ``predictions.csv`` and a
    self-contained ``report.html`` into ``out``; returns ``out``."""
    from cxrlab.evaluate.report import write_report

    ctx = load_context(run, manifest, options.which)
    evalset = select_rows(ctx.df, ctx.meta.label_scheme, options.split, options.source, ctx.run_df)
    out = Path(out) if out else default_out(ctx.run_dir, ctx.ckpt_dir, options, ctx.other_manifest)
    classes = list(ctx.meta.classes)
    cal = calibration_for(ctx, options, cache_root, log)
    main = predict_set(ctx.model, ctx.meta, evalset, cache_root, options.batch_size, log)
    log(f"{main.name}: bootstrapping {options.n_boot} resamples")
    main = _analysed(main, classes, cal, options)
    internal = _internal_counterpart(ctx, main, cal, options, cache_root, log)
    sets = [main] + ([internal] if internal else [])
    shortcut = _shortcut(sets, classes, cal.temperature, ctx, options.seed) if options.shortcut else None
    metrics = _metrics(ctx, evalset, main, internal, cal, options, shortcut)
    out.mkdir(parents=True, exist_ok=True)
    files = EvaluationFolder(out)
    write_text(files.metrics, json.dumps(jsonable(metrics), indent=2))
    write_predictions(files.predictions, sets, classes, cal.temperature)
    from cxrlab.evaluate.gallery_heatmaps import mistake_overlays

    def explain(rows):
        return mistake_overlays(ctx.model, ctx.meta, main.df, main.images, rows)

    write_report(files.report, metrics, main, internal, ctx.run_dir, options.gallery, explain)
    log(f"wrote {files.report}")
    return out


def _internal_counterpart(ctx: RunContext, main: SetResult, cal, options, cache_root, log) -> SetResult | None:
    """For an external evaluation: the run's own test split, to put side by side."""
    run_df = ctx.run_df
    if not main.external or run_df is None or "split" not in run_df.columns or not (run_df["split"] == "test").any():
        return None
    internal_set = select_rows(run_df, ctx.meta.label_scheme, "test", None, run_df)
    result = predict_set(ctx.model, ctx.meta, internal_set, cache_root, options.batch_size, log)
    return _analysed(result, list(ctx.meta.classes), cal, options)


def _metrics(ctx: RunContext, evalset: EvalSet, main: SetResult, internal: SetResult | None, cal: Calibration,
             options: EvaluateOptions, shortcut: dict | None) -> dict:
    """The content of metrics.json (see docs/evaluate.md)."""
    a = main.analysis
    return {
        "run": str(ctx.run_dir or ctx.ckpt_dir), "checkpoint": str(ctx.ckpt_dir), "architecture": ctx.meta.architecture,
        "classes": list(ctx.meta.classes), "label_scheme": ctx.meta.label_scheme.name,
        "evaluated": {"name": main.name, "manifest": str(ctx.manifest), "external": main.external,
                      "excluded": evalset.excluded, "notes": list(evalset.notes)},
        "bootstrap": {"resamples": options.n_boot, "seed": options.seed, "level": 0.95, "unit": a["unit"]},
        "calibration_fit": {"fitted_on_validation": cal.fitted, "temperature": cal.temperature,
                            "target_class": cal.target_class, "target_sensitivity": cal.target_sensitivity,
                            "threshold": cal.threshold, "validation": cal.validation},
        "headline": {k: a["intervals"][k] for k in ("accuracy", "balanced_accuracy", "macro_f1", "auc")},
        **{k: v for k, v in a.items() if k not in ("intervals", "metrics")},
        **a["metrics"],
        "intervals": a["intervals"],
        "internal": internal.analysis if internal else None,
        "comparison": compare_sets(internal.analysis, a) if internal else None,
        "shortcut": shortcut,
    }


def _analysed(res: SetResult, classes, cal: Calibration, options: EvaluateOptions) -> SetResult:
    analysis = analyse_set(res.df, res.logits, classes, cal, options.n_boot, options.seed)
    return SetResult(res.name, res.df, res.logits, res.features, res.images, analysis, res.external)


def _shortcut(sets: list[SetResult], classes, temperature: float, ctx: RunContext, seed: int) -> dict:
    """The shortcut section over every evaluated image (internal + external when both exist)."""
    from cxrlab.evaluate.bootstrap import resampling_units
    from cxrlab.evaluate.shortcut import shortcut_report

    df = pd.concat([s.df for s in sets], ignore_index=True)
    feats = [s.features for s in sets]
    features = np.concatenate(feats) if all(f is not None for f in feats) else None
    probs = np.concatenate([s.probs(temperature) for s in sets])
    units, _ = resampling_units(df)
    train_sources, train_labels = ctx.training_labels()
    return shortcut_report(features, probs, df["target"].to_numpy(), df["source"].to_numpy(), units, classes,
                           train_sources, train_labels, seed)
