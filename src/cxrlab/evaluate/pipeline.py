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

from cxrlab.data.manifest import read_manifest
from cxrlab.errors import ConfigError
from cxrlab.evaluate.analysis import Calibration, analyse_set, compare_sets, fit_on_validation
from cxrlab.evaluate.calibration import apply_temperature
from cxrlab.evaluate.inference import load_images, run_model
from cxrlab.evaluate.selection import EvalSet, fit_rows, map_targets, select_rows
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
    calibrate: bool = True  # fit temperature + threshold on val and store them in the checkpoint
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


def run_folder(path: Path, ckpt_dir: Path) -> Path | None:
    """The run folder (``runs/<name>/``) of a run or checkpoint path, if there is one."""
    for cand in (path, ckpt_dir.parent.parent):
        if (cand / "checkpoints").is_dir() or (cand / "split_manifest.csv").exists():
            return cand
    return None


def default_out(run_dir: Path | None, ckpt_dir: Path, options: EvaluateOptions) -> Path:
    base = run_dir or ckpt_dir.parent
    if options.split is None and options.source is None:
        return base / "evaluation"
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "-", "-".join(p for p in (options.source, options.split) if p))
    return base / f"evaluation-{slug}"


def predict_set(model, meta, evalset: EvalSet, cache_root, batch_size: int, log) -> SetResult:
    """Run the model on a set; unreadable images are dropped and counted in ``evalset.excluded``."""
    log(f"{evalset.name}: preprocessing {len(evalset.df)} images")
    loaded = load_images(evalset.df, meta.preprocess_config(), cache_root)
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


def calibration_for(model, meta, run_df, df, options, cache_root, ckpt_dir, log) -> tuple[Calibration, SetResult | None]:
    """Fit temperature and threshold on the validation split and store them in the checkpoint, or
    fall back to what the checkpoint holds."""
    classes = list(meta.classes)
    target = options.target_class or default_target_class(classes)
    if target not in classes:
        raise ConfigError(f"--target-class {target!r} is not a class of this model ({', '.join(classes)})")
    source = run_df if run_df is not None else df
    val = None
    if options.calibrate and "split" in source.columns and (source["split"] == "val").any():
        val_rows, _ = map_targets(source[source["split"] == "val"], meta.scheme())
        if len(val_rows):
            val = predict_set(model, meta, EvalSet("validation", val_rows), cache_root, options.batch_size, log)
    if val is None or not len(val.df):
        stored = meta.thresholds.get(target)
        threshold = float(stored) if isinstance(stored, (int, float)) else None
        note = "no validation split available" if options.calibrate else "calibration disabled"
        return Calibration(float(meta.temperature), threshold, target, options.target_sensitivity, False, {"note": note}), None
    cal = fit_on_validation(val.logits, val.targets, classes, target, options.target_sensitivity)
    thresholds = dict(meta.thresholds)
    if cal.threshold is not None:
        thresholds[target] = cal.threshold
    from cxrlab.train.checkpoint import update_meta

    update_meta(ckpt_dir, temperature=cal.temperature, thresholds=thresholds)
    log(f"calibration: temperature {cal.temperature:.3f}, {target} threshold {cal.threshold} (stored in {ckpt_dir})")
    return cal, val


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
    from cxrlab.evaluate.shortcut import shortcut_report
    from cxrlab.train.checkpoint import load_checkpoint, resolve_checkpoint_dir

    run = Path(run)
    ckpt_dir = resolve_checkpoint_dir(run, options.which)
    model, meta = load_checkpoint(ckpt_dir)
    run_dir = run_folder(run, ckpt_dir)
    split_manifest = run_dir / "split_manifest.csv" if run_dir else None
    run_df = read_manifest(split_manifest) if split_manifest and split_manifest.exists() else None
    if manifest is None and run_df is None:
        raise ConfigError(f"{run}: the run has no split_manifest.csv; pass --manifest")
    df = read_manifest(manifest) if manifest is not None else run_df
    scheme, classes = meta.scheme(), list(meta.classes)
    evalset = select_rows(df, scheme, options.split, options.source, run_df)
    out = Path(out) if out else default_out(run_dir, ckpt_dir, options)

    cal, _ = calibration_for(model, meta, run_df, df, options, cache_root, ckpt_dir, log)
    main = predict_set(model, meta, evalset, cache_root, options.batch_size, log)
    log(f"{main.name}: bootstrapping {options.n_boot} resamples")
    main = _analysed(main, classes, cal, options)
    sets = [main]
    internal, comparison = None, None
    if main.external and run_df is not None and (run_df.get("split", pd.Series(dtype=str)) == "test").any():
        internal_set = select_rows(run_df, scheme, "test", None, run_df)
        internal = _analysed(predict_set(model, meta, internal_set, cache_root, options.batch_size, log), classes, cal, options)
        comparison = compare_sets(internal.analysis, main.analysis)
        sets.append(internal)
    shortcut = None
    if options.shortcut:
        shortcut = _shortcut(sets, classes, cal.temperature, fit_rows(run_df), scheme, options.seed, shortcut_report)
    metrics = {
        "run": str(run_dir or ckpt_dir), "checkpoint": str(ckpt_dir), "architecture": meta.architecture,
        "classes": classes, "label_scheme": scheme.name,
        "evaluated": {"name": main.name, "manifest": str(manifest or split_manifest), "external": main.external,
                      "excluded": evalset.excluded, "notes": list(evalset.notes)},
        "bootstrap": {"resamples": options.n_boot, "seed": options.seed, "level": 0.95, "unit": main.analysis["unit"]},
        "calibration_fit": {"fitted_on_validation": cal.fitted, "temperature": cal.temperature,
                            "target_class": cal.target_class, "target_sensitivity": cal.target_sensitivity,
                            "threshold": cal.threshold, "validation": cal.validation},
        "headline": {k: main.analysis["intervals"][k] for k in ("accuracy", "balanced_accuracy", "macro_f1", "auc")},
        **{k: v for k, v in main.analysis.items() if k not in ("intervals", "metrics")},
        **main.analysis["metrics"],
        "intervals": main.analysis["intervals"],
        "internal": internal.analysis if internal else None,
        "comparison": comparison,
        "shortcut": shortcut,
    }
    out.mkdir(parents=True, exist_ok=True)
    write_text(out / "metrics.json", json.dumps(jsonable(metrics), indent=2))
    write_predictions(out / "predictions.csv", sets, classes, cal.temperature)
    write_report(out / "report.html", metrics, main, internal, run_dir, options.gallery)
    log(f"wrote {out / 'report.html'}")
    return out


def _analysed(res: SetResult, classes, cal: Calibration, options: EvaluateOptions) -> SetResult:
    analysis = analyse_set(res.df, res.logits, classes, cal, options.n_boot, options.seed)
    return SetResult(res.name, res.df, res.logits, res.features, res.images, analysis, res.external)


def _shortcut(sets: list[SetResult], classes, temperature, fit_df, scheme, seed, shortcut_report) -> dict:
    """The shortcut section over every evaluated image (internal + external when both exist)."""
    from cxrlab.evaluate.bootstrap import resampling_units

    df = pd.concat([s.df for s in sets], ignore_index=True)
    feats = [s.features for s in sets]
    features = np.concatenate(feats) if all(f is not None for f in feats) else None
    probs = np.concatenate([s.probs(temperature) for s in sets])
    units, _ = resampling_units(df)
    train_sources = train_labels = None
    if fit_df is not None and len(fit_df):
        mapped, _ = map_targets(fit_df, scheme)
        train_sources, train_labels = mapped["source"].to_numpy(), mapped["class"].to_numpy()
    return shortcut_report(features, probs, df["target"].to_numpy(), df["source"].to_numpy(), units, classes,
                           train_sources, train_labels, seed)
