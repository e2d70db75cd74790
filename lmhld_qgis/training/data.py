"""Batches for training and validation: the epoch's order (resumable), and three sources of raw batches.

- `TensorSource`: the split's cached arrays as tensors on the training device (a GPU holds a dataset of a few GB
  easily; on a CPU they are the in-memory cache itself): a batch is one index operation.
- `PrefetchSource`: cached arrays in host memory or a memory-mapped pack, gathered one batch ahead by a thread
  into pinned memory, then copied to the GPU without blocking.
- `LoaderSource`: no cache (or patches of different sizes): torch's DataLoader reads the patches, with worker
  processes, pinned memory and persistent workers as configured.

A source yields batches as stored (raw band values, uint8 masks); normalisation and augmentation happen on the
device, for the whole batch (training/augment.py).
"""

from __future__ import annotations

import math
import queue
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch
from numpy.typing import NDArray
from torch.utils.data import DataLoader, Dataset

from ..core.datasets.base import PatchDataset
from ..core.errors import LmhldError
from ..core.stats import BandStats
from .cache import Arrays, PatchArrays

Batch = tuple[torch.Tensor, torch.Tensor]


def normalisation(ds: PatchDataset) -> tuple[list[float], list[float]]:
    """Per-band mean/std from the dataset card, or computed in one streaming pass over the dataset."""
    card = ds.normalisation()
    if card is None:
        stats = BandStats()
        for sample in ds:
            bad = int(np.count_nonzero(~np.isfinite(sample.image)))
            if bad:  # a format without a card (Landslide4Sense, CAS, image folders): the file is the user's
                name = Path(str(sample.meta.get("source", ""))).name or sample.meta.get("id")
                raise LmhldError(f"{ds.name or 'the dataset'}: sample {name} holds {bad} NaN or infinite pixel "
                                 "value(s); training cannot learn from them: fill them (with the band's mean, say) "
                                 "or remove the patch")
            stats = stats.merge(BandStats.of(sample.image))
        card = [float(v) for v in stats.mean], [float(v) for v in np.where(stats.std > 0, stats.std, 1.0)]
    mean, std = card
    if not all(v is not None and math.isfinite(v) for v in (*mean, *std)):
        raise LmhldError(f"{ds.name or 'the dataset'}: its band statistics are not numbers (mean {mean}, std "
                         f"{std}): some patches hold NaN or infinite pixels; export the dataset again with this "
                         "version (it leaves such windows out) or fix the patches")
    return list(mean), list(std)


def epoch_order(n: int, seed: int, epoch: int, rank: int = 0, world: int = 1) -> list[int]:
    """This rank's sample order in an epoch: a permutation fixed by (seed, epoch), padded to divide by the ranks
    and dealt out as torch's DistributedSampler does, so a resumed epoch sees the same batches."""
    g = torch.Generator().manual_seed(seed + epoch)
    order: list[int] = torch.randperm(n, generator=g).tolist()
    total = math.ceil(n / world) * world
    order += order[: total - n]
    return order[rank:total:world]


def shard(n: int, rank: int, world: int) -> list[int]:
    """Evaluation shard: every index exactly once over all ranks (no padding, so counts are exact)."""
    return list(range(rank, n, world))


@dataclass(frozen=True)
class Transfer:
    """How batches reach the device."""

    device: torch.device
    pin_memory: bool
    workers: int
    persistent_workers: bool


class BatchSource(Protocol):
    def batches(self, indices: Sequence[int], batch_size: int) -> Iterator[Batch]:
        """Raw (images, masks) batches of the given samples, in order."""

    def close(self) -> None:
        """Release workers and threads."""

    def describe(self) -> str:
        """Where the batches come from, in words for the log."""


def _device_friendly(t: torch.Tensor, device: torch.device) -> torch.Tensor:
    """uint16 has few kernels off the CPU: widen it there (exactly)."""
    return t.to(torch.int32) if t.dtype == torch.uint16 and device.type != "cpu" else t


def n_chunks(n: int, size: int) -> int:
    """How many batches _chunks makes of `n` samples."""
    count = math.ceil(n / size)
    return count - 1 if count > 1 and n % size == 1 else count


def _chunks(indices: Sequence[int], size: int) -> Iterator[NDArray[Any]]:
    """Batches of `size` in order; a last batch of one sample joins the one before it (BatchNorm cannot train on a
    single sample where a small patch reaches the network's deepest level as one pixel)."""
    count = n_chunks(len(indices), size)
    for k in range(count):
        end = (k + 1) * size if k < count - 1 else len(indices)
        yield np.asarray(indices[k * size:end], dtype=np.int64)


class TensorSource:
    """Cached arrays as tensors on the device; a batch is an index_select there."""

    def __init__(self, arrays: PatchArrays, device: torch.device) -> None:
        images = torch.from_numpy(np.ascontiguousarray(arrays.images))
        masks = torch.from_numpy(np.ascontiguousarray(arrays.masks))
        self.images = _device_friendly(images, device).to(device)
        self.masks = masks.to(device)
        self.device = device

    def batches(self, indices: Sequence[int], batch_size: int) -> Iterator[Batch]:
        for chunk in _chunks(indices, batch_size):
            idx = torch.from_numpy(chunk).to(self.device)
            yield self.images.index_select(0, idx), self.masks.index_select(0, idx)

    def close(self) -> None:
        pass

    def describe(self) -> str:
        return "decoded once, held in GPU memory" if self.device.type == "cuda" else "decoded once, held in memory"


class PrefetchSource:
    """Cached arrays in host memory (or memory-mapped): a thread gathers the next batches into pinned memory."""

    def __init__(self, arrays: Arrays, transfer: Transfer, depth: int = 3) -> None:
        self.arrays, self.transfer, self.depth = arrays, transfer, depth

    def _gather(self, chunk: NDArray[Any]) -> Batch:
        images, masks = self.arrays.take(chunk)
        x = _device_friendly(torch.from_numpy(np.ascontiguousarray(images)), self.transfer.device)
        y = torch.from_numpy(np.ascontiguousarray(masks))
        if self.transfer.pin_memory:
            x, y = x.pin_memory(), y.pin_memory()
        return x, y

    def batches(self, indices: Sequence[int], batch_size: int) -> Iterator[Batch]:
        ready: queue.Queue[Batch | BaseException | None] = queue.Queue(self.depth)
        stop = threading.Event()

        def produce() -> None:
            try:
                for chunk in _chunks(indices, batch_size):
                    item = self._gather(chunk)
                    while not stop.is_set():
                        try:
                            ready.put(item, timeout=0.1)
                            break
                        except queue.Full:
                            continue
                    if stop.is_set():
                        return
                ready.put(None)
            except BaseException as exc:  # handed to the consumer, which raises it
                ready.put(exc)

        worker = threading.Thread(target=produce, name="lmhld-prefetch", daemon=True)
        worker.start()
        try:
            while (item := ready.get()) is not None:
                if isinstance(item, BaseException):
                    raise item
                x, y = item
                yield (x.to(self.transfer.device, non_blocking=True), y.to(self.transfer.device, non_blocking=True))
        finally:
            stop.set()
            worker.join()

    def close(self) -> None:
        pass

    def describe(self) -> str:
        where = "in memory" if self.arrays.where == "memory" else f"in memory-mapped packs ({self.arrays.where})"
        pinned = " into pinned memory" if self.transfer.pin_memory else ""
        return f"decoded once, held {where}, gathered a few batches ahead{pinned}"


class _RawPatches(Dataset[Batch]):
    def __init__(self, ds: PatchDataset) -> None:
        self.ds = ds

    def __len__(self) -> int:
        return len(self.ds)

    def __getitem__(self, index: int) -> Batch:
        sample = self.ds[index]
        if sample.mask is None:
            raise LmhldError(f"sample {sample.meta.get('id')} of {self.ds.name} has no mask; training needs labels")
        return torch.from_numpy(np.ascontiguousarray(sample.image)), torch.from_numpy(sample.mask)


class _Plan:
    """The batches of the current pass, read by the DataLoader in the main process at each iteration."""

    def __init__(self) -> None:
        self.batches: list[list[int]] = []

    def __iter__(self) -> Iterator[list[int]]:
        return iter(self.batches)

    def __len__(self) -> int:
        return len(self.batches)


class LoaderSource:
    """Patches read at every pass by a DataLoader (one per source, so persistent workers live across epochs)."""

    def __init__(self, ds: PatchDataset, transfer: Transfer) -> None:
        self.plan, self.transfer = _Plan(), transfer
        self.loader: DataLoader[Batch] = DataLoader(
            _RawPatches(ds), batch_sampler=self.plan, num_workers=transfer.workers,
            pin_memory=transfer.pin_memory and transfer.device.type == "cuda",
            persistent_workers=transfer.persistent_workers and transfer.workers > 0)

    def batches(self, indices: Sequence[int], batch_size: int) -> Iterator[Batch]:
        self.plan.batches = [list(map(int, c)) for c in _chunks(indices, batch_size)]
        for x, y in self.loader:
            yield (x.to(self.transfer.device, non_blocking=True), y.to(self.transfer.device, non_blocking=True))

    def describe(self) -> str:
        t = self.transfer
        readers = (f"{t.workers} {'persistent ' if t.persistent_workers else ''}worker processes" if t.workers
                   else "the training process")
        pinned = ", into pinned memory" if t.pin_memory and t.device.type == "cuda" else ""
        return f"read from the patch files at every epoch by {readers}{pinned}"

    def close(self) -> None:
        iterator = getattr(self.loader, "_iterator", None)
        if iterator is not None and hasattr(iterator, "_shutdown_workers"):
            iterator._shutdown_workers()


def device_budget(device: torch.device) -> int:
    """Bytes of the device's memory a cached split may take: a quarter of what is free (the host's memory budget
    already applies on a CPU)."""
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        return int(free) // 4
    return 1 << 62


def make_source(ds: PatchDataset, arrays: Arrays | None, transfer: Transfer) -> BatchSource:
    """The fastest source the cache allows (see the module docstring)."""
    if arrays is None:
        return LoaderSource(ds, transfer)
    if isinstance(arrays, PatchArrays):
        on_cpu = transfer.device.type == "cpu"
        if on_cpu and arrays.where == "memory":
            return TensorSource(arrays, transfer.device)
        widen = 2 if arrays.images.dtype == np.uint16 else 1
        if not on_cpu and arrays.nbytes * widen <= device_budget(transfer.device):
            return TensorSource(arrays, transfer.device)
    return PrefetchSource(arrays, transfer)
