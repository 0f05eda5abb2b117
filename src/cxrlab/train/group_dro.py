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
import torch
import torch.nn.functional as F
from torch import nn

from cxrlab.train.distributed import sum_over_ranks


def source_ids(sources: np.ndarray) -> tuple[np.ndarray, list[str]]:
    """Source index per sample and the sorted source names."""
    names, ids = np.unique(np.asarray(sources).astype(str), return_inverse=True)
    return ids.astype(np.int64), names.tolist()


def cell_counts(targets: np.ndarray, sources: np.ndarray, num_classes: int, num_sources: int) -> np.ndarray:
    """``(num_classes, num_sources)`` table of training samples per (class, source) cell."""
    counts = np.zeros((num_classes, num_sources), dtype=np.int64)
    np.add.at(counts, (np.asarray(targets, dtype=np.int64), np.asarray(sources, dtype=np.int64)), 1)
    return counts


class GroupDROLoss(nn.Module):
    """Worst-group cross-entropy over the non-empty (class, source) cells of ``counts``.

    ``forward(logits, target, source)`` in training (the group is ``(target, source)``); without
    ``source`` (validation) it is plain mean cross-entropy and ``q`` does not move."""

    uses_source = True  # the training loop (or a wrapping loss) passes each sample's source index

    def __init__(self, counts: np.ndarray, eta: float = 0.01, adjustment: float = 0.0, label_smoothing: float = 0.0,
                 classes: list[str] | None = None, sources: list[str] | None = None) -> None:
        super().__init__()
        table = np.asarray(counts)
        if table.ndim != 2 or not (table > 0).any() or (table < 0).any():
            raise ValueError("counts must be a (classes, sources) table of sample counts with at least one > 0")
        n_classes, n_sources = table.shape
        classes = classes or [str(c) for c in range(n_classes)]
        sources = sources or [str(s) for s in range(n_sources)]
        self.num_sources = n_sources
        self.eta = float(eta)
        self.label_smoothing = float(label_smoothing)
        self.names = [f"{classes[i // n_sources]} / {sources[i % n_sources]}" for i in range(table.size)]
        flat = torch.as_tensor(table.ravel(), dtype=torch.float32)
        self.register_buffer("q", (flat > 0).float() / float((flat > 0).sum()))
        self.register_buffer("bonus", float(adjustment) / flat.clamp(min=1).sqrt())

    def forward(self, logits: torch.Tensor, target: torch.Tensor, source: torch.Tensor | None = None) -> torch.Tensor:
        losses = F.cross_entropy(logits.float(), target, reduction="none", label_smoothing=self.label_smoothing)
        if source is None or not self.training:
            return losses.mean()
        group = target * self.num_sources + source
        n = len(self.q)
        sums = torch.zeros(n, device=losses.device).index_add(0, group, losses)
        counts = torch.bincount(group, minlength=n).to(losses.dtype)
        both, world = sum_over_ranks(torch.cat([sums.detach(), counts]))
        global_sums, global_counts = both[:n], both[n:]
        present = global_counts > 0
        with torch.no_grad():
            means = global_sums / global_counts.clamp(min=1)
            step = torch.where(present, self.eta * (means + self.bonus), torch.zeros_like(means))
            q = self.q * torch.exp(step - step.max())  # shifted for overflow; the normalisation cancels it
            self.q.copy_(q / q.sum())
        weights = torch.where(present, self.q / global_counts.clamp(min=1), torch.zeros_like(self.q))
        return world * (weights * sums).sum()

    def epoch_note(self) -> str:
        """``q`` per group, largest first, for the run log (empty cells left out)."""
        order = [i for i in torch.argsort(self.q, descending=True).tolist() if float(self.q[i]) > 0]
        return "group-dro weights: " + ", ".join(f"{self.names[i]} {float(self.q[i]):.3f}" for i in order)

