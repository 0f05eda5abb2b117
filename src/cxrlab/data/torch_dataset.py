"""A torch ``Dataset`` over the preprocessing cache (a ``uint8 (N, S, S)`` memmap).

Each item is ``(float32 (in_chans, S, S) normalised image, class index)``. Reading a cached row is a
memory copy, so the pipeline costs little more than the augmentation itself.

Augmentation randomness is seeded per (seed, epoch, sample): the images a run sees do not depend
on the number of loader workers, and a resumed run sees exactly what an uninterrupted one would.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch.utils.data import Dataset
from torchvision.transforms import v2

from cxrlab.data.transforms import normalize


def sample_seed(seed: int, epoch: int, index: int) -> int:
    """A well-mixed 63-bit seed for one sample of one epoch."""
    return int(np.random.SeedSequence([seed, epoch, index]).generate_state(2, dtype=np.uint32).view(np.uint64)[0] >> 1)


class CachedImageDataset(Dataset):
    """Rows ``rows`` of the cache ``images`` with class indices ``targets``.

    ``images``: ``(N, S, S)`` uint8 array or memmap (``CacheStore.images``); ``rows[i]`` is the cache
    row of item ``i``. ``augment``: a transforms-v2 transform on ``uint8 (1, S, S)`` tensors, or None
    (evaluation). Call :meth:`set_epoch` before each epoch so augmentations change between epochs.
    """

    def __init__(
        self,
        images: np.ndarray,
        rows: Sequence[int],
        targets: Sequence[int],
        mean: Sequence[float],
        std: Sequence[float],
        in_chans: int = 1,
        augment: v2.Transform | None = None,
        seed: int = 0,
    ) -> None:
        if len(rows) != len(targets):
            raise ValueError(f"rows ({len(rows)}) and targets ({len(targets)}) differ in length")
        self.images = images
        self.rows = np.asarray(rows, dtype=np.int64)
        self.targets = np.asarray(targets, dtype=np.int64)
        self.mean = tuple(float(m) for m in mean)
        self.std = tuple(float(s) for s in std)
        self.in_chans = in_chans
        self.augment = augment
        self.seed = seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.rows)

    def raw(self, index: int) -> torch.Tensor:
        """The cached ``uint8 (1, S, S)`` image of item ``index`` (copied out of the memmap)."""
        return torch.from_numpy(np.array(self.images[self.rows[index]], dtype=np.uint8))[None]

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        x = self.raw(index)
        if self.augment is not None:
            with torch.random.fork_rng(devices=[]):
                torch.default_generator.manual_seed(sample_seed(self.seed, self.epoch, index))
                x = self.augment(x)
        x = normalize(x, self.mean, self.std, self.in_chans)
        return x, int(self.targets[index])
