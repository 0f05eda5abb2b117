"""The typed artifacts layer: checkpoint metadata, run folder paths, calibration records, card preprocessing."""

from __future__ import annotations

import json

import pytest

from cxrlab.artifacts.bundle_card import BUNDLE_FORMAT, PREPROCESSING_STEPS, BundleCard, card_preprocess
from cxrlab.artifacts.calibration import calibration_path, read_calibration, write_calibration
from cxrlab.artifacts.checkpoint import make_meta, read_meta, save_checkpoint
from cxrlab.artifacts.checkpoint_meta import CheckpointMeta
from cxrlab.artifacts.evaluation import read_evaluation
from cxrlab.artifacts.run_folder import RunFolder
from cxrlab.config import PreprocessConfig, to_dict
from cxrlab.errors import ConfigError
from cxrlab.labels import LabelScheme, builtin_schemes

#: checkpoint.json as cxrlab wrote it before the artifacts layer (dict fields, no crop options).
OLD_RECORD = {
    "architecture": "cnn-small", "classes": ["COVID", "Normal", "Pneumonia"],
    "label_scheme": {"name": "3class", "classes": ["COVID", "Normal", "Pneumonia"],
                     "mapping": {"COVID": "COVID", "Normal": "Normal", "Pneumonia-Viral": "Pneumonia"}},
    "in_chans": 1, "preprocess": {"size": 64, "resize": "letterbox", "equalize": "clahe"},
    "mean": [0.5], "std": [0.25], "epoch": 4, "metrics": {"val_auc": 0.9}, "config": {}, "temperature": 1.3,
    "thresholds": {"COVID": 0.2}, "versions": {}, "git_commit": "", "created": "2026-01-01T00:00:00+00:00",
    "format_version": 1, "weights_sha256": "abc", "some_future_note": "ignored",
}


def _meta(**kw) -> CheckpointMeta:
    scheme = builtin_schemes()["3class"]
    return make_meta(architecture="cnn-small", classes=scheme.classes, label_scheme=scheme, in_chans=1,
                     preprocess=PreprocessConfig(size=64, equalize="window"), mean=[0.5], std=[0.25], **kw)


def test_label_scheme_dict_round_trip():
    for scheme in builtin_schemes().values():
        assert LabelScheme.from_dict(scheme.to_dict()) == scheme
    with pytest.raises(ConfigError, match="classes"):
        LabelScheme.from_dict({"name": "x", "mapping": {}})


def test_checkpoint_meta_round_trip_is_typed():
    meta = _meta(epoch=2, thresholds={"COVID": 0.4})
    record = json.loads(json.dumps(meta.to_dict()))
    assert record["preprocess"]["equalize"] == "window" and record["label_scheme"]["name"] == "3class"
    again = CheckpointMeta.from_dict(record)
    assert again == meta
    assert isinstance(again.preprocess, PreprocessConfig) and isinstance(again.label_scheme, LabelScheme)


def test_old_checkpoint_json_reads_unchanged(tmp_path):
    meta = CheckpointMeta.from_dict(OLD_RECORD)
    assert meta.preprocess == PreprocessConfig(size=64, resize="letterbox", equalize="clahe")
    assert meta.label_scheme.map("Pneumonia-Viral") == "Pneumonia" and meta.input_size == 64
    assert meta.mean == (0.5,) and meta.temperature == 1.3
    # written back, the JSON keeps the old layout (plus the options it did not name)
    out = meta.to_dict()
    assert out["label_scheme"] == OLD_RECORD["label_scheme"]
    assert {k: out["preprocess"][k] for k in OLD_RECORD["preprocess"]} == OLD_RECORD["preprocess"]
    with pytest.raises(ConfigError, match="newer"):
        CheckpointMeta.from_dict({**OLD_RECORD, "format_version": 99})


def test_run_folder_paths(tmp_path):
    run = RunFolder(tmp_path / "runs" / "r1")
    assert run.checkpoint("best") == tmp_path / "runs/r1/checkpoints/best"
    assert RunFolder.of_checkpoint(run.checkpoint("last")) == run
    assert RunFolder.of_checkpoint(tmp_path / "ck").root == tmp_path / "ck"
    assert run.metrics == run.evaluation / "metrics.json" and run.calibration.parent == run.evaluation
    assert run.split_manifest.name == "split_manifest.csv" and run.history_csv.name == "history.csv"
    assert not run.is_run()


def test_calibration_lives_beside_the_checkpoint_not_in_it(tmp_path):
    from cxrlab.models.registry import create_model

    run = RunFolder(tmp_path / "run")
    folder = save_checkpoint(run.checkpoint("best"), create_model("cnn-small", 3), _meta(temperature=1.2))
    before = (folder / "checkpoint.json").read_text()
    fallback = read_calibration(run.root)
    assert (fallback.temperature, fallback.fitted_on) == (1.2, "checkpoint")  # no record yet: the checkpoint's own
    path = write_calibration(folder, 1.7, {"COVID": 0.3}, "COVID", 0.95)
    assert path == run.calibration == calibration_path(folder)
    assert (folder / "checkpoint.json").read_text() == before
    cal = read_calibration(run.root)
    assert (cal.temperature, cal.thresholds, cal.fitted_on) == (1.7, {"COVID": 0.3}, "validation")
    assert read_meta(run.root).temperature == 1.2
    # retrained weights: the record no longer applies
    save_checkpoint(run.checkpoint("best"), create_model("cnn-small", 3), _meta())
    assert read_calibration(run.root).temperature == 1.0


def test_read_evaluation_summary(tmp_path):
    assert read_evaluation(tmp_path / "missing.json") is None
    (tmp_path / "bad.json").write_text("{")
    assert read_evaluation(tmp_path / "bad.json").note == "metrics.json unreadable"
    (tmp_path / "m.json").write_text(json.dumps({"evaluated": {"name": "test", "external": False},
                                                 "headline": {"auc": {"value": 0.9}}, "bootstrap": {"seed": 0}}))
    summary = read_evaluation(tmp_path / "m.json")
    assert (summary.evaluated_on, summary.external, summary.headline["auc"]["value"]) == ("test", False, 0.9)


def test_card_preprocess_reads_new_and_old_cards():
    new = {"input": {"size": 96, "channels": 1}, "preprocessing": {"resize": "letterbox", "equalize": "none",
                                                                 "crop": "none", "crop_margin": 0.1, "mean": [0.5]}}
    assert card_preprocess(new) == PreprocessConfig(size=96, resize="letterbox")
    old = {"input": {"size": 96, "channels": 1}, "preprocessing": {"size": 96, "resize": "stretch", "equalize": "hist",
                                                                 "mean": [0.5], "std": [0.25], "steps": "..."}}
    assert card_preprocess(old) == PreprocessConfig(size=96, equalize="hist")


def _card_json(**preprocessing):
    return {"format": BUNDLE_FORMAT, "format_version": 2, "name": "run", "created": "2026-01-01T00:00:00+00:00",
            "cxrlab_version": "0", "intended_use": "research", "limitations": ["a", "b"], "architecture": "resnet18",
            "classes": ["COVID", "Normal"],
            "label_scheme": {"name": "2class", "classes": ["COVID", "Normal"], "mapping": {"COVID": "COVID"}},
            "input": {"name": "input", "shape": ["batch", 1, 96, 96], "dtype": "float32", "size": 96, "channels": 1},
            "preprocessing": {**to_dict(PreprocessConfig(size=96, resize="letterbox")), "mean": [0.5], "std": [0.25],
                              "steps": PREPROCESSING_STEPS, **preprocessing},
            "pretrained_weights": {"file": "w"}, "temperature": 1.7, "thresholds": {"COVID": 0.4},
            "metrics": {"evaluation": None}, "training_data": None, "source": {"epoch": 3},
            "outputs": {"logits": "raw"}, "heatmap": {"available": True}, "site_calibration": {"site": "x"}}


def test_bundle_card_round_trips_its_json():
    record = _card_json()
    del record["preprocessing"]["size"]
    card = BundleCard.from_dict(record)
    assert card.to_dict() == record and list(card.to_dict()) == list(record)
    assert BundleCard.from_dict(json.loads(json.dumps(card.to_dict()))) == card
    assert (card.classes, card.input_size, card.in_chans, card.mean, card.std) == (("COVID", "Normal"), 96, 1, (0.5,), (0.25,))
    assert card.preprocess == PreprocessConfig(size=96, resize="letterbox") and card.label_scheme.name == "2class"
    assert (card.temperature, card.thresholds, card.name) == (1.7, {"COVID": 0.4}, "run")
    assert list(card.extra) == ["outputs", "heatmap", "site_calibration"]


def test_bundle_card_reads_format_1_cards_and_refuses_bad_ones():
    old = {**_card_json(size=64), "format_version": 1}
    card = BundleCard.from_dict(old)
    assert card.preprocess.size == 96 == card.input_size and card.format_version == 1
    assert "size" not in card.to_dict()["preprocessing"]
    with pytest.raises(ConfigError, match="missing field 'classes'"):
        BundleCard.from_dict({k: v for k, v in old.items() if k != "classes"})
    with pytest.raises(ConfigError, match="newer"):
        BundleCard.from_dict({**old, "format_version": 99})
