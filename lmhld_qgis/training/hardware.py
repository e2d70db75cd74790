"""Defaults that use the hardware: on CUDA, bf16 autocast, channels-last, DataLoader workers chosen from the cores,
pinned memory and persistent workers; on a CPU none of them (they would cost, not help). Each is an option that
turns it off (or on)."""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch

from ..core.errors import LmhldError
from .config import TrainConfig
from .data import Transfer


@dataclass(frozen=True)
class Hardware:
    device: torch.device
    amp: bool  # bf16 autocast
    channels_last: bool
    transfer: Transfer
    decode_threads: int  # threads that decode patches into the cache
    compile: bool

    def describe(self) -> str:
        """The device and how it computes; where the batches come from is said per split (BatchSource.describe)."""
        return (f"{self.device}{' bf16' if self.amp else ''}{', channels-last' if self.channels_last else ''}"
                f"{', compiled' if self.compile else ''}")


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise LmhldError("device cuda was asked for but torch sees no GPU; use --device auto or --device cpu")
    try:
        return torch.device(name)
    except RuntimeError as exc:
        raise LmhldError(f"device {name!r} is not one torch knows: use auto, cpu, cuda or cuda:N") from exc


def cores_per_process() -> int:
    """CPU cores this process may use, shared among the processes torchrun starts on this host."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:
        cores = os.cpu_count() or 1
    return max(cores // max(int(os.environ.get("LOCAL_WORLD_SIZE", "1")), 1), 1)


def resolve_hardware(cfg: TrainConfig, device: torch.device) -> Hardware:
    """The configuration's "auto" values made concrete for `device`."""
    cuda = device.type == "cuda"
    cores = cores_per_process()
    workers = (min(8, max(cores - 1, 1)) if cuda else 0) if cfg.workers == "auto" else int(cfg.workers)
    pin = cuda if cfg.pin_memory == "auto" else bool(cfg.pin_memory) and cuda
    persistent = workers > 0 if cfg.persistent_workers == "auto" else bool(cfg.persistent_workers) and workers > 0
    channels_last = cuda if cfg.channels_last == "auto" else bool(cfg.channels_last)
    amp = cfg.amp == "bf16" or (cfg.amp == "auto" and cuda)
    return Hardware(device, amp, channels_last, Transfer(device, pin, workers, persistent),
                    min(cores, 8), cfg.compile)
