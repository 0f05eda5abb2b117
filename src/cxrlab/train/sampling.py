"""Samplers whose order depends only on (seed, epoch): resumable and DDP-aware.

Uniform shuffling uses torch's ``DistributedSampler`` (also for one process); class-balanced
sampling draws with replacement with probability ``1 / count(class)``, then shards across ranks.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import numpy as np
import torch
from torch.utils.data import DistributedSampler, Sampler


class WeightedEpochSampler(Sampler[int]):
    """Draw ``num_samples`` (default ``len(weights)``) indices with replacement (per-epoch
    generator), this rank's share."""

    def __init__(self, weights: np.ndarray, seed: int = 0, rank: int = 0, world: int = 1,
                 num_samples: int | None = None) -> None:
        self.weights = torch.as_tensor(weights, dtype=torch.float64)
        self.seed, self.rank, self.world = seed, rank, world
        self.epoch = 0
        self.per_rank = math.ceil((num_samples or len(self.weights)) / world)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return self.per_rank

    def __iter__(self) -> Iterator[int]:
        gen = torch.Generator().manual_seed(self.seed * 100_003 + self.epoch)
        draws = torch.multinomial(self.weights, self.per_rank * self.world, replacement=True, generator=gen)
        return iter(draws[self.rank::self.world].tolist())


def class_balanced_weights(targets: np.ndarray) -> np.ndarray:
    """Per-sample weight ``1 / count(class)``: every class is drawn equally often."""
    targets = np.asarray(targets)
    counts = np.bincount(targets)
    return 1.0 / counts[targets]


def build_train_sampler(targets: np.ndarray, balanced: bool, seed: int, rank: int = 0, world: int = 1,
                        num_samples: int | None = None) -> Sampler[int]:
    """Uniform shuffling, or (``balanced``) class-balanced draws. ``num_samples``: draws per epoch of
    the balanced sampler (default: as many as there are samples)."""
    if balanced:
        return WeightedEpochSampler(class_balanced_weights(targets), seed=seed, rank=rank, world=world,
                                    num_samples=num_samples)
    return DistributedSampler(range(len(targets)), num_replicas=world, rank=rank, shuffle=True, seed=seed)


def build_eval_sampler(n: int, rank: int = 0, world: int = 1) -> Sampler[int]:
    """This rank's contiguous-stride share of ``range(n)`` without padding (nothing counted twice)."""
    return _Shard(n, rank, world)


class _Shard(Sampler[int]):
    def __init__(self, n: int, rank: int, world: int) -> None:
        self.indices = list(range(rank, n, world))

    def __len__(self) -> int:
        return len(self.indices)

    def __iter__(self) -> Iterator[int]:
        return iter(self.indices)
