"""Leave-one-source-out scores: hand-computed tables through the pure scoring functions."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from cxrlab.labels import load_scheme
from cxrlab.loso.scores import covid_threshold, decisions, score_fold, wilson

SCHEME = load_scheme("3class")  # COVID, Normal, Pneumonia


def frame(rows):
    return pd.DataFrame(rows, columns=["split", "label", "population", "source"])


def test_wilson_interval_never_collapses_at_18_of_18():
    low, high = wilson(18, 18)
    assert high == pytest.approx(1.0) and low == pytest.approx(0.8241, abs=1e-3)  # not 1.000-1.000
    assert all(math.isnan(v) for v in wilson(0, 0))


def test_operating_threshold_from_validation_covid_films_only():
    f = frame([("val", "COVID", "adult", "a"), ("val", "COVID", "adult", "a"), ("val", "Normal", "adult", "a"),
               ("external", "COVID", "adult", "h")])
    probs = np.array([[0.9, 0.1, 0.0], [0.3, 0.7, 0.0], [0.8, 0.2, 0.0], [0.1, 0.9, 0.0]])
    # 95 % of 2 positives needs both: the lower positive score, 0.3 (the external film is ignored)
    assert covid_threshold(f, probs, SCHEME.classes) == pytest.approx(0.3)
    assert list(decisions(probs, SCHEME.classes, 0.3)) == ["COVID", "COVID", "COVID", "Normal"]
    assert list(decisions(probs, SCHEME.classes, None)) == ["COVID", "Normal", "COVID", "Normal"]


def test_holdout_table_hand_computed():
    # external: 2 COVID (1 found), adult Normal x2 (1 called COVID), adult Pneumonia x2 (1 found),
    # one Other film (TB) called COVID, one unreadable row (NaN) left out.
    rows = [("val", "COVID", "adult", "a")] + [("external", lab, "adult", "h") for lab in
            ("COVID", "COVID", "Normal", "Normal", "Pneumonia", "Pneumonia-Bacterial", "Other", "Normal")]
    rows += [("test", "Normal", "pediatric", "k"), ("test", "Pneumonia", "pediatric", "k"), ("test", "COVID", "adult", "a")]
    f = frame(rows)
    probs = np.array([
        [0.99, 0.01, 0.0],
        [0.8, 0.1, 0.1], [0.2, 0.7, 0.1],   # COVID: found, missed
        [0.1, 0.8, 0.1], [0.6, 0.3, 0.1],   # Normal: right, called COVID
        [0.1, 0.2, 0.7], [0.2, 0.5, 0.3],   # Pneumonia: found, missed
        [0.7, 0.2, 0.1],                    # Other (TB) called COVID
        [np.nan, np.nan, np.nan],           # unreadable
        [0.1, 0.3, 0.6], [0.1, 0.1, 0.8], [0.9, 0.05, 0.05],
    ])
    s = score_fold(f, probs, SCHEME)["argmax"]
    h = s["holdout"]
    assert h["films"] == 7
    assert h["covid_sensitivity"]["value"] == 0.5 and h["covid_sensitivity"]["n"] == 2
    assert h["adult_non_covid_called_covid"]["value"] == pytest.approx(2 / 5)  # Normal x2, Pneu x2, Other
    assert h["adult_pneumonia_recall"]["value"] == 0.5
    # pneumonia-vs-normal AUROC on P(Pneumonia): pneu 0.7, 0.3 vs normal 0.1, 0.1 -> 1.0
    assert h["adult_pneumonia_vs_normal_auroc"]["value"] == pytest.approx(1.0)
    # COVID-vs-rest AUROC on P(COVID): COVID 0.8, 0.2 vs rest 0.1, 0.6, 0.1, 0.2, 0.7 -> (5 + 2.5) / 10
    assert h["covid_auroc"]["value"] == pytest.approx(0.75)
    assert h["called"]["Other"] == {"COVID": 1}
    i = s["internal"]
    assert i["pediatric_normal_called_pneumonia"]["value"] == 1.0
    # internal truth N, P, C vs pred P, P, C: F1 COVID 1, Normal 0, Pneumonia 2/3 -> macro 5/9
    assert i["macro_f1"]["value"] == pytest.approx(5 / 9)


def test_card_external_validation_lists_the_missed_targets(tmp_path):
    import json

    from cxrlab.errors import ConfigError
    from cxrlab.loso.summary import external_validation

    held = {"films": 100, "covid_sensitivity": {"value": 0.95, "n": 40, "ci": [0.83, 0.99]},
            "adult_non_covid_called_covid": {"value": 0.25, "n": 60, "ci": [0.16, 0.37]},
            "adult_pneumonia_recall": {"value": None, "n": 0, "ci": None}}
    fold = {"argmax": {"holdout": held, "internal": {"macro_f1": {"value": 0.9}}},
            "operating_point": {"holdout": held, "internal": {"macro_f1": {"value": 0.91}}}}
    (tmp_path / "loso.json").write_text(json.dumps({"folds": {"site-a": fold}}))
    card = external_validation(tmp_path)
    assert card["folds"]["site-a"]["decision"] == "operating_point"
    assert card["folds"]["site-a"]["internal_macro_f1"] == 0.91 and "adult_pneumonia_recall" not in card["folds"]["site-a"]
    assert card["failure_modes"] == ["site-a (held out): share of adult non-COVID films called COVID 0.25 (target ≤ 0.10)"]
    with pytest.raises(ConfigError, match="run 'cxrlab loso' first"):
        external_validation(tmp_path / "missing")


def test_report_operating_point_table_shows_each_folds_covid_threshold():
    from cxrlab.loso.report import fold_table

    held = {"films": 10, "covid_sensitivity": {"value": 0.8, "n": 10, "ci": [0.49, 0.94]}}
    part = {"holdout": held, "internal": {"macro_f1": {"value": 0.9, "n": 50}}}
    folds = {"site-a": {"argmax": part, "train_minutes": 2.0,
                        "operating_point": {**part, "covid_threshold": 0.0634, "val_sensitivity_target": 0.95}},
             "site-b": {"argmax": part, "operating_point": part, "train_minutes": 1.0}}
    at_op = fold_table(folds, "operating_point")
    assert "COVID threshold (val. sens.)" in at_op and "0.063 (95%)" in at_op
    site_b = at_op.split("<td>site-b</td>")[1].split("</tr>")[0]
    assert site_b.endswith('<td class="n">–</td><td class="n">1.0</td>')  # no threshold: a dash, not a number
    assert "COVID threshold" not in fold_table(folds, "argmax")
