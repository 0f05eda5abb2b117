"""Intervals of proportions never collapse to a point: Wilson where the bootstrap degenerates or the
count is small, the bootstrap where it is sound, and every interval names its method."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from cxrlab.evaluate.analysis import Calibration, analyse_set
from cxrlab.report.html import ci_text
from cxrlab.evaluate.proportions import (
    BOOTSTRAP, SMALL_COUNT, WILSON, confusion_counts, honest_interval, operating_counts, wilson_interval,
)
from cxrlab.evaluate.thresholds import operating_point

CLASSES = ("COVID", "Normal")


def _set(n_pos: int, n_neg: int, neg_right: int, seed: int = 0):
    """Logits where every positive is right and ``neg_right`` of the negatives are."""
    rng = np.random.default_rng(seed)
    targets = np.array([0] * n_pos + [1] * n_neg)
    logits = np.zeros((len(targets), 2))
    logits[:n_pos, 0] = 3 + rng.random(n_pos)
    neg = np.arange(n_pos, n_pos + n_neg)
    logits[neg, 1] = 3 + rng.random(n_neg)
    logits[neg[neg_right:], :] = logits[neg[neg_right:], ::-1]  # these negatives are called COVID
    df = pd.DataFrame({"target": targets, "source": "s", "patient_id": [f"p{i}" for i in range(len(targets))]})
    return df, logits


def _analyse(df, logits, threshold=0.5):
    cal = Calibration(1.0, threshold, "COVID", 0.95, False, {})
    return analyse_set(df, logits, CLASSES, cal, n_boot=200, seed=0)


def test_eighteen_of_eighteen_positives_get_a_wilson_interval_not_one_to_one():
    out = _analyse(*_set(18, 200, 180))
    sens = out["intervals"]["sensitivity:COVID"]
    assert sens["value"] == 1.0 and sens["method"] == WILSON and (sens["k"], sens["n"]) == (18, 18)
    assert sens["low"] == pytest.approx(0.8241, abs=1e-3) and sens["high"] == 1.0
    op = out["operating_point"]["intervals"]
    assert op["sensitivity"]["method"] == WILSON and op["sensitivity"]["low"] < 0.9
    assert op["accuracy"]["value"] == pytest.approx((18 + 180) / 218)
    spec = out["intervals"]["specificity:COVID"]  # 200 negatives, 180 right: the bootstrap is sound
    assert spec["method"] == BOOTSTRAP and spec["low"] < 0.9 < spec["high"]
    assert "†" in ci_text(sens) and "†" not in ci_text(spec)
    assert out["intervals"]["auc"].get("method") is None  # not a proportion: bootstrap as before


def test_small_counts_use_wilson_even_when_the_bootstrap_has_width():
    cell = {"value": 0.5, "low": 0.2, "high": 0.8}
    small = honest_interval(cell, 5, 10)
    assert small["method"] == WILSON and (small["low"], small["high"]) == pytest.approx(wilson_interval(5, 10))
    large = honest_interval(cell, 50, 100)
    assert large["method"] == BOOTSTRAP and (large["low"], large["high"]) == (0.2, 0.8)
    assert honest_interval({"value": 1.0, "low": 1.0, "high": 1.0}, 500, 500)["method"] == WILSON
    assert SMALL_COUNT == 30
    empty = honest_interval({"value": float("nan"), "low": float("nan"), "high": float("nan")}, 0, 0)
    assert empty["method"] == BOOTSTRAP and np.isnan(empty["low"])


def test_counts_come_from_the_confusion_matrix_and_the_operating_point():
    counts = confusion_counts(np.array([[2, 1], [3, 4]]), CLASSES)
    assert counts == {"accuracy": (6, 10), "sensitivity:COVID": (2, 3), "specificity:COVID": (4, 7),
                      "sensitivity:Normal": (4, 7), "specificity:Normal": (2, 3)}
    point = operating_point(np.array([0.9, 0.8, 0.2, 0.7, 0.1]), np.array([1, 1, 1, 0, 0], bool), 0.5)
    assert operating_counts(point) == {"sensitivity": (2, 3), "specificity": (1, 2), "ppv": (2, 3),
                                       "npv": (1, 2), "accuracy": (3, 5)}
