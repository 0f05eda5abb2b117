"""One-vs-rest ROC and precision-recall curves of ``(probs, targets)`` (for the report's plots)."""

from __future__ import annotations

import numpy as np
from sklearn.metrics import precision_recall_curve, roc_curve


def roc_curves(probs: np.ndarray, targets: np.ndarray) -> list[tuple[np.ndarray, np.ndarray] | None]:
    """One-vs-rest ``(fpr, tpr)`` per class (``None`` where undefined)."""
    out = []
    for k in range(np.asarray(probs).shape[1]):
        positive = np.asarray(targets) == k
        if 0 < positive.sum() < len(positive):
            fpr, tpr, _ = roc_curve(positive, probs[:, k])
            out.append((fpr, tpr))
        else:
            out.append(None)
    return out


def pr_curves(probs: np.ndarray, targets: np.ndarray) -> list[tuple[np.ndarray, np.ndarray] | None]:
    """One-vs-rest ``(recall, precision)`` per class (``None`` where the class is absent)."""
    out = []
    for k in range(np.asarray(probs).shape[1]):
        positive = np.asarray(targets) == k
        if positive.any():
            precision, recall, _ = precision_recall_curve(positive, probs[:, k])
            out.append((recall, precision))
        else:
            out.append(None)
    return out
