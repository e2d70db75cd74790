"""Several datasets of one patch size and band count seen as one, without copying (LMHLD "mix")."""

from __future__ import annotations

import bisect
from collections.abc import Sequence

import numpy as np

from ..errors import LmhldError
from .base import PatchDataset, Sample


class MixDataset(PatchDataset):
    def __init__(self, parts: Sequence[PatchDataset]) -> None:
        if not parts:
            raise LmhldError("mix needs at least one dataset")
        bands = {p.num_bands for p in parts}
        if len(bands) != 1:
            raise LmhldError("mix mode needs datasets with the same band count; got "
                             + ", ".join(f"{p.name}: {p.num_bands}" for p in parts))
        sizes = {p.patch_size for p in parts}
        if len(sizes) != 1:
            raise LmhldError("mix mode needs one patch size; got " + ", ".join(f"{p.name}: {p.patch_size}"
                                                                               for p in parts)
                             + " (use part mode for different patch sizes)")
        self.parts = list(parts)
        self.offsets = np.cumsum([0] + [len(p) for p in parts]).tolist()
        self.band_names = parts[0].band_names
        self.patch_size = parts[0].patch_size
        self.resolution_m = parts[0].resolution_m
        self.nodata = parts[0].nodata
        units = {tuple(p.input_divisor or ()) for p in parts}
        if len(units) != 1:  # the network would learn two scalings of one band as one
            raise LmhldError("mix mode needs datasets in the same units; "
                             + ", ".join(f"{p.name}: {_units(p)}" for p in parts)
                             + " (a Landslide4Sense release holds each band divided by its published mean; train "
                               "the datasets one after the other, --mode part, or export the same imagery)")
        self.input_divisor = parts[0].input_divisor
        self.name = "+".join(p.name for p in parts)

    def __len__(self) -> int:
        return int(self.offsets[-1])

    def unlabelled(self) -> list[str]:
        return [key for part in self.parts for key in part.unlabelled()]

    def __getitem__(self, index: int) -> Sample:
        if not 0 <= index < len(self):
            raise IndexError(index)
        k = bisect.bisect_right(self.offsets, index) - 1
        return self.parts[k][index - self.offsets[k]]

    def normalisation(self) -> tuple[list[float], list[float]] | None:
        """Pooled mean/std of the parts' cards, weighted by their sizes."""
        cards = [(len(p), p.normalisation()) for p in self.parts]
        stats = [(k, s) for k, s in cards if s is not None]
        if len(stats) < len(cards):
            return None
        n = np.array([k for k, _ in stats], dtype=float)
        means = np.array([s[0] for _, s in stats])
        stds = np.array([s[1] for _, s in stats])
        mean = (n[:, None] * means).sum(0) / n.sum()
        var = (n[:, None] * (stds**2 + (means - mean) ** 2)).sum(0) / n.sum()
        return mean.tolist(), np.sqrt(var).tolist()


def _units(ds: PatchDataset) -> str:
    return "the imagery's values" if ds.input_divisor is None else "the imagery's values divided per band"
