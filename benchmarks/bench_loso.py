"""Leave-one-source-out (LOSO) benchmark of a training recipe: does the model learn disease or source?

Prepare the real manifest once (indexed and audited: ``dup_group`` links copies across sources)::

    cxrlab index ../shared/cxr-data --out work/manifest.csv
    cxrlab audit --manifest work/manifest.csv

then, per recipe variant::

    python benchmarks/bench_loso.py --manifest work/manifest.csv --out work/loso --minutes 10 --size 224 \
        --variant baseline
    python benchmarks/bench_loso.py --manifest work/manifest.csv --out work/loso --minutes 10 --size 224 \
        --variant equalize --set data.preprocess.equalize=clahe

For each held-out source (default ``covid-cxnet`` and ``ieee8023-covid-chestxray``):

1. every group (patient or duplicate group, ``cxrlab.data.splits.leakage_groups``) touching the source
   is held out: its rows in the source are the unseen test set, its copies in other sources are
   dropped (a copy in training would leak the test film);
2. the rest is split group-aware (``make_splits``, 70/15/15) and a model is trained with the
   recipe (``TrainConfig`` defaults + ``--set`` overrides, 3class scheme) through ``cxrlab.train.fit``;
3. the best checkpoint is scored on: COVID sensitivity on the unseen source; on ieee8023's non-COVID
   films that are not pediatric (Pneumonia*, Other, Normal) the fraction called COVID and the
   pneumonia recall; on the pediatric Normal films of the internal test split (Kermany's and their
   copies in covid19-radiography-db, ``cxrlab.data.population``) the fraction called Pneumonia; and
   the internal test macro-F1.

One Markdown table row per variant is appended to ``--results``; per-fold numbers (with counts) and
predictions go to ``--out/<variant>/<source>/``. Run a variant with several ``--seed`` values (name
them ``NAME``, ``NAME-seed1``, ...) and ``benchmarks/loso_seeds.py`` summarises them over seeds and
pairs them with a reference variant seed by seed.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import pandas as pd

HOLDOUTS = ("covid-cxnet", "ieee8023-covid-chestxray")
IEEE = "ieee8023-covid-chestxray"
PNEUMONIA_LABELS = ("Pneumonia", "Pneumonia-Viral", "Pneumonia-Bacterial")
NON_COVID_LABELS = (*PNEUMONIA_LABELS, "Other", "Normal")
SCHEME = "3class"
OPERATING_SENSITIVITY = 0.95  # COVID sensitivity on validation that sets the operating threshold
COLUMNS = ("variant", "recipe", "COVID sens. unseen covid-cxnet", "COVID sens. unseen ieee8023",
           "ieee8023 non-COVID called COVID", "ieee8023 pneumonia recall",
           "pediatric Normal called Pneumonia (int. test, per fold)", "internal macro-F1 (per fold)",
           "source from features, Normal films of int. test (per fold)",
           "at the operating point: COVID sens. unseen cxnet / ieee8023", "at the operating point: ieee8023 non-COVID called COVID",
           "minutes")


def fold_rows(df: pd.DataFrame, holdout: str, *, seed: int = 0, train_population: str = "all") -> pd.DataFrame:
    """The manifest of one fold: ``external`` = the held-out source, its copies elsewhere dropped,
    the rest split train/val/test over leakage groups. ``train_population='adult'`` drops pediatric
    rows from train/val only (the internal test keeps them, so the child => pneumonia check still runs)."""
    from cxrlab.data.population import PEDIATRIC, add_population
    from cxrlab.data.splits import make_splits
    from cxrlab.labels import load_scheme

    if "population" not in df.columns:
        df = add_population(df)
    df = df.drop(columns=["split", "group"], errors="ignore").reset_index(drop=True)
    scheme = load_scheme(SCHEME)
    # Stratify by class x source x population: make_splits places the largest groups first, so with
    # class-only strata every film with a copy (e.g. Kermany's children copied into
    # covid19-radiography-db) landed in train and the internal test had almost none of them.
    strata = [f"{scheme.map(lab) or f'({lab})'}|{src}|{pop}"
              for lab, src, pop in zip(df["label"], df["source"], df["population"])]
    split = make_splits(df.assign(label=strata), scheme=None, seed=seed, holdout_sources=(holdout,))
    out = df.assign(group=split["group"], split=split["split"])
    out = out[(out["split"] != "external") | (out["source"] == holdout)]
    if train_population == "adult":
        out = out[~(out["split"].isin(["train", "val"]) & (out["population"] == PEDIATRIC))]
    elif train_population != "all":
        raise ValueError(f"train_population must be 'all' or 'adult', got {train_population!r}")
    return out.reset_index(drop=True)


def _rate(hits: pd.Series) -> dict:
    n = int(len(hits))
    return {"value": float(hits.mean()) if n else None, "n": n}


def score_fold(rows: pd.DataFrame, holdout: str) -> dict:
    """LOSO numbers from a fold's rows with a ``pred`` column (predicted class, '' = unreadable)."""
    from sklearn.metrics import f1_score

    from cxrlab.labels import load_scheme

    rows = rows[rows["pred"].fillna("") != ""]
    unseen = rows[(rows["split"] == "external") & (rows["source"] == holdout)]
    covid = unseen[unseen["label"] == "COVID"]
    scores = {"holdout": holdout, "covid_sensitivity_unseen": _rate(covid["pred"] == "COVID")}
    if holdout == IEEE:
        adult = unseen[unseen["label"].isin(NON_COVID_LABELS) & (unseen["population"] != "pediatric")]
        pneu = adult[adult["label"].isin(PNEUMONIA_LABELS)]
        scores["ieee_non_covid_called_covid"] = _rate(adult["pred"] == "COVID")
        scores["ieee_pneumonia_recall"] = _rate(pneu["pred"] == "Pneumonia")
    test = rows[rows["split"] == "test"]
    kids = test[(test["label"] == "Normal") & (test["population"] == "pediatric")]
    scores["pediatric_normal_called_pneumonia"] = _rate(kids["pred"] == "Pneumonia")
    scheme = load_scheme(SCHEME)
    truth = test["label"].map(lambda label: scheme.map(label) or "")
    mapped = test[truth != ""]
    scores["internal_macro_f1"] = {
        "value": float(f1_score(truth[truth != ""], mapped["pred"], labels=list(scheme.classes), average="macro",
                                zero_division=0)) if len(mapped) else None, "n": int(len(mapped))}
    return scores


def predict_rows(run_dir: Path, rows: pd.DataFrame, cache_root: str) -> tuple[pd.Series, np.ndarray | None, np.ndarray]:
    """Predicted class name per row from the run's best checkpoint ('' for unreadable films), the
    penultimate features (None if the model has none) and the class probabilities (NaN rows for
    unreadable films)."""
    from cxrlab.evaluate.inference import load_images, run_model
    from cxrlab.train.checkpoint import load_checkpoint

    model, meta = load_checkpoint(run_dir)
    rows = rows.reset_index(drop=True)
    loaded = load_images(rows, meta.preprocess_config(), cache_root)
    ok = np.flatnonzero(loaded.ok)
    out = run_model(model, loaded.images[ok], meta.mean, meta.std, meta.in_chans)
    pred = np.array([""] * len(rows), dtype=object)
    pred[ok] = np.asarray(meta.classes, dtype=object)[out.logits.argmax(1)]
    features = None
    if out.features is not None:
        features = np.full((len(rows), out.features.shape[1]), np.nan)
        features[ok] = out.features
    probs = np.full((len(rows), len(meta.classes)), np.nan)
    logits = out.logits - out.logits.max(axis=1, keepdims=True)
    probs[ok] = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    return pd.Series(pred, index=rows.index), features, probs


def operating_point_predictions(rows: pd.DataFrame, probs: np.ndarray, target: float = OPERATING_SENSITIVITY) -> tuple[list, float]:
    """Decisions as ``cxrlab predict`` makes them once ``cxrlab evaluate`` has set the operating point:
    COVID when its probability reaches the threshold that gives ``target`` sensitivity on the
    fold's validation split, else the more probable other class."""
    from cxrlab.evaluate.thresholds import threshold_for_sensitivity
    from cxrlab.labels import load_scheme
    from cxrlab.predict.decision import decide

    classes = load_scheme(SCHEME).classes
    readable = ~np.isnan(probs).any(axis=1)
    val = (rows["split"] == "val").to_numpy() & readable
    covid = classes.index("COVID")
    threshold = threshold_for_sensitivity(probs[val, covid], (rows["label"] == "COVID").to_numpy()[val], target)
    pred = [decide(p, classes, {"COVID": threshold}).label if ok else "" for p, ok in zip(probs, readable)]
    return pred, threshold


def shortcut_probes(rows: pd.DataFrame, features: np.ndarray | None, seed: int = 0) -> dict:
    """How well a linear probe on the model's features tells where an internal-test film comes from
    (cross-validated over leakage groups, balanced accuracy; ``cxrlab.evaluate.probe``): over all
    films, and among Normal films only - the source of a normal film, or whether it is a child's,
    should not be visible to a model that looks at disease."""
    from cxrlab.evaluate.probe import probe_balanced_accuracy

    if features is None:
        return {}
    test = (rows["split"] == "test").to_numpy() & ~np.isnan(features).any(axis=1)
    normal = test & (rows["label"] == "Normal").to_numpy()
    units = rows["group"].astype(str).to_numpy()
    population = np.where(rows["population"] == "pediatric", "pediatric", "adult-or-unknown")

    def probe(mask, target):
        r = probe_balanced_accuracy(features[mask], np.asarray(target)[mask], units[mask], seed=seed)
        return {"value": r["balanced_accuracy"], "chance": r["chance"], "n": r["n"]}

    return {"probe_source_all": probe(test, rows["source"].to_numpy()),
            "probe_source_normal": probe(normal, rows["source"].to_numpy()),
            "probe_pediatric_normal": probe(normal, population)}


def train_fold(rows: pd.DataFrame, folder: Path, args: argparse.Namespace) -> Path:
    """Train the recipe on the fold's train/val rows; returns the run folder."""
    from cxrlab.data.manifest import write_manifest
    from cxrlab.train.config import load_train_config, with_options
    from cxrlab.train.fit import fit

    manifest = write_manifest(rows, folder / "fold_manifest.csv")
    cfg = load_train_config(None, [f"data.scheme={SCHEME}", *args.set])
    cfg = with_options(cfg, manifest=str(manifest), model=args.model, size=args.size, epochs=args.epochs,
                       max_minutes=args.minutes, name=time.strftime("run-%Y%m%d-%H%M%S"), runs_dir=str(folder), cache_dir=args.cache,
                       seed=args.seed, threads=args.threads or None, progress=not args.no_progress)
    if args.patience is not None:
        from dataclasses import replace

        cfg = replace(cfg, patience=args.patience)
    return fit(cfg)


def run_fold(df: pd.DataFrame, holdout: str, args: argparse.Namespace) -> dict:
    folder = Path(args.out) / args.variant / holdout
    folder.mkdir(parents=True, exist_ok=True)
    rows = fold_rows(df, holdout, seed=args.seed, train_population=args.train_population)
    start = time.perf_counter()
    previous = folder / "scores.json"
    runs = sorted(r for r in folder.glob("run-*") if (r / "checkpoints" / "best").is_dir())
    if args.reuse_runs and runs:  # score the fold's last finished run again (e.g. after adding a measure)
        run_dir = runs[-1]
    else:
        run_dir = train_fold(rows, folder, args)
    scored = rows[rows["split"].isin(["val", "test", "external"])].reset_index(drop=True)
    scored["pred"], features, probs = predict_rows(run_dir, scored, args.cache)
    scores = {**score_fold(scored, holdout), **shortcut_probes(scored, features, args.seed)}
    scored["pred_operating"], threshold = operating_point_predictions(scored, probs)
    scores["operating_point"] = {"covid_threshold": threshold, "val_sensitivity_target": OPERATING_SENSITIVITY,
                                 **score_fold(scored.assign(pred=scored["pred_operating"]), holdout)}
    scores["minutes"] = round((time.perf_counter() - start) / 60, 2)
    if args.reuse_runs and runs:  # the time it took to train, not to re-score
        history = pd.read_csv(run_dir / "history.csv")
        trained = round(float(history["train_seconds"].sum()) / 60, 2)
        scores["minutes"] = json.loads(previous.read_text(encoding="utf-8")).get("minutes", trained) \
            if previous.exists() else trained
    scores["rows"] = rows["split"].value_counts().to_dict()
    scores["dropped_copies"] = int(len(df) - len(rows))
    scored[["path", "source", "label", "population", "split", "pred", "pred_operating"]].to_csv(folder / "predictions.csv", index=False)
    (folder / "scores.json").write_text(json.dumps(scores, indent=2), encoding="utf-8")
    return scores


def _fmt(item: dict | None) -> str:
    value = item.get("value") if item else None
    return "–" if value is None or value != value else f"{value:.2f}"  # None or NaN: not measured


def table_row(variant: str, recipe: str, folds: dict[str, dict]) -> str:
    """One Markdown row (see COLUMNS) from the per-fold scores keyed by held-out source."""
    cx, ie = folds.get("covid-cxnet"), folds.get(IEEE)
    per_fold = [folds[k] for k in sorted(folds)]
    cells = [
        variant, recipe or "defaults",
        _fmt(cx and cx["covid_sensitivity_unseen"]), _fmt(ie and ie["covid_sensitivity_unseen"]),
        _fmt(ie and ie.get("ieee_non_covid_called_covid")), _fmt(ie and ie.get("ieee_pneumonia_recall")),
        " / ".join(_fmt(f["pediatric_normal_called_pneumonia"]) for f in per_fold),
        " / ".join(_fmt(f["internal_macro_f1"]) for f in per_fold),
        " / ".join(_fmt(f.get("probe_source_normal")) for f in per_fold),
        " / ".join(_fmt(f and f.get("operating_point", {}).get("covid_sensitivity_unseen")) for f in (cx, ie)),
        _fmt(ie and ie.get("operating_point", {}).get("ieee_non_covid_called_covid")),
        f"{sum(f['minutes'] for f in per_fold):.1f}",
    ]
    return "| " + " | ".join(cells) + " |"


def append_row(path: Path, row: str) -> None:
    """Append ``row`` to a Markdown file, writing the table header first if the file has none."""
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    header = "| " + " | ".join(COLUMNS) + " |"
    if header not in text:
        text += ("\n" if text and not text.endswith("\n") else "") + f"\n{header}\n|" + "---|" * len(COLUMNS) + "\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text + row + "\n", encoding="utf-8")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--manifest", default="cxrlab-out/manifest.csv", help="indexed + audited manifest")
    p.add_argument("--out", default="cxrlab-out/loso", help="fold manifests, runs, scores")
    p.add_argument("--cache", default="cxrlab-out/cache", help="preprocessing cache (shared by folds)")
    p.add_argument("--results", default="benchmarks/results/loso.md", help="Markdown file the row is appended to")
    p.add_argument("--holdout", action="append", help=f"held-out source (repeatable; default {', '.join(HOLDOUTS)})")
    p.add_argument("--variant", default="baseline", help="name of this recipe variant (table row, folder)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="TrainConfig override (repeatable)")
    p.add_argument("--train-population", default="all", choices=("all", "adult"), help="drop pediatric films from training")
    p.add_argument("--minutes", type=float, default=10.0, help="wall-clock budget per training run")
    p.add_argument("--epochs", type=int, default=20)
    p.add_argument("--patience", type=int, default=None, help="early-stopping patience (default: the recipe's)")
    p.add_argument("--size", type=int, default=224)
    p.add_argument("--model", default="cnn-small")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=0, help="torch threads (0 = default)")
    p.add_argument("--no-progress", action="store_true")
    p.add_argument("--reuse-runs", action="store_true",
                   help="score each fold's last finished run instead of training a new one (folds without one are trained)")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> str:
    from cxrlab.data.manifest import read_manifest

    args = parse_args(argv)
    df = read_manifest(args.manifest)
    if "dup_group" not in df.columns:
        raise SystemExit(f"{args.manifest}: no dup_group column; run 'cxrlab audit' first (copies would leak)")
    folds = {}
    for holdout in args.holdout or HOLDOUTS:
        folds[holdout] = run_fold(df, holdout, args)
        print(json.dumps(folds[holdout]), flush=True)
    recipe = ", ".join([f"{args.model} {args.size}px {args.epochs} epochs ≤{args.minutes:g} min/fold", *args.set,
                        *(["train adults only"] if args.train_population == "adult" else [])])
    row = table_row(args.variant, recipe, folds)
    append_row(Path(args.results), row)
    print(row)
    return row


if __name__ == "__main__":
    main()
