"""Distributed data parallel runs under ``torchrun``: process group, device and collectives.

``torchrun --nproc_per_node N -m experiments.train ...`` starts N processes with ``RANK``,
``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR`` and ``MASTER_PORT`` set; :func:`setup` reads them
and joins the process group (NCCL on CUDA, gloo otherwise). Without them (a plain ``python -m``
run) everything here degrades to the single-process case, so the training code has one path.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist

from ..core.runtime import select_device


@dataclass(frozen=True)
class DistContext:
    """Where this process stands in the run.

    Attributes:
        rank: global rank (0 in a single-process run).
        world_size: number of processes.
        local_rank: rank on this machine (selects the GPU).
        device: this process's device.
    """

    rank: int
    world_size: int
    local_rank: int
    device: torch.device

    @property
    def is_main(self) -> bool:
        """Rank 0: the process that logs and writes checkpoints."""
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    if value is None:
        return default
    try:
        return int(value)
    except ValueError:
        raise ValueError(f"environment variable {name}: expected an int, got {value!r}") from None


def setup(device_preference: str = "auto") -> DistContext:
    """Select the device and, under torchrun (``WORLD_SIZE > 1``), join the process group.

    Raises:
        ValueError: a device that cannot run the requested distributed setup (MPS).
    """
    world_size = _env_int("WORLD_SIZE", 1)
    rank = _env_int("RANK", 0)
    local_rank = _env_int("LOCAL_RANK", 0)
    device = select_device(device_preference, local_rank)
    if world_size > 1:
        if device.type == "mps":
            raise ValueError("device: distributed runs support CUDA (nccl) and CPU (gloo), not mps; pass --device cpu")
        if device.type == "cuda":
            torch.cuda.set_device(device)
        if not dist.is_initialized():
            dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return DistContext(rank, world_size, local_rank, device)


def cleanup(ctx: DistContext) -> None:
    """Leave the process group (after a barrier, so no rank exits while others still talk)."""
    if ctx.distributed and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()


def abort(ctx: DistContext) -> None:
    """Leave the process group at once, after an error (no barrier)."""
    if ctx.distributed and dist.is_initialized():
        dist.destroy_process_group()


def broadcast_object(ctx: DistContext, obj: Any) -> Any:
    """``obj`` of rank 0 on every rank (for a checkpoint read by rank 0 only)."""
    if not ctx.distributed:
        return obj
    box = [obj if ctx.is_main else None]
    dist.broadcast_object_list(box, src=0, device=ctx.device if ctx.device.type == "cuda" else None)
    return box[0]


def gather_objects(ctx: DistContext, obj: Any) -> list:
    """Every rank's ``obj``, in rank order, on every rank."""
    if not ctx.distributed:
        return [obj]
    out: list = [None] * ctx.world_size
    dist.all_gather_object(out, obj)
    return out


def reduce_stats(ctx: DistContext, stats: dict[str, float], max_keys: tuple[str, ...] = ()) -> dict[str, float]:
    """Mean over ranks of every value of ``stats``, the maximum for ``max_keys``."""
    if not ctx.distributed:
        return dict(stats)
    keys = sorted(stats)
    values = torch.tensor([stats[k] for k in keys], dtype=torch.float64, device=ctx.device)
    gathered = [torch.empty_like(values) for _ in range(ctx.world_size)]
    dist.all_gather(gathered, values)
    table = torch.stack(gathered).cpu()
    return {k: float(table[:, i].max() if k in max_keys else table[:, i].mean()) for i, k in enumerate(keys)}


def broadcast_buffers(ctx: DistContext, module: torch.nn.Module) -> None:
    """Copy rank 0's buffers (BatchNorm running statistics) to every rank.

    DDP broadcasts buffers at the start of each training forward, but each rank then updates
    them with its own batch; before evaluating a shard of the validation set every rank must
    hold the model that rank 0 checkpoints.
    """
    if not ctx.distributed:
        return
    for buffer in module.buffers():
        dist.broadcast(buffer, src=0)
