"""The sample type every reader returns, and the small interface readers share."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from ..errors import LmhldError

Image = npt.NDArray[Any]  # (bands, H, W); readers return float32
Mask = npt.NDArray[np.uint8]  # (H, W), 1 = landslide


@dataclass
class Sample:
    image: Image  # (bands, H, W) float32
    mask: Mask | None  # (H, W) uint8, 1 = landslide; None for unlabelled data (e.g. a test split)
    meta: dict[str, Any] = field(default_factory=dict)  # id, area, source file, ...


class PatchDataset:
    """A sequence of samples with known bands, patch size and normalisation."""

    name: str = ""
    band_names: list[str]
    patch_size: int | None = None
    resolution_m: float | None = None
    min_landslide_area_m2: float | None = None  # smallest landslide worth reporting, learnt from the inventory
    large_landslide_area_m2: float | None = None  # 90th percentile of the inventory's areas (detection's context)
    nodata: float | None = None  # the source rasters' nodata value (models exported from it treat it as missing)

    def __len__(self) -> int:
        raise NotImplementedError

    def __getitem__(self, index: int) -> Sample:
        raise NotImplementedError

    @property
    def num_bands(self) -> int:
        return len(self.band_names)

    def normalisation(self) -> tuple[list[float], list[float]] | None:
        """Per-band (mean, std) from the dataset card, when the format has one."""
        return None

    def unlabelled(self) -> list[str]:
        """The ids of samples that have no mask, known without reading pixels (training refuses them before it
        starts, not at the first batch); formats whose every sample has its mask return none."""
        return []

    def __iter__(self) -> Iterator[Sample]:
        for i in range(len(self)):
            yield self[i]


def select(image: Image, bands: Sequence[int] | None, source: str) -> Image:
    """Pick 0-based bands from a (bands, H, W) array, with a clear error for a missing band."""
    if bands is None:
        return image
    bad = [b for b in bands if not 0 <= b < image.shape[0]]
    if bad:
        raise LmhldError(f"{source} has {image.shape[0]} bands; band indices {bad} (0-based) do not exist")
    return image[list(bands)]


def binary_mask(mask: npt.ArrayLike) -> Mask:
    """Masks as uint8 0/1 (some releases store 255 for landslide)."""
    return (np.asarray(mask) > 0).astype(np.uint8)
