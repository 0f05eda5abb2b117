"""Linear probes: can the image *source* be read off the model's penultimate features?

A cross-validated logistic regression predicts the source of each image from its features. Folds
keep each patient (resampling unit) on one side, so a patient's other films cannot give the answer
away. We report balanced accuracy (mean recall over sources), whose chance level is ``1 / number of
sources`` whatever the source sizes. Two controls make the number interpretable:

* the *label-only* probe predicts the source from the class label alone — what the confounding in
  the data gives away without looking at the image;
* *within-class* probes predict the source among images of a single class, where the disease cannot
  explain the difference: a high score there means the features encode hospital/scanner/age cues.
"""

from __future__ import annotations

import math

import numpy as np

MIN_PER_SOURCE = 10
MAX_SAMPLES = 4000


def _usable(sources: np.ndarray, units: np.ndarray, folds: int) -> np.ndarray:
    """Rows of sources that have at least ``MIN_PER_SOURCE`` images and ``folds`` units."""
    keep = np.zeros(len(sources), dtype=bool)
    for name in np.unique(sources):
        rows = sources == name
        if rows.sum() >= MIN_PER_SOURCE and len(np.unique(units[rows])) >= folds:
            keep |= rows
    return keep


def _subsample(sources: np.ndarray, max_samples: int, seed: int) -> np.ndarray:
    idx = np.arange(len(sources))
    if len(idx) <= max_samples:
        return idx
    # stratified: every source keeps its share (at least MIN_PER_SOURCE rows)
    rng = np.random.default_rng(seed)
    chosen = []
    for name in np.unique(sources):
        rows = idx[sources == name]
        take = max(MIN_PER_SOURCE, int(round(max_samples * len(rows) / len(idx))))
        chosen.append(rng.choice(rows, size=min(take, len(rows)), replace=False))
    return np.sort(np.concatenate(chosen))


def probe_balanced_accuracy(
    features: np.ndarray, sources: np.ndarray, units: np.ndarray, folds: int = 5, seed: int = 0,
    max_samples: int = MAX_SAMPLES,
) -> dict:
    """Cross-validated source-probe balanced accuracy: ``{balanced_accuracy, chance, n, sources,
    per_source_recall}``; ``balanced_accuracy`` is ``nan`` (with a ``reason``) when fewer than two
    sources have enough images."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import balanced_accuracy_score, recall_score
    from sklearn.model_selection import StratifiedGroupKFold, cross_val_predict
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    features, sources, units = np.asarray(features, dtype=np.float64), np.asarray(sources).astype(str), np.asarray(units)
    keep = np.flatnonzero(_usable(sources, units, folds))
    keep = keep[_subsample(sources[keep], max_samples, seed)]
    names = sorted(np.unique(sources[keep]))
    if len(names) < 2:
        return {"balanced_accuracy": math.nan, "chance": math.nan, "n": int(len(keep)), "sources": names,
                "reason": f"needs two sources with at least {MIN_PER_SOURCE} images and {folds} patients each"}
    x, y, g = features[keep], sources[keep], units[keep]
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000, class_weight="balanced", C=0.1))
    cv = StratifiedGroupKFold(n_splits=folds, shuffle=True, random_state=seed)
    pred = cross_val_predict(model, x, y, groups=g, cv=cv)
    recalls = recall_score(y, pred, labels=names, average=None, zero_division=0)
    return {
        "balanced_accuracy": float(balanced_accuracy_score(y, pred)),
        "chance": 1.0 / len(names),
        "n": int(len(keep)),
        "sources": names,
        "per_source_recall": {n: float(r) for n, r in zip(names, recalls)},
    }


def one_hot(labels: np.ndarray) -> np.ndarray:
    """Indicator features of a label column (the label-only control probe)."""
    labels = np.asarray(labels).astype(str)
    names = sorted(np.unique(labels))
    return (labels[:, None] == np.asarray(names)[None, :]).astype(np.float64)


def source_probes(
    features: np.ndarray, sources: np.ndarray, labels: np.ndarray, units: np.ndarray, folds: int = 5, seed: int = 0
) -> dict:
    """The feature probe, the label-only control and one probe per class shared by several sources."""
    sources, labels = np.asarray(sources).astype(str), np.asarray(labels).astype(str)
    out = {
        "features": probe_balanced_accuracy(features, sources, units, folds, seed),
        "label_only": probe_balanced_accuracy(one_hot(labels), sources, units, folds, seed),
        "within_class": {},
    }
    for name in sorted(np.unique(labels)):
        rows = labels == name
        result = probe_balanced_accuracy(features[rows], sources[rows], np.asarray(units)[rows], folds, seed)
        if math.isfinite(result["balanced_accuracy"]):
            out["within_class"][name] = result
    return out
