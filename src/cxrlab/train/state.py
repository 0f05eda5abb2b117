"""Resumable training state: what ``checkpoints/last/train_state.pt`` holds and how it comes back.

Everything is tensors, numbers, strings, lists and dicts, so it loads with ``weights_only=True``.
Sampler order and augmentation are functions of (seed, epoch), and the global RNG is reseeded per
epoch, so restoring the epoch counter restores the data stream exactly.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from cxrlab.artifacts.checkpoint import load_train_state, read_weights, resolve_checkpoint_dir
from cxrlab.artifacts.run_folder import RunFolder
from cxrlab.errors import ConfigError


#: A run stopped by ``--max-minutes`` is not finished: resuming it continues training.
BUDGET_STOP = "time budget"


@dataclass
class Progress:
    """Where training stands after ``epoch`` completed epochs."""

    epoch: int = 0
    history: list[dict] = field(default_factory=list)
    best: float | None = None
    best_epoch: int = 0
    bad_epochs: int = 0
    stopped: str = ""  # why training ended ("" = not ended)

    def improved(self, value: float, lower_is_better: bool, min_delta: float) -> bool:
        if value != value:  # NaN never improves
            return self.best is None
        if self.best is None or self.best != self.best:
            return True
        return value < self.best - min_delta if lower_is_better else value > self.best + min_delta


def epoch_seed(seed: int, epoch: int) -> int:
    return seed * 1_000_003 + epoch


def make_train_state(progress: Progress, optimizer, scheduler, scaler, world: int,
                     raw_weights: dict | None = None) -> dict:
    """``raw_weights``: the optimizer's own weights when the checkpoint holds their moving average."""
    state = {
        "epoch": progress.epoch,
        "history": progress.history,
        "best": progress.best,
        "best_epoch": progress.best_epoch,
        "bad_epochs": progress.bad_epochs,
        "stopped": progress.stopped,
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict(),
        "scaler": scaler.state_dict() if scaler is not None else {},
        "torch_rng": torch.get_rng_state(),
        "world": world,
    }
    if raw_weights is not None:
        state["raw_weights"] = raw_weights
    return state


def has_checkpoint(run_dir: str | Path) -> bool:
    try:
        resolve_checkpoint_dir(RunFolder(run_dir).checkpoint("last"), "last")
    except ConfigError:
        return False
    return True


def restore(run_dir: str | Path, model: nn.Module, optimizer, scheduler, scaler, ema=None) -> Progress:
    """Load the last checkpoint of ``run_dir`` into the model/optimizer/scheduler/scaler (and the
    weight average ``ema``, whose weights are the checkpoint's; the model's are then in the state)."""
    folder = resolve_checkpoint_dir(RunFolder(run_dir).checkpoint("last"), "last")
    state = load_train_state(folder)
    if state is None:
        raise ConfigError(f"{folder}: no train_state.pt, so this run cannot be resumed")
    saved = read_weights(folder)
    if ema is not None:
        if "raw_weights" not in state:
            raise ConfigError(f"{folder}: saved without a weight average, but the run's config has optim.ema_decay > 0")
        ema.module.load_state_dict(saved)
        saved = state["raw_weights"]
    model.load_state_dict(saved)
    optimizer.load_state_dict(state["optimizer"])
    scheduler.load_state_dict(state["scheduler"])
    if scaler is not None and state.get("scaler"):
        scaler.load_state_dict(state["scaler"])
    torch.set_rng_state(state["torch_rng"])
    stopped = str(state.get("stopped", ""))
    return Progress(epoch=int(state["epoch"]), history=list(state["history"]), best=state["best"],
                    best_epoch=int(state["best_epoch"]), bad_epochs=int(state["bad_epochs"]),
                    stopped="" if stopped.startswith(BUDGET_STOP) else stopped)
