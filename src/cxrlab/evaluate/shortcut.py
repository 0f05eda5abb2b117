"""Shortcut check: is the model recognising the disease, or the hospital the image came from?

Pooled COVID datasets mix sources whose class balance differs wildly (a COVID-only collection next
to a pediatric pneumonia one). A model can then score well by recognising the *source* — scanner,
text markers, children's anatomy — instead of the disease. Three measurements:

(a) source predictability from the model's features (:mod:`cxrlab.evaluate.probe`);
(b) per-source class balance and Cramér's V between label and source;
(c) performance within each single source against performance pooled across sources.

:func:`shortcut_warnings` turns them into plain sentences for the report.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy.stats.contingency import association

from cxrlab.metrics.classification import rank_auc

DOMINANT_SHARE = 0.9
CONFOUNDED_V = 0.3
PROBE_MARGIN = 0.25
AUC_GAP = 0.05


def class_balance(sources, labels) -> pd.DataFrame:
    """Counts: one row per source, one column per class."""
    return pd.crosstab(pd.Series(np.asarray(sources).astype(str), name="source"),
                       pd.Series(np.asarray(labels).astype(str), name="class"))


def cramers_v(table: pd.DataFrame | np.ndarray) -> float:
    """Cramér's V between the row and column variables of a contingency table (0 = independent,
    1 = one determines the other); ``nan`` when the table has fewer than two rows or columns."""
    arr = np.asarray(table, dtype=np.int64)
    arr = arr[arr.sum(axis=1) > 0][:, arr.sum(axis=0) > 0]
    if arr.shape[0] < 2 or arr.shape[1] < 2:
        return math.nan
    return float(association(arr, method="cramer"))


def strength(v: float) -> str:
    if not math.isfinite(v):
        return "not measurable"
    return "negligible" if v < 0.1 else "weak" if v < CONFOUNDED_V else "moderate" if v < 0.5 else "strong"


def _share(x: float) -> str:
    """A percentage that never rounds an almost-all up to "100%"."""
    return "100%" if x >= 1 else "over 99%" if x > 0.99 else f"{x:.0%}"


def confounding_findings(table: pd.DataFrame) -> list[str]:
    """Plain sentences: classes that come (almost) only from one source, single-class sources."""
    if table.shape[0] < 2:
        return []
    found = []
    for cls in table.columns:
        col = table[cls]
        share = col.max() / col.sum() if col.sum() else 0.0
        if share >= DOMINANT_SHARE:
            found.append(f"{_share(share).capitalize()} of {cls} images come from {col.idxmax()}, so results on {cls} say "
                         "little about other hospitals or patient groups.")
    for source, row in table.iterrows():
        present = [c for c in table.columns if row[c] > 0]
        if len(present) == 1:
            found.append(f"{source} contains only {present[0]} images.")
    return found


def within_source(probs: np.ndarray, targets: np.ndarray, sources, classes) -> dict:
    """Per source: n, balanced accuracy and per-class one-vs-rest AUC *inside* that source; per
    class: the pooled AUC against the support-weighted mean of the within-source AUCs."""
    probs, targets, sources = np.asarray(probs), np.asarray(targets), np.asarray(sources).astype(str)
    preds = probs.argmax(axis=1)
    per_source, per_class = {}, {}
    for name in sorted(np.unique(sources)):
        rows = sources == name
        t, p = targets[rows], preds[rows]
        present = np.unique(t)
        recall = [float(np.mean(p[t == c] == c)) for c in present]
        aucs = {classes[c]: rank_auc(probs[rows, c], t == c) for c in range(len(classes))}
        per_source[name] = {
            "n": int(rows.sum()),
            "classes": [classes[c] for c in present],
            "accuracy": float(np.mean(p == t)),
            "balanced_accuracy": float(np.mean(recall)) if len(present) > 1 else math.nan,
            "auc": {k: v for k, v in aucs.items() if math.isfinite(v)},
        }
    for c, cls in enumerate(classes):
        pooled = rank_auc(probs[:, c], targets == c)
        pairs = [(s["auc"][cls], s["n"]) for s in per_source.values() if cls in s["auc"]]
        within = float(np.average([a for a, _ in pairs], weights=[n for _, n in pairs])) if pairs else math.nan
        per_class[cls] = {"pooled_auc": pooled, "within_source_auc": within,
                          "sources_with_contrast": [s for s, v in per_source.items() if cls in v["auc"]]}
    return {"per_source": per_source, "per_class": per_class}


def shortcut_warnings(balance: dict, probes: dict | None, within: dict | None) -> list[str]:
    """Plain-language warnings from the three measurements (empty list = nothing alarming)."""
    warnings = []
    v = balance.get("cramers_v", math.nan)
    if math.isfinite(v) and (v >= CONFOUNDED_V or balance.get("findings")):
        warnings.append(
            f"Label and source are confounded (Cramér's V = {v:.2f}, {strength(v)}). "
            + " ".join(balance.get("findings", [])[:4])
            + " A model can score well here by recognising where an image came from instead of the disease."
        )
    if probes:
        for cls, res in probes.get("within_class", {}).items():
            if res["balanced_accuracy"] >= res["chance"] + PROBE_MARGIN:
                warnings.append(
                    f"Among {cls} images alone, the model's features tell the {len(res['sources'])} sources apart "
                    f"(balanced accuracy {res['balanced_accuracy']:.2f}, chance {res['chance']:.2f}): the features "
                    "encode source cues (scanner, markers, patient age), which the model can use as a shortcut."
                )
    if within:
        for cls, res in within["per_class"].items():
            pooled, inside = res["pooled_auc"], res["within_source_auc"]
            if math.isfinite(pooled) and not res["sources_with_contrast"]:
                warnings.append(
                    f"No single source has both {cls} and non-{cls} images, so the pooled {cls} AUC "
                    f"({pooled:.2f}) may measure source recognition, not disease recognition."
                )
            elif math.isfinite(pooled) and math.isfinite(inside) and pooled - inside >= AUC_GAP:
                warnings.append(
                    f"{cls}: AUC drops from {pooled:.2f} pooled across sources to {inside:.2f} within a single "
                    "source — part of the pooled performance comes from telling sources apart."
                )
    return warnings


def balance_summary(sources, labels) -> dict:
    table = class_balance(sources, labels)
    v = cramers_v(table)
    return {
        "table": {str(s): {str(c): int(table.loc[s, c]) for c in table.columns} for s in table.index},
        "cramers_v": v,
        "strength": strength(v),
        "findings": confounding_findings(table),
    }


def shortcut_report(
    features: np.ndarray | None, probs: np.ndarray, targets: np.ndarray, sources, units, classes,
    train_sources=None, train_labels=None, seed: int = 0,
) -> dict:
    """Everything the shortcut section shows. Class balance is measured on the training rows when
    given (that is where a shortcut is learned), else on the evaluated rows."""
    classes = list(classes)
    labels = np.asarray(classes, dtype=object)[np.asarray(targets)]
    if train_sources is not None and train_labels is not None:
        balance = balance_summary(train_sources, train_labels)
        balance["measured_on"] = "training + validation images"
    else:
        balance = balance_summary(sources, labels)
        balance["measured_on"] = "evaluated images"
    probes = None
    if features is not None and len(np.unique(np.asarray(sources).astype(str))) > 1:
        from cxrlab.evaluate.probe import source_probes

        probes = source_probes(features, sources, labels, units, seed=seed)
    within = within_source(probs, targets, sources, classes)
    evaluated = balance_summary(sources, labels)
    evaluated["measured_on"] = "evaluated images"
    warnings = shortcut_warnings(balance, probes, within) + confounded_test_warnings(class_balance(sources, labels))
    return {"balance": balance, "balance_evaluated": evaluated, "probes": probes, "within_source": within,
            "warnings": warnings}


def confounded_test_warnings(table: pd.DataFrame, min_contrast: int = 20) -> list[str]:
    """Classes whose evaluated images come (almost) all from one source that holds few images of
    any other class: there, the class's scores mostly measure recognising that source."""
    if table.shape[0] < 2:
        return []
    out = []
    for cls in table.columns:
        col = table[cls]
        source = col.idxmax()
        share = col.max() / col.sum() if col.sum() else 0.0
        others = int(table.loc[source].sum() - col.max())
        if share >= DOMINANT_SHARE and others < min_contrast:
            out.append(
                f"In the evaluated images, {_share(share)} of {cls} come from {source}, which holds only {others} "
                f"image(s) of other classes: the {cls} sensitivity and AUC on this set mostly measure recognising "
                f"{source}, not {cls}."
            )
    return out
