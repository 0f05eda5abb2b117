"""``cxrlab segment train`` / ``predict`` end to end on SYNTHETIC films (tiny model, few seconds)."""

from __future__ import annotations

import importlib.util
import json

import numpy as np
import pytest
from PIL import Image

from cxrlab.cli import main
from cxrlab.data.manifest import read_manifest
from cxrlab.segment.predict import BOX_COLUMNS
from tests.helpers_segment import write_manifest_for, write_pairs


def _err(capsys) -> str:
    """stderr with Rich's line wrapping undone."""
    return " ".join(capsys.readouterr().err.split())


def _ok(argv: list[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 0


@pytest.mark.slow
def test_segment_train_then_predict_writes_boxes(tmp_path, capsys, one_thread):
    data, masks = write_pairs(tmp_path, 10, size=64)
    manifest = write_manifest_for(data, tmp_path / "work" / "manifest.csv")
    out = tmp_path / "seg"
    _ok(["segment", "train", "--manifest", str(manifest), "--masks", str(masks), "--out", str(out),
         "--epochs", "2", "--size", "32", "--width", "4", "--batch-size", "4", "--val-fraction", "0.3", "--threads", "1"])
    for name in ("checkpoint/segmenter.json", "checkpoint/weights.safetensors", "pairs.csv", "history.csv", "val_sheet.png"):
        assert (out / name).is_file(), name
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["matched"] == 10 and metrics["masks_total"] == 10
    assert 0.0 <= metrics["val_dice"] <= 1.0 and metrics["val_films"] + metrics["train_films"] == 10
    assert "val Dice" in capsys.readouterr().out

    _ok(["segment", "predict", str(out), "--manifest", str(manifest), "--threads", "1"])
    result = read_manifest(tmp_path / "work" / "manifest_lungs.csv")
    assert len(result) == 10 and set(BOX_COLUMNS) <= set(result.columns)
    assert (result["lung_x0"] <= result["lung_x1"]).all() and result["lung_x1"].between(0, 1).all()
    sheet = np.asarray(Image.open(tmp_path / "work" / "manifest_lungs_sheet.png"))
    assert sheet.ndim == 3 and sheet.shape[2] == 3


def test_segment_train_without_masks_or_package_is_a_clear_error(tmp_path, monkeypatch, capsys):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "torchxrayvision" else real(name, *a))
    data, _ = write_pairs(tmp_path, 2, size=32)
    with pytest.raises(SystemExit) as info:
        main(["segment", "train", "--data", str(data), "--out", str(tmp_path / "seg")])
    assert info.value.code == 2
    err = _err(capsys)
    assert "pip install 'cxrlab[segment]'" in err and "--masks" in err and "Traceback" not in err


def test_segment_predict_on_missing_run_is_a_clear_error(tmp_path, capsys):
    with pytest.raises(SystemExit) as info:
        main(["segment", "predict", str(tmp_path / "nothing"), "--manifest", str(tmp_path / "m.csv")])
    assert info.value.code == 2 and "no lung segmenter" in _err(capsys)


def test_too_few_matches_is_a_clear_error(tmp_path, capsys):
    data, masks = write_pairs(tmp_path, 3, size=32)
    with pytest.raises(SystemExit):
        main(["segment", "train", "--data", str(data), "--masks", str(masks), "--out", str(tmp_path / "seg")])
    assert "only 3 film(s) match a mask" in _err(capsys)
