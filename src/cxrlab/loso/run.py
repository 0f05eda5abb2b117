"""Train and score one fold per held-out source (``cxrlab loso``).

For each source: :func:`cxrlab.loso.folds.fold_rows` makes the fold, :func:`cxrlab.train.fit.fit`
trains the recipe on its train/val rows (a finished fold is reused when the command runs again),
the best checkpoint predicts the fold's val/test/external films, and
:func:`cxrlab.loso.scores.score_fold` scores the held-out source as a new hospital next to the
internal test split. Per fold ``<out>/<source>/`` holds the run, ``predictions.csv`` and
``scores.json``; ``<out>/loso.json`` and ``report.html`` put the folds side by side. With
``repeats`` > 1 each fold also trains with the next training seeds on the same split
(``<out>/<source>/seed-<s>/``), and ``<out>/<source>/repeats.json`` holds the combined scores.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd

from cxrlab.artifacts.checkpoint import META_FILE
from cxrlab.artifacts.run_folder import RunFolder
from cxrlab.errors import ConfigError
from cxrlab.io.atomic import write_text as atomic_write_text
from cxrlab.train.config import TrainConfig

FOLD_RUN = "run"


def fold_probabilities(run_dir: Path, rows: pd.DataFrame, cache_root: str) -> tuple[np.ndarray, np.ndarray | None]:
    """Class probabilities (temperature 1; NaN rows for unreadable films) and penultimate features
    of the run's best checkpoint on ``rows``."""
    from cxrlab.evaluate.inference import load_images, run_model
    from cxrlab.models.loading import load_checkpoint

    model, meta = load_checkpoint(run_dir)
    loaded = load_images(rows.reset_index(drop=True), meta.preprocess, cache_root)
    ok = np.flatnonzero(loaded.ok)
    out = run_model(model, loaded.images[ok], meta.mean, meta.std, meta.in_chans)
    logits = out.logits - out.logits.max(axis=1, keepdims=True)
    probs = np.full((len(rows), len(meta.classes)), np.nan)
    probs[ok] = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    features = None
    if out.features is not None:
        features = np.full((len(rows), out.features.shape[1]), np.nan)
        features[ok] = out.features
    return probs, features


def train_fold(cfg: TrainConfig, rows: pd.DataFrame, folder: Path, resume: bool) -> Path:
    """The fold's run folder: trained now, or continued / reused from an earlier call (``resume``:
    a finished run is scored as it is, an interrupted one resumes from its last checkpoint)."""
    from cxrlab.data.manifest import write_manifest
    from cxrlab.train.fit import fit

    run = folder / FOLD_RUN
    if resume and (RunFolder(run).checkpoint("last") / META_FILE).exists():
        return fit(replace(cfg, runs_dir=str(folder), name=FOLD_RUN), resume=run)
    if run.exists():
        import shutil

        shutil.rmtree(run)
    manifest = write_manifest(rows, folder / "fold_manifest.csv")
    fold_cfg = replace(cfg, name=FOLD_RUN, runs_dir=str(folder), data=replace(cfg.data, manifest=str(manifest)))
    return fit(fold_cfg)


def run_fold(df: pd.DataFrame, holdout: str, cfg: TrainConfig, folder: Path, *, seed: int = 0,
             train_population: str = "all", resume: bool = True) -> dict:
    """Train and score the fold that holds ``holdout`` out (splits from ``seed``, training from
    ``cfg.seed``); writes ``folder/scores.json``."""
    from cxrlab.labels import load_scheme
    from cxrlab.loso.folds import fold_rows
    from cxrlab.loso.scores import score_fold

    folder.mkdir(parents=True, exist_ok=True)
    scheme = load_scheme(cfg.data.scheme)
    rows = fold_rows(df, holdout, scheme, seed=seed, train_population=train_population)
    start = time.perf_counter()
    run_dir = train_fold(cfg, rows, folder, resume)
    history = pd.read_csv(RunFolder(run_dir).history_csv)
    scored = rows[rows["split"].isin(["val", "test", "external"])].reset_index(drop=True)
    probs, features = fold_probabilities(run_dir, scored, cfg.data.cache_dir)
    scores = score_fold(scored, probs, scheme)
    scores.update(holdout=holdout, run=str(run_dir), train_minutes=round(float(history["train_seconds"].sum()) / 60, 2),
                  epochs=int(len(history)), fold_minutes=round((time.perf_counter() - start) / 60, 2),
                  rows={str(k): int(v) for k, v in rows["split"].value_counts().items()},
                  dropped_copies=int(len(df) - len(rows)), classes=list(scheme.classes))
    columns = ["path", "source", "label", "population", "split"]
    table = scored[columns].copy()
    for i, cls in enumerate(scheme.classes):
        table[f"p_{cls}"] = probs[:, i]
    table.to_csv(folder / "predictions.csv", index=False)
    if features is not None:
        np.save(folder / "features.npy", features.astype(np.float32))
    atomic_write_text(folder / "scores.json", json.dumps(scores, indent=2, default=float))
    return scores


def repeat_folder(out: Path, holdout: str, repeat: int, train_seed: int) -> Path:
    """``out/<holdout>`` for the first repeat (a one-seed run's folder), ``out/<holdout>/seed-<s>`` for the others."""
    return out / holdout if repeat == 0 else out / holdout / f"seed-{train_seed}"


def run_repeats(df: pd.DataFrame, holdout: str, cfg: TrainConfig, out: Path, seeds: Sequence[int],
                **fold_options) -> dict:
    """The fold trained once per training seed in ``seeds``, on the same split; one run's scores as
    they are, several combined (:mod:`cxrlab.loso.repeats`) into ``out/<holdout>/repeats.json``."""
    from cxrlab.loso.repeats import combine_repeats

    runs = [run_fold(df, holdout, replace(cfg, seed=s), repeat_folder(out, holdout, r, s), **fold_options)
            for r, s in enumerate(seeds)]
    if len(runs) == 1:
        return runs[0]
    combined = combine_repeats(runs, seeds)
    atomic_write_text(out / holdout / "repeats.json", json.dumps(combined, indent=2, default=float))
    return combined


def run_loso(df: pd.DataFrame, cfg: TrainConfig, holdouts: Sequence[str], out: str | Path, *, seed: int = 0,
             train_population: str = "all", resume: bool = True, repeats: int = 1,
             on_fold: Callable[[str, dict], None] | None = None) -> dict:
    """Every fold (each trained ``repeats`` times), then ``loso.json`` and ``report.html`` in ``out``;
    returns the summary."""
    from cxrlab.loso.report import write_report

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    if "dup_group" not in df.columns:
        raise ConfigError("the manifest has no dup_group column: run 'cxrlab audit' first (copies of a held-out "
                          "film in training would leak it)")
    if repeats < 1:
        raise ConfigError(f"repeats must be at least 1, got {repeats}")
    seeds = [cfg.seed + r for r in range(repeats)]
    folds = {}
    for holdout in holdouts:
        folds[holdout] = run_repeats(df, holdout, cfg, out, seeds, seed=seed, train_population=train_population,
                                     resume=resume)
        if on_fold is not None:
            on_fold(holdout, folds[holdout])
    from cxrlab.config import to_dict

    summary = {"folds": folds, "config": to_dict(cfg), "seed": seed, "train_population": train_population,
               "repeats": repeats, "train_seeds": seeds}
    atomic_write_text(out / "loso.json", json.dumps(summary, indent=2, default=float))
    write_report(summary, out / "report.html")
    return summary
