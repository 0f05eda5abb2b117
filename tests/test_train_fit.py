"""End-to-end training on tiny synthetic films (real cache, real model, CPU)."""

import json

import pytest
import torch
from helpers_train import make_manifest, tiny_overrides

from cxrlab.artifacts.checkpoint import load_train_state, read_meta
from cxrlab.cli import main
from cxrlab.data.manifest import read_manifest
from cxrlab.models.loading import load_checkpoint
from cxrlab.train.config import load_train_config
from cxrlab.train.fit import fit

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("one_thread")]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("fit")
    make_manifest(root, per_class=30, size=64)
    cfg = load_train_config(None, tiny_overrides(root, epochs=6, size=64) + [
        "optim.lr=1e-3", "patience=0", "augment.enabled=false"])
    return root, fit(cfg)


def test_run_folder_layout_and_learning(trained):
    root, run = trained
    for name in ("config.yaml", "split_manifest.csv", "history.csv", "history.json", "curves.png", "log.txt"):
        assert (run / name).exists(), name
    assert (run / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    history = json.loads((run / "history.json").read_text())
    assert [r["epoch"] for r in history] == [1, 2, 3, 4, 5, 6]
    assert {"train_loss", "val_loss", "val_accuracy", "val_macro_f1", "val_auc", "val_recall_COVID", "lr"} <= set(history[0])
    assert history[-1]["train_loss"] < 0.5 * history[0]["train_loss"]
    assert max(r["val_auc"] for r in history) > 0.85  # chance is 0.5: it learned the synthetic findings
    split = read_manifest(run / "split_manifest.csv")
    assert set(split["split"]) == {"train", "val", "test"} and len(split) == 90


def test_checkpoints_describe_themselves(trained):
    root, run = trained
    model, meta = load_checkpoint(run)
    assert meta.architecture == "cnn-small" and meta.classes == ("COVID", "Normal", "Pneumonia")
    assert meta.input_size == 64 and meta.mean == (0.5,) and meta.std == (0.25,) and meta.in_chans == 1
    assert meta.label_scheme.name == "3class" and meta.config["optim"]["lr"] == pytest.approx(1e-3)
    assert meta.git_commit and meta.versions["torch"] and "val_macro_f1" in meta.metrics
    history = json.loads((run / "history.json").read_text())
    best = max(history, key=lambda r: r["val_macro_f1"])
    assert meta.epoch == best["epoch"]
    assert read_meta(run, "last").epoch == 6
    state = load_train_state(run / "checkpoints" / "last")
    assert state["epoch"] == 6 and state["stopped"].startswith("completed")
    with torch.no_grad():
        assert model(torch.zeros(1, 1, 64, 64)).shape == (1, 3)


def test_frozen_backbone_warmup_from_local_weights(tmp_path):
    from safetensors.torch import load_file, save_file

    from cxrlab.models.registry import create_model

    make_manifest(tmp_path, per_class=6, size=32)
    source = create_model("cnn-small", 5)
    save_file(source.state_dict(), str(tmp_path / "pre.safetensors"))
    cfg = load_train_config(None, tiny_overrides(tmp_path, epochs=1) + [
        f"model.weights={tmp_path / 'pre.safetensors'}", "model.freeze_epochs=1", "model.backbone_lr_mult=0.1"])
    run = fit(cfg)
    trained = load_file(str(run / "checkpoints/last/weights.safetensors"))
    original = source.state_dict()
    for key, value in trained.items():
        if key.startswith("classifier."):
            assert value.shape[0] == 3
        else:  # backbone untouched, BatchNorm statistics included
            assert torch.equal(value, original[key]), key
    assert json.loads((run / "history.json").read_text())[0]["frozen"] is True


def test_budget_sampler_focal_bf16_channels_last(tmp_path):
    make_manifest(tmp_path, per_class=8, size=32)
    cfg = load_train_config(None, tiny_overrides(tmp_path, epochs=3) + [
        "loss.imbalance=sampler", "amp=bf16", "channels_last=true", "max_minutes=0.00001"])
    run = fit(cfg)
    history = json.loads((run / "history.json").read_text())
    assert len(history) == 1 and history[0]["partial_epoch"] is True and history[0]["train_images"] == 8
    assert "time budget" in load_train_state(run / "checkpoints/last")["stopped"]
    assert "amp=torch.bfloat16" in (run / "log.txt").read_text()
    fit(load_train_config(None, ["progress=false"]), resume=run)  # a budget stop is not the end: resume goes on
    assert [r["epoch"] for r in json.loads((run / "history.json").read_text())] == [1, 2, 3]
    cfg = load_train_config(None, tiny_overrides(tmp_path, name="focal", epochs=1) + ["loss.imbalance=focal"])
    assert (fit(cfg) / "checkpoints/best/weights.safetensors").exists()


def test_cli_train_resume_finished_and_errors(tmp_path, capsys):
    make_manifest(tmp_path, per_class=6, size=32)
    args = ["train", "--manifest", str(tmp_path / "manifest.csv"), "--model", "cnn-small", "--scheme", "3class",
            "--epochs", "1", "--size", "32", "--batch-size", "8", "--name", "cli", "--runs-dir", str(tmp_path / "runs"),
            "--no-progress", "--threads", "1", "--set", f"data.cache_dir={tmp_path / 'cache'}", "--set", "data.cache_workers=0"]
    with pytest.raises(SystemExit) as done:
        main(args)
    assert done.value.code == 0
    assert "run folder" in capsys.readouterr().out
    assert read_meta(tmp_path / "runs" / "cli").classes == ("COVID", "Normal", "Pneumonia")
    with pytest.raises(SystemExit) as again:  # same name: refuses to overwrite
        main(args)
    assert again.value.code == 2 and "--resume" in capsys.readouterr().err
    with pytest.raises(SystemExit) as resumed:  # a finished run resumes to "nothing to do"
        main(["train", "--resume", "cli", "--runs-dir", str(tmp_path / "runs"), "--no-progress"])
    assert resumed.value.code == 0
    with pytest.raises(SystemExit) as missing:
        main(["train", "--manifest", str(tmp_path / "nope.csv"), "--runs-dir", str(tmp_path / "runs")])
    assert missing.value.code == 2 and "nope.csv" in capsys.readouterr().err
    assert sorted(p.name for p in (tmp_path / "runs").iterdir()) == ["cli"]  # no folder for the failed run


def test_cli_models_lists_registry(capsys):
    with pytest.raises(SystemExit) as done:
        main(["models"])
    out = capsys.readouterr().out
    assert done.value.code == 0 and "cnn-small" in out and "densenet121" in out
