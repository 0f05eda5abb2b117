"""Which manifest rows an evaluation uses, and the guard against testing on training images.

* ``--split S``: rows whose ``split`` is ``S``.
* ``--source NAME``: rows of that source that were *not* used for training or validation (a source
  held out with ``cxrlab split --holdout-source`` has split ``external`` and is used whole).
* neither: the ``test`` split, or every row of a manifest without one (a new external dataset).

Whatever the selection, rows that appear among the run's training/validation images (same path,
same file bytes or same decoded pixels) are dropped and counted, so a report can never quietly
score images the model learned from. Labels the model's scheme does not cover are excluded and
counted too.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from cxrlab.errors import ConfigError
from cxrlab.labels import LabelScheme

FIT_SPLITS = ("train", "val")


@dataclass(frozen=True)
class EvalSet:
    """The rows of one evaluation, with integer ``target`` column, and why rows were left out."""

    name: str
    df: pd.DataFrame
    external: bool = False
    excluded: dict[str, int] = field(default_factory=dict)
    notes: tuple[str, ...] = ()

    @property
    def targets(self) -> np.ndarray:
        return self.df["target"].to_numpy(dtype=np.int64)


def map_targets(df: pd.DataFrame, scheme: LabelScheme) -> tuple[pd.DataFrame, Counter]:
    """Rows whose label the scheme maps, with ``class`` and ``target`` columns; plus excluded counts."""
    classes, excluded = scheme.apply(df["label"].astype(str))
    keep = np.array([c is not None for c in classes], dtype=bool)
    out = df.loc[keep].copy()
    out["class"] = [c for c in classes if c is not None]
    out["target"] = [scheme.classes.index(c) for c in out["class"]]
    return out.reset_index(drop=True), excluded


def fit_rows(run_df: pd.DataFrame | None) -> pd.DataFrame | None:
    """The rows a run trained or validated on (``None`` when the run has no split manifest)."""
    if run_df is None or "split" not in run_df.columns:
        return None
    return run_df[run_df["split"].isin(FIT_SPLITS)]


def seen_in_training(df: pd.DataFrame, fit_df: pd.DataFrame) -> np.ndarray:
    """Bool per row: same path, file SHA-1 or pixel SHA-1 as a training/validation image."""
    seen = df["path"].isin(set(fit_df["path"])).to_numpy().copy()
    for column in ("sha1", "pixel_sha1"):
        if column in df.columns and column in fit_df.columns:
            known = {v for v in fit_df[column] if isinstance(v, str) and v}
            seen |= df[column].isin(known).to_numpy() & (df[column] != "").to_numpy()
    return seen


def _choose(df: pd.DataFrame, split: str | None, source: str | None) -> tuple[pd.DataFrame, str, list[str]]:
    notes: list[str] = []
    has_split = "split" in df.columns and (df["split"] != "").any()
    rows = df
    if source is not None:
        sources = sorted(df["source"].astype(str).unique())
        if source not in sources:
            raise ConfigError(f"source {source!r} is not in the manifest (sources: {', '.join(sources)})")
        rows = rows[rows["source"] == source]
        if has_split and split is None:
            fit = rows["split"].isin(FIT_SPLITS)
            if fit.any():
                notes.append(f"{int(fit.sum())} images of {source} were used for training/validation and are left out")
            rows = rows[~fit]
    if split is not None:
        if not has_split:
            raise ConfigError(f"--split {split}: the manifest has no split column (run 'cxrlab split' first)")
        available = sorted(s for s in df["split"].unique() if s)
        rows = rows[rows["split"] == split]
        if not len(rows) and not source:
            raise ConfigError(f"no images in split {split!r} (splits in the manifest: {', '.join(available)})")
    elif source is None:
        if has_split and (df["split"] == "test").any():
            rows, split = rows[rows["split"] == "test"], "test"
        else:
            notes.append("the manifest has no test split: every row is evaluated")
    name = " / ".join(p for p in (source, split) if p) or "all images"
    return rows, name, notes


def select_rows(
    df: pd.DataFrame,
    scheme: LabelScheme,
    split: str | None = None,
    source: str | None = None,
    run_df: pd.DataFrame | None = None,
) -> EvalSet:
    """Pick the evaluation rows of ``df`` (see the module doc); ``run_df`` is the run's split manifest."""
    rows, name, notes = _choose(df, split, source)
    excluded: Counter = Counter()
    fit_df = fit_rows(run_df)
    if fit_df is None:
        notes.append("the run has no split manifest, so overlap with its training images cannot be checked")
    elif len(rows):
        seen = seen_in_training(rows, fit_df)
        if seen.any():
            excluded["seen in training/validation"] = int(seen.sum())
        rows = rows[~seen]
    mapped, unmapped = map_targets(rows, scheme)
    for label, count in unmapped.items():
        excluded[f"label {label} not in scheme {scheme.name}"] += count
    if not len(mapped):
        raise ConfigError(f"no images left to evaluate in {name} (excluded: {dict(excluded) or 'none'})")
    external = "split" in mapped.columns and bool((mapped["split"] == "external").all())
    if fit_df is not None and not external:
        external = not set(mapped["source"]) & set(fit_df["source"])
    return EvalSet(name, mapped, bool(external), dict(excluded), tuple(notes))
