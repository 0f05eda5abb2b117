"""Classification metrics as pure functions of ``(probs, targets)`` (always in that order).

``probs`` is ``(N, K)`` class probabilities, ``targets`` ``(N,)`` class indices in ``0..K-1``.
The predicted class is the arg-max. scikit-learn does the counting; this module only adds what it
lacks (specificity, one-vs-rest bookkeeping) and returns plain Python numbers. Undefined values
(e.g. the AUC of a class absent from the data) are ``nan``, never a made-up number.

A class absent from ``targets`` (e.g. a validation split without one class):

* its one-vs-rest AUC and AP are ``nan``; macro ``auc`` is the mean over the classes where it is
  defined (``nan`` only when it is defined for none, e.g. a single-class set);
* ``macro_f1`` is the mean F1 over the classes present in ``targets`` (an absent class has no F1
  to speak of; predicting it still lowers the present classes' precision);
* its recall is 0 (scikit-learn's ``zero_division=0``), its support 0.

Training validation (``validation_metrics``), the evaluation report and the model card all use
these definitions, so the same predictions give the same numbers everywhere.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
from scipy.stats import rankdata
from sklearn.metrics import (
    accuracy_score,
    average_precision_score,
    balanced_accuracy_score,
    confusion_matrix,
    precision_recall_fscore_support,
    roc_auc_score,
)


def predictions(probs: np.ndarray) -> np.ndarray:
    """The arg-max class of each row."""
    return np.asarray(probs).argmax(axis=1)


def confusion(targets: np.ndarray, preds: np.ndarray, n_classes: int) -> np.ndarray:
    """``cm[i, j]`` = number of images of true class ``i`` predicted as ``j``."""
    return confusion_matrix(targets, preds, labels=list(range(n_classes)))


def specificity_from_confusion(cm: np.ndarray) -> np.ndarray:
    """One-vs-rest specificity per class: TN / (TN + FP); ``nan`` when there are no negatives."""
    cm = np.asarray(cm, dtype=np.float64)
    total = cm.sum()
    tp = np.diag(cm)
    fp = cm.sum(axis=0) - tp
    fn = cm.sum(axis=1) - tp
    tn = total - tp - fp - fn
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(tn + fp > 0, tn / (tn + fp), np.nan)


def one_vs_rest_auc(probs: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """ROC AUC of each class against the rest; ``nan`` when a class is absent or is everything."""
    probs, targets = np.asarray(probs), np.asarray(targets)
    out = np.full(probs.shape[1], np.nan)
    for k in range(probs.shape[1]):
        positive = targets == k
        if 0 < positive.sum() < len(targets):
            out[k] = roc_auc_score(positive, probs[:, k])
    return out


def one_vs_rest_ap(probs: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """Average precision (area under the precision-recall curve) of each class against the rest."""
    probs, targets = np.asarray(probs), np.asarray(targets)
    out = np.full(probs.shape[1], np.nan)
    for k in range(probs.shape[1]):
        positive = targets == k
        if positive.any():
            out[k] = average_precision_score(positive, probs[:, k])
    return out


def rank_auc(scores: np.ndarray, positive: np.ndarray) -> float:
    """ROC AUC via the Mann-Whitney rank sum (ties count one half) — equal to ``roc_auc_score``
    but without its input checks, for the ~1000 calls of a bootstrap; ``nan`` if a side is empty."""
    positive = np.asarray(positive, dtype=bool)
    n_pos = int(positive.sum())
    n_neg = len(positive) - n_pos
    if n_pos == 0 or n_neg == 0:
        return math.nan
    ranks = rankdata(scores)
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def _nanmean(values) -> float:
    arr = np.asarray(values, dtype=np.float64)
    return float(np.nanmean(arr)) if np.isfinite(arr).any() else math.nan


def _weighted(values, support) -> float:
    arr, w = np.asarray(values, dtype=np.float64), np.asarray(support, dtype=np.float64)
    ok = np.isfinite(arr) & (w > 0)
    return float((arr[ok] * w[ok]).sum() / w[ok].sum()) if ok.any() else math.nan


def per_class_table(probs: np.ndarray, targets: np.ndarray, classes) -> dict[str, dict[str, float]]:
    """``{class: {precision, recall, sensitivity, specificity, f1, support, auc, ap}}``.

    Recall and sensitivity are the same number (both names are kept: readers know one or the other).
    """
    n = len(classes)
    preds = predictions(probs)
    prec, rec, f1, support = precision_recall_fscore_support(
        targets, preds, labels=list(range(n)), zero_division=0
    )
    spec = specificity_from_confusion(confusion(targets, preds, n))
    auc, ap = one_vs_rest_auc(probs, targets), one_vs_rest_ap(probs, targets)
    table = {}
    for k, name in enumerate(classes):
        table[str(name)] = {
            "precision": float(prec[k]), "recall": float(rec[k]), "sensitivity": float(rec[k]),
            "specificity": float(spec[k]), "f1": float(f1[k]), "support": int(support[k]),
            "auc": float(auc[k]), "ap": float(ap[k]),
        }
    return table


def averages(table: dict[str, dict[str, float]]) -> dict[str, dict[str, float]]:
    """Macro (plain mean over classes) and weighted (by support) averages of a per-class table."""
    keys = ("precision", "recall", "specificity", "f1", "auc", "ap")
    support = [row["support"] for row in table.values()]
    out: dict[str, dict[str, float]] = {"macro": {}, "weighted": {}}
    for key in keys:
        values = [row[key] for row in table.values()]
        out["macro"][key] = _nanmean(values)
        out["weighted"][key] = _weighted(values, support)
    return out


def summary_metrics(probs: np.ndarray, targets: np.ndarray, n_classes: int) -> dict[str, float]:
    """The headline numbers: accuracy, balanced accuracy, macro F1 and macro one-vs-rest AUC.

    For two classes ``auc`` is simply the ROC AUC (both one-vs-rest AUCs are equal). Classes absent
    from ``targets``: see the module docstring (left out of ``macro_f1`` and ``auc``).
    """
    preds = predictions(probs)
    present = np.unique(targets)
    _, _, f1, _ = precision_recall_fscore_support(targets, preds, labels=list(range(n_classes)), zero_division=0)
    with warnings.catch_warnings():  # "y_pred contains classes not in y_true" is expected on external sets
        warnings.simplefilter("ignore", UserWarning)
        balanced = float(balanced_accuracy_score(targets, preds)) if len(present) else math.nan
    return {
        "accuracy": float(accuracy_score(targets, preds)),
        "balanced_accuracy": balanced,
        "macro_f1": float(np.mean(f1[present])) if len(present) else math.nan,
        "auc": _nanmean(one_vs_rest_auc(probs, targets)),
    }


def classification_metrics(probs: np.ndarray, targets: np.ndarray, classes) -> dict:
    """Everything the report needs about a set of predictions, as JSON-ready values."""
    probs, targets = np.asarray(probs, dtype=np.float64), np.asarray(targets, dtype=np.int64)
    table = per_class_table(probs, targets, classes)
    cm = confusion(targets, predictions(probs), len(classes))
    return {
        "n": int(len(targets)),
        "summary": summary_metrics(probs, targets, len(classes)),
        "per_class": table,
        "averages": averages(table),
        "confusion_matrix": cm.tolist(),
    }


def validation_metrics(probs: np.ndarray, targets: np.ndarray, classes) -> dict[str, float]:
    """Per-epoch validation numbers (flat, for the history rows): ``accuracy``, ``macro_f1``,
    ``auc`` (the :func:`summary_metrics` definitions) and ``recall_<class>`` per class."""
    probs, targets = np.asarray(probs, dtype=np.float64), np.asarray(targets, dtype=np.int64)
    summary = summary_metrics(probs, targets, len(classes))
    out = {key: summary[key] for key in ("accuracy", "macro_f1", "auc")}
    _, recall, _, _ = precision_recall_fscore_support(
        targets, predictions(probs), labels=list(range(len(classes))), zero_division=0
    )
    out.update({f"recall_{name}": float(value) for name, value in zip(classes, recall)})
    return out
