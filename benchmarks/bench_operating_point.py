"""Where to put the COVID operating point: re-score finished leave-one-source-out folds at several
validation-sensitivity targets, from their saved ``predictions.csv`` (no training)::

    python benchmarks/bench_operating_point.py --loso work/loso/lite0-128-all --results op.md

The operating point is the COVID threshold that reaches the target sensitivity on the fold's own
validation split; it is then applied unchanged to the held-out source (what a bundle does at a new
hospital). Per target and fold: held-out COVID sensitivity, adult non-COVID films called COVID, adult
pneumonia recall (Wilson 95 % intervals) and internal macro-F1.

``--prior-adjust`` first moves the probabilities from the balanced training prior (the class-balanced
sampler shows the model every class equally often) to the class frequencies of the fold's validation
split: ``p_c * prior_c``, renormalised (Saerens et al. 2002; logit adjustment), then scores the same way.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pandas as pd

TARGETS = (0.80, 0.85, 0.90, 0.95)
METRICS = ("covid_sensitivity", "adult_non_covid_called_covid", "adult_pneumonia_recall")


def validation_prior(frame: pd.DataFrame, scheme) -> np.ndarray:
    """Class frequencies of the fold's validation rows (labels mapped by ``scheme``)."""
    mapped = [scheme.map(label) for label in frame.loc[frame["split"] == "val", "label"]]
    counts = np.array([sum(m == c for m in mapped) for c in scheme.classes], dtype=float)
    return counts / counts.sum()


def prior_adjusted(probs: np.ndarray, prior: np.ndarray) -> np.ndarray:
    """Probabilities of a balanced-prior model moved to ``prior``."""
    moved = probs * prior[None, :]
    return moved / moved.sum(axis=1, keepdims=True)


def fold_rows(folder: Path, scheme_name: str, targets: tuple[float, ...], prior_adjust: bool = False) -> list[list[str]]:
    from cxrlab.labels import load_scheme
    from cxrlab.loso.scores import score_fold

    scheme = load_scheme(scheme_name)
    frame = pd.read_csv(folder / "predictions.csv", dtype=str, keep_default_na=False)
    probs = frame[[f"p_{c}" for c in scheme.classes]].replace("", np.nan).astype(float).to_numpy()
    if prior_adjust:
        probs = prior_adjusted(probs, validation_prior(frame, scheme))
    rows = []
    for target in targets:
        scored = score_fold(frame, probs, scheme, target)["operating_point"]
        cells = [folder.name + (" (prior-adjusted)" if prior_adjust else ""), f"{target:.2f}", f"{scored['covid_threshold']:.3f}"]
        for key in METRICS:
            value = scored["holdout"].get(key) or {}
            if value.get("value") is None:
                cells.append("–")
            else:
                lo, hi = value["ci"]
                cells.append(f"{value['value']:.2f} ({lo:.2f}–{hi:.2f}, n={value['n']})")
        cells.append(f"{scored['internal']['macro_f1']['value']:.2f}")
        rows.append(cells)
    return rows


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--loso", required=True, help="a cxrlab loso / bench_loso variant folder")
    p.add_argument("--scheme", default="3class")
    p.add_argument("--results", required=True, help="Markdown file the table is appended to")
    p.add_argument("--target", type=float, action="append", help=f"validation sensitivity (default {TARGETS})")
    p.add_argument("--prior-adjust", action="store_true", help="move probabilities to the validation class prior first")
    args = p.parse_args(argv)
    loso = Path(args.loso)
    folds = sorted(d for d in loso.iterdir() if (d / "predictions.csv").exists())
    header = ("| held out | val. COVID sensitivity target | COVID threshold | COVID sens. (held out) | "
              "adult non-COVID called COVID | adult pneumonia recall | internal macro-F1 |\n"
              "|---|---|---|---|---|---|---|")
    lines = []
    for folder in folds:
        for cells in fold_rows(folder, args.scheme, tuple(args.target or TARGETS), args.prior_adjust):
            lines.append("| " + " | ".join(cells) + " |")
            print(lines[-1], flush=True)
    path = Path(args.results)
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    path.write_text(text + "\n" + header + "\n" + "\n".join(lines) + "\n", encoding="utf-8")
    print(json.dumps({"folds": [f.name for f in folds]}))


if __name__ == "__main__":
    main()
