"""From a manifest to training/validation datasets: label scheme, splits, preprocessing cache."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from cxrlab.config import PreprocessConfig
from cxrlab.data.torch_dataset import CachedImageDataset
from cxrlab.data.transforms import AugmentConfig, build_augment
from cxrlab.errors import ConfigError
from cxrlab.labels import LabelScheme
from cxrlab.train.distributed import DistContext, barrier

TRAIN, VAL = "train", "val"


@dataclass
class TrainData:
    """The rows a run uses (``target`` = class index, ``cache_row`` = row in ``images``)."""

    rows: pd.DataFrame
    images: np.ndarray
    scheme: LabelScheme
    excluded: Counter = field(default_factory=Counter)  # canonical label -> rows the scheme drops
    unreadable: dict[str, str] = field(default_factory=dict)  # path -> reason
    notes: list[str] = field(default_factory=list)  # warnings to show the user (e.g. pediatric classes)

    def split(self, name: str) -> pd.DataFrame:
        return self.rows[self.rows["split"] == name]

    def class_counts(self, name: str) -> dict[str, int]:
        counts = np.bincount(self.split(name)["target"].to_numpy(), minlength=len(self.scheme.classes))
        return dict(zip(self.scheme.classes, counts.tolist()))


def select_rows(df: pd.DataFrame, scheme: LabelScheme, source: str = "manifest") -> tuple[pd.DataFrame, Counter]:
    """Rows whose label the scheme maps, with a ``target`` column; checks train/val splits exist."""
    if "split" not in df.columns or not (df["split"].astype(str) == TRAIN).any():
        raise ConfigError(f"{source}: no rows with split=train; assign splits first with 'cxrlab split'")
    classes, excluded = scheme.apply(df["label"].astype(str))
    keep = np.array([c is not None for c in classes], dtype=bool)
    out = df.loc[keep].copy()
    out["target"] = [scheme.classes.index(c) for c in np.asarray(classes, dtype=object)[keep]]
    out = out.reset_index(drop=True)
    for name in (TRAIN, VAL):
        if not (out["split"] == name).any():
            raise ConfigError(f"{source}: no {name} rows with a label of scheme {scheme.name!r} "
                              f"(classes {', '.join(scheme.classes)}); check the split and --scheme")
    present = set(out.loc[out["split"] == TRAIN, "target"])
    missing = [c for i, c in enumerate(scheme.classes) if i not in present]
    if missing:
        raise ConfigError(f"{source}: the training split has no images of class(es) {', '.join(missing)}")
    return out, excluded


def apply_population(df: pd.DataFrame, population: str, scheme: LabelScheme) -> tuple[pd.DataFrame, list[str]]:
    """The manifest for ``data.population`` (``all`` or ``adult``) and what to tell the user.

    Adult and pediatric films look different, and in public COVID data the pneumonia class is mostly
    children: ``all`` keeps every film and returns the warnings of
    :func:`cxrlab.data.population.infer.pediatric_warnings` for the training split; ``adult`` drops the
    pediatric train/val films (``unknown`` ones stay; test and external rows are untouched, so the
    evaluation still sees them)."""
    from cxrlab.data.population.infer import PEDIATRIC, add_population, pediatric_warnings

    if "population" not in df.columns or df["population"].isna().any():
        df = add_population(df)
    fitting = df["split"].astype(str).isin([TRAIN, VAL]) if "split" in df.columns else pd.Series(True, index=df.index)
    if population == "all":
        train = df[df["split"].astype(str) == TRAIN] if "split" in df.columns else df
        return df, [f"training split: {w}" for w in pediatric_warnings(train, scheme)]
    drop = fitting & (df["population"] == PEDIATRIC)
    note = f"population=adult: dropped {int(drop.sum()):,} pediatric train/val films"
    return df[~drop].reset_index(drop=True), [note]


def load_train_data(df: pd.DataFrame, scheme: LabelScheme, cache_root: str, preprocess: PreprocessConfig,
                    ctx: DistContext, cache_workers: int = 2, progress: bool = True,
                    source: str = "manifest") -> TrainData:
    """Select rows and fetch their preprocessed images (rank 0 builds the cache, others open it)."""
    from cxrlab.data.cache.store import build_cache, open_cache
    from cxrlab.io.progress_bar import progress_bar

    rows, excluded = select_rows(df, scheme, source)
    store = None
    if ctx.is_main:
        with progress_bar("caching", progress) as bar:
            store = build_cache(rows, cache_root, preprocess, workers=cache_workers, progress=bar)
    barrier(ctx)
    if store is None:
        store = open_cache(rows, cache_root, preprocess)
        if store is None:
            raise ConfigError(f"{cache_root}: rank {ctx.rank} cannot open the cache rank 0 built")
    rows["cache_row"] = np.arange(len(rows))
    unreadable = {rows.at[i, "path"]: reason for i, reason in store.errors.items()}
    rows = rows.loc[np.asarray(store.ok, dtype=bool)].reset_index(drop=True)
    return TrainData(rows=rows, images=store.images, scheme=scheme, excluded=excluded, unreadable=unreadable)


def make_datasets(data: TrainData, mean, std, in_chans: int, augment: AugmentConfig, size: int,
                  seed: int) -> tuple[CachedImageDataset, CachedImageDataset]:
    """The (augmented) training set and the plain validation set."""
    train, val = data.split(TRAIN), data.split(VAL)
    train_ds = CachedImageDataset(data.images, train["cache_row"].to_numpy(), train["target"].to_numpy(),
                                  mean, std, in_chans, build_augment(augment, size), seed)
    val_ds = CachedImageDataset(data.images, val["cache_row"].to_numpy(), val["target"].to_numpy(),
                                mean, std, in_chans, None, seed)
    return train_ds, val_ds
