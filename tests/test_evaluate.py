"""End to end: a tiny trained run -> evaluate / shortcut-check / compare (library and CLI)."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from cxrlab.artifacts.calibration import read_calibration
from cxrlab.artifacts.checkpoint import read_meta
from cxrlab.cli import build_app, main
from cxrlab.data.manifest import read_manifest, write_manifest
from cxrlab.evaluate.pipeline import EvaluateOptions, evaluate_run

from helpers_evaluate import make_run

FAST = EvaluateOptions(n_boot=60, gallery=4)


@pytest.fixture(scope="module")
def base_run(tmp_path_factory) -> Path:
    return make_run(tmp_path_factory.mktemp("evalrun"))


@pytest.fixture
def run(base_run, tmp_path) -> Path:
    """A private copy of data + run (evaluation writes into the run and its checkpoint; the split
    manifest's paths are relative, so the data moves along)."""
    root = base_run.parent.parent
    shutil.copytree(root / "data", tmp_path / "data")
    shutil.copytree(base_run, tmp_path / "runs" / base_run.name)
    return tmp_path / "runs" / base_run.name


def test_evaluate_writes_metrics_predictions_and_stores_calibration(run, tmp_path):
    out = evaluate_run(run, cache_root=tmp_path / "cache", options=FAST)
    assert out == run / "evaluation"
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["evaluated"]["name"] == "test" and not metrics["evaluated"]["external"]
    assert metrics["unit"] == "group" and metrics["n_units"] < metrics["n_images"]
    for cell in metrics["headline"].values():
        assert cell["low"] <= cell["value"] <= cell["high"]
    assert set(metrics["per_class"]) == {"COVID", "Normal", "Pneumonia"}
    assert sum(map(sum, metrics["confusion_matrix"])) == metrics["n_images"]
    # temperature and COVID threshold were fitted on validation and written into evaluation/calibration.json
    meta = read_calibration(run)
    fit = metrics["calibration_fit"]
    assert fit["fitted_on_validation"] and meta.temperature == pytest.approx(fit["temperature"])
    assert meta.thresholds["COVID"] == pytest.approx(fit["threshold"])
    assert metrics["operating_point"]["threshold"] == pytest.approx(fit["threshold"])
    preds = pd.read_csv(out / "predictions.csv")
    assert len(preds) == metrics["n_images"]
    probs = preds[["prob_COVID", "prob_Normal", "prob_Pneumonia"]].to_numpy()
    assert np.allclose(probs.sum(axis=1), 1.0, atol=1e-4)
    assert (preds["predicted"] == preds["true"]).mean() == pytest.approx(metrics["headline"]["accuracy"]["value"])
    # the shortcut section sees the built-in confounding (COVID only in clinic, Pneumonia only in kids)
    assert any("confounded" in w for w in metrics["shortcut"]["warnings"])


def test_report_is_one_self_contained_file(run):
    out = evaluate_run(run, options=FAST)
    page = (out / "report.html").read_text()
    assert "<script" not in page.lower()
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", page)
    assert page.count("data:image/png;base64,") >= 6  # confusion, ROC/PR, reliability, balance, curves, gallery...
    for heading in ("Per-class metrics", "Confusion matrix", "Calibration", "Operating point",
                    "Per-source breakdown", "Shortcut check", "Training curves", "Most confident mistakes"):
        assert heading in page
    assert "Grad-CAM heatmap of the predicted class" in page  # the mistakes carry their heatmaps


def test_no_calibrate_keeps_the_stored_temperature(run):
    from cxrlab.artifacts.checkpoint import update_meta

    update_meta(run, temperature=1.7, thresholds={"COVID": 0.3})
    out = evaluate_run(run, options=EvaluateOptions(n_boot=0, calibrate=False, shortcut=False, gallery=0))
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["calibration"]["temperature"] == 1.7
    assert metrics["operating_point"]["threshold"] == 0.3
    assert read_meta(run).temperature == 1.7
    assert metrics["headline"]["accuracy"]["low"] is None  # no bootstrap asked for


@pytest.mark.slow
def test_external_source_is_reported_side_by_side(run):
    df = read_manifest(run / "split_manifest.csv")
    df.loc[(df["source"] == "kids") & (df["split"] == "test"), "split"] = "external"
    write_manifest(df, run / "split_manifest.csv")
    # kids' train/val rows stay, so this is a held-out *split* of a known source; hold the source out fully
    df = df[~((df["source"] == "kids") & df["split"].isin(["train", "val"]))]
    write_manifest(df, run / "split_manifest.csv")
    out = evaluate_run(run, options=EvaluateOptions(split="external", n_boot=60, gallery=2))
    assert out == run / "evaluation-external"
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["evaluated"]["external"]
    assert metrics["internal"]["n_images"] > 0
    assert metrics["comparison"]["verdict"]
    page = (out / "report.html").read_text()
    assert "Internal vs external validation" in page
    preds = pd.read_csv(out / "predictions.csv")
    assert set(preds["set"]) == {"external", "test"}


@pytest.mark.slow
def test_cli_evaluate_shortcut_check_and_compare(run, tmp_path):
    runner = CliRunner()
    app = build_app()
    result = runner.invoke(app, ["evaluate", str(run), "--bootstrap", "40", "--gallery", "2", "--cache", str(tmp_path / "c")])
    assert result.exit_code == 0, result.output
    assert "balanced accuracy" in result.output and "report.html" in result.output
    result = runner.invoke(app, ["shortcut-check", str(run), "--cache", str(tmp_path / "c")])
    assert result.exit_code == 0, result.output
    assert "Cramér's V" in result.output and (run / "shortcut" / "shortcut.html").exists()
    shortcut = json.loads((run / "shortcut" / "shortcut.json").read_text())
    assert shortcut["balance"]["table"]["clinic"]["Pneumonia"] == 0
    other = tmp_path / "runs" / "other"
    shutil.copytree(run, other)
    shutil.rmtree(other / "evaluation")
    result = runner.invoke(app, ["compare", str(run), str(other), "--out", str(tmp_path / "cmp"), "--bootstrap", "30",
                                 "--cache", str(tmp_path / "c")])
    assert result.exit_code == 0, result.output
    summary = json.loads((tmp_path / "cmp" / "compare.json").read_text())
    assert [r["name"] for r in summary["runs"]] == [run.name, "other"]
    diff = summary["paired_differences"]["other"]
    assert diff["auc"]["value"] == 0.0 and diff["auc"]["low"] == 0.0  # the same model: no difference
    assert "ROC: COVID vs rest" not in (tmp_path / "cmp" / "compare.html").read_text()  # titles are in the PNG


def test_cli_errors_are_plain_messages(tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["evaluate", str(tmp_path / "missing-run")])
    assert exc.value.code == 2
    err = " ".join(capsys.readouterr().err.split())
    assert "no checkpoint found" in err and "Traceback" not in err
