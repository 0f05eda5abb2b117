"""Source-adversarial training (DANN, Ganin et al. 2016, class-conditional): make the features the
classifier sees useless for telling the *source* (hospital, collection) of a film of a given class.

A small head reads the classifier's input features through a gradient-reversal layer and predicts
the film's source among the sources of its own class (one softmax over sources per class, the true
class's is used, so "which class" is not what it removes; source-balanced within the class). The head learns to predict the source;
the reversed gradient trains the backbone to make that impossible. The loss is
``base(logits, target) + weight * CE(head(reverse(features))[target], source)``.

The features come from a forward pre-hook on ``model.get_classifier()`` (timm models and cnn-small
have one); the head lives inside the criterion, so its weights are part of the training state
(``--resume``) and never of the exported model.
"""

from __future__ import annotations

import numpy as np
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

    ``counts``: ``(classes, sources)`` training films per cell. The adversary's cross-entropy is
    source-balanced within each class (a film weighs ``n_class / (sources_in_class * n_cell)``), so
    always guessing the big source earns nothing and the head must really read the source (with
    plain cross-entropy it settled on the majority guess on real data and taught the backbone
    nothing). Cells with fewer than ``min_films`` films are left out (a 2-film cell would weigh a
    thousand times a film of the big source and make the loss swing from batch to batch), and so
    are classes left with a single source.
    ``forward(logits, target, source)`` in training; without ``source`` (validation) only ``base``."""

    def __init__(self, base: nn.Module, tap: FeatureTap, counts: np.ndarray, weight: float, hidden: int = 128,
                 min_films: int = 50) -> None:
        super().__init__()
        table = torch.as_tensor(np.asarray(counts), dtype=torch.float32)
        self.base, self.tap, self.weight = base, tap, float(weight)
        self.num_classes, self.num_sources = table.shape
        table = table * (table >= max(min_films, 1))
        present = (table > 0).float()
        per_class = present.sum(1, keepdim=True)
        film_weight = table.sum(1, keepdim=True) / (per_class.clamp(min=1) * table.clamp(min=1)) * present
        self.register_buffer("film_weight", film_weight * (per_class >= 2).float())
        self.register_buffer("majority_source", table.argmax(1))
        self.head = nn.Sequential(nn.Linear(tap.num_features, hidden), nn.ReLU(inplace=True),
                                  nn.Linear(hidden, self.num_classes * self.num_sources))
        # weighted (hits, constant-guess hits, total) since the last epoch_note; kept on the device so
        # the training step adds no host synchronisation
        self.register_buffer("_stats", torch.zeros(3), persistent=False)

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
        w = self.film_weight[target, source]
        total = w.sum()
        self._stats += torch.stack([(w * (scores.detach().argmax(1) == source)).sum(),
                                    (w * (self.majority_source[target] == source)).sum(), total])
        # no early return when no film of the batch counts (total 0): the head must get a (zero)
        # gradient on every process, or DDP's gradient averaging would wait for it forever
        adversary = (w * F.cross_entropy(scores, source, reduction="none")).sum() / total.clamp(min=1e-12)
        return loss + self.weight * adversary

    def epoch_note(self) -> str:
        """How well the adversary read the source this epoch, source-balanced within each class
        (this process's batches), against a constant guess; resets."""
        hits, majority, total = self._stats.tolist()
        total = max(total, 1e-12)
        note = (f"source adversary: balanced source accuracy {hits / total:.3f} "
                f"(always guessing the class's largest source: {majority / total:.3f})")
        self._stats.zero_()
        base = self.base.epoch_note() if hasattr(self.base, "epoch_note") else ""
        return f"{note}; {base}" if base else note
