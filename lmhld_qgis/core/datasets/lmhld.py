"""The project's own format, as `export_patches` writes it: dataset.json, img/, mask/, splits/."""

from __future__ import annotations

import json
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import LmhldError
from ..splits import SPLIT_NAMES
from .base import PatchDataset, Sample, binary_mask, select, selected_names


def read_card(root: str | Path) -> dict[str, Any]:
    path = Path(root) / "dataset.json"
    if not path.is_file():
        raise LmhldError(f"{root} is not an exported dataset (no dataset.json); export one with `lmhld export`")
    try:
        card: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise LmhldError(f"{path} is damaged ({exc}): export the dataset again (`lmhld export ... --overwrite`), "
                         "or put back a copy of the file") from exc
    return card


def _patch_nodata(root: Path) -> float | None:
    """The nodata value the patches carry (export copies the source raster's), from the first one."""
    import rasterio

    first = next(iter(sorted((root / "img").glob("*.tif"))), None)
    if first is None:
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with rasterio.open(first) as src:
            nodata: float | None = src.nodata
            return nodata


class LmhldDataset(PatchDataset):
    def __init__(self, root: str | Path, split: str = "train", bands: Sequence[int] | None = None) -> None:
        self.root = Path(root)
        self.card = read_card(self.root)
        if split not in SPLIT_NAMES and split != "all":
            raise LmhldError(f"split must be one of {', '.join(SPLIT_NAMES)} or all, got {split!r}")
        names = SPLIT_NAMES if split == "all" else (split,)
        self.ids = [line for s in names for line in (self.root / "splits" / f"{s}.txt").read_text().split()]
        self.split = split
        self.bands = list(bands) if bands is not None else None
        all_names = list(self.card["bands"])
        self.band_names = selected_names(all_names, self.bands, self.root)
        self.patch_size = int(self.card["patch_size"])
        self.resolution_m = self.card.get("resolution_m")
        self.min_landslide_area_m2 = self.card.get("min_landslide_area_m2")
        self.large_landslide_area_m2 = self.card.get("large_landslide_area_m2")
        self.nodata = self.card["nodata"] if "nodata" in self.card else _patch_nodata(self.root)
        self.name = self.card.get("name") or self.root.name

    def __len__(self) -> int:
        return len(self.ids)

    def sample_id(self, index: int) -> str:
        return self.ids[index]

    def __getitem__(self, index: int) -> Sample:
        import rasterio

        pid = self.ids[index]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with rasterio.open(self.root / "img" / f"{pid}.tif") as src:
                image = src.read().astype(np.float32)
            with rasterio.open(self.root / "mask" / f"{pid}.tif") as src:
                mask = binary_mask(src.read(1))
        return Sample(select(image, self.bands, pid), mask, {"id": pid, "area": self.name, "split": self.split})

    def normalisation(self) -> tuple[list[float], list[float]]:
        mean, std = self.card["mean"], self.card["std"]
        if self.bands is not None:
            mean, std = [mean[b] for b in self.bands], [std[b] for b in self.bands]
        return list(mean), list(std)
