"""``check_site(bundle, films)``: does a new site's data look like what the model was built on?

Compares the site's films with the bundle's training profile (:mod:`cxrlab.export.profile`):
raw-file statistics, the model's view, the model's feature distribution (domain-classifier AUC and
outlier share) and the predicted-class mix, and condenses them into one verdict. Needs no torch.
A bundle without a profile (exported before profiles existed, or with ``--profile-films 0``) gets
the site-only numbers and a list of what could not be compared.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from cxrlab.data.films import FilmSet
from cxrlab.export.bundle_file import PROFILE_FILE
from cxrlab.export.profile import TrainingProfile, class_mix, parse_profile, run_session, softmax
from cxrlab.site.compare import Difference, compare_counts, compare_numeric, domain_auc, domain_severity, outlier_rate
from cxrlab.site.inputs import load_site_films, open_bundle

LEVELS = ("like", "different", "unlike")
VERDICTS = {
    "unlike": "this site looks unlike {ref}: expect the reported metrics not to hold",
    "different": "this site differs from {ref} in places: check the model on a labelled sample from this site "
                 "before trusting the reported metrics",
    "like": "this site looks like {ref} by every measure available here (that does not prove the model works "
            "here: check a labelled sample)",
    "unknown": "cannot compare: this bundle carries no training profile ({why}); re-export it from its run "
               "with this cxrlab to compare a site with the training data",
}
#: A predicted-class share above this means the set looks single-class to the model.
SINGLE_CLASS_SHARE = 0.9


@dataclass(frozen=True)
class CheckOptions:
    max_films: int = 2000  # seeded sample of a bigger folder (0 = all)
    seed: int = 0
    permutations: int = 100  # for the domain-classifier p-value
    workers: int = 2
    batch_size: int = 64
    threads: int = 0  # ONNX Runtime threads (0 = its default)


@dataclass(frozen=True)
class SiteCheck:
    summary: dict[str, Any]  # what site_check.json holds
    films: FilmSet
    probs: np.ndarray
    classes: tuple[str, ...]
    scores: np.ndarray | None = None  # outlier score per site film
    coordinates: np.ndarray | None = None  # feature-space coordinates per site film
    profile: TrainingProfile | None = field(default=None, repr=False)

    @property
    def level(self) -> str:
        return self.summary["verdict"]["level"]

    @property
    def verdict(self) -> str:
        return self.summary["verdict"]["text"]


def image_differences(profile: TrainingProfile, films: FilmSet) -> list[Difference]:
    views = films.views.reshape(len(films), -1)
    return [
        compare_numeric("raw_mean", "mean intensity", profile.raw["mean"], films.stats["mean"], 2, "brighter", "darker"),
        compare_numeric("raw_std", "contrast (intensity spread)", profile.raw["std"], films.stats["std"], 2),
        compare_numeric("width", "width in pixels", profile.raw["width"], films.stats["width"], 0, "wider", "narrower"),
        compare_numeric("height", "height in pixels", profile.raw["height"], films.stats["height"], 0, "taller", "shorter"),
        compare_numeric("bits", "bit depth", profile.raw["bits"], films.stats["bits"], 0, "deeper", "shallower"),
        compare_counts("format", "file format mix", profile.formats, _counts(films.formats)),
        compare_numeric("view_mean", "brightness of the model's view", profile.view["mean"], views.mean(axis=1) / 255, 2,
                        "brighter", "darker"),
        compare_numeric("view_std", "contrast of the model's view", profile.view["std"], views.std(axis=1) / 255, 2),
    ]


def _counts(items) -> dict[str, int]:
    out: dict[str, int] = {}
    for item in items:
        out[item] = out.get(item, 0) + 1
    return out


def _level(severity: str, cap: str = "unlike") -> str:
    level = {"none": "like", "moderate": "different", "large": "unlike"}[severity]
    return LEVELS[min(LEVELS.index(level), LEVELS.index(cap))]


def verdict(profile: TrainingProfile | None, images: list[Difference], features: dict, predictions: dict,
            no_profile: str = "") -> dict[str, Any]:
    """Level (``like``/``different``/``unlike``/``unknown``), the sentence, and the reasons."""
    if profile is None:
        return {"level": "unknown", "text": VERDICTS["unknown"].format(why=no_profile), "reasons": []}
    reasons: list[tuple[str, str]] = []
    has_features = features.get("available", False)
    # with features, the model's own view of the films decides; raw differences alone only warn
    image_cap = "different" if has_features else "unlike"
    for diff in images:
        if diff.severity != "none":
            cap = image_cap if diff.key.startswith("view") else "different"
            reasons.append((_level(diff.severity, cap), f"{diff.note} ({diff.measure} {diff.size:.2f})"))
    if has_features:
        dom, out = features["domain"], features["outliers"]
        if dom["severity"] != "none":
            reasons.append((_level(dom["severity"]), f"a classifier tells the site's films from the reference by the "
                                                     f"model's features alone (AUC {dom['auc']:.2f})"))
        if out["severity"] != "none":
            reasons.append((_level(out["severity"]), f"{out['share']:.0%} of the site's films are outliers in the "
                                                     f"model's feature space ({out['expected_share']:.0%} expected)"))
    mix = predictions.get("difference")
    if mix and mix["severity"] != "none":
        reasons.append(("different", f"the predicted-class mix differs from the reference ({mix['site']} vs "
                                     f"{mix['reference']}): a different patient mix, or a symptom of the shift"))
    level = max((r[0] for r in reasons), key=LEVELS.index, default="like")
    ref = "the films this bundle was adapted on" if profile.reference.get("kind") == "adaptation" else "the training data"
    ordered = sorted(reasons, key=lambda r: -LEVELS.index(r[0]))
    return {"level": level, "text": VERDICTS[level].format(ref=ref), "reasons": [text for _, text in ordered]}


def check_site(bundle: str | Path, films, options: CheckOptions = CheckOptions()) -> SiteCheck:
    """Compare ``films`` (a folder, patterns, a file list, a manifest DataFrame or a FilmSet) with
    the training profile in ``bundle``."""
    from cxrlab.export.profile import ProfileError

    bundle_data, predictor = open_bundle(bundle, options.threads)
    site = load_site_films(films, predictor.preprocess_config, options.max_films, options.seed, options.workers)
    outputs = run_session(predictor.session, site.films.views, predictor.mean, predictor.std, predictor.in_chans,
                          options.batch_size)
    classes = predictor.classes
    probs = softmax(outputs.logits, predictor.temperature)
    profile, no_profile = None, ""
    if PROFILE_FILE in bundle_data.extras:
        try:
            profile = parse_profile(bundle_data.extras[PROFILE_FILE], str(bundle))
        except ProfileError as exc:
            no_profile = str(exc)
    else:
        no_profile = (bundle_data.card.extra.get("training_profile") or {}).get("note") or f"no {PROFILE_FILE} in the bundle"
    cannot: list[str] = []
    images = image_differences(profile, site.films) if profile else []
    features, scores, coords = _features(profile, outputs.features, options, cannot)
    predictions = _predictions(profile, probs, classes)
    if profile is None:
        cannot.append(f"everything against the training data: {no_profile}")
    summary = {
        "verdict": verdict(profile, images, features, predictions, no_profile),
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "bundle": {"path": str(bundle), "name": bundle_data.card.name, "classes": list(classes),
                   "model_sha256": bundle_data.sha256.get("model.onnx")},
        "site": {**site.describe(), "raw": _site_summary(site.films)},
        "reference": ({**profile.reference, "films": profile.films} if profile else None),
        "images": [d.to_dict() for d in images],
        "features": features,
        "predictions": predictions,
        "cannot_compare": cannot,
        "options": {"max_films": options.max_films, "seed": options.seed, "permutations": options.permutations},
    }
    return SiteCheck(summary, site.films, probs, classes, scores, coords, profile)


def _features(profile: TrainingProfile | None, feats: np.ndarray | None, options: CheckOptions, cannot: list[str]):
    if feats is None:
        cannot.append("feature distribution: the bundle's graph has no 'features' output (re-export it)")
        return {"available": False, "note": "no features output"}, None, None
    if profile is None or profile.space is None:
        if profile is not None:
            cannot.append("feature distribution: " + (profile.notes[0] if profile.notes else "no features in the profile"))
        return {"available": False, "note": "no reference features"}, None, None
    if feats.shape[1] != profile.space.dim:
        cannot.append(f"feature distribution: the profile describes {profile.space.dim} features, the graph gives "
                      f"{feats.shape[1]} (profile from another model?)")
        return {"available": False, "note": "feature size mismatch"}, None, None
    coords = profile.space.coordinates(feats)
    scores = profile.space.score(feats)
    dom = domain_auc(profile.coordinates, coords, options.seed, options.permutations)
    dom["severity"] = domain_severity(dom)
    out = outlier_rate(scores, profile.outlier_threshold, profile.outlier_expected_share,
                       len(profile.outlier_scores))
    return {"available": True, "components": profile.space.components, "domain": dom, "outliers": out}, scores, coords


def _predictions(profile: TrainingProfile | None, probs: np.ndarray, classes) -> dict[str, Any]:
    mix = class_mix(probs, classes)
    dominant = max(mix, key=mix.get) if mix else None
    out: dict[str, Any] = {
        "site_mix": mix, "mean_confidence": float(probs.max(axis=1).mean()) if len(probs) else None,
        "dominant": {"class": dominant, "share": mix.get(dominant, math.nan)},
        "single_class": bool(dominant is not None and mix[dominant] > SINGLE_CLASS_SHARE),
        "reference_mix": None, "difference": None,
    }
    if profile is not None:
        ref_mix = dict(profile.predictions.get("mix") or {})
        out["reference_mix"] = ref_mix
        out["reference_mean_confidence"] = profile.predictions.get("mean_confidence")
        out["difference"] = compare_counts("predicted_mix", "predicted-class mix", ref_mix, mix).to_dict()
    return out


def _site_summary(films: FilmSet) -> dict[str, Any]:
    def median(key):
        v = films.stats[key]
        return float(np.median(v)) if len(v) else None

    return {"median_mean": median("mean"), "median_std": median("std"), "median_width": median("width"),
            "median_height": median("height"), "bits": _counts(str(int(b)) for b in films.stats["bits"]),
            "formats": _counts(films.formats)}
