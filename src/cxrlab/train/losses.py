"""Loss functions for imbalanced classes: class-weighted cross-entropy and focal loss."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn


def balanced_class_weights(targets: np.ndarray, num_classes: int) -> torch.Tensor:
    """``n_samples / (n_classes * count_c)`` per class (sklearn's "balanced"); absent classes get 0."""
    from sklearn.utils.class_weight import compute_class_weight

    targets = np.asarray(targets)
    present = np.unique(targets)
    weights = np.zeros(num_classes, dtype=np.float32)
    weights[present] = compute_class_weight("balanced", classes=present, y=targets)
    return torch.from_numpy(weights)


class FocalLoss(nn.Module):
    """Multi-class focal loss (Lin et al. 2017): ``(1 - p_t)^gamma * CE``, optional class weights."""

    def __init__(self, gamma: float = 2.0, weight: torch.Tensor | None = None, label_smoothing: float = 0.0) -> None:
        super().__init__()
        self.gamma = gamma
        self.label_smoothing = label_smoothing
        self.register_buffer("weight", weight if weight is not None else None)

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        logits = logits.float()
        log_p_t = F.log_softmax(logits, dim=1).gather(1, target[:, None])[:, 0]
        ce = F.cross_entropy(logits, target, weight=self.weight, reduction="none", label_smoothing=self.label_smoothing)
        loss = (1.0 - log_p_t.exp()).clamp(min=0).pow(self.gamma) * ce
        if self.weight is not None:
            return loss.sum() / self.weight[target].sum().clamp(min=1e-12)
        return loss.mean()


def build_criterion(imbalance: str, train_targets: np.ndarray, num_classes: int,
                    focal_gamma: float = 2.0, label_smoothing: float = 0.0) -> nn.Module:
    """The training loss for ``imbalance`` = none | weighted-loss | sampler | focal.

    ``sampler`` balances the batches instead, so its loss is plain cross-entropy; ``focal`` keeps
    the balanced class weights as its alpha.
    """
    if imbalance in ("none", "sampler"):
        return nn.CrossEntropyLoss(label_smoothing=label_smoothing)
    weight = balanced_class_weights(train_targets, num_classes)
    if imbalance == "focal":
        return FocalLoss(focal_gamma, weight, label_smoothing)
    return nn.CrossEntropyLoss(weight=weight, label_smoothing=label_smoothing)
