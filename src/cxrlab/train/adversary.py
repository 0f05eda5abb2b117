"""Source-adversarial training (DANN, Ganin et al. 2016, class-conditional): make the features the
classifier sees useless for telling the *source* (hospital, collection) of a film of a given class.

A small head reads the classifier's input features through a gradient-reversal layer and predicts
the film's source among the sources of its own class (one softmax over sources per class, the true
class's is used, so "which class" is not what it removes). The head learns to predict the source;
the reversed gradient trains the backbone to make that impossible. The loss is
``base(logits, target) + weight * CE(head(reverse(features))[target], source)``.

The features come from a forward pre-hook on ``model.get_classifier()`` (timm models and cnn-small
have one); the head lives inside the criterion, so its weights are part of the training state
(``--resume``) and never of the exported model.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from cxrlab.errors import ConfigError


class _ReverseGrad(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        return -grad


def reverse_grad(x: torch.Tensor) -> torch.Tensor:
    """Identity forward, negated gradient backward."""
    return _ReverseGrad.apply(x)


class FeatureTap:
    """Keeps the latest input of ``model.get_classifier()`` (the pooled features)."""

    def __init__(self, model: nn.Module) -> None:
        head = model.get_classifier() if hasattr(model, "get_classifier") else None
        if not isinstance(head, nn.Linear):
            raise ConfigError(f"loss.source_adversary needs a model whose classifier is a Linear layer; "
                              f"{type(model).__name__} has {type(head).__name__}")
        self.num_features = head.in_features
        self.features: torch.Tensor | None = None
        self.handle = head.register_forward_pre_hook(self._keep)

    def _keep(self, module: nn.Module, inputs: tuple[torch.Tensor, ...]) -> None:
        self.features = inputs[0]


class SourceAdversarialLoss(nn.Module):
    """``base`` loss plus the class-conditional source adversary on ``tap``'s features.

    ``forward(logits, target, source)`` in training; without ``source`` (validation) only ``base``."""

    def __init__(self, base: nn.Module, tap: FeatureTap, num_classes: int, num_sources: int, weight: float,
                 hidden: int = 128, majority_source: torch.Tensor | None = None) -> None:
        super().__init__()
        self.base, self.tap, self.weight = base, tap, float(weight)
        self.num_classes, self.num_sources = num_classes, num_sources
        # per class, the source with the most training films: guessing it is the adversary's chance level
        self.register_buffer("majority_source", torch.as_tensor(
            majority_source if majority_source is not None else torch.zeros(num_classes), dtype=torch.long))
        self.head = nn.Sequential(nn.Linear(tap.num_features, hidden), nn.ReLU(inplace=True),
                                  nn.Linear(hidden, num_classes * num_sources))
        self._hits, self._majority, self._seen = 0.0, 0.0, 0  # since the last epoch_note

    def forward(self, logits: torch.Tensor, target: torch.Tensor, source: torch.Tensor | None = None) -> torch.Tensor:
        if source is None or not self.training:
            return self.base(logits, target)
        base_args = (logits, target, source) if getattr(self.base, "uses_source", False) else (logits, target)
        loss = self.base(*base_args)
        features = self.tap.features
        if features is None:
            raise RuntimeError("the feature hook saw no forward pass before the loss")
        scores = self.head(reverse_grad(features.float())).view(-1, self.num_classes, self.num_sources)
        scores = scores[torch.arange(len(target), device=target.device), target]
        self._hits += float((scores.detach().argmax(1) == source).sum())
        self._majority += float((self.majority_source[target] == source).sum())
        self._seen += len(source)
        return loss + self.weight * F.cross_entropy(scores, source)

    def epoch_note(self) -> str:
        """How well the adversary read the source this epoch (this process's batches); resets."""
        seen = max(self._seen, 1)
        note = (f"source adversary: source read correctly for {self._hits / seen:.3f} of {self._seen:,} films "
                f"(always guessing the class's largest source: {self._majority / seen:.3f})")
        self._hits, self._majority, self._seen = 0.0, 0.0, 0
        base = self.base.epoch_note() if hasattr(self.base, "epoch_note") else ""
        return f"{note}; {base}" if base else note

