import math

import numpy as np
import pandas as pd
import pytest
import torch

from cxrlab.config import save_config
from cxrlab.errors import ConfigError
from cxrlab.labels import builtin_schemes
from cxrlab.train.config import TrainConfig, load_train_config, with_options
from cxrlab.train.train_data import select_rows
from cxrlab.train.losses import FocalLoss, balanced_class_weights, build_criterion
from cxrlab.metrics.classification import validation_metrics
from cxrlab.train.optim import warmup_cosine
from cxrlab.train.sampling import WeightedEpochSampler, build_eval_sampler, build_train_sampler, class_balanced_weights


def test_config_yaml_overrides_and_options(tmp_path):
    (tmp_path / "t.yaml").write_text("epochs: 7\nmodel: {name: resnet18, freeze_epochs: 2}\nloss: {imbalance: focal}\n")
    cfg = load_train_config(tmp_path / "t.yaml", ["optim.lr=3e-4", "data.preprocess.size=128"])
    assert (cfg.epochs, cfg.model.name, cfg.model.freeze_epochs, cfg.loss.imbalance) == (7, "resnet18", 2, "focal")
    assert cfg.optim.lr == pytest.approx(3e-4) and cfg.data.preprocess.size == 128
    cfg = with_options(cfg, model="cnn-small", size=64, epochs=None, manifest="m.csv")
    assert (cfg.model.name, cfg.data.preprocess.size, cfg.epochs, cfg.data.manifest) == ("cnn-small", 64, 7, "m.csv")
    save_config(cfg, tmp_path / "saved.yaml")
    assert load_train_config(tmp_path / "saved.yaml") == cfg


@pytest.mark.parametrize("override, message", [
    ("loss.imbalance=oversample", "loss.imbalance"), ("monitor=val_f2", "monitor"), ("epochs=0", "epochs"),
    ("amp=fp8", "amp"), ("optim.learning_rate=1", "unknown key"), ("augment.hflip_p=2", "hflip_p"),
])
def test_config_rejects_bad_values(override, message):
    with pytest.raises(ConfigError, match=message):
        load_train_config(None, [override])


def test_balanced_weights_and_losses():
    targets = np.array([0] * 8 + [1] * 2 + [2] * 2)
    w = balanced_class_weights(targets, 4)
    assert w.tolist() == pytest.approx([0.5, 2.0, 2.0, 0.0])
    logits = torch.tensor([[4.0, 0.0, 0.0], [0.0, 0.2, 0.0], [0.1, 0.0, 3.0]])
    y = torch.tensor([0, 1, 2])
    assert FocalLoss(gamma=0.0)(logits, y) == pytest.approx(float(torch.nn.functional.cross_entropy(logits, y)))
    per_sample = [float(FocalLoss(2.0)(logits[i:i + 1], y[i:i + 1])) for i in range(3)]
    ce = [float(torch.nn.functional.cross_entropy(logits[i:i + 1], y[i:i + 1])) for i in range(3)]
    assert per_sample[0] / ce[0] < 0.01 and per_sample[1] / ce[1] > 0.3  # easy examples are down-weighted
    assert isinstance(build_criterion("focal", targets[targets < 3], 3), FocalLoss)
    assert build_criterion("weighted-loss", targets[targets < 3], 3).weight.tolist() == pytest.approx([0.5, 2.0, 2.0])
    assert build_criterion("sampler", targets, 3).weight is None


def test_weighted_sampler_balances_and_is_resumable():
    targets = np.array([0] * 90 + [1] * 10)
    sampler = WeightedEpochSampler(class_balanced_weights(targets), seed=1)
    drawn = []
    for epoch in range(20):
        sampler.set_epoch(epoch)
        drawn += list(sampler)
    share = np.mean(targets[drawn] == 1)
    assert 0.4 < share < 0.6
    sampler.set_epoch(3)
    again = WeightedEpochSampler(class_balanced_weights(targets), seed=1)
    again.set_epoch(3)
    assert list(sampler) == list(again)
    ranks = [WeightedEpochSampler(class_balanced_weights(targets), seed=1, rank=r, world=2) for r in (0, 1)]
    assert len(list(ranks[0])) == len(list(ranks[1])) == 50


def test_samples_per_epoch_sets_the_draws_of_the_balanced_sampler():
    targets = np.array([0] * 900 + [1] * 100)
    short = build_train_sampler(targets, True, seed=0, num_samples=40)
    assert len(short) == 40 and len(list(short)) == 40 and set(targets[list(short)]) == {0, 1}
    ranks = [build_train_sampler(targets, True, seed=0, rank=r, world=2, num_samples=41) for r in (0, 1)]
    assert [len(list(r)) for r in ranks] == [21, 21]
    assert len(build_train_sampler(targets, True, seed=0)) == 1000  # default: one draw per film
    with pytest.raises(ConfigError, match="samples_per_epoch"):
        load_train_config(None, ["samples_per_epoch=-1"])


def test_uniform_and_eval_samplers_shard_without_overlap():
    shards = [list(build_train_sampler(np.zeros(10, int), False, seed=0, rank=r, world=2)) for r in (0, 1)]
    assert sorted(shards[0] + shards[1]) == list(range(10))
    evals = [list(build_eval_sampler(7, r, 2)) for r in (0, 1)]
    assert sorted(evals[0] + evals[1]) == list(range(7))


def test_warmup_cosine_schedule():
    f = warmup_cosine(warmup_steps=4, total_steps=20, min_ratio=0.1)
    assert f(0) == pytest.approx(0.25) and f(3) == pytest.approx(1.0)
    values = [f(s) for s in range(4, 21)]
    assert all(a >= b for a, b in zip(values, values[1:]))
    assert f(20) == pytest.approx(0.1) and f(100) == pytest.approx(0.1)


def test_metrics_match_known_values_and_nan_auc():
    probs = np.array([[0.8, 0.1, 0.1], [0.2, 0.7, 0.1], [0.1, 0.2, 0.7], [0.6, 0.3, 0.1]])
    m = validation_metrics(probs, np.array([0, 1, 2, 1]), ("A", "B", "C"))
    assert m["accuracy"] == 0.75 and m["recall_B"] == 0.5 and m["recall_A"] == 1.0
    assert m["macro_f1"] == pytest.approx((2 / 3 + 2 / 3 + 1) / 3)
    assert 0 < m["auc"] <= 1
    assert math.isnan(validation_metrics(probs[:2], np.array([0, 0]), ("A", "B", "C"))["auc"])


def test_select_rows_maps_scheme_and_explains_missing_splits():
    scheme = builtin_schemes()["3class"]
    df = pd.DataFrame({"path": list("abcdef"), "label": ["COVID", "Normal", "Pneumonia-Viral", "Lung_Opacity", "Normal", "COVID"],
                       "source": "s", "split": ["train", "train", "train", "train", "val", "test"]})
    rows, excluded = select_rows(df, scheme)
    assert rows["target"].tolist() == [0, 1, 2, 2, 1, 0] and excluded == {}  # 3class: Lung_Opacity -> Pneumonia
    rows, excluded = select_rows(df.assign(label=df["label"].replace({"Lung_Opacity": "Unlisted"})), scheme)
    assert rows["target"].tolist() == [0, 1, 2, 1, 0] and excluded == {"Unlisted": 1}  # unmapped: excluded, counted
    with pytest.raises(ConfigError, match="cxrlab split"):
        select_rows(df.drop(columns="split"), scheme)
    with pytest.raises(ConfigError, match="no val rows"):
        select_rows(df.assign(split="train"), scheme)
    with pytest.raises(ConfigError, match="no images of class"):
        select_rows(df[df["label"] != "COVID"], scheme)


def test_default_config_is_valid():
    cfg = TrainConfig()
    assert cfg.model.name == "efficientnet_lite0" and cfg.model.weights == "auto" and cfg.data.preprocess.size == 128
    assert cfg.augment.hflip_p == 0.0 and cfg.monitor == "val_macro_f1"


def test_amp_choice():
    from cxrlab.train.setup import amp_dtype, cpu_has_fast_bf16

    cpu = torch.device("cpu")
    assert amp_dtype("auto", cpu) == (torch.bfloat16 if cpu_has_fast_bf16() else None)
    assert amp_dtype("off", cpu) is None and amp_dtype("bf16", cpu) == torch.bfloat16
    with pytest.raises(ConfigError, match="needs a GPU"):
        amp_dtype("fp16", cpu)


def test_a_removed_imbalance_choice_is_refused_with_the_reason(tmp_path):
    cfg = tmp_path / "train.yaml"
    cfg.write_text("loss: {imbalance: source-balanced}\n")
    with pytest.raises(ConfigError, match=r"loss.imbalance: 'source-balanced' is not allowed \(source-balanced "
                                          r"sampling was removed.*Removed options.*choose one of none, "):
        load_train_config(cfg)
    with pytest.raises(ConfigError, match="source-balanced sampling was removed"):
        load_train_config(None, ["loss.imbalance=source-balanced"])


def test_epoch_summary_lines_fit_80_columns():
    import io

    from rich.console import Console

    from cxrlab.train.progress import TrainProgress

    buf = io.StringIO()
    progress = TrainProgress(True, Console(file=buf, width=80, force_terminal=False))
    row = {"epoch": 12, "train_loss": 0.123456, "train_accuracy": 0.98765, "val_loss": 1.23456, "val_accuracy": 0.8765,
           "val_macro_f1": 0.87654, "val_auc": 0.98765, "images_per_s": 1234.5}
    progress.epoch_summary(row, "val_macro_f1", improved=True)
    lines = buf.getvalue().splitlines()
    assert len(lines) == 2 and all(len(line) <= 80 for line in lines)
    assert lines[0].startswith("epoch 12: train loss 0.1235") and "val macro-F1 0.8765" in lines[1]
    assert lines[1].endswith("1234.5 img/s *best*")


def test_removed_loss_options_refused_with_the_reason_and_an_older_runs_config_still_loads(tmp_path):
    with pytest.raises(ConfigError, match=r"loss.imbalance: 'group-dro' is not allowed \(group DRO was removed"):
        load_train_config(None, ["loss.imbalance=group-dro"])
    with pytest.raises(ConfigError, match=r"loss.source_adversary: 0.5 is no longer an option \(the source "
                                          r"adversary was removed"):
        load_train_config(None, ["loss.source_adversary=0.5"])
    # the config.yaml an older version saved into every run folder: the removed keys at their "off" values
    old = tmp_path / "config.yaml"
    old.write_text("loss: {imbalance: sampler, focal_gamma: 2.0, label_smoothing: 0.0, dro_eta: 0.01,\n"
                   "       dro_adjustment: 0.0, source_adversary: 0.0, adversary_min_films: 50}\nepochs: 3\n")
    cfg = load_train_config(old)
    assert cfg.loss.imbalance == "sampler" and cfg.epochs == 3
    with pytest.raises(ConfigError, match="unknown key"):  # a key that never existed is still an error
        load_train_config(None, ["loss.dro_etta=0.1"])
