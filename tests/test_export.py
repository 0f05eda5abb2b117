"""Bundles: export parity, card contents, dynamic batch, checksum refusal, nothing unpickled,
loading without torch."""

from __future__ import annotations

import json
import pickle
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
import torch
from typer.testing import CliRunner

from cxrlab.cli import build_app
from cxrlab.data.preprocess import to_model_input
from cxrlab.export.bundle import export_bundle, parity_inputs
from cxrlab.export.bundle_file import BundleError, read_bundle
from cxrlab.export.onnx_graph import ExportError
from cxrlab.models.loading import load_checkpoint
from cxrlab.predict.predictor import Predictor

from helpers_deploy import SIZE, film, make_run, predict_images, single_thread_torch, write_evaluation

_one_thread = pytest.fixture(scope="module", autouse=True)(single_thread_torch)


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    root = tmp_path_factory.mktemp("export")
    run = make_run(root / "run", thresholds={"COVID": 0.4}, temperature=1.7)
    (run / "split_manifest.csv").write_text(
        "path,label,source,patient_id,split\n"
        "a.png,COVID,s1,p1,train\nb.png,Normal,s2,p2,train\nc.png,Normal,s2,p3,val\nd.png,Pneumonia,s1,p1,test\n")
    write_evaluation(run)
    report = export_bundle(run, root / "model.cxrlab")
    return run, report


def test_export_matches_pytorch_and_writes_a_complete_card(exported):
    run, report = exported
    assert report.exporter == "torchscript" and report.heatmaps
    assert report.parity.logits_max_abs_diff < 1e-4 and report.parity.cams_max_rel_diff < 1e-4
    assert report.parity.features_max_rel_diff < 1e-4
    bundle = read_bundle(report.path)
    card = bundle.card.to_dict()
    assert card["classes"] == ["COVID", "Normal", "Pneumonia"] and card["label_scheme"]["name"] == "3class"
    assert card["temperature"] == 1.7 and card["thresholds"] == {"COVID": 0.4}
    assert card["input"]["size"] == SIZE and card["preprocessing"]["resize"] == "stretch"
    assert card["preprocessing"]["mean"] == [0.5] and card["preprocessing"]["std"] == [0.25]
    assert "not a medical device" in card["intended_use"]
    assert any("shortcut" in text.lower() for text in card["limitations"])
    assert card["metrics"]["evaluation"]["headline"]["auc"] == {"value": 0.81, "low": 0.75, "high": 0.86}
    assert card["metrics"]["validation_during_training"] == {"val_accuracy": 0.5}
    data = card["training_data"]
    assert data["images"] == 4 and data["patients"] == 3 and data["by_split"] == {"test": 1, "train": 2, "val": 1}
    assert data["labels_by_split"]["train"] == {"COVID": 1, "Normal": 1}
    assert card["export"]["parity"]["logits_max_abs_diff"] == report.parity.logits_max_abs_diff
    with zipfile.ZipFile(report.path) as zf:
        assert sorted(zf.namelist()) == ["SHA256SUMS", "card.json", "model.onnx"]


def test_onnx_graph_has_a_dynamic_batch_and_equals_torch_on_real_preprocessing(exported):
    run, report = exported
    model, meta = load_checkpoint(run)
    session = ort.InferenceSession(read_bundle(report.path).onnx, providers=["CPUExecutionProvider"])
    for n in (1, 7):
        x = to_model_input(np.stack([film("COVID", i, SIZE) for i in range(n)]), meta.mean, meta.std)
        assert [o.name for o in session.get_outputs()] == ["logits", "cams", "features"]
        logits, cams, features = session.run(["logits", "cams", "features"], {"input": x})
        with torch.no_grad():
            expected = model(torch.from_numpy(x)).numpy()
            pooled = model.forward_head(model.forward_features(torch.from_numpy(x)), pre_logits=True).numpy()
        assert logits.shape == (n, 3) and cams.shape[:2] == (n, 3) and features.shape == (n, 256)
        assert np.abs(logits - expected).max() < 1e-4 and np.abs(features - pooled).max() < 1e-4
    assert parity_inputs(meta).shape == (5, 1, SIZE, SIZE)


def test_export_fails_when_onnx_and_pytorch_disagree(tmp_path):
    run = make_run(tmp_path / "run")
    with pytest.raises(ExportError, match="disagrees with PyTorch"):
        export_bundle(run, tmp_path / "m.cxrlab", tolerance=1e-12)
    assert not (tmp_path / "m.cxrlab").exists()


def _rewrite(src: str, dst: Path, change) -> Path:
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        members = {name: zin.read(name) for name in zin.namelist()}
        for name, data in change(members).items():
            zout.writestr(name, data)
    return dst


def test_tampered_or_broken_bundles_are_refused(exported, tmp_path):
    _, report = exported

    def flip_model(m):
        data = bytearray(m["model.onnx"])
        data[len(data) // 2] ^= 0xFF
        return {**m, "model.onnx": bytes(data)}

    def edit_card(m):
        card = json.loads(m["card.json"])
        card["thresholds"] = {"COVID": 0.01}
        return {**m, "card.json": json.dumps(card).encode()}

    with pytest.raises(BundleError, match="checksum mismatch for model.onnx"):
        read_bundle(_rewrite(report.path, tmp_path / "a.cxrlab", flip_model))
    with pytest.raises(BundleError, match="checksum mismatch for card.json"):
        Predictor.from_bundle(_rewrite(report.path, tmp_path / "b.cxrlab", edit_card))
    with pytest.raises(BundleError, match="not listed"):
        read_bundle(_rewrite(report.path, tmp_path / "c.cxrlab", lambda m: {**m, "extra.pkl": b"x"}))
    with pytest.raises(BundleError, match="missing SHA256SUMS"):
        read_bundle(_rewrite(report.path, tmp_path / "d.cxrlab", lambda m: {k: v for k, v in m.items() if k != "SHA256SUMS"}))
    (tmp_path / "e.cxrlab").write_bytes(b"PK not really a zip")
    with pytest.raises(BundleError, match="not a zip"):
        read_bundle(tmp_path / "e.cxrlab")
    with pytest.raises(BundleError, match="not found"):
        read_bundle(tmp_path / "missing.cxrlab")


def test_loading_a_bundle_unpickles_nothing(exported, monkeypatch):
    _, report = exported

    def refuse(*args, **kwargs):
        raise AssertionError("something was unpickled")

    monkeypatch.setattr(pickle, "loads", refuse)
    monkeypatch.setattr(pickle, "load", refuse)
    monkeypatch.setattr(pickle, "Unpickler", refuse)
    monkeypatch.setattr(torch, "load", refuse)
    predictor = Predictor.from_bundle(report.path)
    assert len(predict_images(predictor, [film()])) == 1


def test_bundle_loads_and_predicts_without_torch(exported):
    _, report = exported
    code = (
        "import sys; sys.modules['torch'] = None\n"  # any 'import torch' now fails
        "from cxrlab.predict.predictor import Predictor\n"
        "import numpy as np\n"
        f"p = Predictor.from_bundle({report.path!r})\n"
        "from cxrlab.data.preprocess import preprocess\n"
        "v = preprocess(np.full((50, 40), 100, np.uint8), p.preprocess_config)\n"
        "r = p.predict_views(np.stack([v]), heatmaps=True)[0]\n"
        "assert r.heatmap.shape == (p.size, p.size)\n"
        "print(r.label)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() in ("COVID", "Normal", "Pneumonia")


def test_models_whose_head_is_not_pool_linear_export_without_heatmaps(tmp_path):
    run = make_run(tmp_path / "run", arch="mobilenetv3_large_100", size=64)
    report = export_bundle(run, tmp_path / "m.cxrlab")
    assert not report.heatmaps and report.parity.logits_max_abs_diff < 1e-4
    predictor = Predictor.from_bundle(report.path)
    assert predictor.card.to_dict()["heatmap"]["available"] is False
    assert predict_images(predictor, [film()], heatmaps=True)[0].heatmap is None


def test_a_fixed_input_size_token_model_trains_at_its_size_and_exports_without_bundle_heatmaps(tmp_path):
    run = make_run(tmp_path / "run", arch="vit_tiny_patch16_224", size=32)  # timm would refuse 32 px without img_size
    model, meta = load_checkpoint(run)
    with torch.no_grad():
        assert model(torch.zeros(2, 1, 32, 32)).shape == (2, 3)
    report = export_bundle(run, tmp_path / "m.cxrlab")
    assert not report.heatmaps and report.parity.logits_max_abs_diff < 1e-4
    predictor = Predictor.from_bundle(report.path)
    heatmap = predictor.card.to_dict()["heatmap"]
    # a class-token head is not pool + linear: no CAM in the graph, Grad-CAM through 'cxrlab explain'
    assert heatmap["layer"] == "blocks.11.norm1" and "cxrlab explain" in heatmap["method"]
    assert len(predict_images(predictor, [film(), film("Normal", 1)])) == 2


@pytest.mark.slow
def test_dynamo_exporter_also_passes_parity(tmp_path):
    report = export_bundle(make_run(tmp_path / "run"), tmp_path / "m.cxrlab", exporter="dynamo")
    assert report.exporter == "dynamo" and report.parity.logits_max_abs_diff < 1e-4


def test_export_cli_reports_parity_and_writes_the_bundle(tmp_path):
    run = make_run(tmp_path / "run")
    out = tmp_path / "m.cxrlab"
    result = CliRunner().invoke(build_app(), ["export", str(run), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "max |logit diff|" in result.output and out.exists()
    assert read_bundle(out).card.to_dict()["name"] == "run"
