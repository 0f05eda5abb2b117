"""Summarise leave-one-source-out runs over seeds: mean (min-max) per variant, and the paired
difference to a reference variant (same seed = same split), so a one-seed effect is not mistaken
for a real one.

Runs are the ``--out`` folders of ``bench_loso.py``: a variant ``NAME`` is seed 0 in ``NAME/`` and
seed *k* in ``NAME-seed<k>/``. Example::

    python benchmarks/loso_seeds.py --runs work/loso --reference baseline-64px \\
        baseline-64px web-degrade-64px group-dro-64px
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

import numpy as np

CXNET, IEEE = "covid-cxnet", "ieee8023-covid-chestxray"
#: (column title, fold, path into scores.json); lower is better for the "called" rates.
METRICS = (
    ("COVID sens. unseen covid-cxnet", CXNET, ("covid_sensitivity_unseen",)),
    ("COVID sens. unseen ieee8023", IEEE, ("covid_sensitivity_unseen",)),
    ("op. point: COVID sens. covid-cxnet", CXNET, ("operating_point", "covid_sensitivity_unseen")),
    ("op. point: COVID sens. ieee8023", IEEE, ("operating_point", "covid_sensitivity_unseen")),
    ("ieee8023 non-COVID called COVID", IEEE, ("ieee_non_covid_called_covid",)),
    ("op. point: ieee8023 non-COVID called COVID", IEEE, ("operating_point", "ieee_non_covid_called_covid")),
    ("pediatric Normal called Pneumonia (ieee fold)", IEEE, ("pediatric_normal_called_pneumonia",)),
    ("internal macro-F1 (cxnet fold)", CXNET, ("internal_macro_f1",)),
    ("internal macro-F1 (ieee fold)", IEEE, ("internal_macro_f1",)),
    ("source from features, Normal films (ieee fold)", IEEE, ("probe_source_normal",)),
    ("int. test adult Normal called COVID (ieee fold)", IEEE, ("predictions", "pred")),
    ("op. point: int. test adult Normal called COVID (ieee fold)", IEEE, ("predictions", "pred_operating")),
)


def seed_runs(runs: Path, variant: str) -> dict[int, Path]:
    """Seed -> run folder of ``variant`` (``NAME`` is seed 0, ``NAME-seed<k>`` seed k)."""
    found = {}
    for folder in runs.iterdir() if runs.is_dir() else []:
        if folder.name == variant:
            found[0] = folder
        elif (m := re.fullmatch(re.escape(variant) + r"-seed(\d+)", folder.name)):
            found[int(m.group(1))] = folder
    return dict(sorted(found.items()))


def adult_normals_called_covid(predictions: Path, column: str) -> float | None:
    """Share of the internal test's non-pediatric Normal films that ``column`` (``pred`` = arg-max,
    ``pred_operating`` = at the operating point) calls COVID, from a fold's ``predictions.csv``."""
    import pandas as pd

    if not predictions.is_file():
        return None
    rows = pd.read_csv(predictions)
    normal = rows[(rows["split"] == "test") & (rows["label"] == "Normal") & (rows["population"] != "pediatric")]
    return float((normal[column] == "COVID").mean()) if len(normal) and column in normal else None


def read_metric(run: Path, fold: str, path: tuple[str, ...]) -> float | None:
    """One number from ``<run>/<fold>/scores.json`` (None when the fold or the number is missing);
    ``("predictions", column)`` is computed from the fold's ``predictions.csv`` instead."""
    if path[0] == "predictions":
        return adult_normals_called_covid(run / fold / "predictions.csv", path[1])
    file = run / fold / "scores.json"
    if not file.is_file():
        return None
    item = json.loads(file.read_text())
    for key in path:
        item = item.get(key) if isinstance(item, dict) else None
    value = item.get("value") if isinstance(item, dict) else None
    return None if value is None or value != value else float(value)


def variant_values(runs: Path, variant: str) -> dict[str, dict[int, float]]:
    """Column title -> {seed: value} for every seed run of ``variant``."""
    seeds = seed_runs(runs, variant)
    out = {}
    for title, fold, path in METRICS:
        values = {seed: read_metric(folder, fold, path) for seed, folder in seeds.items()}
        out[title] = {s: v for s, v in values.items() if v is not None}
    return out


def _spread(values: list[float]) -> str:
    if not values:
        return "–"
    if len(values) == 1:
        return f"{values[0]:.2f}"
    return f"{np.mean(values):.2f} ({min(values):.2f}–{max(values):.2f})"


def _paired(values: dict[int, float], reference: dict[int, float]) -> str:
    seeds = sorted(set(values) & set(reference))
    if not seeds:
        return "–"
    diffs = [values[s] - reference[s] for s in seeds]
    return f"{np.mean(diffs):+.2f} ({', '.join(f'{d:+.2f}' for d in diffs)})"


def summary_table(runs: Path, variants: list[str], reference: str | None = None) -> str:
    """Markdown: one row per variant, mean (min-max) over its seeds; with ``reference``, a second
    table of paired differences (mean, then per seed) on the seeds both variants have."""
    values = {v: variant_values(runs, v) for v in variants}
    titles = [t for t, _, _ in METRICS]
    lines = ["| variant | seeds | " + " | ".join(titles) + " |", "|---|---|" + "---|" * len(titles)]
    for v in variants:
        seeds = sorted({seed for t in titles for seed in values[v][t]})  # runs with scores (not still training)
        lines.append(f"| {v} | {', '.join(map(str, seeds)) or '–'} | "
                     + " | ".join(_spread(list(values[v][t].values())) for t in titles) + " |")
    if reference is not None:
        ref = values.get(reference) or variant_values(runs, reference)
        lines += ["", f"Paired difference to {reference} (same seed = same split): mean (per seed).", "",
                  "| variant | " + " | ".join(titles) + " |", "|---|" + "---|" * len(titles)]
        for v in variants:
            if v != reference:
                lines.append(f"| {v} | " + " | ".join(_paired(values[v][t], ref[t]) for t in titles) + " |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> str:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("variants", nargs="+", help="variant names (folders under --runs)")
    p.add_argument("--runs", required=True, help="bench_loso.py --out folder")
    p.add_argument("--reference", help="variant to compare with, seed by seed")
    args = p.parse_args(argv)
    runs = Path(args.runs)
    missing = [v for v in args.variants if not seed_runs(runs, v)]
    if missing:
        raise SystemExit(f"{runs}: no runs of {', '.join(missing)}")
    table = summary_table(runs, args.variants, args.reference)
    print(table)
    return table


if __name__ == "__main__":
    main()
