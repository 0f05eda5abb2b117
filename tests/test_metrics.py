"""Metrics, calibration, thresholds and bootstrap against hand-computed tables."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from cxrlab.evaluate.bootstrap import bootstrap, confidence_intervals, headline_stat, resampling_units
from cxrlab.evaluate.calibration import (
    apply_temperature,
    brier_score,
    expected_calibration_error,
    fit_temperature,
    reliability,
)
from cxrlab.metrics.classification import (
    averages,
    classification_metrics,
    one_vs_rest_auc,
    per_class_table,
    rank_auc,
    specificity_from_confusion,
    summary_metrics,
)
from cxrlab.evaluate.thresholds import default_target_class, operating_point, threshold_for_sensitivity

# 8 images, 3 classes. Hand-made confusion matrix (rows true, columns predicted):
#   [[2, 1, 0],
#    [0, 2, 1],
#    [1, 0, 1]]
TARGETS = np.array([0, 0, 0, 1, 1, 1, 2, 2])
PREDS = np.array([0, 0, 1, 1, 1, 2, 2, 0])
CLASSES = ("COVID", "Normal", "Pneumonia")


def probs_for(preds, k=3, top=0.6):
    p = np.full((len(preds), k), (1 - top) / (k - 1))
    p[np.arange(len(preds)), preds] = top
    return p


def test_confusion_and_per_class_by_hand():
    m = classification_metrics(probs_for(PREDS), TARGETS, CLASSES)
    assert m["confusion_matrix"] == [[2, 1, 0], [0, 2, 1], [1, 0, 1]]
    covid, normal, pneu = (m["per_class"][c] for c in CLASSES)
    assert covid["precision"] == pytest.approx(2 / 3) and covid["recall"] == pytest.approx(2 / 3)
    assert pneu["precision"] == pytest.approx(1 / 2) and pneu["recall"] == pytest.approx(1 / 2)
    # specificity: COVID has 5 negatives of which 1 is called COVID; Pneumonia has 6 negatives, 1 wrong
    assert covid["specificity"] == pytest.approx(4 / 5)
    assert normal["specificity"] == pytest.approx(4 / 5)
    assert pneu["specificity"] == pytest.approx(5 / 6)
    assert covid["f1"] == pytest.approx(2 / 3) and pneu["f1"] == pytest.approx(1 / 2)
    assert [r["support"] for r in m["per_class"].values()] == [3, 3, 2]
    assert covid["sensitivity"] == covid["recall"]


def test_summary_and_averages_by_hand():
    s = summary_metrics(probs_for(PREDS), TARGETS, 3)
    assert s["accuracy"] == pytest.approx(5 / 8)
    assert s["balanced_accuracy"] == pytest.approx((2 / 3 + 2 / 3 + 1 / 2) / 3)
    assert s["macro_f1"] == pytest.approx((2 / 3 + 2 / 3 + 1 / 2) / 3)
    avg = averages(per_class_table(probs_for(PREDS), TARGETS, CLASSES))
    assert avg["weighted"]["f1"] == pytest.approx((3 * 2 / 3 + 3 * 2 / 3 + 2 * 1 / 2) / 8)
    assert avg["macro"]["specificity"] == pytest.approx((0.8 + 0.8 + 5 / 6) / 3)


def test_one_vs_rest_auc_by_hand():
    # COVID scores: 0.6 where predicted COVID, else 0.2. Positives (true COVID) score 0.6, 0.6, 0.2;
    # negatives 0.2 x4 and 0.6 x1. Pairs: 2 x (4 wins + 1 tie) + (4 ties + 1 loss) = 9 + 2 = 11 of 15.
    auc = one_vs_rest_auc(probs_for(PREDS), TARGETS)
    assert auc[0] == pytest.approx(11 / 15)


def test_binary_auc_and_ap_classic_example():
    scores = np.array([0.1, 0.4, 0.35, 0.8])
    targets = np.array([0, 0, 1, 1])
    probs = np.stack([1 - scores, scores], axis=1)
    table = per_class_table(probs, targets, ("Normal", "Abnormal"))
    assert table["Abnormal"]["auc"] == pytest.approx(0.75)
    assert table["Abnormal"]["ap"] == pytest.approx(0.8333333)
    assert summary_metrics(probs, targets, 2)["auc"] == pytest.approx(0.75)


def test_absent_class_gives_nan_not_a_number():
    probs = probs_for(np.array([0, 1, 0, 1]))
    m = classification_metrics(probs, np.array([0, 1, 0, 1]), CLASSES)
    assert math.isnan(m["per_class"]["Pneumonia"]["auc"])
    assert m["per_class"]["Pneumonia"]["support"] == 0
    assert m["summary"]["balanced_accuracy"] == pytest.approx(1.0)
    assert specificity_from_confusion(np.array([[3, 0], [0, 0]]))[1] == 1.0  # 3 negatives, none flagged
    assert math.isnan(specificity_from_confusion(np.array([[0, 0], [0, 0]]))[0])


def test_rank_auc_matches_sklearn_with_ties():
    rng = np.random.default_rng(0)
    for _ in range(5):
        scores = rng.integers(0, 6, 40) / 5.0
        positive = rng.random(40) < 0.4
        assert rank_auc(scores, positive) == pytest.approx(roc_auc_score(positive, scores))
    assert math.isnan(rank_auc(np.array([0.1, 0.2]), np.array([True, True])))


def test_calibration_by_hand():
    probs = np.array([[0.9, 0.1], [0.75, 0.25], [0.35, 0.65], [0.45, 0.55]])
    targets = np.array([0, 1, 1, 1])
    # 5 bins: 0.9 (right) | 0.75 wrong + 0.65 right -> conf 0.7, acc 0.5 | 0.55 (right)
    assert expected_calibration_error(probs, targets, n_bins=5) == pytest.approx((0.1 + 2 * 0.2 + 0.45) / 4)
    assert brier_score(probs, targets) == pytest.approx((0.02 + 1.125 + 0.245 + 0.405) / 4)
    rel = reliability(probs, targets, n_bins=5)
    assert rel.count.tolist() == [0, 0, 1, 2, 1]
    assert rel.accuracy[3] == pytest.approx(0.5) and rel.confidence[3] == pytest.approx(0.7)


def test_temperature_recovers_the_true_temperature_and_keeps_predictions():
    rng = np.random.default_rng(3)
    logits = rng.normal(0, 3, (4000, 3))
    truth = apply_temperature(logits, 2.0)
    targets = np.array([rng.choice(3, p=p) for p in truth])
    t = fit_temperature(logits, targets)
    assert t == pytest.approx(2.0, abs=0.2)
    assert (apply_temperature(logits, t).argmax(1) == logits.argmax(1)).all()
    # over-confident logits: scaling lowers the ECE
    before = expected_calibration_error(apply_temperature(logits, 1.0), targets)
    assert expected_calibration_error(apply_temperature(logits, t), targets) < before


def test_threshold_for_sensitivity_by_hand():
    scores = np.array([0.9, 0.8, 0.7, 0.6, 0.2, 0.65, 0.1, 0.3])
    positive = np.array([1, 1, 1, 1, 1, 0, 0, 0], dtype=bool)
    assert threshold_for_sensitivity(scores, positive, 0.8) == 0.6  # 4 of 5 positives needed
    assert threshold_for_sensitivity(scores, positive, 0.95) == 0.2  # ceil(4.75) = 5
    assert threshold_for_sensitivity(scores, positive, 0.6) == 0.7  # 3 of 5
    op = operating_point(scores, positive, 0.6)
    assert (op["tp"], op["fn"], op["fp"], op["tn"]) == (4, 1, 1, 2)
    assert op["sensitivity"] == pytest.approx(0.8) and op["specificity"] == pytest.approx(2 / 3)
    assert op["ppv"] == pytest.approx(0.8) and op["npv"] == pytest.approx(2 / 3)
    with pytest.raises(ValueError):
        threshold_for_sensitivity(scores, np.zeros(8, dtype=bool), 0.9)


def test_default_target_class():
    assert default_target_class(("Non-COVID", "COVID")) == "COVID"
    assert default_target_class(("Normal", "Abnormal")) == "Abnormal"


def test_resampling_units_prefers_group_then_patient_then_image():
    df = pd.DataFrame({"group": ["g1", "g1", "", "g2"], "patient_id": ["a", "b", "c", "d"]})
    units, name = resampling_units(df)
    assert name == "group" and units[0] == units[1] and len(set(units)) == 3
    units, name = resampling_units(df.drop(columns="group"))
    assert name == "patient_id" and len(set(units)) == 4
    units, name = resampling_units(pd.DataFrame({"x": [1, 2, 3]}))
    assert name == "image" and units.tolist() == [0, 1, 2]


def test_bootstrap_draws_whole_patients_and_is_seeded():
    units = np.array([0, 0, 0, 1, 1, 2])
    sizes = np.bincount(units)

    def stat(idx):
        counts = np.bincount(units[idx], minlength=3)
        return {"whole": float(all(c % s == 0 for c, s in zip(counts, sizes)))}

    draws = bootstrap(stat, units, n_boot=50, seed=1)
    assert draws["whole"].min() == 1.0
    mean = lambda idx: {"m": float(np.mean(idx))}  # noqa: E731
    assert (bootstrap(mean, units, 20, seed=5)["m"] == bootstrap(mean, units, 20, seed=5)["m"]).all()
    assert not (bootstrap(mean, units, 20, seed=5)["m"] == bootstrap(mean, units, 20, seed=6)["m"]).all()


def test_patient_resampling_widens_intervals_for_correlated_images():
    # 20 patients with 10 identical films each: the evidence is 20 patients, not 200 images
    rng = np.random.default_rng(0)
    correct = np.repeat(rng.random(20) < 0.7, 10)
    targets = np.zeros(200, dtype=int)
    probs = np.where(correct[:, None], [[0.8, 0.2]], [[0.2, 0.8]])
    stat = headline_stat(probs, targets, ("A", "B"))
    by_patient = confidence_intervals(stat, np.repeat(np.arange(20), 10), n_boot=400, seed=0)["accuracy"]
    by_image = confidence_intervals(stat, np.arange(200), n_boot=400, seed=0)["accuracy"]
    assert by_patient["low"] <= by_patient["value"] <= by_patient["high"]
    assert (by_patient["high"] - by_patient["low"]) > 2 * (by_image["high"] - by_image["low"])


def test_fast_bootstrap_statistic_matches_the_reference_metrics():
    rng = np.random.default_rng(2)
    targets = rng.integers(0, 3, 300)
    logits = rng.normal(size=(300, 3))
    logits[np.arange(300), targets] += 1.0
    probs = apply_temperature(logits)
    fast = headline_stat(probs, targets, CLASSES)(np.arange(300))
    ref = classification_metrics(probs, targets, CLASSES)
    for key in ("accuracy", "balanced_accuracy", "macro_f1", "auc"):
        assert fast[key] == pytest.approx(ref["summary"][key])
    for c in CLASSES:
        assert fast[f"sensitivity:{c}"] == pytest.approx(ref["per_class"][c]["sensitivity"])
        assert fast[f"specificity:{c}"] == pytest.approx(ref["per_class"][c]["specificity"])
        assert fast[f"auc:{c}"] == pytest.approx(ref["per_class"][c]["auc"])
