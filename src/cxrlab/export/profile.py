"""The bundle's ``training_profile.json``: what the reference films looked like, without the films.

Built at export from a sample of the run's films (see :mod:`cxrlab.export.reference`), or by
``cxrlab adapt`` from the site films it adapted to. It holds, per reference film: the raw-file
statistics (intensity mean/std, width, height, bit depth, format), the intensity of the model's
view; the feature space (at most 32 PCA directions + residual, see :mod:`cxrlab.export.feature_space`)
fitted on half the films, and the other half's positions and outlier scores in it (out-of-sample,
like a site's films), with their 99th-percentile outlier threshold; and the predicted-class mix.
``cxrlab site-check`` compares a site's films with it. No torch: features come from the exported
graph through ONNX Runtime, exactly as the site check will compute them.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from cxrlab.data.films import STAT_KEYS, FilmSet
from cxrlab.data.preprocess import to_model_input
from cxrlab.errors import CxrlabError
from cxrlab.export.feature_space import MAX_COMPONENTS, FeatureSpace, fit_feature_space, rounded

PROFILE_FORMAT = "cxrlab-training-profile"
PROFILE_VERSION = 1
#: Fewer reference films than this with features: no feature comparison (too little to describe).
MIN_FEATURE_FILMS = 40
OUTLIER_QUANTILE = 0.99


class ProfileError(CxrlabError):
    """A training profile is malformed."""


@dataclass(frozen=True)
class ModelOutputs:
    logits: np.ndarray  # (N, K) float64, raw
    features: np.ndarray | None  # (N, D) float64 when the graph has a ``features`` output


def run_session(session, views: np.ndarray, mean, std, in_chans: int, batch_size: int = 64) -> ModelOutputs:
    """Logits (and features, when the graph has them) of ``(N, S, S)`` uint8 views, in batches."""
    names = [o.name for o in session.get_outputs()]
    wanted = ["logits"] + (["features"] if "features" in names else [])
    logits, feats = [], []
    for start in range(0, len(views), max(int(batch_size), 1)):
        x = to_model_input(np.asarray(views[start:start + batch_size], dtype=np.uint8), mean, std, in_chans)
        out = session.run(wanted, {"input": x})
        logits.append(out[0].astype(np.float64))
        if len(out) > 1:
            feats.append(out[1].astype(np.float64).reshape(len(x), -1))
    if not logits:
        return ModelOutputs(np.zeros((0, 0)), None)
    return ModelOutputs(np.concatenate(logits), np.concatenate(feats) if feats else None)


def softmax(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    z = np.asarray(logits, dtype=np.float64) / float(temperature or 1.0)
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def class_mix(probs: np.ndarray, classes) -> dict[str, float]:
    """Share of films whose most probable class is each class."""
    counts = np.bincount(np.asarray(probs).argmax(axis=1), minlength=len(classes)) if len(probs) else np.zeros(len(classes))
    total = max(int(counts.sum()), 1)
    return {c: float(counts[i] / total) for i, c in enumerate(classes)}


def build_profile(films: FilmSet, outputs: ModelOutputs, classes, temperature: float, reference: dict[str, Any],
                  seed: int = 0) -> dict[str, Any]:
    """The profile of ``films`` (aligned with ``outputs``); ``reference`` says what they are."""
    probs = softmax(outputs.logits, temperature)
    profile: dict[str, Any] = {
        "format": PROFILE_FORMAT, "format_version": PROFILE_VERSION, "reference": reference, "films": len(films),
        "raw": {k: rounded(films.stats[k]) for k in STAT_KEYS},
        "formats": dict(Counter(films.formats)),
        "view": {"mean": rounded(films.views.reshape(len(films), -1).mean(axis=1) / 255.0 if len(films) else []),
                 "std": rounded(films.views.reshape(len(films), -1).std(axis=1) / 255.0 if len(films) else [])},
        "predictions": {"classes": list(classes), "temperature": float(temperature or 1.0),
                        "mix": class_mix(probs, classes),
                        "mean_confidence": float(probs.max(axis=1).mean()) if len(probs) else None},
        "features": None,
    }
    feats = outputs.features
    if feats is None:
        profile["features_note"] = "the exported graph has no features output"
    elif len(feats) < MIN_FEATURE_FILMS:
        profile["features_note"] = f"only {len(feats)} reference films (need {MIN_FEATURE_FILMS}) to describe the features"
    else:
        profile["features"] = describe_features(feats, seed)
    return profile


def describe_features(feats: np.ndarray, seed: int = 0) -> dict[str, Any]:
    """Fit the feature space on one half of the reference films and describe the *other* half in
    it: their coordinates and outlier scores are then out-of-sample, exactly like a site's films
    will be (coordinates of the films a PCA was fitted on are systematically tighter, which would
    make any new folder look shifted)."""
    order = np.random.default_rng(seed).permutation(len(feats))
    fit, held = order[: len(order) // 2], order[len(order) // 2:]
    space = fit_feature_space(feats[fit], max(2, min(MAX_COMPONENTS, len(fit) // 4)))
    # spreads and typical off-subspace distance of *new* films: with fewer films than features,
    # the fitted films spread more along the fitted directions and less off them than new films do
    spread = np.maximum((space.project(feats[held]) * space.scale).std(axis=0), 1e-6)
    space = replace(space, scale=spread, residual_ms=max(float(space.residual(feats[held]).mean()), 1e-12))
    scores = space.score(feats[held])
    threshold, expected = conformal_threshold(scores, OUTLIER_QUANTILE)
    return {
        "space": space.to_dict(), "fitted_on": int(len(fit)), "described": int(len(held)),
        "coordinates": [rounded(row, 5) for row in space.coordinates(feats[held])],
        "outlier_scores": rounded(scores, 5),
        "outlier_quantile": OUTLIER_QUANTILE,
        "outlier_threshold": threshold,
        "outlier_expected_share": expected,
    }


def conformal_threshold(scores: np.ndarray, quantile: float) -> tuple[float, float]:
    """``(threshold, expected share above it)``: the ``r``-th smallest of ``n`` held-out scores with
    ``r = min(n, ceil(quantile * (n + 1)))``; a new film from the same distribution exceeds it with
    probability exactly ``(n + 1 - r) / (n + 1)`` (1% for n >= 99, more for fewer reference films)."""
    ordered = np.sort(np.asarray(scores, dtype=np.float64))
    n = len(ordered)
    r = int(min(n, math.ceil(quantile * (n + 1))))
    return float(ordered[r - 1]), float((n + 1 - r) / (n + 1))


def profile_bytes(profile: dict[str, Any]) -> bytes:
    return (json.dumps(profile, allow_nan=False, separators=(",", ":")) + "\n").encode("utf-8")


@dataclass(frozen=True)
class TrainingProfile:
    """A parsed profile: arrays ready for comparison."""

    reference: dict[str, Any]
    raw: dict[str, np.ndarray]
    formats: dict[str, int]
    view: dict[str, np.ndarray]
    predictions: dict[str, Any]
    space: FeatureSpace | None
    coordinates: np.ndarray | None  # (n, k + 1)
    outlier_scores: np.ndarray | None
    outlier_threshold: float | None
    notes: tuple[str, ...] = ()
    outlier_expected_share: float = 1 - OUTLIER_QUANTILE

    @property
    def films(self) -> int:
        return int(len(self.raw["mean"]))


def parse_profile(data: bytes, source: str = "") -> TrainingProfile:
    """Read a ``training_profile.json``; raises :class:`ProfileError` naming ``source``."""
    try:
        d = json.loads(data.decode("utf-8"))
        if d.get("format") != PROFILE_FORMAT:
            raise ProfileError(f"{source}: training_profile.json is not a cxrlab training profile")
        if int(d.get("format_version", 0)) > PROFILE_VERSION:
            raise ProfileError(f"{source}: training profile format {d['format_version']} is newer than this cxrlab supports")
        feats = d.get("features")
        space = FeatureSpace.from_dict(feats["space"]) if feats else None
        return TrainingProfile(
            reference=dict(d.get("reference") or {}),
            raw={k: np.asarray(d["raw"][k], dtype=np.float64) for k in STAT_KEYS},
            formats={str(k): int(v) for k, v in (d.get("formats") or {}).items()},
            view={k: np.asarray(d["view"][k], dtype=np.float64) for k in ("mean", "std")},
            predictions=dict(d["predictions"]),
            space=space,
            coordinates=np.asarray(feats["coordinates"], dtype=np.float64) if feats else None,
            outlier_scores=np.asarray(feats["outlier_scores"], dtype=np.float64) if feats else None,
            outlier_threshold=float(feats["outlier_threshold"]) if feats else None,
            notes=tuple(n for n in [d.get("features_note")] if n),
            outlier_expected_share=float(feats.get("outlier_expected_share", 1 - OUTLIER_QUANTILE)) if feats
            else 1 - OUTLIER_QUANTILE,
        )
    except ProfileError:
        raise
    except (UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
        raise ProfileError(f"{source}: training_profile.json is malformed ({type(exc).__name__}: {exc})") from None
