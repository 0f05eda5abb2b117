"""AdamW with backbone/head parameter groups, warm-up + cosine schedule, backbone freezing.

Transfer learning: the new classifier head (``model.get_classifier()``, which timm models and
``cnn-small`` provide) trains alone for ``freeze_epochs``; then the backbone is unfrozen and trains
at ``lr * backbone_lr_mult`` (a lower rate keeps pretrained features from being wrecked).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from cxrlab.train.config import OptimConfig


def head_parameter_names(model: nn.Module) -> set[str]:
    """Names of the classifier-head parameters (everything else is the backbone)."""
    head = model.get_classifier() if hasattr(model, "get_classifier") else None
    if not isinstance(head, nn.Module):
        return set()
    ids = {id(p) for p in head.parameters()}
    return {n for n, p in model.named_parameters() if id(p) in ids}


def set_backbone_frozen(model: nn.Module, frozen: bool) -> None:
    """Freeze (or unfreeze) every parameter outside the classifier head."""
    head = head_parameter_names(model)
    for name, param in model.named_parameters():
        param.requires_grad_(name in head or not frozen)


def freeze_backbone_norm_stats(model: nn.Module) -> None:
    """Put the backbone's BatchNorm layers in eval mode (call after ``model.train()`` while frozen),
    so a frozen backbone really stays as it was, running statistics included."""
    head = model.get_classifier() if hasattr(model, "get_classifier") else None
    head_modules = set(head.modules()) if isinstance(head, nn.Module) else set()
    for module in model.modules():
        if isinstance(module, nn.modules.batchnorm._BatchNorm) and module not in head_modules:
            module.eval()


def build_optimizer(model: nn.Module, cfg: OptimConfig, backbone_lr_mult: float = 1.0) -> torch.optim.AdamW:
    """AdamW; no weight decay on biases and norm parameters (1-D), lower LR for the backbone."""
    head = head_parameter_names(model)
    groups: dict[tuple[bool, bool], list[nn.Parameter]] = {}
    for name, param in model.named_parameters():
        groups.setdefault((name in head, param.ndim > 1), []).append(param)
    param_groups = []
    for (is_head, decay), params in sorted(groups.items()):
        lr = cfg.lr if is_head or not head else cfg.lr * backbone_lr_mult
        param_groups.append({"params": params, "lr": lr, "weight_decay": cfg.weight_decay if decay else 0.0})
    return torch.optim.AdamW(param_groups, lr=cfg.lr, weight_decay=cfg.weight_decay)


def warmup_cosine(warmup_steps: int, total_steps: int, min_ratio: float):
    """LR multiplier: linear warm-up to 1, then cosine down to ``min_ratio`` at ``total_steps``."""

    def factor(step: int) -> float:
        if warmup_steps > 0 and step < warmup_steps:
            return (step + 1) / warmup_steps
        span = max(total_steps - warmup_steps, 1)
        progress = min(max(step - warmup_steps, 0) / span, 1.0)
        return min_ratio + (1 - min_ratio) * 0.5 * (1 + math.cos(math.pi * progress))

    return factor


def build_scheduler(optimizer: torch.optim.Optimizer, cfg: OptimConfig, steps_per_epoch: int, epochs: int):
    """Per-step LambdaLR (its state_dict is plain numbers, so train_state stays weights_only)."""
    warmup = int(round(cfg.warmup_epochs * steps_per_epoch))
    total = max(epochs * steps_per_epoch, 1)
    return torch.optim.lr_scheduler.LambdaLR(optimizer, warmup_cosine(warmup, total, cfg.min_lr_ratio))
