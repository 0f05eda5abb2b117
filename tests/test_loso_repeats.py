"""``cxrlab loso --repeats``: a fold's training seeds combined into means and ranges, shown as such."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from cxrlab.cli import build_app
from cxrlab.data.manifest import read_manifest, write_manifest
from cxrlab.loso.repeats import combine_repeats
from cxrlab.loso.report import cell, fold_table, threshold_cell, verdict

from test_loso import fake_sources


def _run(sens_hits: int, called: float, f1: float, threshold: float, minutes: float, covid_called: int) -> dict:
    held = {"films": 20, "covid_sensitivity": {"value": sens_hits / 10, "n": 10, "ci": [0.1, 0.9]},
            "adult_non_covid_called_covid": {"value": called, "n": 10, "ci": [0.0, 0.4]},
            "covid_auroc": {"value": None, "n_pos": 10, "n_neg": 0},
            "called": {"COVID": {"COVID": covid_called, "Normal": 10 - covid_called}}}
    part = {"holdout": held, "internal": {"films": 50, "macro_f1": {"value": f1, "n": 50}}}
    return {"argmax": part, "operating_point": {**part, "covid_threshold": threshold, "val_sensitivity_target": 0.95},
            "train_minutes": minutes, "epochs": 6, "holdout": "site-a", "run": f"runs/{minutes}"}


def test_repeats_average_every_measure_keep_the_seed_values_and_sum_the_calls():
    combined = combine_repeats([_run(9, 0.0, 0.80, 0.10, 10.0, 9), _run(7, 0.2, 0.70, 0.30, 12.0, 7)], [0, 1])
    op = combined["operating_point"]
    sens = op["holdout"]["covid_sensitivity"]
    assert sens["value"] == pytest.approx(0.8) and sens["seed_values"] == [0.9, 0.7] and sens["seed_range"] == [0.7, 0.9]
    assert sens["n"] == 10 and "ci" not in sens  # one run's interval says nothing about the mean
    assert op["holdout"]["adult_non_covid_called_covid"]["value"] == pytest.approx(0.1)
    assert op["internal"]["macro_f1"]["value"] == pytest.approx(0.75)
    assert op["holdout"]["covid_auroc"]["value"] is None and op["holdout"]["covid_auroc"]["seed_range"] is None
    assert op["holdout"]["called"] == {"COVID": {"COVID": 16, "Normal": 4}}
    assert op["covid_threshold"] == pytest.approx(0.2) and op["covid_threshold_seed_values"] == [0.1, 0.3]
    assert combined["train_minutes"] == pytest.approx(11.0) and combined["epochs"] == 6
    assert combined["repeats"] == {"seeds": [0, 1], "runs": ["runs/10.0", "runs/12.0"]}
    with pytest.raises(ValueError):
        combine_repeats([_run(9, 0.0, 0.8, 0.1, 1.0, 9)], [0, 1])


def test_report_shows_means_with_seed_ranges_and_names_targets_met_by_some_seeds_only():
    combined = combine_repeats([_run(10, 0.0, 0.80, 0.10, 10.0, 10), _run(8, 0.1, 0.70, 0.30, 12.0, 8)], [3, 4])
    held = combined["operating_point"]["holdout"]
    assert cell(held["covid_sensitivity"]) == "0.90 (seeds 0.80–1.00) n=10"
    assert threshold_cell(combined["operating_point"]) == "0.200 (95%), seeds 0.100–0.300"
    assert "0.90 (seeds 0.80–1.00) n=10" in fold_table({"site-a": combined}, "operating_point")
    warn = verdict({"site-a": combined})
    assert "some training seeds only" in warn and "COVID sensitivity down to 0.80" in warn
    single = _run(10, 0.0, 0.8, 0.1, 1.0, 10)
    assert cell(single["operating_point"]["holdout"]["covid_sensitivity"]) == "1.00 (0.10–0.90) n=10"
    assert "within the targets" in verdict({"site-a": single})


def test_loso_repeats_train_each_fold_per_seed_on_one_split(tmp_path):
    df = fake_sources(tmp_path / "data")
    manifest = write_manifest(df, tmp_path / "work" / "manifest.csv")
    out = tmp_path / "loso"
    args = ["loso", "--manifest", str(manifest), "--out", str(out), "--holdout", "ieee8023-covid-chestxray",
            "--repeats", "2", "--seed", "5", "--size", "32", "--epochs", "1", "--threads", "1", "--no-progress",
            "--model", "cnn-small", "--set", "samples_per_epoch=0", "--set", "data.cache_workers=1",
            "--set", "batch_size=16", "--set", f"data.cache_dir={tmp_path / 'cache'}"]
    result = CliRunner().invoke(build_app(), args)
    assert result.exit_code == 0, result.output
    fold = out / "ieee8023-covid-chestxray"
    first, second = (json.loads((f / "scores.json").read_text()) for f in (fold, fold / "seed-6"))
    splits = [read_manifest(f / "fold_manifest.csv")[["path", "split"]] for f in (fold, fold / "seed-6")]
    assert splits[0].equals(splits[1])  # the same split: only the training seed differs
    summary = json.loads((out / "loso.json").read_text())
    assert summary["train_seeds"] == [5, 6]
    combined = summary["folds"]["ieee8023-covid-chestxray"]
    assert combined == json.loads((fold / "repeats.json").read_text())
    sens = combined["argmax"]["holdout"]["covid_sensitivity"]
    each = [s["argmax"]["holdout"]["covid_sensitivity"]["value"] for s in (first, second)]
    assert sens["seed_values"] == each and sens["value"] == pytest.approx(sum(each) / 2)
    config = [(fold / f / "run" / "config.yaml").read_text() for f in (".", "seed-6")]
    assert "seed: 5" in config[0] and "seed: 6" in config[1]
    assert "2 training seeds" in (out / "report.html").read_text()
    bad = CliRunner().invoke(build_app(), [*args[:7], "--repeats", "0"])
    assert bad.exit_code != 0 and "repeats" in bad.output.lower()
