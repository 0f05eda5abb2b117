"""One training epoch and one evaluation pass, model-agnostic (plain module or DDP-wrapped)."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from cxrlab.train.batch_mix import BatchMix, hard_labels
from cxrlab.train.distributed import DistContext, all_gather, all_sum, any_rank
from cxrlab.train.optim import freeze_backbone_norm_stats


@dataclass(frozen=True)
class StepContext:
    """How batches are run: device, autocast dtype (None = fp32), memory format, grad clipping."""

    device: torch.device
    amp_dtype: torch.dtype | None = None
    channels_last: bool = False
    grad_clip: float = 0.0

    def autocast(self):
        if self.amp_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=self.amp_dtype)

    def to_device(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = x.to(self.device, non_blocking=True)
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        return x, y.to(self.device, non_blocking=True)


def train_one_epoch(
    model: nn.Module,
    loader: Iterable,
    criterion: nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler,
    step: StepContext,
    ctx: DistContext,
    scaler: torch.amp.GradScaler | None = None,
    should_stop: Callable[[], bool] | None = None,
    on_batch: Callable[[int, float, float], None] | None = None,
    frozen_backbone: bool = False,
    after_step: Callable[[], None] | None = None,
    mix: BatchMix | None = None,
) -> dict[str, float]:
    """Train over ``loader``; returns global ``loss``, ``accuracy``, ``images``, ``seconds``,
    ``interrupted`` (the time budget ran out mid-epoch). ``after_step`` runs after every optimizer
    step (the weight average's update); ``mix`` (MixUp/CutMix) turns each batch's labels into mixed
    class probabilities, and accuracy is then counted against each film's larger share."""
    model.train()
    if frozen_backbone:
        freeze_backbone_norm_stats(model.module if hasattr(model, "module") else model)
    total_loss = correct = seen = 0.0
    start = time.perf_counter()
    interrupted = False
    for x, y in loader:
        x, y = step.to_device(x, y)
        if mix is not None:
            x, y = mix(x, y)
        with step.autocast():
            logits = model(x)
            loss = criterion(logits.float(), y)
        optimizer.zero_grad(set_to_none=True)
        _backward_step(loss, model, optimizer, step, scaler)
        scheduler.step()
        if after_step is not None:
            after_step()
        n = y.shape[0]
        total_loss += float(loss.detach()) * n
        correct += float((logits.detach().argmax(1) == hard_labels(y)).sum())
        seen += n
        if on_batch is not None:
            on_batch(n, total_loss / seen, correct / seen)
        if should_stop is not None and any_rank(ctx, should_stop()):
            interrupted = True
            break
    total_loss, correct, seen = all_sum(ctx, [total_loss, correct, seen])
    return {"loss": total_loss / max(seen, 1), "accuracy": correct / max(seen, 1), "images": seen,
            "seconds": time.perf_counter() - start, "interrupted": interrupted}


def _backward_step(loss, model, optimizer, step: StepContext, scaler) -> None:
    if scaler is not None:
        scaler.scale(loss).backward()
        scaler.unscale_(optimizer)
        _clip(model, step.grad_clip)
        scaler.step(optimizer)
        scaler.update()
    else:
        loss.backward()
        _clip(model, step.grad_clip)
        optimizer.step()


def _clip(model: nn.Module, max_norm: float) -> None:
    if max_norm > 0:
        torch.nn.utils.clip_grad_norm_([p for p in model.parameters() if p.grad is not None], max_norm)


@torch.no_grad()
def predict_probs(model: nn.Module, loader: Iterable, step: StepContext, ctx: DistContext,
                  criterion: nn.Module | None = None) -> tuple[np.ndarray, np.ndarray, float]:
    """Softmax probabilities and targets of the whole (rank-sharded) set, gathered on every rank,
    in dataset order; plus the mean ``criterion`` loss."""
    model.eval()
    probs, targets, order = [], [], []
    loss_sum = 0.0
    sampler_indices = list(getattr(loader, "sampler", []))
    for x, y, *_ in loader:
        x, y = step.to_device(x, y)
        with step.autocast():
            logits = model(x).float()
        if criterion is not None:
            loss_sum += float(criterion(logits, y)) * y.shape[0]
        probs.append(torch.softmax(logits, 1).cpu().numpy())
        targets.append(y.cpu().numpy())
    local = (
        np.concatenate(probs) if probs else np.zeros((0, 0), np.float32),
        np.concatenate(targets) if targets else np.zeros(0, np.int64),
        np.asarray(sampler_indices[: sum(len(t) for t in targets)], dtype=np.int64),
        loss_sum,
    )
    parts = [p for p in all_gather(ctx, local) if len(p[1])]
    if not parts:
        return np.zeros((0, 0), np.float32), np.zeros(0, np.int64), float("nan")
    order = np.argsort(np.concatenate([p[2] for p in parts]), kind="stable")
    all_probs = np.concatenate([p[0] for p in parts])[order]
    all_targets = np.concatenate([p[1] for p in parts])[order]
    return all_probs, all_targets, sum(p[3] for p in parts) / len(all_targets)
