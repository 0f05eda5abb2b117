"""Which films describe "the training data" in a bundle's training profile.

From the run's ``split_manifest.csv``: a seeded random sample of at most ``max_films`` rows of the
run's own sources, taken from the validation and test splits when they hold at least
``MIN_HELD_OUT`` rows (films of the training distribution the model did not fit: features of
fitted films are tighter than those of new films, which would make every new site look shifted),
else from every train/val/test row. Held-out sources (split ``external``) are never used.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from cxrlab.artifacts.run_folder import RunFolder
from cxrlab.config import PreprocessConfig
from cxrlab.data.films import FilmSet, load_films

#: Default number of reference films decoded at export.
DEFAULT_FILMS = 400
MIN_HELD_OUT = 100
OWN_SPLITS = ("train", "val", "test")


@dataclass(frozen=True)
class Reference:
    films: FilmSet
    description: dict[str, Any]


def training_reference(run: RunFolder, cfg: PreprocessConfig, max_films: int = DEFAULT_FILMS, seed: int = 0,
                       workers: int = 2) -> tuple[Reference | None, str]:
    """``(reference, "")`` or ``(None, why not)``."""
    from cxrlab.data.manifest import read_manifest
    from cxrlab.errors import CxrlabError

    path = run.split_manifest
    if max_films <= 0:
        return None, "training profile disabled"
    if not path.exists():
        return None, f"{path} not found (the run's films are needed to describe the training data)"
    try:
        df = read_manifest(path)
    except CxrlabError as exc:
        return None, str(exc)
    if "split" in df.columns:
        own = df[df["split"].isin(OWN_SPLITS)]
        held_out = own[own["split"].isin(("val", "test"))]
        rows, splits = (held_out, ["val", "test"]) if len(held_out) >= MIN_HELD_OUT else (own, list(OWN_SPLITS))
    else:
        rows, splits = df, []
    if not len(rows):
        return None, f"{path}: no rows of the run's own splits"
    pick = np.sort(np.random.default_rng(seed).permutation(len(rows))[:max_films])
    sample = rows.iloc[pick].reset_index(drop=True)
    films = load_films(sample["path"].tolist(), cfg, workers)
    if not len(films):
        first = next(iter(films.errors.values()), "no file")
        return None, f"none of the {len(sample)} sampled films of {path} could be read (first: {first})"
    readable = sample[sample["path"].isin(set(films.paths))]
    description = {
        "kind": "training",
        "what": "films of the run's own sources" + (" (validation and test splits: not fitted by the model)"
                                                    if splits == ["val", "test"] else ""),
        "manifest": str(path), "splits": splits, "rows_available": int(len(rows)), "sampled": int(len(sample)),
        "readable": int(len(films)), "unreadable": int(len(films.errors)), "seed": int(seed),
        "labels": _counts(readable, "label"), "sources": _counts(readable, "source"),
    }
    return Reference(films, description), ""


def _counts(df, column: str) -> dict[str, int]:
    if column not in df.columns:
        return {}
    return {str(k): int(v) for k, v in df[column].value_counts().sort_index().items()}
