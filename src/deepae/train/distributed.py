"""Process-group set-up for multi-process training under ``torchrun``.

A single process is the default and needs none of this. Under torchrun (which sets RANK,
WORLD_SIZE and LOCAL_RANK) the Trainer wraps the model in DistributedDataParallel. Its
``batch_size`` stays the global batch: the ranks walk one shared, seeded permutation in batches
of ``batch_size`` and each takes every ``world_size``-th sample of every batch (see
``Trainer._train_steps``), so N ranks take the same steps as one process, for any number of
samples. Metrics are summed over the ranks; only rank 0 reports and saves.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class DistContext:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1


def init_distributed(device: torch.device) -> DistContext:
    """Join the process group torchrun describes in the environment; a no-op for one process."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size <= 1:
        return DistContext()
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
    return DistContext(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", "0")))


def _all_reduce(value: torch.Tensor, ctx: DistContext, op) -> torch.Tensor:
    if not ctx.enabled:
        return value
    # gloo reduces CPU tensors, nccl CUDA ones: the value travels to the backend's device and back.
    device = torch.device("cuda", ctx.local_rank) if dist.get_backend() == "nccl" else torch.device("cpu")
    reduced = value.detach().to(device, copy=True)
    dist.all_reduce(reduced, op=op)
    return reduced.to(value.device)


def all_reduce_sum(value: torch.Tensor, ctx: DistContext) -> torch.Tensor:
    """The sum of ``value`` over all ranks (``value`` itself for one process)."""
    return _all_reduce(value, ctx, dist.ReduceOp.SUM)


def all_reduce_max(value: torch.Tensor, ctx: DistContext) -> torch.Tensor:
    """The largest ``value`` of all ranks, e.g. 1.0 when any rank asks to stop."""
    return _all_reduce(value, ctx, dist.ReduceOp.MAX)
