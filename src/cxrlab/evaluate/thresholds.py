"""Operating points: a decision threshold on one class's probability.

A screening tool is used at a fixed sensitivity ("catch 95% of COVID"), not at the arg-max. The
threshold is *picked on the validation split* and then *reported on the test split*, so the
reported specificity/PPV are honest. The rule at prediction time: flag the class when its
(temperature-scaled) probability is ``>= threshold``.
"""

from __future__ import annotations

import math

import numpy as np


def threshold_for_sensitivity(scores: np.ndarray, positive: np.ndarray, target: float) -> float:
    """The highest threshold whose sensitivity (``score >= t`` among positives) is at least ``target``.

    With ``n`` positives it is the ``ceil(target * n)``-th highest positive score. Raises
    ``ValueError`` when there is no positive example to pick from.
    """
    if not 0 < target <= 1:
        raise ValueError(f"target sensitivity must be in (0, 1], got {target}")
    pos_scores = np.sort(np.asarray(scores, dtype=np.float64)[np.asarray(positive, dtype=bool)])[::-1]
    if len(pos_scores) == 0:
        raise ValueError("no positive example to pick a threshold from")
    needed = max(1, math.ceil(round(target * len(pos_scores), 9)))
    return float(pos_scores[needed - 1])


def _ratio(num: float, den: float) -> float:
    return float(num / den) if den > 0 else math.nan


def operating_point(scores: np.ndarray, positive: np.ndarray, threshold: float) -> dict[str, float]:
    """Counts and rates of the rule ``score >= threshold``: sensitivity, specificity, PPV, NPV, accuracy."""
    scores = np.asarray(scores, dtype=np.float64)
    positive = np.asarray(positive, dtype=bool)
    flagged = scores >= threshold
    tp = int((flagged & positive).sum())
    fp = int((flagged & ~positive).sum())
    fn = int((~flagged & positive).sum())
    tn = int((~flagged & ~positive).sum())
    return {
        "threshold": float(threshold),
        "sensitivity": _ratio(tp, tp + fn), "specificity": _ratio(tn, tn + fp),
        "ppv": _ratio(tp, tp + fp), "npv": _ratio(tn, tn + fn), "accuracy": _ratio(tp + tn, tp + fp + tn + fn),
        "tp": tp, "fp": fp, "tn": tn, "fn": fn,
    }


def operating_point_stat(scores: np.ndarray, positive: np.ndarray, threshold: float):
    """A bootstrap statistic (indices -> rates) for :mod:`cxrlab.evaluate.bootstrap`."""
    scores, positive = np.asarray(scores), np.asarray(positive, dtype=bool)

    def stat(idx: np.ndarray) -> dict[str, float]:
        point = operating_point(scores[idx], positive[idx], threshold)
        return {k: point[k] for k in ("sensitivity", "specificity", "ppv", "npv", "accuracy")}

    return stat


def default_target_class(classes: tuple[str, ...] | list[str]) -> str:
    """COVID when the task has it, else the last class (the positive one of a binary task)."""
    for name in classes:
        if name.upper() == "COVID":
            return name
    return classes[-1]
