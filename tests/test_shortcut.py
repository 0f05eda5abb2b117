"""Shortcut check: confounding measures, source probes, within-source vs pooled performance."""

from __future__ import annotations

import math

import numpy as np
import pytest

from cxrlab.evaluate.probe import one_hot, probe_balanced_accuracy, source_probes
from cxrlab.evaluate.shortcut import (
    balance_summary,
    class_balance,
    confounding_findings,
    cramers_v,
    shortcut_report,
    shortcut_warnings,
    within_source,
)


def test_cramers_v_by_hand():
    assert cramers_v(np.array([[10, 0], [0, 10]])) == pytest.approx(1.0)
    assert cramers_v(np.array([[5, 5], [5, 5]])) == pytest.approx(0.0)
    # chi2 = 60 * (400 - 100)^2 / 30^4 = 6.667; V = sqrt(chi2 / 60) = 1/3
    assert cramers_v(np.array([[20, 10], [10, 20]])) == pytest.approx(1 / 3)
    assert math.isnan(cramers_v(np.array([[4, 6]])))  # one source: not measurable
    assert cramers_v(np.array([[10, 0, 0], [0, 10, 0]])) == pytest.approx(1.0)  # empty column ignored


def test_class_balance_and_findings():
    sources = ["kids"] * 30 + ["clinic"] * 30 + ["covidset"] * 20
    labels = ["Pneumonia"] * 20 + ["Normal"] * 10 + ["Normal"] * 25 + ["COVID"] * 5 + ["COVID"] * 20
    table = class_balance(sources, labels)
    assert table.loc["kids", "Pneumonia"] == 20 and table.loc["clinic", "COVID"] == 5
    found = " ".join(confounding_findings(table))
    assert "100% of Pneumonia images come from kids" in found
    assert "Over 99%" in " ".join(confounding_findings(class_balance(["a"] * 200 + ["b"] * 10, ["X"] * 201 + ["Y"] * 9)))
    assert "covidset contains only COVID images" in found
    assert "Normal images come from" not in found  # Normal is spread over two sources
    summary = balance_summary(sources, labels)
    assert summary["strength"] == "strong" and summary["table"]["kids"]["Pneumonia"] == 20


def test_probe_finds_source_in_features_and_not_in_noise():
    rng = np.random.default_rng(0)
    sources = np.repeat(["a", "b", "c"], 40)
    units = np.arange(120)
    informative = one_hot(sources) * 2 + rng.normal(0, 0.5, (120, 3))
    noise = rng.normal(size=(120, 8))
    hit = probe_balanced_accuracy(np.hstack([informative, noise]), sources, units, seed=0)
    miss = probe_balanced_accuracy(noise, sources, units, seed=0)
    assert hit["chance"] == pytest.approx(1 / 3)
    assert hit["balanced_accuracy"] > 0.9
    assert miss["balanced_accuracy"] < 0.6
    assert set(hit["per_source_recall"]) == {"a", "b", "c"}


def test_probe_keeps_patients_on_one_side_and_needs_two_sources():
    rng = np.random.default_rng(1)
    # 20 patients x 5 identical films each, source random per patient: memorising a patient must not help
    sources = np.repeat(rng.choice(["a", "b"], 20), 5)
    units = np.repeat(np.arange(20), 5)
    features = np.repeat(rng.normal(size=(20, 30)), 5, axis=0)
    res = probe_balanced_accuracy(features, sources, units, seed=0)
    assert res["balanced_accuracy"] < 0.8
    alone = probe_balanced_accuracy(features[:10], np.array(["a"] * 10), units[:10])
    assert math.isnan(alone["balanced_accuracy"]) and "two sources" in alone["reason"]


def test_within_class_probe_and_label_control():
    rng = np.random.default_rng(2)
    sources = np.repeat(["clinic", "kids"], 60)
    labels = np.array((["COVID"] * 30 + ["Normal"] * 30) + (["Normal"] * 30 + ["Pneumonia"] * 30))
    cue = (sources == "kids").astype(float)[:, None]  # a source marker visible in every kids film
    features = np.hstack([cue * 3 + rng.normal(0, 0.3, (120, 1)), rng.normal(size=(120, 4))])
    res = source_probes(features, sources, labels, np.arange(120), seed=0)
    assert res["within_class"]["Normal"]["balanced_accuracy"] > 0.9  # same class, source still visible
    assert set(res["within_class"]) == {"Normal"}  # COVID and Pneumonia live in one source each
    assert res["label_only"]["balanced_accuracy"] == pytest.approx(0.75, abs=0.1)


def test_within_source_auc_by_hand():
    # clinic: COVID 0.9, 0.8 vs Normal 0.85, 0.7 -> 3 of 4 pairs right = 0.75 inside the source.
    # kids: only Normal. Pooled: COVID vs 6 others -> 11 of 12 pairs = 0.9167.
    covid = np.array([0.9, 0.8, 0.85, 0.7, 0.1, 0.2, 0.3, 0.4])
    probs = np.stack([covid, 1 - covid], axis=1)
    targets = np.array([0, 0, 1, 1, 1, 1, 1, 1])
    sources = np.array(["clinic"] * 4 + ["kids"] * 4)
    res = within_source(probs, targets, sources, ["COVID", "Normal"])
    assert res["per_source"]["clinic"]["auc"]["COVID"] == pytest.approx(0.75)
    assert res["per_class"]["COVID"]["pooled_auc"] == pytest.approx(11 / 12)
    assert res["per_class"]["COVID"]["within_source_auc"] == pytest.approx(0.75)
    assert res["per_class"]["COVID"]["sources_with_contrast"] == ["clinic"]
    assert math.isnan(res["per_source"]["kids"]["balanced_accuracy"])
    warnings = " ".join(shortcut_warnings({"cramers_v": 0.2, "findings": []}, None, res))
    assert "AUC drops from 0.92 pooled" in warnings and "0.75 within" in warnings


def test_no_warning_when_sources_look_alike():
    rng = np.random.default_rng(4)
    sources = np.repeat(["a", "b"], 50)
    targets = np.tile([0, 1], 50)
    scores = np.clip(targets * 0.6 + rng.random(100) * 0.5, 0, 1)
    probs = np.stack([1 - scores, scores], axis=1)
    report = shortcut_report(rng.normal(size=(100, 6)), probs, targets, sources, np.arange(100), ["Normal", "COVID"])
    assert report["balance"]["cramers_v"] == pytest.approx(0.0)
    assert report["warnings"] == []


def test_confounded_data_warns_in_plain_language():
    sources = np.array(["clinic"] * 20 + ["kids"] * 20)
    targets = np.array([0] * 20 + [1] * 20)
    probs = np.stack([1 - targets * 0.9 - 0.05, targets * 0.9 + 0.05], axis=1)
    report = shortcut_report(None, probs, targets, sources, np.arange(40), ["COVID", "Pneumonia"])
    text = " ".join(report["warnings"])
    assert "Label and source are confounded" in text
    assert "No single source has both COVID and non-COVID images" in text


def test_probe_copes_with_more_features_than_images():
    rng = np.random.default_rng(5)
    sources = np.repeat(["a", "b"], 30)
    wide = rng.normal(size=(60, 300))  # more features than images (VGG16 gives 4096)
    wide[:, :10] += (sources == "b")[:, None] * 2  # a cue spread over a few features, as in CNN features
    res = probe_balanced_accuracy(wide, sources, np.arange(60), seed=0)
    assert res["balanced_accuracy"] > 0.8


def test_a_confounded_test_set_is_called_out():
    from cxrlab.evaluate.shortcut import confounded_test_warnings

    table = class_balance(["kids"] * 33 + ["clinic"] * 60, ["Pneumonia"] * 30 + ["Normal"] * 3 + ["Normal"] * 40 + ["COVID"] * 20)
    warnings = confounded_test_warnings(table)
    assert len(warnings) == 1  # COVID also lives in one source, but that source has 40 Normal films to contrast with
    assert "100% of Pneumonia come from kids, which holds only 3 image(s) of other classes" in warnings[0]
