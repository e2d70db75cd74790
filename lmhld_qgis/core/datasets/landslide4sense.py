"""Landslide4Sense (Ghorbanzadeh et al. 2022): HDF5 patches, key `img` (128, 128, 14) float64 HWC and `mask`
(128, 128) uint8; TrainData/ValidData/TestData each with img/image_N.h5 and mask/mask_N.h5.

Bands: Sentinel-2 B1-B12 (no B8A), slope, DEM, each already divided by the dataset's per-band mean vector;
`raw=True` multiplies it back (the divisor the dataset authors published).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import LmhldError
from .base import Header, Mask, PatchDataset, Sample, binary_mask, select, selected_names

BAND_NAMES = ["B1", "B2", "B3", "B4", "B5", "B6", "B7", "B8", "B9", "B10", "B11", "B12", "slope", "dem"]
DIVISOR = np.array([1111.81, 824.63, 663.42, 445.17, 645.86, 1547.74, 1960.44, 1941.32, 674.08, 9.05, 1113.98,
                    519.90, 20.29, 772.83], dtype=np.float64)
SPLIT_DIRS = {"train": "TrainData", "val": "ValidData", "test": "TestData"}


def _number(path: Path) -> int:
    m = re.search(r"(\d+)", path.stem)
    return int(m.group(1)) if m else -1


class Landslide4SenseDataset(PatchDataset):
    """`root` is the release folder (with TrainData/...), a split's folder, or a folder of image_N.h5 files."""

    patch_size = 128
    resolution_m = 10.0

    def __init__(self, root: str | Path, split: str = "train", bands: Sequence[int] | None = None,
                 raw: bool = False) -> None:
        root = Path(root)
        if split not in SPLIT_DIRS:
            raise LmhldError(f"split must be one of {', '.join(SPLIT_DIRS)}, got {split!r}")
        base = root / SPLIT_DIRS[split] if (root / SPLIT_DIRS[split]).is_dir() else root
        img_dir = base / "img" if (base / "img").is_dir() else base
        self.images = sorted(img_dir.glob("image_*.h5"), key=_number)
        others = [s for s, d in SPLIT_DIRS.items() if (root / d).is_dir()]
        if not self.images and others:  # a release folder without this split's subfolder
            raise LmhldError(f"{root} has no {SPLIT_DIRS[split]}/ (the {split} split); it holds "
                             f"{', '.join(f'{SPLIT_DIRS[s]}/ ({s})' for s in others)}: choose one of those splits")
        if not self.images:
            raise LmhldError(f"no Landslide4Sense image_N.h5 files under {img_dir}")
        mask_dir = base / "mask" if (base / "mask").is_dir() else img_dir  # or beside the images, in one folder
        self.masks = {_number(p): p for p in mask_dir.glob("mask_*.h5")}
        self.bands = list(bands) if bands is not None else None
        self.band_names = selected_names(BAND_NAMES, self.bands, root)
        self.raw = raw
        if not raw:
            self.input_divisor = [float(DIVISOR[b]) for b in (self.bands or range(len(BAND_NAMES)))]
        self.split = split
        # named after the folder given, as the other readers are: every release called "landslide4sense" made
        # part mode's stages "landslide4sense", "landslide4sense_2" in the log, forgetting.csv and the model card
        self.name = root.name or root.resolve().name

    def __len__(self) -> int:
        return len(self.images)

    def unlabelled(self) -> list[str]:
        return [p.name for p in self.images if _number(p) not in self.masks]

    def sample_id(self, index: int) -> str:
        return self.images[index].name

    def header(self, index: int) -> Header | None:
        import h5py

        try:
            with h5py.File(self.images[index], "r") as f:
                img = f.get("img")
                if img is None or len(img.shape) != 3:
                    return None  # reading the sample says what is wrong with it
                rows, cols, bands = img.shape
                return Header((int(bands), int(rows), int(cols)), str(img.dtype))
        except OSError:  # not an HDF5 file, or a damaged one: reading the sample says so
            return None

    def __getitem__(self, index: int) -> Sample:
        path = self.images[index]
        with _open_h5(path) as f:
            if "img" not in f:
                raise LmhldError(f"{path} has no 'img' dataset; is it a Landslide4Sense patch?")
            hwc = np.asarray(f["img"], dtype=np.float64)
        if hwc.ndim != 3 or hwc.shape[2] != len(BAND_NAMES):
            raise LmhldError(f"{path}: expected (H, W, 14) image, got {hwc.shape}")
        if self.raw:
            hwc = hwc * DIVISOR
        image = np.ascontiguousarray(hwc.transpose(2, 0, 1), dtype=np.float32)
        mask = self._mask(index, hwc.shape[:2])
        return Sample(select(image, self.bands, path.name), mask,
                      {"id": path.stem, "area": self.name, "split": self.split, "source": str(path)})

    def mask(self, index: int) -> Mask | None:
        head = self.header(index)
        return self._mask(index, head.shape[1:] if head is not None else None)

    def _mask(self, index: int, shape: tuple[int, ...] | None) -> Mask | None:
        """The mask of sample `index` as (H, W), checked against its image's (rows, columns) where known."""
        path = self.images[index]
        mask_path = self.masks.get(_number(path))
        if mask_path is None:
            return None
        with _open_h5(mask_path) as f:
            if "mask" not in f:
                raise LmhldError(f"{mask_path} has no 'mask' dataset (it holds {', '.join(f) or 'none'}); "
                                 "Landslide4Sense masks are stored under 'mask'")
            mask = binary_mask(np.asarray(f["mask"]))
        if mask.ndim == 3 and 1 in (mask.shape[0], mask.shape[2]):  # (H, W, 1) or (1, H, W)
            mask = mask.reshape(mask.shape[:2] if mask.shape[2] == 1 else mask.shape[1:])
        if shape is not None and mask.shape != tuple(shape):
            raise LmhldError(f"mask {mask_path.name} is {mask.shape}, its image {path.name} is "
                             f"{tuple(shape)}: each mask must be the size of its image")
        return mask


def _open_h5(path: Path) -> Any:
    """An HDF5 file open for reading; one that is cut short or not HDF5 at all is named as such (it was an
    'unexpected error: OSError: Unable to open file (truncated file ...)')."""
    import h5py

    try:
        return h5py.File(path, "r")
    except OSError as exc:
        raise LmhldError(f"{path} cannot be read as an HDF5 file ({exc}): it is damaged or cut short (an interrupted "
                         "download or copy); fetch it again, or remove it and its mask") from exc


def to_geotiff(h5_path: str | Path, tif_path: str | Path, *, epsg: int = 3857, origin: tuple[float, float] = (0, 0),
               pixel: float = 10.0, raw: bool = False) -> Path:
    """Write a Landslide4Sense patch as a 14-band float32 GeoTIFF (band names kept), so it can go through detect.

    The patches carry no georeferencing: the grid written here (default 10 m pixels at the origin of EPSG:3857)
    is a stand-in for the real location, and the file's metadata says so.
    """
    from rasterio.transform import from_origin

    from ..raster import written_geotiff

    with _open_h5(Path(h5_path)) as f:
        hwc = np.asarray(f["img"], dtype=np.float64)
    if raw:
        hwc = hwc * DIVISOR
    chw = hwc.transpose(2, 0, 1).astype(np.float32)
    with written_geotiff(tif_path, driver="GTiff", width=chw.shape[2], height=chw.shape[1], count=chw.shape[0],
                       dtype="float32", crs=f"EPSG:{epsg}", transform=from_origin(*origin, pixel, pixel)) as dst:
        dst.write(chw)
        for i, name in enumerate(BAND_NAMES, start=1):
            dst.set_band_description(i, name)
        dst.update_tags(SOURCE=f"Landslide4Sense patch {Path(h5_path).name}; placeholder georeferencing")
    return Path(tif_path)
