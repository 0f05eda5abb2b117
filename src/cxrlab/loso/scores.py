"""Scores of one leave-one-source-out fold: the held-out source as a new hospital, plus the internal test.

Pure functions of ``(frame, probs)``: ``frame`` holds the fold's scored rows (``label`` canonical,
``population``, ``split``, ``source``) and ``probs`` their class probabilities (NaN rows = films
that could not be read, left out). Decisions are taken twice: at the arg-max, and at the operating
point that ``cxrlab evaluate`` sets (COVID flagged when its probability reaches the threshold that
gives the target sensitivity on the fold's validation split). Every rate carries its count and a
Wilson 95 % interval: a held-out source of 35 films says less than one of 900.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd

from cxrlab.labels import COVID, NORMAL, PNEUMONIA, VIRAL, BACTERIAL, LabelScheme

PNEUMONIA_LABELS = (PNEUMONIA, VIRAL, BACTERIAL)
PEDIATRIC = "pediatric"
OPERATING_SENSITIVITY = 0.95


def wilson(hits: int, n: int) -> tuple[float, float]:
    """Wilson score 95 % interval of ``hits / n`` (scipy; NaN, NaN when ``n`` is 0)."""
    from scipy.stats import binomtest

    if n == 0:
        return math.nan, math.nan
    ci = binomtest(int(hits), int(n)).proportion_ci(confidence_level=0.95, method="wilson")
    return float(ci.low), float(ci.high)


def rate(hits: np.ndarray) -> dict:
    """``{"value", "n", "ci"}`` of a boolean array (value None when empty)."""
    hits = np.asarray(hits, dtype=bool)
    n, k = int(hits.size), int(hits.sum())
    return {"value": k / n if n else None, "n": n, "ci": list(wilson(k, n)) if n else None}


def auroc(scores: np.ndarray, positive: np.ndarray) -> dict:
    """ROC AUC with its counts (value None unless both classes are present)."""
    from sklearn.metrics import roc_auc_score

    positive = np.asarray(positive, dtype=bool)
    n_pos, n_neg = int(positive.sum()), int((~positive).sum())
    value = float(roc_auc_score(positive, scores)) if n_pos and n_neg else None
    return {"value": value, "n_pos": n_pos, "n_neg": n_neg}


def covid_threshold(frame: pd.DataFrame, probs: np.ndarray, classes: Sequence[str],
                    target: float = OPERATING_SENSITIVITY) -> float | None:
    """The COVID threshold for ``target`` sensitivity on the fold's validation films (None: no COVID class
    or no COVID validation film)."""
    from cxrlab.evaluate.thresholds import threshold_for_sensitivity

    if COVID not in classes:
        return None
    readable = ~np.isnan(probs).any(axis=1)
    val = (frame["split"] == "val").to_numpy() & readable & (frame["label"] == COVID).to_numpy()
    if not val.any():
        return None
    covid = list(classes).index(COVID)
    mask = (frame["split"] == "val").to_numpy() & readable
    return threshold_for_sensitivity(probs[mask, covid], (frame["label"] == COVID).to_numpy()[mask], target)


def decisions(probs: np.ndarray, classes: Sequence[str], threshold: float | None) -> np.ndarray:
    """Predicted class per row ('' for unreadable rows): arg-max, or the operating-point rule."""
    from cxrlab.predict.decision import decide

    readable = ~np.isnan(probs).any(axis=1)
    out = np.array([""] * len(probs), dtype=object)
    if threshold is None:
        out[readable] = np.asarray(classes, dtype=object)[probs[readable].argmax(1)]
        return out
    for i in np.flatnonzero(readable):
        out[i] = decide(probs[i], classes, {COVID: threshold}).label
    return out


def holdout_scores(frame: pd.DataFrame, probs: np.ndarray, pred: np.ndarray, scheme: LabelScheme) -> dict:
    """What a new hospital would see: on the ``external`` rows of ``frame``."""
    classes = list(scheme.classes)
    ext = (frame["split"] == "external").to_numpy() & (pred != "")
    labels, adult = frame["label"].to_numpy(), (frame["population"] != PEDIATRIC).to_numpy()
    out: dict = {"films": int(ext.sum())}
    if COVID in classes:
        covid = labels == COVID
        out["covid_sensitivity"] = rate(pred[ext & covid] == COVID)
        out["adult_non_covid_called_covid"] = rate(pred[ext & ~covid & adult] == COVID)
        out["covid_auroc"] = auroc(probs[ext, classes.index(COVID)], covid[ext])
    pneumonia_class = scheme.map(PNEUMONIA)
    if pneumonia_class is not None:
        pneu = np.isin(labels, PNEUMONIA_LABELS) & adult
        out["adult_pneumonia_recall"] = rate(pred[ext & pneu] == pneumonia_class)
        both = ext & (pneu | ((labels == NORMAL) & adult))
        out["adult_pneumonia_vs_normal_auroc"] = auroc(probs[both, classes.index(pneumonia_class)], pneu[both])
    out["called"] = {str(lab): {str(c): int(n) for c, n in pd.Series(pred[ext & (labels == lab)]).value_counts().items()}
                     for lab in sorted(set(labels[ext]))}
    return out


def internal_scores(frame: pd.DataFrame, pred: np.ndarray, scheme: LabelScheme) -> dict:
    """The internal test split: macro-F1 over the scheme's classes, children's normals called pneumonia."""
    from sklearn.metrics import f1_score

    test = (frame["split"] == "test").to_numpy() & (pred != "")
    truth = np.array([scheme.map(lab) or "" for lab in frame["label"]], dtype=object)
    mapped = test & (truth != "")
    out = {"films": int(mapped.sum())}
    out["macro_f1"] = {"value": float(f1_score(truth[mapped], pred[mapped], labels=list(scheme.classes),
                                               average="macro", zero_division=0)) if mapped.any() else None,
                       "n": int(mapped.sum())}
    pneumonia_class = scheme.map(PNEUMONIA)
    if pneumonia_class is not None:
        kids = test & (frame["label"] == NORMAL).to_numpy() & (frame["population"] == PEDIATRIC).to_numpy()
        out["pediatric_normal_called_pneumonia"] = rate(pred[kids] == pneumonia_class)
    return out


def score_fold(frame: pd.DataFrame, probs: np.ndarray, scheme: LabelScheme,
               target: float = OPERATING_SENSITIVITY) -> dict:
    """Held-out and internal scores at the arg-max and at the validation operating point."""
    frame = frame.reset_index(drop=True)
    threshold = covid_threshold(frame, probs, scheme.classes, target)
    out = {}
    for name, thr in (("argmax", None), ("operating_point", threshold)):
        if name == "operating_point" and thr is None:
            continue
        pred = decisions(probs, scheme.classes, thr)
        out[name] = {"holdout": holdout_scores(frame, probs, pred, scheme), "internal": internal_scores(frame, pred, scheme)}
    if threshold is not None:
        out["operating_point"]["covid_threshold"] = threshold
        out["operating_point"]["val_sensitivity_target"] = target
    return out
