"""Group DRO (Sagawa et al. 2020, "Distributionally Robust Neural Networks"): minimise the loss of
the worst group instead of the average.

Groups are (class, source) cells of the training split, so "COVID films of hospital A" and "COVID
films of hospital B" are separate groups. After each batch the group weights ``q`` follow an
exponentiated-gradient step, ``q_g <- q_g * exp(eta * (L_g + C / sqrt(n_g)))``, renormalised, and
the loss is ``sum_g q_g * L_g`` (``L_g``: mean cross-entropy of group ``g`` in the batch; ``C``: the
paper's generalisation adjustment, which favours small groups less). ``q`` is a buffer, so it is
saved with the training state and a resumed run continues with the same weights.

Under DDP the group means and counts are all-reduced before ``q`` moves, so every rank keeps the
same ``q`` and the gradient DDP averages is the gradient of the global group-weighted loss.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn


def group_ids(targets: np.ndarray, sources: np.ndarray, classes: list[str]) -> tuple[np.ndarray, list[str]]:
    """Group index per sample (one per (class, source) cell present) and the group names
    (``"COVID / covid-cxnet"``), sorted by class index then source."""
    cells = pd.DataFrame({"target": np.asarray(targets, dtype=np.int64), "source": np.asarray(sources).astype(str)})
    unique = cells.drop_duplicates().sort_values(["target", "source"]).reset_index(drop=True)
    index = {(t, s): i for i, (t, s) in enumerate(zip(unique["target"], unique["source"]))}
    ids = np.array([index[(t, s)] for t, s in zip(cells["target"], cells["source"])], dtype=np.int64)
    return ids, [f"{classes[t]} / {s}" for t, s in zip(unique["target"], unique["source"])]


class GroupDROLoss(nn.Module):
    """Worst-group cross-entropy. ``forward(logits, target, group)`` in training; without ``group``
    (validation) it is plain mean cross-entropy and ``q`` does not move."""

    def __init__(self, group_counts: np.ndarray, eta: float = 0.01, adjustment: float = 0.0,
                 label_smoothing: float = 0.0, names: list[str] | None = None) -> None:
        super().__init__()
        counts = torch.as_tensor(np.asarray(group_counts), dtype=torch.float32)
        if counts.ndim != 1 or len(counts) == 0 or bool((counts <= 0).any()):
            raise ValueError("group_counts must be a non-empty list of positive counts")
        self.names = list(names) if names is not None else [str(i) for i in range(len(counts))]
        self.eta = float(eta)
        self.label_smoothing = float(label_smoothing)
        self.register_buffer("q", torch.full_like(counts, 1.0 / len(counts)))
        self.register_buffer("bonus", float(adjustment) / counts.sqrt())

    def forward(self, logits: torch.Tensor, target: torch.Tensor, group: torch.Tensor | None = None) -> torch.Tensor:
        losses = F.cross_entropy(logits.float(), target, reduction="none", label_smoothing=self.label_smoothing)
        if group is None or not self.training:
            return losses.mean()
        n = len(self.q)
        sums = torch.zeros(n, device=losses.device).index_add(0, group, losses)
        counts = torch.bincount(group, minlength=n).to(losses.dtype)
        global_sums, global_counts, world = _all_reduce(sums.detach(), counts)
        present = global_counts > 0
        with torch.no_grad():
            means = global_sums / global_counts.clamp(min=1)
            step = torch.where(present, self.eta * (means + self.bonus), torch.zeros_like(means))
            q = self.q * torch.exp(step - step.max())  # shifted for overflow; the normalisation cancels it
            self.q.copy_(q / q.sum())
        weights = torch.where(present, self.q / global_counts.clamp(min=1), torch.zeros_like(self.q))
        return world * (weights * sums).sum()

    def weights_text(self) -> str:
        """``q`` per group, largest first, for the run log."""
        order = torch.argsort(self.q, descending=True).tolist()
        return "group-dro weights: " + ", ".join(f"{self.names[i]} {float(self.q[i]):.3f}" for i in order)


def _all_reduce(sums: torch.Tensor, counts: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, int]:
    if not (dist.is_available() and dist.is_initialized()):
        return sums, counts, 1
    both = torch.cat([sums, counts])
    dist.all_reduce(both)
    return both[: len(sums)], both[len(sums):], dist.get_world_size()
