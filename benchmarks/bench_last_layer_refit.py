"""Offline last-layer refit of finished leave-one-source-out folds (no training).

Deep-feature-reweighting style: from a fold's saved penultimate features (``features.npy``, the rows
of its ``predictions.csv``), half of the validation split (stratified by class x source) refits a
logistic-regression head, weighted to balance the (class, source) cells (``--balance group``) or the
classes (``--balance class``); the other half sets the COVID operating point. The trained head is
scored on the same half (``--balance none``), so the rows compare like with like::

    python benchmarks/bench_last_layer_refit.py --loso work/loso/lite0-128-all --scheme 3class \
        --balance none --balance group --balance class

Prints one line per (fold, head); ``--json`` writes them too.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pandas as pd

KEYS = {"covid_sensitivity": "covid_sens", "adult_non_covid_called_covid": "called_covid",
        "adult_pneumonia_recall": "pneumonia_recall", "adult_pneumonia_vs_normal_auroc": "pneumonia_auroc"}


def refit_half(frame: pd.DataFrame, truth: np.ndarray, seed: int) -> np.ndarray:
    """Rows of the validation half that refits the head (True), stratified by class x source."""
    rng = np.random.default_rng(seed)
    val = np.flatnonzero((frame["split"] == "val").to_numpy() & (truth != ""))
    strata = (pd.Series(truth[val]) + "|" + frame["source"].to_numpy()[val]).to_numpy()
    chosen = np.zeros(len(frame), bool)
    for stratum in np.unique(strata):
        rows = rng.permutation(val[strata == stratum])
        chosen[rows[: (len(rows) + 1) // 2]] = True
    return chosen


def refit_probs(features: np.ndarray, truth: np.ndarray, rows: np.ndarray, groups: np.ndarray,
                classes: list[str], c: float) -> np.ndarray:
    """Probabilities of every row from a head fitted on ``rows`` with equal weight per group."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    counts = pd.Series(groups[rows]).value_counts()
    weights = 1.0 / pd.Series(groups[rows]).map(counts).to_numpy()
    scaler = StandardScaler().fit(features[rows])
    head = LogisticRegression(C=c, max_iter=3000).fit(scaler.transform(features[rows]), truth[rows].astype(str),
                                                      sample_weight=weights * len(weights) / weights.sum())
    probs = head.predict_proba(scaler.transform(features))
    return probs[:, [list(head.classes_).index(name) for name in classes]]


def summarise(frame: pd.DataFrame, probs: np.ndarray, scheme) -> dict:
    from cxrlab.loso.scores import score_fold

    scores = score_fold(frame, probs, scheme)
    op = scores["operating_point"]
    out = {"covid_threshold": round(op["covid_threshold"], 3)}
    for key, short in KEYS.items():
        value = (op["holdout"].get(key) or {}).get("value")
        if value is not None:
            out[short] = round(value, 3)
    out["internal_macro_f1"] = round(op["internal"]["macro_f1"]["value"], 3)
    return out


def fold_rows(folder: Path, scheme, balances: list[str], c: float, seed: int) -> list[dict]:
    frame = pd.read_csv(folder / "predictions.csv", dtype=str, keep_default_na=False)
    features = np.load(folder / "features.npy")
    classes = list(scheme.classes)
    truth = np.array([scheme.map(label) or "" for label in frame["label"]], dtype=object)
    half = refit_half(frame, truth, seed)
    frame = frame.assign(split=np.where(half, "refit", frame["split"]))
    rows = []
    for balance in balances:
        if balance == "none":
            probs = frame[[f"p_{name}" for name in classes]].astype(float).to_numpy()
        else:
            groups = truth + ("|" + frame["source"].to_numpy() if balance == "group" else "")
            probs = refit_probs(features, truth, half, groups.astype(str), classes, c)
        rows.append({"fold": folder.name, "head": balance, **summarise(frame, probs, scheme)})
    return rows


def main(argv: list[str] | None = None) -> list[dict]:
    from cxrlab.labels import load_scheme

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--loso", required=True, help="a variant's folder of bench_loso.py / cxrlab loso (one sub-folder per fold)")
    p.add_argument("--scheme", default="3class")
    p.add_argument("--balance", action="append", choices=("none", "group", "class"), help="repeatable (default: all)")
    p.add_argument("--C", type=float, default=0.01, help="inverse L2 strength of the refit head")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", default=None)
    args = p.parse_args(argv)
    scheme = load_scheme(args.scheme)
    rows = []
    for folder in sorted(Path(args.loso).iterdir()):
        if (folder / "features.npy").exists() and (folder / "predictions.csv").exists():
            for row in fold_rows(folder, scheme, args.balance or ["none", "group", "class"], args.C, args.seed):
                print(json.dumps(row))
                rows.append(row)
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1), encoding="utf-8")
    return rows


if __name__ == "__main__":
    main()
