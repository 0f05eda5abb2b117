"""DistributedDataParallel plumbing for ``torchrun --nproc_per_node N -m cxrlab train``.

gloo on CPU, NCCL on GPU; one process = one rank. Rank 0 alone writes files; every rank computes
the same stop decisions from all-reduced numbers, so they never disagree.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class DistContext:
    rank: int = 0
    world: int = 1
    local_rank: int = 0
    device: str = "cpu"

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world > 1


def setup_distributed() -> DistContext:
    """Join the process group when started by torchrun (``WORLD_SIZE`` > 1); else a single process."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    cuda = torch.cuda.is_available()
    if world <= 1:
        return DistContext(device="cuda" if cuda else "cpu")
    rank, local_rank = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    if cuda:
        torch.cuda.set_device(local_rank)
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if cuda else "gloo")
    return DistContext(rank, world, local_rank, f"cuda:{local_rank}" if cuda else "cpu")


def cleanup_distributed(ctx: DistContext) -> None:
    if ctx.enabled and dist.is_initialized():
        dist.destroy_process_group()


def barrier(ctx: DistContext) -> None:
    if ctx.enabled:
        dist.barrier()


def all_sum(ctx: DistContext, values: list[float]) -> list[float]:
    """Element-wise sum over ranks (identity for one process)."""
    if not ctx.enabled:
        return list(values)
    t = torch.tensor(values, dtype=torch.float64, device=ctx.device if ctx.device.startswith("cuda") else "cpu")
    dist.all_reduce(t)
    return t.tolist()


def all_gather(ctx: DistContext, obj: Any) -> list[Any]:
    """Every rank's ``obj`` (a list with one entry per rank)."""
    if not ctx.enabled:
        return [obj]
    out: list[Any] = [None] * ctx.world
    dist.all_gather_object(out, obj)
    return out


def any_rank(ctx: DistContext, flag: bool) -> bool:
    """True on every rank when it is true on at least one."""
    return all_sum(ctx, [1.0 if flag else 0.0])[0] > 0
