"""Leave-one-source-out (LOSO) benchmark of a training recipe: every held-out source is a new hospital.

It runs the product's own ``cxrlab loso`` machinery (:func:`cxrlab.loso.run.run_loso`): per held-out
source, every leakage group touching it is held out (its copies in other sources dropped), the rest
is split train/val/test over leakage groups, the recipe (``TrainConfig`` defaults + options) is
trained, and the held-out source is scored at the arg-max and at the validation operating point
(95 % COVID sensitivity on validation). Prepare the real manifest once::

    cxrlab index ../shared/cxr-data --out work/manifest.csv
    cxrlab audit --manifest work/manifest.csv

then, per recipe variant::

    python benchmarks/bench_loso.py --manifest work/manifest.csv --out work/loso --cache work/cache \
        --variant lite0-128 --model efficientnet_lite0 --weights imagenet --size 128

One Markdown row per held-out source is appended to ``--results`` (default
``benchmarks/results/loso_adult.md``); ``cxrlab loso``'s ``report.html`` and ``loso.json`` land in
``--out/<variant>/``. The feature probes of the earlier rounds (can the source be read off the
model's features?) run on each fold's internal test split.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pandas as pd

HOLDOUTS = ("covid-cxnet", "ieee8023-covid-chestxray", "nih-chestxray14", "covid-qu-ex", "tbx11k")
COLUMNS = ("variant", "recipe", "held out", "COVID sens. (op)", "COVID vs rest AUROC",
           "adult non-COVID called COVID (op)", "adult pneumonia recall (op)", "pneumonia vs normal AUROC",
           "internal macro-F1 (op / arg-max)", "source from features (int. test Normal)", "train min")


def source_probe(folder: Path, seed: int = 0) -> dict:
    """Balanced accuracy of a linear probe telling an internal-test Normal film's source from the
    model's features (cross-validated over leakage groups; ``cxrlab.evaluate.probe``)."""
    from cxrlab.evaluate.probe import probe_balanced_accuracy

    feats, table = folder / "features.npy", folder / "predictions.csv"
    if not feats.exists():
        return {}
    features, rows = np.load(feats), pd.read_csv(table, dtype=str, keep_default_na=False)
    fold = pd.read_csv(folder / "fold_manifest.csv", dtype=str, keep_default_na=False).set_index("path")["group"]
    mask = ((rows["split"] == "test") & (rows["label"] == "Normal")).to_numpy() & ~np.isnan(features).any(axis=1)
    if mask.sum() < 10 or rows.loc[mask, "source"].nunique() < 2:
        return {}
    units = rows["path"].map(fold).fillna(rows["path"]).to_numpy()
    r = probe_balanced_accuracy(features[mask], rows["source"].to_numpy()[mask], units[mask], seed=seed)
    return {"value": r["balanced_accuracy"], "chance": r["chance"], "n": r["n"]}


def _fmt(item) -> str:
    value = item.get("value") if isinstance(item, dict) else None
    return "–" if value is None or value != value else f"{value:.2f}"


def fold_row(variant: str, recipe: str, holdout: str, scores: dict) -> str:
    op = scores.get("operating_point") or scores["argmax"]
    h = op["holdout"]
    cells = [variant, recipe, holdout, _fmt(h.get("covid_sensitivity")), _fmt(h.get("covid_auroc")),
             _fmt(h.get("adult_non_covid_called_covid")), _fmt(h.get("adult_pneumonia_recall")),
             _fmt(h.get("adult_pneumonia_vs_normal_auroc")),
             f"{_fmt(op['internal'].get('macro_f1'))} / {_fmt(scores['argmax']['internal'].get('macro_f1'))}",
             _fmt(scores.get("probe_source_normal")), f"{scores.get('train_minutes', 0):.1f}"]
    return "| " + " | ".join(cells) + " |"


def append_rows(path: Path, rows: list[str]) -> None:
    """Append ``rows`` to a Markdown file, writing the table header first if the file has none."""
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    header = "| " + " | ".join(COLUMNS) + " |"
    if header not in text:
        text += ("\n" if text and not text.endswith("\n") else "") + f"\n{header}\n|" + "---|" * len(COLUMNS) + "\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text + "".join(r + "\n" for r in rows), encoding="utf-8")


def recipe_text(args: argparse.Namespace) -> str:
    bits = [f"{args.model} {args.size}px", f"{args.epochs} ep"]
    if args.weights:
        bits.append(f"weights {args.weights}")
    if args.samples_per_epoch:
        bits.append(f"{args.samples_per_epoch} films/ep")
    bits += [f"scheme {Path(args.scheme).stem}", f"seed {args.seed}", *args.set]
    if args.train_seed is not None:
        bits.append(f"training seed {args.train_seed}")
    if args.repeats > 1:
        bits.append(f"mean of {args.repeats} training seeds")
    if args.minutes:
        bits.append(f"≤{args.minutes:g} min/fold")
    return ", ".join(bits)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--manifest", default="cxrlab-out/manifest.csv", help="indexed + audited manifest")
    p.add_argument("--out", default="cxrlab-out/loso", help="folds, runs, scores")
    p.add_argument("--cache", default="cxrlab-out/cache", help="preprocessing cache (shared by folds)")
    p.add_argument("--results", default="benchmarks/results/loso_adult.md", help="Markdown file rows are appended to")
    p.add_argument("--holdout", action="append", help=f"held-out source (repeatable; default {', '.join(HOLDOUTS)})")
    p.add_argument("--variant", default="default", help="name of this recipe variant (table rows, folder)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="TrainConfig override (repeatable)")
    p.add_argument("--train-population", default="all", choices=("all", "adult"))
    p.add_argument("--minutes", type=float, default=0.0, help="wall-clock budget per training run (0 = none)")
    p.add_argument("--epochs", type=int, default=None)
    p.add_argument("--samples-per-epoch", type=int, default=None)
    p.add_argument("--size", type=int, default=None)
    p.add_argument("--model", default=None)
    p.add_argument("--weights", default=None)
    p.add_argument("--scheme", default="3class")
    p.add_argument("--seed", type=int, default=0, help="seed of the splits and (unless --train-seed) of training")
    p.add_argument("--train-seed", type=int, default=None,
                   help="seed of training alone (initialisation, draws, augmentation); the splits keep --seed, so runs "
                        "that differ only here share their validation and test films (seed ensembles)")
    p.add_argument("--repeats", type=int, default=1,
                   help="train each fold this many times (training seeds --train-seed/--seed, +1...; one split); rows "
                        "then give the means over the seeds (cxrlab loso --repeats)")
    p.add_argument("--threads", type=int, default=0, help="torch threads (0 = default)")
    p.add_argument("--no-progress", action="store_true")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> list[str]:
    from dataclasses import replace

    from cxrlab.data.manifest import read_manifest
    from cxrlab.loso.run import run_loso
    from cxrlab.train.config import load_train_config, with_options

    args = parse_args(argv)
    cfg = load_train_config(None, [f"data.scheme={args.scheme}", *args.set])
    cfg = with_options(cfg, model=args.model, size=args.size, epochs=args.epochs, weights=args.weights,
                       max_minutes=args.minutes or None, cache_dir=args.cache,
                       seed=args.seed if args.train_seed is None else args.train_seed,
                       threads=args.threads or None, progress=not args.no_progress)
    if args.samples_per_epoch is not None:
        cfg = replace(cfg, samples_per_epoch=args.samples_per_epoch)
    args.model, args.size, args.epochs = cfg.model.name, cfg.data.preprocess.size, cfg.epochs
    args.samples_per_epoch, args.weights = cfg.samples_per_epoch, cfg.model.weights
    df = read_manifest(args.manifest)
    out = Path(args.out) / args.variant
    recipe = recipe_text(args)
    rows: list[str] = []

    def on_fold(holdout: str, scores: dict) -> None:
        scores["probe_source_normal"] = source_probe(out / holdout, args.seed)
        name = "repeats.json" if args.repeats > 1 else "scores.json"  # the combined fold, or its one run
        (out / holdout / name).write_text(json.dumps(scores, indent=2, default=float), encoding="utf-8")
        rows.append(fold_row(args.variant, recipe, holdout, scores))
        append_rows(Path(args.results), rows[-1:])
        print(rows[-1], flush=True)

    run_loso(df, cfg, args.holdout or HOLDOUTS, out, seed=args.seed, train_population=args.train_population,
             repeats=args.repeats, on_fold=on_fold)
    return rows


if __name__ == "__main__":
    main()
