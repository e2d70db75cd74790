"""The sample type every reader returns, and the small interface readers share."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

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


class Header(NamedTuple):
    """What a patch file says of itself without its pixels being read."""

    shape: tuple[int, int, int]  # (bands, rows, columns) as stored, before any band selection
    dtype: str  # as stored (uint8, uint16, float64, ...)


class PatchDataset:
    """A sequence of samples with known bands, patch size and normalisation."""

    name: str = ""
    band_names: list[str]
    patch_size: int | None = None
    resolution_m: float | None = None
    min_landslide_area_m2: float | None = None  # smallest landslide worth reporting, learnt from the inventory
    large_landslide_area_m2: float | None = None  # 90th percentile of the inventory's areas (detection's context)
    nodata: float | None = None  # the source rasters' nodata value (models exported from it treat it as missing)
    # per band, what the imagery's values were divided by to give the dataset's (Landslide4Sense publishes its
    # patches so); None: the imagery's own values. Models record it, so detection on raw imagery divides alike.
    input_divisor: list[float] | None = None

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
        """The samples that have no mask (by `sample_id`), known without reading pixels (training refuses them
        before it starts, not at the first batch); formats whose every sample has its mask return none."""
        return []

    def sample_id(self, index: int) -> str:
        """The id a message names sample `index` by (its file's name where it has one)."""
        return str(index)

    def header(self, index: int) -> Header | None:
        """Sample `index`'s stored shape and type, read from its file's header; None where the format guarantees
        them (patches lmhld exported are all alike)."""
        return None

    def mask(self, index: int) -> Mask | None:
        """Sample `index`'s mask alone (None: it has none); formats that keep it in its own file read only that
        (a split of a release reads every mask and no image)."""
        return self[index].mask

    def __iter__(self) -> Iterator[Sample]:
        for i in range(len(self)):
            yield self[i]


def selected_names(names: Sequence[str], bands: Sequence[int] | None, source: str | Path) -> list[str]:
    """The names of the 0-based `bands` chosen among a dataset's `names`, with a clear error for a band it does not
    have (an unexpected IndexError before)."""
    if bands is None:
        return list(names)
    bad = [b for b in bands if not 0 <= b < len(names)]
    if bad:
        raise LmhldError(f"{source} has {len(names)} band(s) ({', '.join(names)}); band(s) "
                         f"{', '.join(str(b + 1) for b in bad)} (bands = {list(bad)} in a config file, which counts "
                         "from 0) do not exist")
    return [names[b] for b in bands]


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


def _shape_text(shape: tuple[int, int, int]) -> str:
    return f"{shape[0]} band(s) of {shape[1]} x {shape[2]} px" if shape[1] else f"{shape[0]} band(s)"


def check_uniform(ds: PatchDataset, what: str, *, same_size: bool = True) -> list[str]:
    """Refuse a dataset whose patches differ in bands or, with `same_size`, in size (a batch is one array: training
    failed at the first mixed batch with torch's "stack expects each tensor to be equal size", or on band
    statistics of another length), naming the odd file; return a warning when they are stored as different types
    (a uint16 patch among float ones was most likely not scaled like them). `what` names the dataset and split."""
    return check_uniform_splits([(ds, what)], same_size=same_size)


def check_uniform_splits(splits: Sequence[tuple[PatchDataset, str]], *, same_size: bool = True) -> list[str]:
    """check_uniform over a dataset's splits at once (each `(split, what)`): the usual shape is the one most of
    their patches have, so that the odd patch is found wherever it is. Checked alone, a validation split of one
    64 px and one 128 px patch named the 128 px one, like the 10 training patches, as the one to remove."""
    read = [(ds, what, _headers(ds, same_size)) for ds, what in splits]
    shapes = Counter(h.shape for _, _, headers in read for _, h in headers)
    if not shapes:
        return []
    common, n_common = shapes.most_common(1)[0]
    n_all = sum(shapes.values())
    whose = "its" if len(splits) == 1 else "the"
    odd = [(ds, what, i, h) for ds, what, headers in read for i, h in headers if h.shape != common]
    if odd:
        ds, what, i, h = odd[0]
        more = f" ({len(odd) - 1} more differ)" if len(odd) > 1 else ""
        among = "" if len(splits) == 1 else " of its splits"
        raise LmhldError(f"{what}: sample {ds.sample_id(i)} has {_shape_text(h.shape)} where {n_common} of {whose} "
                         f"{n_all} samples{among} have {_shape_text(common)}{more}; every patch of a dataset must "
                         "have the same bands and size: remove it, or cut it like the others")
    notes = []
    for ds, what, headers in read:
        types = Counter(h.dtype for _, h in headers)
        if len(types) < 2:
            continue
        usual = types.most_common(1)[0][0]
        odd_ids = [ds.sample_id(i) for i, h in headers if h.dtype != usual]
        notes.append(f"{what}: {len(odd_ids)} sample(s) are stored as "
                     f"{', '.join(sorted(t for t in types if t != usual))} where the other {types[usual]} are "
                     f"{usual} (first: {odd_ids[0]}); if they were not scaled like the others, the model learns two "
                     "scales of one band: convert them like the others")
    return notes


def _headers(ds: PatchDataset, same_size: bool) -> list[tuple[int, Header]]:
    """(index, header) of the samples whose format tells them; sizes left out (0) unless `same_size`."""
    with ThreadPoolExecutor(8) as pool:  # GDAL and h5py release the GIL while they open a file
        return [(i, h if same_size else Header((h.shape[0], 0, 0), h.dtype))
                for i, h in enumerate(pool.map(ds.header, range(len(ds)))) if h is not None]


MASK_SAMPLE = 512  # patches read to learn landslide sizes from masks (evenly spaced over the dataset)


def mask_landslide_areas_px(ds: PatchDataset, limit: int = MASK_SAMPLE) -> npt.NDArray[np.float64]:
    """The sizes in pixels of the landslides in a dataset's masks (4-connected regions, as detection's polygons),
    over up to `limit` patches evenly spaced: what a released patch folder (Landslide4Sense, CAS) says of its
    landslides' sizes, having no inventory. Regions cut by a patch border are left out (only part of a landslide),
    unless no other region is found."""
    from ..vectorize import label_components

    n = len(ds)
    indices = np.unique(np.linspace(0, n - 1, min(n, limit)).round().astype(int)) if n else []
    inside: list[int] = []
    cut: list[int] = []
    for i in indices:
        mask = ds.mask(int(i))
        if mask is None or not mask.any():
            continue
        labels, count = label_components(np.asarray(mask) > 0)
        sizes = np.bincount(labels.ravel(), minlength=count + 1)
        border = np.unique(np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]]))
        for label in range(1, count + 1):
            (cut if label in border else inside).append(int(sizes[label]))
    return np.asarray(inside or cut, dtype=np.float64)
