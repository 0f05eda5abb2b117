"""augment.mixup / augment.cutmix: mixed films and labels, the losses that take them, a real run with them."""

import pytest
import torch
from helpers_train import make_manifest, tiny_overrides
from safetensors.torch import load_file

from cxrlab.data.transforms import AugmentConfig
from cxrlab.errors import ConfigError
from cxrlab.train.batch_mix import build_batch_mix, hard_labels
from cxrlab.train.config import load_train_config
from cxrlab.train.losses import build_criterion


def _batch(n=8, classes=3):
    g = torch.Generator().manual_seed(1)
    return torch.rand(n, 1, 16, 16, generator=g), torch.arange(n) % classes


@pytest.mark.parametrize("kwargs", [{}, {"mixup": 0.4, "enabled": False}])
def test_no_batch_mix_when_off(kwargs):
    assert build_batch_mix(AugmentConfig(**kwargs), 3) is None


def test_mixup_blends_two_films_and_their_labels_with_one_weight():
    x, y = _batch()
    torch.manual_seed(0)
    mixed, soft = build_batch_mix(AugmentConfig(mixup=1.0), 3)(x, y)
    assert soft.shape == (8, 3) and torch.allclose(soft.sum(1), torch.ones(8))
    lam = float(soft[0, y[0]])  # torchvision pairs film i with film i - 1
    assert 0.0 < lam < 1.0
    assert torch.allclose(mixed, lam * x + (1 - lam) * x.roll(1, 0), atol=1e-6)
    assert torch.allclose(soft[1, y[1]], torch.tensor(lam)) and torch.allclose(soft[1, y[0]], torch.tensor(1 - lam))


def test_cutmix_pastes_a_patch_and_labels_it_by_its_area():
    x, y = _batch()
    torch.manual_seed(3)
    mixed, soft = build_batch_mix(AugmentConfig(cutmix=1.0), 3)(x, y)
    from_other = (mixed[0] != x[0]).float().mean()
    assert 0 < from_other < 1
    assert torch.allclose(soft[0, y[-1]], from_other, atol=1e-6)  # film 0's patch comes from film -1


def test_hard_labels_are_the_larger_share():
    assert hard_labels(torch.tensor([[0.7, 0.3, 0.0], [0.2, 0.0, 0.8]])).tolist() == [0, 2]
    assert hard_labels(torch.tensor([2, 1])).tolist() == [2, 1]


@pytest.mark.parametrize("imbalance", ["none", "sampler", "weighted-loss"])
def test_the_losses_take_mixed_labels_as_the_expected_blend(imbalance):
    targets = torch.tensor([0, 1, 2, 1])
    criterion = build_criterion(imbalance, targets.numpy(), 3)
    logits = torch.randn(4, 3, generator=torch.Generator().manual_seed(0))
    one_hot = torch.nn.functional.one_hot(targets, 3).float()
    assert torch.allclose(criterion(logits, one_hot), criterion(logits, targets))


def test_focal_loss_with_batch_mixing_is_refused_and_negative_alpha_too():
    with pytest.raises(ConfigError, match="focal"):
        load_train_config(None, ["loss.imbalance=focal", "augment.mixup=0.2"])
    with pytest.raises(ConfigError, match="augment.cutmix"):
        AugmentConfig(cutmix=-1.0)


@pytest.mark.slow
@pytest.mark.usefixtures("one_thread")
def test_a_run_with_mixup_trains_reproducibly_and_differently(tmp_path):
    from cxrlab.train.fit import fit

    make_manifest(tmp_path, per_class=10)

    def run(name, extra):
        cfg = load_train_config(None, tiny_overrides(tmp_path, name=name, epochs=2) + ["patience=0", *extra])
        return load_file(str(fit(cfg) / "checkpoints" / "last" / "weights.safetensors"))

    plain = run("plain", [])
    mixed = run("mixup", ["augment.mixup=0.4", "augment.cutmix=1.0"])
    again = run("mixup-again", ["augment.mixup=0.4", "augment.cutmix=1.0"])
    assert all(torch.equal(mixed[k], again[k]) for k in mixed)
    assert any(not torch.equal(mixed[k], plain[k]) for k in mixed if mixed[k].is_floating_point())
