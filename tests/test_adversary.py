"""Source-adversarial loss: gradient reversal, the loss on hand-checked numbers, and training runs."""

import pytest
import torch
import torch.nn.functional as F
from helpers_train import make_manifest, tiny_overrides
from torch import nn

from cxrlab.data.manifest import read_manifest, write_manifest
from cxrlab.errors import ConfigError
from cxrlab.train.adversary import FeatureTap, SourceAdversarialLoss, reverse_grad
from cxrlab.train.checkpoint import load_train_state
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


def test_loss_is_base_plus_weighted_source_ce_of_the_true_class_and_reverses_feature_gradients():
    model = TwoLayer()
    tap = FeatureTap(model)
    loss_fn = SourceAdversarialLoss(nn.CrossEntropyLoss(), tap, num_classes=3, num_sources=2, weight=0.5, hidden=6)
    x, target, source = torch.randn(4, 4), torch.tensor([0, 2, 1, 2]), torch.tensor([1, 0, 0, 1])
    logits = model(x)
    feats = tap.features
    assert feats.shape == (4, 5)
    scores = loss_fn.head(feats).view(4, 3, 2)[torch.arange(4), target]
    adv = F.cross_entropy(scores, source)
    loss = loss_fn(logits, target, source)
    assert float(loss.detach()) == pytest.approx(float((F.cross_entropy(logits, target) + 0.5 * adv).detach()), rel=1e-6)
    # the body receives the *negated* adversary gradient, the head the plain one
    body_adv = torch.autograd.grad(0.5 * adv, model.body.weight, retain_graph=True)[0]
    head_adv = torch.autograd.grad(0.5 * adv, loss_fn.head[0].weight, retain_graph=True)[0]
    body_base = torch.autograd.grad(F.cross_entropy(logits, target), model.body.weight, retain_graph=True)[0]
    loss.backward()
    assert torch.allclose(model.body.weight.grad, body_base - body_adv, atol=1e-6)
    assert torch.allclose(loss_fn.head[0].weight.grad, head_adv, atol=1e-6)
    assert loss_fn.epoch_note().startswith("source adversary: source read correctly for ")
    # validation (no source): the base loss only
    with torch.no_grad():
        assert float(loss_fn(model(x), target)) == pytest.approx(float(F.cross_entropy(model(x), target)))


def test_epoch_note_counts_against_the_majority_guess_and_resets():
    model = TwoLayer()
    loss_fn = SourceAdversarialLoss(nn.CrossEntropyLoss(), FeatureTap(model), 3, 2, weight=1.0,
                                    majority_source=torch.tensor([0, 1, 0]))
    for _ in range(2):  # majority guesses: class 0 -> 0 (right), class 1 -> 1 (right), class 2 -> 0 (wrong)
        loss_fn(model(torch.randn(3, 4)), torch.tensor([0, 1, 2]), torch.tensor([0, 1, 1]))
    assert "of 6 films (always guessing the class's largest source: 0.667)" in loss_fn.epoch_note()
    assert "of 0 films" in loss_fn.epoch_note()


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
    manifest = make_manifest(tmp_path, per_class=10, size=32)
    df = read_manifest(manifest)
    df.loc[df.index % 3 == 0, "source"] = "other-hospital"
    write_manifest(df, manifest)
    cfg = load_train_config(None, tiny_overrides(tmp_path, epochs=2) + [
        f"loss.imbalance={imbalance}", "loss.source_adversary=0.5"])
    run = fit(cfg)
    log = (run / "log.txt").read_text()
    assert log.count("source adversary: source read correctly for") == 2
    assert ("group-dro weights:" in log) == (imbalance == "group-dro")
    state = load_train_state(run / "checkpoints/last")
    assert state["criterion"]["head.2.weight"].shape == (3 * 2, 128)  # 3 classes x 2 sources
    assert len(state["optimizer"]["param_groups"]) >= 2
