"""What each mode trains on: single (one dataset), mix (all as one, same patch size and bands), part (one stage
per dataset in the given order: LMHLD's serialized training, Fig. 5)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..core.bands import unique_names
from ..core.datasets import MixDataset, PatchDataset, Sample, open_dataset
from ..core.datasets.detect import detect_format
from ..core.errors import LmhldError
from .config import TrainConfig


class SubsetView(PatchDataset):
    """Some samples of a dataset, without copying (splits for formats that have none)."""

    def __init__(self, ds: PatchDataset, indices: list[int]) -> None:
        self.ds, self.indices = ds, indices
        self.band_names, self.patch_size, self.resolution_m = ds.band_names, ds.patch_size, ds.resolution_m
        self.min_landslide_area_m2 = ds.min_landslide_area_m2
        self.large_landslide_area_m2 = ds.large_landslide_area_m2
        self.name = ds.name

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, index: int) -> Sample:
        return self.ds[self.indices[index]]

    def normalisation(self) -> tuple[list[float], list[float]] | None:
        return self.ds.normalisation()


@dataclass
class Stage:
    index: int
    name: str
    train: PatchDataset
    val: PatchDataset | None
    sources: list[PatchDataset] = field(default_factory=list)  # the datasets trained on in this stage

    @property
    def in_channels(self) -> int:
        return self.train.num_bands

    @property
    def min_landslide_area_m2(self) -> float | None:
        """The smallest landslide worth reporting over the stage's datasets (None when none says)."""
        known = self._known("min_landslide_area_m2")
        return min(known) if known else None

    @property
    def large_landslide_area_m2(self) -> float | None:
        """How large the stage's large landslides are (the largest over its datasets; None when none says)."""
        known = self._known("large_landslide_area_m2")
        return max(known) if known else None

    def _known(self, attribute: str) -> list[float]:
        return [float(a) for ds in self.sources or [self.train] if (a := getattr(ds, attribute, None)) is not None]


def open_splits(path: str, bands: list[int] | None) -> tuple[PatchDataset, PatchDataset | None]:
    """(train, val) for a dataset folder; folders without splits get a deterministic 80/20 split."""
    fmt = detect_format(path)
    if fmt in ("lmhld", "landslide4sense"):
        train = open_dataset(path, "train", bands, fmt)
        val: PatchDataset | None
        try:
            val = open_dataset(path, "val", bands, fmt)
            val = val if len(val) else None
        except LmhldError:
            val = None
        if fmt == "lmhld" and not train.name:
            train.name = Path(path).name
        return train, val
    whole = open_dataset(path, "train", bands, fmt)
    order = np.random.default_rng(0).permutation(len(whole)).tolist()
    cut = max(1, round(0.8 * len(whole)))
    rest = SubsetView(whole, sorted(order[cut:])) if cut < len(whole) else None
    return SubsetView(whole, sorted(order[:cut])), rest


def plan_stages(cfg: TrainConfig) -> list[Stage]:
    """Open every dataset up front, so a bad configuration fails before any training starts."""
    opened = [open_splits(p, cfg.bands) for p in cfg.data]
    for (train, _), path in zip(opened, cfg.data, strict=True):
        if len(train) == 0:
            raise LmhldError(f"dataset {path} has no training samples")
    if cfg.mode == "single":
        train, val = opened[0]
        return [Stage(0, train.name, train, val, [train])]
    if cfg.mode == "mix":
        mixed = MixDataset([t for t, _ in opened])
        vals = [v for _, v in opened if v is not None]
        return [Stage(0, mixed.name, mixed, MixDataset(vals) if vals else None, [t for t, _ in opened])]
    names = unique_names([t.name for t, _ in opened])  # two datasets named alike would share a forgetting.csv column
    return [Stage(i, names[i], t, v, [t]) for i, (t, v) in enumerate(opened)]
