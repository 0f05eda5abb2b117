"""Intervals for proportions (sensitivity, specificity, PPV, NPV, accuracy) that cannot collapse.

A percentile bootstrap of 18 positives all found says "sensitivity 1.000, 95% CI 1.000-1.000":
every resample is perfect too. For a proportion ``k / n`` cxrlab then reports the Wilson score
interval from the counts (``scipy.stats.binomtest(k, n).proportion_ci(method="wilson")``:
18/18 -> 0.824-1.000), and also whenever ``n`` is small (under :data:`SMALL_COUNT`), where the
bootstrap is too ragged to trust. Each interval says which method made it (``method``:
``bootstrap`` or ``wilson``). Wilson treats the images as independent; the bootstrap resamples
patients, so where both are sound (large ``n``) the bootstrap is kept.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np

#: Below this many images in a proportion's denominator, the Wilson interval is used.
SMALL_COUNT = 30
BOOTSTRAP, WILSON = "bootstrap", "wilson"


def wilson_interval(k: int, n: int, level: float = 0.95) -> tuple[float, float]:
    """The Wilson score interval of ``k`` successes in ``n`` trials (``nan`` when ``n == 0``)."""
    if n <= 0:
        return math.nan, math.nan
    from scipy.stats import binomtest

    ci = binomtest(int(k), int(n)).proportion_ci(confidence_level=level, method="wilson")
    return float(ci.low), float(ci.high)


def collapsed(cell: Mapping[str, float]) -> bool:
    """True when a bootstrap interval is missing or has no width."""
    lo, hi = cell.get("low", math.nan), cell.get("high", math.nan)
    return not (math.isfinite(lo) and math.isfinite(hi)) or hi <= lo


def honest_interval(cell: Mapping[str, float], k: int, n: int, level: float = 0.95) -> dict:
    """``cell`` ({value, low, high} from the bootstrap) with ``method``, ``k`` and ``n`` added, and
    its bounds replaced by the Wilson interval where the bootstrap collapsed or ``n`` is small."""
    out = {**cell, "k": int(k), "n": int(n), "method": BOOTSTRAP}
    if n > 0 and (collapsed(cell) or n < SMALL_COUNT):
        out["low"], out["high"] = wilson_interval(k, n, level)
        out["method"] = WILSON
    return out


def confusion_counts(cm: np.ndarray, classes) -> dict[str, tuple[int, int]]:
    """``{metric: (k, n)}`` of the proportions in a confusion matrix: ``accuracy`` and, per class,
    ``sensitivity:C`` (TP of positives) and ``specificity:C`` (TN of negatives)."""
    cm = np.asarray(cm, dtype=np.int64)
    total = int(cm.sum())
    out = {"accuracy": (int(np.trace(cm)), total)}
    for c, name in enumerate(classes):
        tp, positives, predicted = int(cm[c, c]), int(cm[c].sum()), int(cm[:, c].sum())
        negatives = total - positives
        out[f"sensitivity:{name}"] = (tp, positives)
        out[f"specificity:{name}"] = (negatives - (predicted - tp), negatives)
    return out


def operating_counts(point: Mapping[str, float]) -> dict[str, tuple[int, int]]:
    """``{metric: (k, n)}`` of an operating point's rates from its TP/FP/TN/FN."""
    tp, fp, tn, fn = (int(point[k]) for k in ("tp", "fp", "tn", "fn"))
    return {"sensitivity": (tp, tp + fn), "specificity": (tn, tn + fp), "ppv": (tp, tp + fp),
            "npv": (tn, tn + fn), "accuracy": (tp + tn, tp + fp + tn + fn)}


def apply_honest_intervals(intervals: dict, counts: Mapping[str, tuple[int, int]], level: float = 0.95) -> dict:
    """Every interval in ``intervals`` that is a proportion in ``counts``, made honest (see above)."""
    return {name: honest_interval(cell, *counts[name], level=level) if name in counts else cell
            for name, cell in intervals.items()}
