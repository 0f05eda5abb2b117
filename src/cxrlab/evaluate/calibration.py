"""Calibration: does "90% COVID" mean right 9 times out of 10?

* :func:`reliability` bins predictions by confidence (the top probability) and compares the mean
  confidence of each bin with its accuracy — the reliability diagram.
* :func:`expected_calibration_error` (ECE) is the support-weighted mean gap between the two.
* :func:`brier_score` is the mean squared distance between the probability vector and the one-hot
  truth, summed over classes (0 = perfect; for two classes it is twice the usual binary Brier).
* :func:`fit_temperature` finds the single temperature ``T`` that minimises the negative
  log-likelihood of ``softmax(logits / T)`` on the validation split (Guo et al., 2017). It changes
  confidence, never the arg-max, so accuracy and AUC are unchanged.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.optimize import minimize_scalar
from scipy.special import log_softmax, softmax

T_MIN, T_MAX = 0.05, 20.0


def apply_temperature(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    """Class probabilities ``softmax(logits / T)``."""
    return softmax(np.asarray(logits, dtype=np.float64) / float(temperature), axis=1)


def nll(logits: np.ndarray, targets: np.ndarray, temperature: float = 1.0) -> float:
    """Mean negative log-likelihood of the true classes."""
    logp = log_softmax(np.asarray(logits, dtype=np.float64) / temperature, axis=1)
    return float(-logp[np.arange(len(targets)), np.asarray(targets)].mean())


def fit_temperature(logits: np.ndarray, targets: np.ndarray) -> float:
    """The temperature in ``[0.05, 20]`` minimising validation NLL (the NLL is convex in ``1/T``,
    so a bounded 1-D search over ``log T`` finds the optimum)."""
    if len(targets) == 0:
        raise ValueError("fit_temperature needs at least one example")
    result = minimize_scalar(
        lambda log_t: nll(logits, targets, math.exp(log_t)),
        bounds=(math.log(T_MIN), math.log(T_MAX)), method="bounded", options={"xatol": 1e-5},
    )
    return float(math.exp(result.x))


@dataclass(frozen=True)
class Reliability:
    """Per confidence bin: edges ``(B+1,)``, and ``(B,)`` counts, mean confidence, accuracy."""

    edges: np.ndarray
    count: np.ndarray
    confidence: np.ndarray
    accuracy: np.ndarray


def reliability(probs: np.ndarray, targets: np.ndarray, n_bins: int = 15) -> Reliability:
    """Equal-width bins of the top probability; empty bins have ``nan`` confidence/accuracy."""
    probs = np.asarray(probs, dtype=np.float64)
    conf = probs.max(axis=1)
    correct = (probs.argmax(axis=1) == np.asarray(targets)).astype(np.float64)
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    # bin b holds conf in (edges[b], edges[b+1]]; a confidence of exactly 0 cannot occur with softmax
    which = np.clip(np.searchsorted(edges, conf, side="left") - 1, 0, n_bins - 1)
    count = np.bincount(which, minlength=n_bins).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_conf = np.bincount(which, weights=conf, minlength=n_bins) / count
        accuracy = np.bincount(which, weights=correct, minlength=n_bins) / count
    return Reliability(edges, count.astype(np.int64), mean_conf, accuracy)


def expected_calibration_error(probs: np.ndarray, targets: np.ndarray, n_bins: int = 15) -> float:
    """ECE: ``sum_b (n_b / N) * |accuracy_b - confidence_b|`` over non-empty bins."""
    rel = reliability(probs, targets, n_bins)
    used = rel.count > 0
    if not used.any():
        return math.nan
    gaps = np.abs(rel.accuracy[used] - rel.confidence[used])
    return float((gaps * rel.count[used]).sum() / rel.count.sum())


def brier_score(probs: np.ndarray, targets: np.ndarray) -> float:
    """Mean over images of ``sum_k (p_k - y_k)^2`` with ``y`` one-hot."""
    probs = np.asarray(probs, dtype=np.float64)
    onehot = np.eye(probs.shape[1])[np.asarray(targets)]
    return float(((probs - onehot) ** 2).sum(axis=1).mean())


def calibration_summary(probs: np.ndarray, targets: np.ndarray, n_bins: int = 15) -> dict[str, float]:
    return {
        "ece": expected_calibration_error(probs, targets, n_bins),
        "brier": brier_score(probs, targets),
        "mean_confidence": float(np.asarray(probs).max(axis=1).mean()) if len(targets) else math.nan,
    }
