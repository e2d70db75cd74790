"""Image/mask folders: CAS (Xu et al. 2024: img/, label/, mask/ with 1 = landslide; not georeferenced) and
generic same-named image/mask folders (as a downloaded LMHLD release may be)."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..errors import LmhldError
from .base import Header, Image, Mask, PatchDataset, Sample, binary_mask, select, selected_names

IMAGE_SUFFIXES = {".tif", ".tiff", ".png", ".jpg", ".jpeg"}
# CAS patches carry no georeferencing, which every open of one tells as a NotGeoreferencedWarning. Filtered here,
# once: a catch_warnings() around each open is not thread-safe (headers are read by a pool, and one thread's exit
# restored the filters while another was opening), and the warning reached QGIS's log with a traceback.
warnings.filterwarnings("ignore", message=r"Dataset has no geotransform")


def _files(folder: Path) -> dict[str, Path]:
    return {p.stem: p for p in sorted(folder.iterdir()) if p.suffix.lower() in IMAGE_SUFFIXES}


def read_image(path: Path) -> Image:
    """Any GDAL-readable image as (bands, H, W) float32, without georeferencing warnings."""
    import rasterio

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # NotGeoreferencedWarning: CAS patches carry no georeferencing
        with rasterio.open(path) as src:
            image: Image = src.read().astype(np.float32)
            return image


def _descriptions(path: Path, count: int) -> list[str] | None:
    """The band names a file declares (every band one), or None."""
    import rasterio

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with rasterio.open(path) as src:
            names = [d.strip() if d else "" for d in src.descriptions]
    return names if len(names) == count and all(names) else None


class FolderDataset(PatchDataset):
    """Pairs `image_dir/X.*` with `mask_dir/X.*` (same stem); images without a mask are listed as unlabelled."""

    def __init__(self, image_dir: str | Path, mask_dir: str | Path | None, bands: Sequence[int] | None = None,
                 name: str = "", band_names: Sequence[str] | None = None) -> None:
        self.image_dir = Path(image_dir)
        if not self.image_dir.is_dir():
            raise LmhldError(f"image folder {self.image_dir} does not exist")
        self.images = _files(self.image_dir)
        if not self.images:
            raise LmhldError(f"no images ({', '.join(sorted(IMAGE_SUFFIXES))}) in {self.image_dir}")
        self.masks = _files(Path(mask_dir)) if mask_dir is not None and Path(mask_dir).is_dir() else {}
        self.ids = sorted(self.images)
        self.bands = list(bands) if bands is not None else None
        first = read_image(self.images[self.ids[0]])
        count = first.shape[0]
        if band_names and len(band_names) == count:
            names = list(band_names)
        else:  # a format's usual names do not fit this folder (a 4-band "CAS" folder): the file's own, else numbers
            names = _descriptions(self.images[self.ids[0]], count) or [f"band{i + 1}" for i in range(count)]
        self.band_names = selected_names(names, self.bands, self.image_dir.parent)
        self.patch_size = first.shape[1] if first.shape[1] == first.shape[2] else None
        self.name = name or self.image_dir.parent.name

    def __len__(self) -> int:
        return len(self.ids)

    def unlabelled(self) -> list[str]:
        return [self.images[key].name for key in self.ids if key not in self.masks]

    def orphan_masks(self) -> list[str]:
        """Masks with no image of their stem: nothing reads them (a split said nothing of leaving them out)."""
        return sorted(self.masks[key].name for key in self.masks if key not in self.images)

    def sample_id(self, index: int) -> str:
        return self.images[self.ids[index]].name

    def header(self, index: int) -> Header | None:
        import rasterio
        from rasterio.errors import RasterioIOError

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # NotGeoreferencedWarning
            try:
                with rasterio.open(self.images[self.ids[index]]) as src:
                    return Header((src.count, src.height, src.width), src.dtypes[0])
            except RasterioIOError:
                return None  # reading the sample says what is wrong with the file

    def __getitem__(self, index: int) -> Sample:
        key = self.ids[index]
        image = read_image(self.images[key])
        return Sample(select(image, self.bands, key), self._mask(key, image.shape[1:]),
                      {"id": key, "area": self.name, "source": str(self.images[key])})

    def mask(self, index: int) -> Mask | None:
        key = self.ids[index]
        if key not in self.masks:
            return None
        head = self.header(index)
        return self._mask(key, head.shape[1:] if head is not None else None)

    def _mask(self, key: str, shape: tuple[int, ...] | None) -> Mask | None:
        """The mask of `key`, checked against its image's (rows, columns) where known."""
        if key not in self.masks:
            return None
        mask = binary_mask(read_image(self.masks[key])[0])
        if shape is not None and mask.shape != tuple(shape):
            raise LmhldError(f"mask {self.masks[key].name} is {mask.shape}, image is {tuple(shape)}")
        return mask


class CASDataset(FolderDataset):
    """A CAS Landslide sub-dataset folder: `img/` and `mask/` (1 = landslide); `label/` (RGB previews) is unused."""

    def __init__(self, root: str | Path, bands: Sequence[int] | None = None, name: str = "") -> None:
        root = Path(root)
        img = root / "img" if (root / "img").is_dir() else root
        super().__init__(img, root / "mask", bands=bands, name=name or root.name, band_names=["red", "green", "blue"])
