"""Process-group set-up for single-process, multi-GPU and multi-node training (``torchrun``).

``torchrun`` sets ``RANK``, ``WORLD_SIZE`` and ``LOCAL_RANK``; without them training runs in one
process. CUDA uses NCCL (one GPU per local rank); CPU uses gloo.
"""

from __future__ import annotations

import datetime
import logging
import os
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist

from braingen3d.core.device import resolve_device

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class DistEnv:
    """Where this process sits in the job.

    Attributes:
        rank: global rank.
        world_size: number of processes.
        local_rank: rank within the node (selects the GPU).
        device: this process's device.
    """

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = torch.device("cpu")

    @property
    def is_main(self) -> bool:
        """Only the main process writes checkpoints, logs, previews and bundles."""
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def setup_distributed(device: str = "auto", init_method: str | None = None, rank: int | None = None,
                      world_size: int | None = None) -> DistEnv:
    """Join the process group if the job has more than one process.

    Args:
        device: ``auto``, ``cpu``, ``cuda``; with several processes on CUDA each takes ``cuda:LOCAL_RANK``.
        init_method: process-group rendezvous (default ``env://`` as set by ``torchrun``; tests use ``file://``).
        rank: global rank (default ``$RANK``).
        world_size: number of processes (default ``$WORLD_SIZE``).
    """
    rank = int(os.environ.get("RANK", 0)) if rank is None else rank
    world_size = int(os.environ.get("WORLD_SIZE", 1)) if world_size is None else world_size
    local_rank = int(os.environ.get("LOCAL_RANK", rank))
    torch_device = resolve_device(device)
    if torch_device.type == "cuda" and world_size > 1:
        torch_device = torch.device("cuda", local_rank % torch.cuda.device_count())
        torch.cuda.set_device(torch_device)
    if world_size > 1 and not dist.is_initialized():
        backend = "nccl" if torch_device.type == "cuda" else "gloo"
        # Rank 0 alone encodes the cohort and writes previews while the others wait at a barrier,
        # which can outlast the default 30-minute collective timeout on slow machines.
        dist.init_process_group(backend=backend, init_method=init_method or "env://", rank=rank, world_size=world_size,
                                timeout=datetime.timedelta(hours=3))
        logger.info("Joined process group: rank %d of %d (%s, %s)", rank, world_size, backend, torch_device)
    return DistEnv(rank, world_size, local_rank, torch_device)


def cleanup_distributed() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()


def all_gather_objects(env: DistEnv, obj: Any) -> list[Any]:
    """Every rank's ``obj``, in rank order (just ``[obj]`` in a single process)."""
    if not env.distributed:
        return [obj]
    gathered: list[Any] = [None] * env.world_size
    dist.all_gather_object(gathered, obj)
    return gathered


def any_rank(env: DistEnv, flag: bool) -> bool:
    """True if ``flag`` is set on any rank (used so that all ranks stop together)."""
    if not env.distributed:
        return flag
    value = torch.tensor([1.0 if flag else 0.0], device=env.device)
    dist.all_reduce(value, op=dist.ReduceOp.MAX)
    return bool(value.item() > 0)


def mean_over_ranks(env: DistEnv, values: dict[str, float]) -> dict[str, float]:
    """Average logged scalars over ranks."""
    if not env.distributed or not values:
        return values
    keys = sorted(values)
    tensor = torch.tensor([float(values[k]) for k in keys], device=env.device, dtype=torch.float64)
    dist.all_reduce(tensor)
    tensor /= env.world_size
    return dict(zip(keys, tensor.tolist()))


def barrier(env: DistEnv) -> None:
    if env.distributed:
        dist.barrier()
