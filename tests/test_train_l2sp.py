"""optim.l2_sp (decoupled L2-SP): each step pulls the backbone's weights back toward the pretrained ones."""

import pytest
import torch
from helpers_train import make_manifest, tiny_overrides
from safetensors.torch import load_file, save_file

from cxrlab.errors import ConfigError
from cxrlab.models.registry import create_model
from cxrlab.train.config import OptimConfig, load_train_config
from cxrlab.train.fit import fit
from cxrlab.train.pull_to_start import PullToStart

pytestmark = pytest.mark.usefixtures("one_thread")


def test_the_pull_moves_backbone_weights_lr_times_strength_of_the_way_and_nothing_else():
    model = create_model("cnn-small", 3)
    start = {k: torch.zeros_like(v) for k, v in model.state_dict().items()}
    before = {k: v.clone() for k, v in model.state_dict().items()}
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    PullToStart(model, optimizer, start, strength=2.5)()  # 0.1 x 2.5: a quarter of the way to zero
    after = model.state_dict()
    conv = "features.0.0.weight"
    assert torch.allclose(after[conv], 0.75 * before[conv])
    for name in ("classifier.weight", "classifier.bias", "features.0.1.weight", "features.0.1.bias"):
        assert torch.equal(after[name], before[name]), name  # head, biases and norms are not pulled


def test_a_negative_strength_is_refused():
    with pytest.raises(ConfigError, match="l2_sp"):
        OptimConfig(l2_sp=-1.0)


def _cfg(root, name, extra):
    return load_train_config(None, tiny_overrides(root, name=name, epochs=2) + [
        "patience=0", "optim.warmup_epochs=0", "optim.min_lr_ratio=1", *extra])


@pytest.mark.slow
def test_full_strength_keeps_the_backbone_at_the_pretrained_weights_while_the_head_learns(tmp_path):
    make_manifest(tmp_path, per_class=10)
    pretrained = create_model("cnn-small", 3)
    torch.nn.init.normal_(pretrained.features[0][0].weight)  # not what the run's seed would draw
    save_file(pretrained.state_dict(), str(tmp_path / "start.safetensors"))
    start = {k: v for k, v in pretrained.state_dict().items()}
    weights = f"model.weights={tmp_path / 'start.safetensors'}"
    held = fit(_cfg(tmp_path, "held", [weights, "optim.l2_sp=1000"]))  # lr 1e-3 x 1000: all the way back each step
    free = fit(_cfg(tmp_path, "free", [weights]))
    held_w = load_file(str(held / "checkpoints" / "last" / "weights.safetensors"))
    free_w = load_file(str(free / "checkpoints" / "last" / "weights.safetensors"))
    backbone = [k for k, v in start.items() if v.ndim > 1 and not k.startswith("classifier")]
    assert backbone
    for key in backbone:
        assert torch.allclose(held_w[key], start[key], atol=1e-6), key
    assert any(not torch.allclose(free_w[k], start[k], atol=1e-4) for k in backbone)  # without it they move
    assert not torch.allclose(held_w["classifier.weight"], start["classifier.weight"])


def test_without_pretrained_weights_the_run_is_refused_before_training(tmp_path):
    make_manifest(tmp_path, per_class=4)
    with pytest.raises(ConfigError, match="random weights"):
        fit(_cfg(tmp_path, "scratch", ["optim.l2_sp=10"]))
