"""The manifest of one leave-one-source-out fold.

Every leakage group (patient or duplicate group, :func:`cxrlab.data.splits.leakage_groups`) that
touches the held-out source is held out: its rows *in* that source become the ``external`` split
(the new hospital), its copies in other sources are dropped (a copy in training would leak the
test film). The rest is split train/val/test over leakage groups, stratified by
class x source x population so every source and age group reaches the internal test split.
"""

from __future__ import annotations

import pandas as pd

from cxrlab.choices import TrainPopulation, choices
from cxrlab.errors import ConfigError
from cxrlab.labels import LabelScheme

POPULATIONS = choices(TrainPopulation)


def fold_rows(df: pd.DataFrame, holdout: str, scheme: LabelScheme, *, seed: int = 0,
              train_population: TrainPopulation = "all", fractions: tuple[float, float, float] = (0.7, 0.15, 0.15)) -> pd.DataFrame:
    """Rows of the fold that holds ``holdout`` out: ``split`` in train/val/test/external, ``group``.

    ``train_population='adult'`` drops pediatric rows from train/val only (the internal test keeps
    them, so "children called pneumonia" can still be measured)."""
    from cxrlab.data.population.infer import PEDIATRIC, add_population
    from cxrlab.data.splits import make_splits

    if train_population not in POPULATIONS:
        raise ConfigError(f"train population must be one of {', '.join(POPULATIONS)}, got {train_population!r}")
    if holdout not in set(df["source"]):
        raise ConfigError(f"held-out source {holdout!r} is not in the manifest (sources: {', '.join(sorted(set(df['source'])))})")
    if "population" not in df.columns:
        df = add_population(df)
    df = df.drop(columns=["split", "group"], errors="ignore").reset_index(drop=True)
    strata = [f"{scheme.map(lab) or f'({lab})'}|{src}|{pop}"
              for lab, src, pop in zip(df["label"], df["source"], df["population"])]
    split = make_splits(df.assign(label=strata), scheme=None, seed=seed, holdout_sources=(holdout,),
                        fractions=fractions)
    out = df.assign(group=split["group"], split=split["split"])
    out = out[(out["split"] != "external") | (out["source"] == holdout)]
    if train_population == "adult":
        out = out[~(out["split"].isin(["train", "val"]) & (out["population"] == PEDIATRIC))]
    return out.reset_index(drop=True)


def eligible_sources(df: pd.DataFrame, min_films: int = 50) -> list[str]:
    """Sources with at least ``min_films`` films: the folds a user gets by default."""
    counts = df["source"].value_counts()
    return sorted(str(s) for s, n in counts.items() if n >= min_films)
