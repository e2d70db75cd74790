"""Samples as tensors: normalisation from the dataset card, deterministic dihedral augmentation, and a resumable
distributed sampler (the epoch's order depends only on seed and epoch, so a resumed run sees the same batches)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np
import torch
from torch.utils.data import Dataset, DistributedSampler

from ..core.datasets.base import PatchDataset
from ..core.errors import LmhldError
from ..core.stats import BandStats


def normalisation(ds: PatchDataset) -> tuple[list[float], list[float]]:
    """Per-band mean/std from the dataset card, or computed in one streaming pass over the dataset."""
    card = ds.normalisation()
    if card is not None:
        return card
    stats = BandStats()
    for sample in ds:
        stats = stats.merge(BandStats.of(sample.image))
    std = np.where(stats.std > 0, stats.std, 1.0)
    return stats.mean.tolist(), std.tolist()


def dihedral(x: np.ndarray, k: int) -> np.ndarray:
    """One of the 8 flips/90-degree rotations of a (..., H, W) array."""
    if k >= 4:
        x = x[..., ::-1]
    return np.rot90(x, k % 4, axes=(-2, -1))


class TensorDataset(Dataset):
    """(image, mask) float32 tensors; augmentation chosen from (seed, epoch, index), so it is reproducible."""

    def __init__(self, ds: PatchDataset, mean: Sequence[float], std: Sequence[float], augment: bool, seed: int,
                 bands: Sequence[int] | None = None) -> None:
        self.ds, self.augment, self.seed, self.epoch = ds, augment, seed, 0
        self.bands = list(bands) if bands is not None else None
        self.mean = np.asarray(mean, np.float32)[:, None, None]
        self.std = np.asarray(std, np.float32)[:, None, None]

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.ds)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        sample = self.ds[index]
        if sample.mask is None:
            raise LmhldError(f"sample {sample.meta.get('id')} of {self.ds.name} has no mask; training needs labels")
        image = sample.image if self.bands is None else sample.image[self.bands]
        image = (image - self.mean) / self.std
        mask = sample.mask[None].astype(np.float32)
        if self.augment:
            k = int(np.random.default_rng([self.seed, self.epoch, index]).integers(8))
            image, mask = dihedral(image, k), dihedral(mask, k)
        return torch.from_numpy(np.ascontiguousarray(image)), torch.from_numpy(np.ascontiguousarray(mask))


class ResumableSampler(DistributedSampler):
    """torch's DistributedSampler (shuffled by seed + epoch, sharded by rank) that can skip the batches already
    done in an interrupted epoch."""

    def __init__(self, dataset: Dataset, num_replicas: int, rank: int, seed: int, shuffle: bool = True) -> None:
        super().__init__(dataset, num_replicas=num_replicas, rank=rank, shuffle=shuffle, seed=seed, drop_last=False)
        self.skip = 0

    def __iter__(self) -> Iterator[int]:
        indices = list(super().__iter__())
        return iter(indices[self.skip:])

    def __len__(self) -> int:
        return max(super().__len__() - self.skip, 0)


def shard(n: int, rank: int, world: int) -> list[int]:
    """Evaluation shard: every index exactly once over all ranks (no padding, so counts are exact)."""
    return list(range(rank, n, world))
