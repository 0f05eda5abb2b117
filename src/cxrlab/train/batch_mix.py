"""MixUp and CutMix between the films of a training batch (torchvision's ``v2.MixUp`` / ``v2.CutMix``).

The batch's integer labels become mixed class probabilities, which ``nn.CrossEntropyLoss`` accepts
as targets. Mixing draws from torch's global generator, which the training loop seeds per epoch.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torchvision.transforms import v2

from cxrlab.data.transforms import AugmentConfig

BatchMix = Callable[[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]


def build_batch_mix(augment: AugmentConfig, num_classes: int) -> BatchMix | None:
    """The batch transform for ``augment.mixup`` / ``augment.cutmix`` (None when both are 0 or
    augmentation is off). With both set, each batch gets one of the two."""
    if not augment.enabled:
        return None
    mixes = []
    if augment.mixup > 0:
        mixes.append(v2.MixUp(alpha=augment.mixup, num_classes=num_classes))
    if augment.cutmix > 0:
        mixes.append(v2.CutMix(alpha=augment.cutmix, num_classes=num_classes))
    if not mixes:
        return None
    return mixes[0] if len(mixes) == 1 else v2.RandomChoice(mixes)


def hard_labels(targets: torch.Tensor) -> torch.Tensor:
    """Class indices of ``targets``: unchanged when already indices, the larger share when mixed."""
    return targets.argmax(1) if targets.is_floating_point() else targets
