"""Re-calibration with a few labels: temperature and threshold refitted with honest intervals, a new
bundle with the same ONNX graph, label tables in the forms users have."""

from __future__ import annotations

import numpy as np
import pytest
from typer.testing import CliRunner

from cxrlab.cli import build_app
from cxrlab.export.bundle import export_bundle
from cxrlab.export.bundle_file import PROFILE_FILE, read_bundle
from cxrlab.predict.predictor import Predictor
from cxrlab.site.inputs import SiteError
from cxrlab.site.labelled import evaluate_on_labels, read_labels
from cxrlab.site.recalibrate import RecalibrateOptions, recalibrate_bundle, refit, refit_intervals

from helpers_deploy import single_thread_torch
from helpers_site import labels_csv, make_site_run, washed_out, write_films

_one_thread = pytest.fixture(scope="module", autouse=True)(single_thread_torch)
CLASSES = ("COVID", "Normal", "Pneumonia")


@pytest.fixture(scope="module")
def labelled(tmp_path_factory):
    root = tmp_path_factory.mktemp("recal")
    run = make_site_run(root, films=60)
    from cxrlab.artifacts.checkpoint import update_meta

    update_meta(run, temperature=1.7, thresholds={"COVID": 0.4})
    bundle = export_bundle(run, root / "model.cxrlab").path
    items = write_films(root / "site" / "films", 45, 70_000, washed_out)
    csv = labels_csv(root / "site" / "labels.csv", items, root=root / "site")  # relative paths
    return root, bundle, csv


def _overconfident(n: int = 300, scale: float = 3.0, seed: int = 0):
    """Binary logits whose calibrated version is known: softmax(logits / scale) is calibrated."""
    rng = np.random.default_rng(seed)
    z = rng.normal(0, 2.0, n)
    targets = (rng.random(n) < 1 / (1 + np.exp(-z))).astype(np.int64)  # P(class 1) = sigmoid(z)
    logits = np.column_stack([np.zeros(n), z * scale])
    return logits, targets


def test_refit_recovers_a_known_temperature_and_its_intervals_cover_it():
    logits, targets = _overconfident()
    temperature, threshold = refit(logits, targets, 1, 0.9)
    assert temperature == pytest.approx(3.0, rel=0.2) and 0 < threshold < 1
    spread = refit_intervals(logits, targets, np.arange(len(targets)), 1, 0.9, n_boot=200, seed=0)
    t, thr, sens = spread["temperature"], spread["threshold"], spread["sensitivity"]
    assert t["low"] < 3.0 < t["high"] and t["high"] - t["low"] < 2.5
    assert thr["low"] < threshold < thr["high"]
    # out-of-bag sensitivity of a rule tuned to 90% in-bag: near 90%, with an honest spread
    assert 0.8 < sens["median"] < 0.95 and sens["low"] < 0.9 and sens["resamples"] == 200
    few_logits, few_targets = logits[:40], targets[:40].copy()
    few_targets[:] = 0
    few_targets[:3] = 1  # only 3 positives: no threshold
    assert refit(few_logits, few_targets, 1, 0.9)[1] is None


def test_recalibrated_bundle_keeps_the_graph_and_records_the_fit_with_intervals(labelled, tmp_path):
    root, bundle, csv = labelled
    report = recalibrate_bundle(bundle, csv, tmp_path / "site.cxrlab", RecalibrateOptions(n_boot=100, site_name="H1"))
    old, new = read_bundle(bundle), read_bundle(report.path)
    assert new.onnx == old.onnx and new.extras[PROFILE_FILE] == old.extras[PROFILE_FILE]
    assert new.sha256["model.onnx"] == old.sha256["model.onnx"] and new.sha256["card.json"] != old.sha256["card.json"]
    rec = new.card.to_dict()["site_calibration"]
    assert rec["site"] == "H1" and rec["films"] == 45 and rec["by_class"] == {"COVID": 15, "Normal": 15, "Pneumonia": 15}
    assert rec["replaced"] == {"temperature": 1.7, "threshold": 0.4} and rec["target_class"] == "COVID"
    assert new.card.to_dict()["temperature"] == rec["temperature"]["value"] != 1.7
    assert new.card.to_dict()["thresholds"]["COVID"] == rec["threshold"]["value"] and rec["threshold"]["refitted"]
    for key in ("temperature", "threshold"):
        cell = rec[key]
        assert cell["low"] <= cell["value"] <= cell["high"], (key, cell)
    for key in ("expected_sensitivity", "expected_specificity"):
        assert set(rec[key]) == {"value", "low", "high", "in_sample"}
    assert rec["before"]["temperature"] == 1.7 and rec["after"]["temperature"] == new.card.to_dict()["temperature"]
    assert rec["after"]["sensitivity"]["value"] >= 0.95  # in-sample, by construction
    assert rec["bootstrap"] == {"resamples": 100, "seed": 0, "unit": "film"}
    assert any("rests on 15 COVID films" in w for w in report.warnings)
    assert new.card.to_dict()["name"].endswith("-recalibrated") and "one site" in new.card.to_dict()["limitations"][-1]
    predictor = Predictor.from_bundle(report.path)
    assert predictor.temperature == new.card.to_dict()["temperature"] and predictor.thresholds["COVID"] == rec["threshold"]["value"]


def test_too_few_labels_are_refused_unless_forced(labelled, tmp_path):
    root, bundle, csv = labelled
    lines = csv.read_text().splitlines()
    small = tmp_path / "small.csv"
    small.write_text("\n".join(lines[:1] + [f"{root / 'site'}/{line}" for line in lines[1:13]]) + "\n")
    with pytest.raises(SiteError, match=r"only 12 usable labelled films.*--force"):
        recalibrate_bundle(bundle, small, tmp_path / "s.cxrlab")
    report = recalibrate_bundle(bundle, small, tmp_path / "s.cxrlab", RecalibrateOptions(force=True, n_boot=20))
    assert report.record["threshold"]["refitted"] is False  # 4 COVID films: threshold kept
    assert read_bundle(report.path).card.to_dict()["thresholds"]["COVID"] == 0.4
    assert any("not refitted" in w for w in report.warnings)


def test_label_tables_accept_dataset_label_text_and_patient_ids(tmp_path):
    (tmp_path / "a.png").write_bytes(b"")
    table = tmp_path / "labels.csv"
    table.write_text("Path,Diagnosis,patient_id\na.png,COVID-19,P1\n/x/b.png,normal,P1\nc.png,cat,P2\nd.png,pneumonia,\n")
    scheme = {"name": "3class", "classes": list(CLASSES),
              "mapping": {"COVID": "COVID", "Normal": "Normal", "Pneumonia": "Pneumonia"}}
    rows, excluded, origin = read_labels(table, CLASSES, scheme)
    assert rows["class"].tolist() == ["COVID", "Normal", "Pneumonia"] and rows["target"].tolist() == [0, 1, 2]
    assert rows["path"].tolist() == [str(tmp_path.resolve() / "a.png"), "/x/b.png", str(tmp_path.resolve() / "d.png")]
    assert rows["unit"].tolist()[:2] == ["P1", "P1"] and excluded == {"label 'cat' is not a class of this model": 1}
    with pytest.raises(SiteError, match="no label column"):
        read_labels(__import__("pandas").DataFrame({"file": ["a.png"]}), CLASSES)


def test_evaluate_on_labels_and_the_cli(labelled, tmp_path):
    root, bundle, csv = labelled
    scores = evaluate_on_labels(bundle, csv, n_boot=50)
    assert scores["n"] == 45 and scores["positives"] == 15 and scores["threshold"] == 0.4
    assert scores["auc"]["low"] <= scores["auc"]["value"] <= scores["auc"]["high"]
    assert "sensitivity" in scores and "ece" in scores
    out = tmp_path / "cli.cxrlab"
    result = CliRunner().invoke(build_app(), ["recalibrate", str(bundle), str(csv), "--out", str(out), "--n-boot", "50"])
    assert result.exit_code == 0, result.output
    assert "temperature 1.700 ->" in result.output and "COVID threshold 0.4000 ->" in result.output
    assert "95% interval" in result.output and out.exists()
