"""Turn one set's logits into every number of the report (pure: arrays in, JSON-ready dict out)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from cxrlab.evaluate.bootstrap import confidence_intervals, headline_stat, resampling_units
from cxrlab.evaluate.calibration import apply_temperature, calibration_summary, fit_temperature, nll
from cxrlab.metrics.classification import classification_metrics, confusion, predictions
from cxrlab.evaluate.proportions import apply_honest_intervals, confusion_counts, operating_counts
from cxrlab.evaluate.thresholds import operating_point, operating_point_stat, threshold_for_sensitivity

#: A drop of at least this much (internal - external) in a headline metric is called out.
DROP_MARGIN = 0.05


@dataclass(frozen=True)
class Calibration:
    """What is fitted on the validation split and stored in the checkpoint."""

    temperature: float
    threshold: float | None
    target_class: str
    target_sensitivity: float
    fitted: bool  # False = taken from the checkpoint as stored
    validation: dict


def fit_on_validation(logits, targets, classes, target_class: str, target_sensitivity: float) -> Calibration:
    """Temperature (NLL-optimal) and the threshold reaching ``target_sensitivity`` for
    ``target_class``, both chosen on the validation split."""
    temperature = fit_temperature(logits, targets)
    probs = apply_temperature(logits, temperature)
    k = list(classes).index(target_class)
    positive = np.asarray(targets) == k
    threshold = threshold_for_sensitivity(probs[:, k], positive, target_sensitivity) if positive.any() else None
    val = {
        "n": int(len(targets)),
        "nll_before": nll(logits, targets, 1.0), "nll_after": nll(logits, targets, temperature),
        "operating_point": operating_point(probs[:, k], positive, threshold) if threshold is not None else None,
    }
    return Calibration(temperature, threshold, target_class, target_sensitivity, True, val)


def analyse_set(
    df: pd.DataFrame, logits: np.ndarray, classes, calibration: Calibration, n_boot: int = 1000, seed: int = 0
) -> dict:
    """Metrics, bootstrap intervals, calibration, operating point and per-source breakdown of one set.
    Proportions get a Wilson interval where the bootstrap collapses or the count is small
    (:mod:`cxrlab.evaluate.proportions`); every interval names its ``method``.

    ``df`` holds the set's manifest rows with a ``target`` column, aligned with ``logits``.
    """
    classes = list(classes)
    targets = df["target"].to_numpy(dtype=np.int64)
    probs = apply_temperature(logits, calibration.temperature)
    units, unit = resampling_units(df)
    metrics = classification_metrics(probs, targets, classes)
    intervals = confidence_intervals(headline_stat(probs, targets, classes), units, n_boot, seed)
    honest = apply_honest_intervals if n_boot > 0 else (lambda cis, _counts: cis)  # n_boot 0: no intervals
    out = {
        "n_images": int(len(df)),
        "n_units": int(len(np.unique(units))),
        "unit": unit,
        "class_counts": {c: int((targets == k).sum()) for k, c in enumerate(classes)},
        "sources": {str(s): int(n) for s, n in df["source"].value_counts().sort_index().items()},
        "metrics": metrics,
        "intervals": honest(intervals, confusion_counts(metrics["confusion_matrix"], classes)),
        "calibration": {
            "temperature": calibration.temperature,
            "raw": calibration_summary(apply_temperature(logits, 1.0), targets),
            "scaled": calibration_summary(probs, targets),
        },
        "operating_point": None,
        "per_source": {},
    }
    if calibration.threshold is not None:
        k = classes.index(calibration.target_class)
        scores, positive = probs[:, k], targets == k
        point = operating_point(scores, positive, calibration.threshold)
        cis = confidence_intervals(operating_point_stat(scores, positive, calibration.threshold), units, n_boot, seed)
        cis = honest(cis, operating_counts(point))
        out["operating_point"] = {"class": calibration.target_class, "target_sensitivity": calibration.target_sensitivity,
                                  **point, "intervals": cis}
    sources = df["source"].astype(str).to_numpy()
    if len(np.unique(sources)) > 1:
        for name in sorted(np.unique(sources)):
            rows = np.flatnonzero(sources == name)
            stat = headline_stat(probs[rows], targets[rows], classes)
            cis = confidence_intervals(stat, units[rows], n_boot, seed)
            cm = confusion(targets[rows], predictions(probs[rows]), len(classes))
            cis = honest(cis, confusion_counts(cm, classes))
            out["per_source"][name] = {
                "n_images": int(len(rows)),
                "class_counts": {c: int((targets[rows] == k).sum()) for k, c in enumerate(classes)},
                "intervals": {key: cis[key] for key in ("accuracy", "balanced_accuracy", "auc")},
            }
    return out


HEADLINE_KEYS = ("accuracy", "balanced_accuracy", "macro_f1", "auc")


def compare_sets(internal: dict, external: dict) -> dict:
    """Internal vs external headline metrics and a plain-language verdict on the drop."""
    rows, drops = {}, []
    for key in HEADLINE_KEYS:
        a, b = internal["intervals"].get(key), external["intervals"].get(key)
        if not a or not b:
            continue
        diff = b["value"] - a["value"] if math.isfinite(a["value"]) and math.isfinite(b["value"]) else math.nan
        # intervals that do not overlap: the drop is beyond what resampling patients explains
        separated = math.isfinite(a["low"]) and math.isfinite(b["high"]) and b["high"] < a["low"]
        rows[key] = {"internal": a, "external": b, "difference": diff, "intervals_separate": separated}
        if math.isfinite(diff) and diff <= -DROP_MARGIN:
            drops.append((key, a["value"], b["value"], separated))
    if drops:
        parts = [f"{k.replace('_', ' ')} {x:.3f} → {y:.3f}" for k, x, y, _ in drops]
        sure = any(s for *_, s in drops)
        verdict = ("Performance DROPS on the external data: " + "; ".join(parts) + ". "
                   + ("The 95% intervals do not overlap, so this is not chance. " if sure else "")
                   + "The internal test numbers overstate how the model will do on new hospitals/scanners.")
    else:
        verdict = (f"No drop of {DROP_MARGIN:.2f} or more in any headline metric between internal test and external data.")
    return {"metrics": rows, "dropped": bool(drops), "verdict": verdict}
