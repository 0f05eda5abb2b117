"""Per-epoch validation metrics (scikit-learn): accuracy, macro-F1, macro one-vs-rest AUC, recalls."""

from __future__ import annotations

import math

import numpy as np


def classification_metrics(targets: np.ndarray, probs: np.ndarray, classes: tuple[str, ...]) -> dict[str, float]:
    """Metrics of predicted class probabilities ``probs (N, C)`` against ``targets (N,)``.

    AUC is NaN when the set lacks a class (it is undefined then), never an exception.
    """
    from sklearn.metrics import accuracy_score, f1_score, recall_score, roc_auc_score

    targets = np.asarray(targets)
    pred = probs.argmax(axis=1)
    labels = list(range(len(classes)))
    out = {
        "accuracy": float(accuracy_score(targets, pred)),
        "macro_f1": float(f1_score(targets, pred, labels=labels, average="macro", zero_division=0)),
        "auc": _auc(targets, probs, labels, roc_auc_score),
    }
    recalls = recall_score(targets, pred, labels=labels, average=None, zero_division=0)
    for name, value in zip(classes, recalls):
        out[f"recall_{name}"] = float(value)
    return out


def _auc(targets, probs, labels, roc_auc_score) -> float:
    if len(np.unique(targets)) < len(labels):
        return math.nan
    if len(labels) == 2:
        return float(roc_auc_score(targets, probs[:, 1]))
    return float(roc_auc_score(targets, probs, multi_class="ovr", average="macro", labels=labels))
