"""A labelled sample of a site's films: reading the label table, running a bundle on it, and its
metrics with patient-level bootstrap intervals.

The table (CSV or DataFrame) has a file column (``file``, ``path``, ``filename`` or ``image``) and a
label column (``label``, ``class`` or ``diagnosis``), optionally ``patient_id`` (resampling unit).
Labels are the model's class names (any case) or any label text ``cxrlab index`` understands
(``COVID-19``, ``normal``...), mapped through the bundle's label scheme; other labels are excluded
and counted. Relative file paths are relative to the CSV's folder.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from cxrlab.artifacts.bundle_card import BundleCard
from cxrlab.data.films import FilmSet, load_films
from cxrlab.site.inputs import SiteError

FILE_COLUMNS = ("file", "path", "filename", "image")
LABEL_COLUMNS = ("label", "class", "diagnosis")
UNIT_COLUMNS = ("patient_id", "patient", "group")


@dataclass(frozen=True)
class LabelledSite:
    table: pd.DataFrame  # readable rows: path, label, class, target, unit (aligned with films/logits)
    films: FilmSet
    logits: np.ndarray
    excluded: dict[str, int]
    origin: str

    @property
    def targets(self) -> np.ndarray:
        return self.table["target"].to_numpy(dtype=np.int64)

    @property
    def units(self) -> np.ndarray:
        return pd.factorize(self.table["unit"])[0]


def _column(df: pd.DataFrame, names, what: str, origin: str) -> str | None:
    lower = {c.lower(): c for c in df.columns}
    for name in names:
        if name in lower:
            return lower[name]
    if what:
        raise SiteError(f"{origin}: no {what} column (expected one of {', '.join(names)})")
    return None


def read_labels(source, classes, label_scheme: dict | None = None) -> tuple[pd.DataFrame, Counter, str]:
    """``(rows with path/label/class/target/unit, excluded label counts, origin)``."""
    from cxrlab.labels import LabelScheme, canonical_label

    if isinstance(source, (str, Path)):
        origin, root = str(source), Path(source).resolve().parent
        try:
            df = pd.read_csv(source, dtype=str, keep_default_na=False)
        except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
            raise SiteError(f"{source}: cannot read the label table ({exc})") from None
    else:
        df, origin, root = pd.DataFrame(source).astype(str), f"label table ({len(source)} rows)", None
    file_col = _column(df, FILE_COLUMNS, "file", origin)
    label_col = _column(df, LABEL_COLUMNS, "label", origin)
    unit_col = _column(df, UNIT_COLUMNS, "", origin)
    scheme = None
    if label_scheme:
        scheme = LabelScheme.from_dict(label_scheme)
    by_name = {c.lower(): c for c in classes}
    rows, excluded = [], Counter()
    for i, rec in enumerate(df.to_dict("records")):
        text = str(rec[label_col]).strip()
        cls = by_name.get(text.lower())
        if cls is None and scheme is not None:
            canonical = canonical_label(text)
            cls = scheme.map(canonical) if canonical else None
        if cls is None:
            excluded[f"label {text!r} is not a class of this model"] += 1
            continue
        path = Path(str(rec[file_col]))
        if root is not None and not path.is_absolute():
            path = root / path
        unit = str(rec[unit_col]) if unit_col and str(rec[unit_col]) else f"\0row{i}"
        rows.append({"path": str(path), "label": text, "class": cls, "target": list(classes).index(cls), "unit": unit})
    if not rows:
        raise SiteError(f"{origin}: no row has a label this model knows ({', '.join(classes)})")
    return pd.DataFrame(rows), excluded, origin


def labelled_outputs(predictor, source, workers: int = 2, batch_size: int = 64) -> LabelledSite:
    """Read the label table, decode its films with the bundle's preprocessing, run the model."""
    from cxrlab.export.profile import run_session

    scheme = predictor.card.label_scheme
    table, excluded, origin = read_labels(source, predictor.classes, scheme.to_dict() if scheme else None)
    films = load_films(table["path"].tolist(), predictor.preprocess_config, workers)
    if films.errors:
        excluded["unreadable film"] += len(films.errors)
    readable = set(films.paths)
    table = table[table["path"].isin(readable)].drop_duplicates("path").reset_index(drop=True)
    order = {p: i for i, p in enumerate(films.paths)}
    films = films.subset([order[p] for p in table["path"]])
    if not len(table):
        raise SiteError(f"{origin}: none of the labelled films could be read")
    outputs = run_session(predictor.session, films.views, predictor.mean, predictor.std, predictor.in_chans, batch_size)
    return LabelledSite(table, films, outputs.logits, dict(excluded), origin)


def site_stat(probs: np.ndarray, targets: np.ndarray, k: int, threshold: float | None):
    """Bootstrap statistic: AUC of class ``k``, accuracy, and sensitivity/specificity at ``threshold``."""
    from cxrlab.metrics.classification import rank_auc
    from cxrlab.evaluate.thresholds import operating_point

    def stat(idx: np.ndarray) -> dict[str, float]:
        p, t = probs[idx], targets[idx]
        out = {"auc": rank_auc(p[:, k], t == k), "accuracy": float((p.argmax(axis=1) == t).mean())}
        if threshold is not None:
            point = operating_point(p[:, k], t == k, threshold)
            out["sensitivity"], out["specificity"] = point["sensitivity"], point["specificity"]
        return out

    return stat


def site_metrics(logits: np.ndarray, targets: np.ndarray, units: np.ndarray, classes, temperature: float,
                 threshold: float | None, target_class: str, n_boot: int = 1000, seed: int = 0) -> dict[str, Any]:
    """Metrics of one labelled sample at a given temperature and threshold, with 95% intervals."""
    from cxrlab.evaluate.bootstrap import confidence_intervals
    from cxrlab.evaluate.calibration import apply_temperature, calibration_summary, nll

    k = list(classes).index(target_class)
    probs = apply_temperature(logits, temperature)
    intervals = confidence_intervals(site_stat(probs, targets, k, threshold), units, n_boot, seed)
    return {"n": int(len(targets)), "positives": int((targets == k).sum()), "units": int(len(np.unique(units))),
            "target_class": target_class, "temperature": float(temperature), "threshold": threshold,
            "nll": nll(logits, targets, temperature), **calibration_summary(probs, targets), **intervals}


def card_threshold(card: BundleCard, target_class: str) -> float | None:
    value = card.thresholds.get(target_class)
    if isinstance(value, dict):
        value = value.get("threshold")
    return float(value) if isinstance(value, (int, float)) and math.isfinite(value) else None


def evaluate_on_labels(bundle: str | Path, labels, target_class: str | None = None, n_boot: int = 1000,
                       seed: int = 0, workers: int = 2) -> dict[str, Any]:
    """Score a bundle as it stands (its temperature and threshold) on a labelled site sample: AUC
    of ``target_class`` (default COVID, else the last class), accuracy and sensitivity/specificity
    at the card's threshold, NLL/ECE/Brier, each with a 95% interval. For before/after tables."""
    from cxrlab.evaluate.thresholds import default_target_class
    from cxrlab.site.inputs import open_bundle

    _, predictor = open_bundle(bundle)
    site = labelled_outputs(predictor, labels, workers)
    target = target_class or default_target_class(list(predictor.classes))
    out = site_metrics(site.logits, site.targets, site.units, predictor.classes, predictor.temperature,
                       card_threshold(predictor.card, target), target, n_boot, seed)
    return {**out, "bundle": str(bundle), "labels": site.origin, "excluded": site.excluded}
