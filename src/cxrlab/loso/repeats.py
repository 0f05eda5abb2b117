"""One fold trained with several training seeds on the same split (``cxrlab loso --repeats N``).

Why: in this project's benchmark the same recipe on the same split, trained with another seed, found
0.91 or 0.85 of an unseen hospital's COVID films (``benchmarks/results/loso_adult.md``, seventh round):
seed noise at a new hospital is as large as the differences between recipes, so one run per fold
cannot rank two recipes. :func:`combine_repeats` turns the repeats' scores (each the output of
:func:`cxrlab.loso.scores.score_fold`) into one fold's scores of the same shape: every measured
value is the mean over the repeats, with ``seed_values`` and ``seed_range``; a single run's Wilson
interval is dropped (it does not describe the mean); ``called`` counts are summed over the repeats.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

#: plain numbers of a fold's scores that are averaged (with their per-seed values kept)
AVERAGED = ("covid_threshold", "train_minutes", "fold_minutes")


def combine_repeats(runs: Sequence[dict], seeds: Sequence[int]) -> dict:
    """The scores of one fold trained ``len(runs)`` times (training seeds ``seeds``), combined."""
    if len(runs) != len(seeds) or not runs:
        raise ValueError("one scores dict per seed, at least one")
    out = _combine(list(runs))
    out["repeats"] = {"seeds": [int(s) for s in seeds], "runs": [r.get("run") for r in runs]}
    return out


def _combine(parts: list) -> Any:
    first = parts[0]
    if not isinstance(first, dict):
        return first
    if "value" in first:
        return _metric(parts)
    out: dict[str, Any] = {}
    for key, value in first.items():
        same = [p.get(key) for p in parts if isinstance(p, dict)]
        if key == "called":
            out[key] = _summed_counts(same)
        elif key in AVERAGED and all(isinstance(v, (int, float)) for v in same):
            out[key] = sum(same) / len(same)
            out[f"{key}_seed_values"] = [float(v) for v in same]
        else:
            out[key] = _combine(same)
    return out


def _metric(parts: list[dict]) -> dict:
    """``{"value": mean, "seed_values", "seed_range", n...}`` from one metric's per-seed dicts."""
    values = [p.get("value") for p in parts]
    known = [float(v) for v in values if v is not None]
    out = {k: v for k, v in parts[0].items() if k not in ("value", "ci")}
    out["value"] = sum(known) / len(known) if known else None
    out["seed_values"] = [None if v is None else float(v) for v in values]
    out["seed_range"] = [min(known), max(known)] if known else None
    return out


def _summed_counts(parts: list[dict]) -> dict:
    """``{true label: {called class: films}}`` summed over the repeats."""
    total: dict[str, dict[str, int]] = {}
    for part in parts:
        for label, counts in (part or {}).items():
            row = total.setdefault(label, {})
            for cls, n in counts.items():
                row[cls] = row.get(cls, 0) + int(n)
    return total
