"""Re-calibration with a few labels: refit the temperature and the operating threshold on a small
labelled sample of a site and say how uncertain they are.

* temperature: NLL-optimal on the sample (:func:`cxrlab.evaluate.calibration.fit_temperature`);
* threshold: the highest one reaching ``target_sensitivity`` for the target class on the sample
  (:func:`cxrlab.evaluate.thresholds.threshold_for_sensitivity`);
* intervals: bootstrap over patients (or films). Each resample refits both; the percentile
  intervals of the refitted values say how much they would move with another sample of this
  size, and the sensitivity/specificity of each refit threshold *on the films its resample left
  out* (out-of-bag) say what the rule can be expected to do on new films of the site - the
  in-sample sensitivity is optimistic by construction, since the threshold was chosen on it.

The new bundle keeps the ONNX graph (and training profile) byte for byte; only the card changes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from cxrlab.site.inputs import SiteError
from cxrlab.site.labelled import card_threshold, labelled_outputs, site_metrics

#: Fewer positives or negatives of the target class than this: the threshold is not refitted.
MIN_PER_SIDE = 5
#: Fewer positives than this: warn that the threshold interval is wide.
FEW_POSITIVES = 30

RECALIBRATED_LIMITATION = (
    "Temperature and operating threshold re-fitted on a small labelled sample of one site (see "
    "'site_calibration', with intervals): they describe that site's films and prevalence only."
)


@dataclass(frozen=True)
class RecalibrateOptions:
    target_class: str | None = None  # default: COVID when the task has it, else the last class
    target_sensitivity: float = 0.95
    n_boot: int = 1000
    seed: int = 0
    min_films: int = 20
    force: bool = False
    workers: int = 2
    site_name: str = ""


@dataclass(frozen=True)
class RecalibrateReport:
    path: Path
    record: dict[str, Any]
    warnings: tuple[str, ...]


def refit(logits: np.ndarray, targets: np.ndarray, k: int, target_sensitivity: float) -> tuple[float, float | None]:
    """``(temperature, threshold or None when a side has too few films)``."""
    from cxrlab.evaluate.calibration import apply_temperature, fit_temperature
    from cxrlab.evaluate.thresholds import threshold_for_sensitivity

    temperature = fit_temperature(logits, targets)
    positive = targets == k
    if positive.sum() < MIN_PER_SIDE or (~positive).sum() < MIN_PER_SIDE:
        return temperature, None
    probs = apply_temperature(logits, temperature)
    return temperature, threshold_for_sensitivity(probs[:, k], positive, target_sensitivity)


def refit_intervals(logits: np.ndarray, targets: np.ndarray, units: np.ndarray, k: int, target_sensitivity: float,
                    n_boot: int = 1000, seed: int = 0) -> dict[str, dict[str, float]]:
    """Bootstrap percentile intervals of the refitted temperature and threshold, and of the
    out-of-bag sensitivity/specificity of each refitted rule (see the module docstring)."""
    from cxrlab.evaluate.bootstrap import percentile_interval
    from cxrlab.evaluate.calibration import apply_temperature
    from cxrlab.evaluate.thresholds import operating_point

    groups = [np.flatnonzero(units == u) for u in np.unique(units)]
    rng = np.random.default_rng(seed)
    draws: dict[str, list[float]] = {"temperature": [], "threshold": [], "sensitivity": [], "specificity": []}
    for _ in range(n_boot):
        chosen = rng.integers(0, len(groups), len(groups))
        idx = np.concatenate([groups[c] for c in chosen])
        oob = np.concatenate([groups[g] for g in np.setdiff1d(np.arange(len(groups)), chosen)] or [np.zeros(0, int)])
        t, thr = refit(logits[idx], targets[idx], k, target_sensitivity)
        draws["temperature"].append(t)
        draws["threshold"].append(math.nan if thr is None else thr)
        point = (operating_point(apply_temperature(logits[oob], t)[:, k], targets[oob] == k, thr)
                 if thr is not None and len(oob) else {})
        draws["sensitivity"].append(point.get("sensitivity", math.nan))
        draws["specificity"].append(point.get("specificity", math.nan))
    out = {}
    for name, values in draws.items():
        arr = np.asarray(values, dtype=np.float64)
        lo, hi = percentile_interval(arr) if n_boot else (math.nan, math.nan)
        finite = arr[np.isfinite(arr)]
        out[name] = {"median": float(np.median(finite)) if len(finite) else math.nan, "low": lo, "high": hi,
                     "resamples": int(len(finite))}
    return out


def recalibrate_bundle(bundle: str | Path, labels, out: str | Path,
                       options: RecalibrateOptions = RecalibrateOptions()) -> RecalibrateReport:
    """Refit temperature and threshold of ``bundle`` on the labelled site sample ``labels`` (a CSV
    ``file,label[,patient_id]`` or a DataFrame with such columns) and write the bundle ``out``."""
    from cxrlab.evaluate.thresholds import default_target_class, operating_point
    from cxrlab.evaluate.calibration import apply_temperature
    from cxrlab.export.bundle_file import read_bundle, write_bundle
    from cxrlab.site.inputs import open_bundle

    source, predictor = open_bundle(bundle)
    classes = list(predictor.classes)
    target = options.target_class or default_target_class(classes)
    if target not in classes:
        raise SiteError(f"target class {target!r} is not a class of this model ({', '.join(classes)})")
    site = labelled_outputs(predictor, labels, options.workers)
    logits, targets, units, k = site.logits, site.targets, site.units, classes.index(target)
    warnings = _check_size(site, targets, k, target, options)
    old_t, old_thr = predictor.temperature, card_threshold(predictor.card, target)
    before = site_metrics(logits, targets, units, classes, old_t, old_thr, target, options.n_boot, options.seed)
    temperature, threshold = refit(logits, targets, k, options.target_sensitivity)
    if threshold is None:
        warnings.append(f"fewer than {MIN_PER_SIDE} {target} or non-{target} films: the threshold is not refitted "
                        f"(kept at {old_thr})")
    new_thr = threshold if threshold is not None else old_thr
    after = site_metrics(logits, targets, units, classes, temperature, new_thr, target, options.n_boot, options.seed)
    spread = refit_intervals(logits, targets, units, k, options.target_sensitivity, options.n_boot, options.seed)
    in_sample = (operating_point(apply_temperature(logits, temperature)[:, k], targets == k, new_thr)
                 if new_thr is not None else None)
    record = {
        "site": options.site_name or Path(site.origin).stem, "labels": site.origin,
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "films": int(len(targets)), "by_class": {c: int((targets == i).sum()) for i, c in enumerate(classes)},
        "excluded": site.excluded, "target_class": target, "target_sensitivity": options.target_sensitivity,
        "changed": "temperature" + (f" and the {target} threshold" if threshold is not None else " only"),
        "replaced": {"temperature": old_t, "threshold": old_thr},
        "temperature": {"value": temperature, **_interval(spread["temperature"])},
        "threshold": {"value": new_thr, "refitted": threshold is not None, **_interval(spread["threshold"])},
        "expected_sensitivity": {"value": spread["sensitivity"]["median"], **_interval(spread["sensitivity"]),
                                 "in_sample": in_sample["sensitivity"] if in_sample else None},
        "expected_specificity": {"value": spread["specificity"]["median"], **_interval(spread["specificity"]),
                                 "in_sample": in_sample["specificity"] if in_sample else None},
        "before": before, "after": after, "bootstrap": {"resamples": options.n_boot, "seed": options.seed,
                                                        "unit": "patient" if _has_patients(site) else "film"},
        "warnings": warnings,
    }
    old = source.card
    card = replace(old, temperature=float(temperature),
                   thresholds={**old.thresholds, **({target: float(new_thr)} if new_thr is not None else {})},
                   extra={**old.extra, "site_calibration": _finite(record)},
                   limitations=(*old.limitations, RECALIBRATED_LIMITATION), name=f"{old.name or 'model'}-recalibrated")
    path = write_bundle(out, source.onnx, card, source.extras)
    read_bundle(path)  # verify what was written
    return RecalibrateReport(Path(path), record, tuple(warnings))


def _check_size(site, targets, k: int, target: str, options: RecalibrateOptions) -> list[str]:
    warnings = []
    if len(targets) < options.min_films:
        message = f"{site.origin}: only {len(targets)} usable labelled films (at least {options.min_films} needed)"
        if not options.force:
            raise SiteError(message + "; pass --force (force=True) to refit anyway")
        warnings.append(message + " (forced)")
    if len(targets) < 2:
        raise SiteError(f"{site.origin}: at least 2 labelled films are needed to fit a temperature")
    positives = int((targets == k).sum())
    if MIN_PER_SIDE <= positives < FEW_POSITIVES:
        warnings.append(f"the threshold rests on {positives} {target} films: read its interval, not its value")
    return warnings


def _has_patients(site) -> bool:
    return not site.table["unit"].str.startswith("\0row").all()


def _interval(cell: dict) -> dict[str, float]:
    return {"low": cell["low"], "high": cell["high"]}


def _finite(obj):
    if isinstance(obj, dict):
        return {str(k): _finite(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_finite(v) for v in obj]
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj
