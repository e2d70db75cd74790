"""Several GPUs (or CPU processes) on PyTorch's own engine: DDP under torchrun, gloo on CPU, NCCL on CUDA."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.distributed as dist

from ..core.errors import LmhldError


@dataclass
class DistInfo:
    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world > 1


def init_from_env(device_type: str) -> DistInfo:
    """Join the process group torchrun describes (RANK, WORLD_SIZE, LOCAL_RANK); a plain run is rank 0 of 1."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistInfo()
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device_type == "cuda" else "gloo")
    return DistInfo(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", "0")))


def all_reduce_sum(values: list[float], info: DistInfo, device: torch.device) -> list[float]:
    """Sum numbers over ranks (confusion counts, loss sums)."""
    if not info.enabled:
        return values
    t = torch.tensor(values, dtype=torch.float64, device=device)
    dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return t.tolist()


def broadcast_buffers(module: torch.nn.Module, info: DistInfo) -> None:
    """Rank 0's buffers (BatchNorm's running statistics) on every rank. DDP hands them over before each training
    forward pass only, so after the last batch each rank holds its own: validation shards scored with them would
    score models that are not the one saved (rank 0's)."""
    if info.enabled:
        for buffer in module.buffers():
            dist.broadcast(buffer, src=0)


def on_main(info: DistInfo, work: Callable[[], None]) -> None:
    """Run `work` on rank 0 alone while the others wait; a refusal it raises (LmhldError) is raised on every rank,
    so each says the same line (said once per machine). The others waited at a barrier, lost their peer and said
    "another process of this multi-process run ended" beside rank 0's "run folder ... is not empty"."""
    if not info.enabled:
        work()
        return
    refusal: list[str | None] = [None]
    try:
        if info.is_main:
            work()
    except LmhldError as exc:
        refusal[0] = exc.message
        raise
    finally:
        dist.broadcast_object_list(refusal, src=0)
        if refusal[0] is not None and not info.is_main:
            raise LmhldError(refusal[0])


def barrier(info: DistInfo) -> None:
    if info.enabled:
        dist.barrier()


def shutdown(info: DistInfo) -> None:
    if info.enabled and dist.is_initialized():
        dist.destroy_process_group()
