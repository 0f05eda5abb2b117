"""Source-adversarial loss: gradient reversal, the loss on hand-checked numbers, and training runs."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from helpers_train import make_two_source_manifest, tiny_overrides
from torch import nn

from cxrlab.artifacts.checkpoint import load_train_state
from cxrlab.errors import ConfigError
from cxrlab.train.adversary import FeatureTap, SourceAdversarialLoss, reverse_grad
from cxrlab.train.config import load_train_config
from cxrlab.train.fit import fit


class TwoLayer(nn.Module):
    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.body, self.fc = nn.Linear(4, 5), nn.Linear(5, 3)

    def forward(self, x):
        return self.fc(torch.relu(self.body(x)))

    def get_classifier(self):
        return self.fc


def test_reverse_grad_is_identity_forward_and_negates_backward():
    x = torch.tensor([1.0, -2.0], requires_grad=True)
    y = reverse_grad(x)
    assert torch.equal(y, x)
    (3 * y).sum().backward()
    assert x.grad.tolist() == [-3.0, -3.0]


def test_loss_is_base_plus_source_balanced_ce_of_the_true_class_and_reverses_feature_gradients():
    model = TwoLayer()
    tap = FeatureTap(model)
    # class 0: 3 films of source 0, 1 of source 1 -> weights 4/(2*3) and 4/(2*1); class 1: 2 + 2 -> 1 each;
    # class 2 has one source only -> left out (weight 0)
    loss_fn = SourceAdversarialLoss(nn.CrossEntropyLoss(), tap, np.array([[3, 1], [2, 2], [4, 0]]), weight=0.5, hidden=6,
                                    min_films=1)
    assert loss_fn.film_weight.flatten().tolist() == pytest.approx([2 / 3, 2.0, 1.0, 1.0, 0.0, 0.0])
    x, target, source = torch.randn(4, 4), torch.tensor([0, 2, 1, 2]), torch.tensor([1, 0, 0, 0])
    logits = model(x)
    feats = tap.features
    assert feats.shape == (4, 5)
    scores = loss_fn.head(feats).view(4, 3, 2)[torch.arange(4), target]
    ce = F.cross_entropy(scores, source, reduction="none")
    adv = (2.0 * ce[0] + 1.0 * ce[2]) / 3.0  # weights 2, 0, 1, 0
    loss = loss_fn(logits, target, source)
    expected = (F.cross_entropy(logits, target) + 0.5 * adv).detach()
    assert float(loss.detach()) == pytest.approx(float(expected), rel=1e-6)
    # the body receives the *negated* adversary gradient, the head the plain one
    body_adv = torch.autograd.grad(0.5 * adv, model.body.weight, retain_graph=True)[0]
    head_adv = torch.autograd.grad(0.5 * adv, loss_fn.head[0].weight, retain_graph=True)[0]
    body_base = torch.autograd.grad(F.cross_entropy(logits, target), model.body.weight, retain_graph=True)[0]
    loss.backward()
    assert torch.allclose(model.body.weight.grad, body_base - body_adv, atol=1e-6)
    assert torch.allclose(loss_fn.head[0].weight.grad, head_adv, atol=1e-6)
    with torch.no_grad():  # validation (no source): the base loss only
        assert float(loss_fn(model(x), target)) == pytest.approx(float(F.cross_entropy(model(x), target)))
        only_single_source = loss_fn(model(x), torch.tensor([2, 2, 2, 2]), source)
        assert float(only_single_source) == pytest.approx(float(F.cross_entropy(model(x), torch.tensor([2, 2, 2, 2]))))


def test_epoch_note_weighs_sources_equally_and_resets():
    model = TwoLayer()
    loss_fn = SourceAdversarialLoss(nn.CrossEntropyLoss(), FeatureTap(model), np.array([[5, 1], [1, 5], [3, 3]]), 1.0,
                                    min_films=1)
    for _ in range(2):  # weights 0.6, 0.6, 1.0; a constant guess of the largest source: right, right, wrong
        loss_fn(model(torch.randn(3, 4)), torch.tensor([0, 1, 2]), torch.tensor([0, 1, 1]))
    assert "(always guessing the class's largest source: 0.545)" in loss_fn.epoch_note()
    assert "largest source: 0.000)" in loss_fn.epoch_note()


def test_small_cells_and_then_single_source_classes_are_left_out():
    counts = np.array([[500, 2, 60], [900, 3, 0], [40, 45, 0]])
    loss_fn = SourceAdversarialLoss(nn.CrossEntropyLoss(), FeatureTap(TwoLayer()), counts, 1.0)  # min 50 films
    w = loss_fn.film_weight
    assert w[0].tolist() == pytest.approx([560 / (2 * 500), 0.0, 560 / (2 * 60)])  # the 2-film cell is out
    assert w[1].tolist() == [0.0, 0.0, 0.0]  # one source left: nothing to tell apart
    assert w[2].tolist() == [0.0, 0.0, 0.0]  # both cells under 50


def test_a_model_without_a_linear_classifier_is_refused():
    class NoHead(nn.Module):
        def get_classifier(self):
            return nn.Identity()

    with pytest.raises(ConfigError, match="classifier is a Linear layer"):
        FeatureTap(NoHead())


@pytest.mark.slow
@pytest.mark.parametrize("imbalance", ["sampler", "group-dro"])
def test_training_with_the_source_adversary(tmp_path, imbalance):
    torch.set_num_threads(1)
    make_two_source_manifest(tmp_path, per_class=10)
    cfg = load_train_config(None, tiny_overrides(tmp_path, epochs=2) + [
        f"loss.imbalance={imbalance}", "loss.source_adversary=0.5", "loss.adversary_min_films=1"])
    run = fit(cfg)
    log = (run / "log.txt").read_text()
    assert log.count("source adversary: balanced source accuracy") == 2
    assert ("group-dro weights:" in log) == (imbalance == "group-dro")
    state = load_train_state(run / "checkpoints/last")
    assert state["criterion"]["head.2.weight"].shape == (3 * 2, 128)  # 3 classes x 2 sources
    assert len(state["optimizer"]["param_groups"]) >= 2
