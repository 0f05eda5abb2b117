"""Samplers whose order depends only on (seed, epoch): resumable and DDP-aware.

Uniform shuffling uses torch's ``DistributedSampler`` (also for one process); class-balanced
sampling draws with replacement with probability ``1 / count(class)``, then shards across ranks;
source-balanced sampling also gives every source of a class an equal share of that class's draws.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import numpy as np
import pandas as pd
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


def source_balanced_weights(targets: np.ndarray, sources: np.ndarray) -> np.ndarray:
    """Per-sample weight such that every class is drawn equally often and, within a class, every
    source is too: ``1 / (sources_in(class) * count(class, source))``. A source that holds only a
    few films of a class (e.g. adult pneumonia among pediatric pneumonia) is drawn as often as the
    big one, so "which hospital" stops predicting the class."""
    df = pd.DataFrame({"target": np.asarray(targets), "source": np.asarray(sources)})
    cell_count = df.groupby(["target", "source"])["target"].transform("size").to_numpy(dtype=np.float64)
    sources_in_class = df.groupby("target")["source"].transform("nunique").to_numpy(dtype=np.float64)
    return 1.0 / (sources_in_class * cell_count)


def build_train_sampler(targets: np.ndarray, balanced: bool, seed: int, rank: int = 0, world: int = 1,
                        sources: np.ndarray | None = None, num_samples: int | None = None) -> Sampler[int]:
    """Uniform shuffling, or (``balanced``) class-balanced draws - also source-balanced when
    ``sources`` (one source name per sample) is given. ``num_samples``: draws per epoch of the
    balanced samplers (default: as many as there are samples)."""
    if balanced:
        weights = class_balanced_weights(targets) if sources is None else source_balanced_weights(targets, sources)
        return WeightedEpochSampler(weights, seed=seed, rank=rank, world=world, num_samples=num_samples)
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
