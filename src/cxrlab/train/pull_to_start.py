"""Decoupled L2-SP: after every optimizer step, the backbone's weight tensors move a step back toward
their pretrained values, ``w ← w + lr · strength · (w₀ − w)``.

L2-SP (Li, Grandvalet & Davoine, ICML 2018) penalises the distance to the starting point instead of
the distance to zero, so fine-tuning keeps what the pretrained features know; here decoupled from
the gradient the way AdamW decouples weight decay, so Adam's per-coordinate scaling does not undo it.
The classifier head, biases and normalisation parameters are not pulled.
"""

from __future__ import annotations

import torch
from torch import nn

from cxrlab.train.optim import head_parameter_names


class PullToStart:
    """Call after each ``optimizer.step()``; ``start``: the pretrained state dict (by parameter name)."""

    def __init__(self, model: nn.Module, optimizer: torch.optim.Optimizer, start: dict[str, torch.Tensor],
                 strength: float):
        head = head_parameter_names(model)
        self.targets = {id(p): start[name].to(p.device, p.dtype) for name, p in model.named_parameters()
                        if name not in head and p.ndim > 1 and name in start}
        if not self.targets:
            raise ValueError("no backbone weight of the model is in the starting state dict")
        self.optimizer, self.strength = optimizer, strength

    @torch.no_grad()
    def __call__(self) -> None:
        for group in self.optimizer.param_groups:
            weight = group["lr"] * self.strength
            for p in group["params"]:
                target = self.targets.get(id(p))
                if target is not None and p.requires_grad:
                    p.lerp_(target, weight)
