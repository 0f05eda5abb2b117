"""Leakage-free splits: stratified train/val/test over groups (patient ∪ duplicate group).

A *group* joins every row sharing a patient (``patient_id``, namespaced by source unless it has a
``ns:`` prefix) or a duplicate group (``dup_group`` from ``cxrlab audit``), transitively. Whole
groups are assigned, so no patient and no copy of a film is on two sides. Groups are placed one by
one, largest first (ties in a seeded random order), into the split that most needs their classes,
which keeps class proportions close to the targets — per source by default (strata = class x
source), so each source contributes its share of each class to every split. Deterministic for a seed.

- ``holdout_sources``: every group touching one of these sources becomes ``split = "external"``.
- ``respect_given``: rows that already have ``train``/``val``/``test`` keep it (their groups follow
  the majority given split).
- Rows a label scheme excludes are still assigned (stratified by their canonical label), so the
  same manifest serves other schemes; training drops them.
"""

from __future__ import annotations

from collections import Counter

import numpy as np
import pandas as pd
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from cxrlab.errors import ConfigError
from cxrlab.labels import LabelScheme

SPLITS = ("train", "val", "test")
EXTERNAL = "external"


def make_splits(
    df: pd.DataFrame,
    *,
    scheme: LabelScheme | None = None,
    fractions: tuple[float, float, float] = (0.7, 0.15, 0.15),
    seed: int = 0,
    holdout_sources: tuple[str, ...] | list[str] = (),
    respect_given: bool = False,
    stratify_by_source: bool = True,
) -> pd.DataFrame:
    """Return a copy of ``df`` with ``group`` and ``split`` columns.

    With ``stratify_by_source`` (default) the strata are class x source, so every split gets each
    source's share of each class: otherwise a class drawn from several sources (e.g. adult and
    paediatric Normal films) can land almost wholly in one split from one source, and the test
    set measures something else than the training set.
    """
    fractions = _check_fractions(fractions)
    _check_sources(df, holdout_sources)
    out = df.reset_index(drop=True).copy()
    out["group"] = leakage_groups(out)
    strata = stratum_labels(out, scheme)
    if stratify_by_source:
        strata = [f"{cls}|{src}" for cls, src in zip(strata, _text(out, "source"))]
    given = _given_splits(out) if respect_given else [""] * len(out)
    split = np.array([""] * len(out), dtype=object)
    external = _text(out, "source").isin(set(holdout_sources))
    ext_groups = set(out["group"][external])
    split[out["group"].isin(ext_groups).to_numpy()] = EXTERNAL
    todo = split == ""
    split[todo] = _assign(out["group"][todo].to_numpy(), np.asarray(strata, dtype=object)[todo],
                          np.asarray(given, dtype=object)[todo], fractions, seed)
    out["split"] = split
    return out


def leakage_groups(df: pd.DataFrame) -> list[str]:
    """``g00001``... : connected components of rows linked by patient or by duplicate group."""
    n = len(df)
    keys: dict[str, int] = {}
    a, b = [], []
    sources, patients, dups = _text(df, "source"), _text(df, "patient_id"), _text(df, "dup_group")
    for i, (src, pid, dup) in enumerate(zip(sources, patients, dups)):
        for key in ((f"p|{pid if ':' in pid else f'{src}:{pid}'}" if pid else ""), (f"d|{dup}" if dup else "")):
            if key:
                a.append(i)
                b.append(n + keys.setdefault(key, len(keys)))
    size = n + len(keys)
    graph = coo_matrix((np.ones(len(a)), (a, b)), shape=(size, size))
    _, comp = connected_components(graph, directed=False)
    names: dict[int, str] = {}
    return [names.setdefault(int(c), f"g{len(names) + 1:05d}") for c in comp[:n]]


def _text(df: pd.DataFrame, name: str) -> pd.Series:
    """A column as strings with missing values as "" (an absent column is all "")."""
    if name not in df.columns:
        return pd.Series([""] * len(df), index=df.index, dtype=object)
    return df[name].fillna("").astype(str)


def stratum_labels(df: pd.DataFrame, scheme: LabelScheme | None) -> list[str]:
    """Scheme class per row; rows the scheme excludes (or all rows without a scheme) use the label."""
    labels = _text(df, "label").tolist()
    if scheme is None:
        return labels
    return [scheme.map(label) or f"({label})" for label in labels]


def _assign(groups: np.ndarray, strata: np.ndarray, given: np.ndarray, fractions, seed: int) -> np.ndarray:
    if len(groups) == 0:
        return np.array([], dtype=object)
    classes = sorted(set(strata))
    col = {c: k for k, c in enumerate(classes)}
    frame = pd.DataFrame({"group": groups, "cls": [col[s] for s in strata], "given": given})
    counts = pd.crosstab(frame["group"], frame["cls"]).reindex(columns=range(len(classes)), fill_value=0)
    totals = counts.to_numpy().sum(axis=0).astype(float)
    target = np.outer(fractions, totals)  # (3, C)
    have = np.zeros_like(target)
    rng = np.random.default_rng(seed)
    names = counts.index.to_numpy()
    matrix = counts.to_numpy().astype(float)
    pinned = _pinned(frame)
    is_pinned = np.array([name in pinned for name in names])
    order = rng.permutation(len(names))  # ties broken at random (seeded); pinned groups first, then largest
    order = order[np.lexsort((-matrix.sum(axis=1)[order], ~is_pinned[order]))]
    weight = 1.0 / np.maximum(totals, 1.0)
    closed = np.where(np.asarray(fractions) > 0, 0.0, -np.inf)  # a split with fraction 0 gets nothing
    choice: dict[str, str] = {}
    for k in order:
        vec = matrix[k]
        if is_pinned[k]:
            s = SPLITS.index(pinned[names[k]])
        else:
            need = ((target - have) * weight) @ vec / max(vec.sum(), 1.0)  # weighted deficit per split
            s = int(np.argmax(need + closed + 1e-9 * np.asarray(fractions)))
        have[s] += vec
        choice[names[k]] = SPLITS[s]
    return np.array([choice[g] for g in groups], dtype=object)


def _pinned(frame: pd.DataFrame) -> dict[str, str]:
    given = frame[frame["given"] != ""]
    return {g: Counter(s).most_common(1)[0][0] for g, s in given.groupby("group")["given"]}


def _given_splits(df: pd.DataFrame) -> list[str]:
    if "split" not in df.columns:
        return [""] * len(df)
    return [s if s in SPLITS else "" for s in _text(df, "split")]


def _check_fractions(fractions) -> tuple[float, float, float]:
    values = tuple(float(f) for f in fractions)
    if len(values) != 3 or any(f < 0 for f in values) or values[0] <= 0:
        raise ConfigError(f"split fractions must be (train, val, test) >= 0 with train > 0, got {fractions}")
    total = sum(values)
    if total > 1.0 + 1e-9 and abs(total - 1.0) > 1e-6:
        raise ConfigError(f"split fractions add up to {total:.3f} (more than 1)")
    return tuple(v / total for v in values)


def _check_sources(df: pd.DataFrame, holdout: tuple[str, ...] | list[str]) -> None:
    known = set(_text(df, "source"))
    unknown = [s for s in holdout if s not in known]
    if unknown:
        raise ConfigError(f"hold-out source(s) {', '.join(unknown)} not in the manifest "
                          f"(sources: {', '.join(sorted(known)) or 'none'})")


def split_table(df: pd.DataFrame, scheme: LabelScheme | None = None) -> pd.DataFrame:
    """Images per split (rows, in train/val/test/external order) and class (columns)."""
    strata = pd.Series(stratum_labels(df, scheme), index=df.index, name="class")
    table = pd.crosstab(df["split"], strata)
    order = [s for s in (*SPLITS, EXTERNAL) if s in table.index] + [s for s in table.index if s not in (*SPLITS, EXTERNAL)]
    return table.loc[order]
