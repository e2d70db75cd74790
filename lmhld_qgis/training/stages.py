"""What each mode trains on: single (one dataset), mix (all as one, same patch size and bands), part (one stage
per dataset in the given order: LMHLD's serialized training, Fig. 5)."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np

from ..core.bands import band_key, match_model_bands, unique_names
from ..core.datasets import MixDataset, PatchDataset, Sample, open_dataset
from ..core.datasets.base import Header, check_uniform_splits
from ..core.datasets.detect import detect_format, has_splits
from ..core.errors import LmhldError
from ..core.raster import same_resolution
from .config import TrainConfig


class SubsetView(PatchDataset):
    """Some samples of a dataset, without copying (splits for formats that have none)."""

    def __init__(self, ds: PatchDataset, indices: list[int]) -> None:
        self.ds, self.indices = ds, indices
        self.band_names, self.patch_size, self.resolution_m = ds.band_names, ds.patch_size, ds.resolution_m
        self.min_landslide_area_m2 = ds.min_landslide_area_m2
        self.large_landslide_area_m2 = ds.large_landslide_area_m2
        self.name = ds.name
        self.input_divisor = ds.input_divisor

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, index: int) -> Sample:
        return self.ds[self.indices[index]]

    def normalisation(self) -> tuple[list[float], list[float]] | None:
        return self.ds.normalisation()

    def sample_id(self, index: int) -> str:
        return self.ds.sample_id(self.indices[index])

    def header(self, index: int) -> Header | None:
        return self.ds.header(self.indices[index])

    def unlabelled(self) -> list[str]:
        missing = set(self.ds.unlabelled())
        return [key for key in map(self.ds.sample_id, self.indices) if key in missing] if missing else []


@dataclass
class Stage:
    index: int
    name: str
    train: PatchDataset
    val: PatchDataset | None
    sources: list[PatchDataset] = field(default_factory=list)  # the datasets trained on in this stage
    notes: list[str] = field(default_factory=list)  # warnings about its datasets, said once before training

    @property
    def in_channels(self) -> int:
        return self.train.num_bands

    @cached_property
    def min_landslide_area_m2(self) -> float | None:
        """The smallest landslide worth reporting over the stage's datasets: learnt from the inventory at export,
        or, for a released patch folder (no inventory), from its training masks; None when nothing says."""
        known = [a for ds in self.sources or [self.train] if (a := _min_landslide_area(ds)) is not None]
        return min(known) if known else None

    @property
    def large_landslide_area_m2(self) -> float | None:
        """How large the stage's large landslides are (the largest over its datasets; None when none says)."""
        known = self._known("large_landslide_area_m2")
        return max(known) if known else None

    def _known(self, attribute: str) -> list[float]:
        return [float(a) for ds in self.sources or [self.train] if (a := getattr(ds, attribute, None)) is not None]


def _min_landslide_area(ds: PatchDataset) -> float | None:
    """A dataset's smallest landslide worth reporting (core.inventory's rule), from its card or from its masks."""
    from ..core.datasets.base import mask_landslide_areas_px
    from ..core.inventory import min_landslide_area_m2

    if ds.min_landslide_area_m2 is not None:
        return float(ds.min_landslide_area_m2)
    if not ds.resolution_m:
        return None
    try:
        areas = mask_landslide_areas_px(ds)
    except ImportError:  # a training node without GDAL's bindings (its regions are GDAL's): detection's default
        return None
    if not len(areas):
        return None
    pixel_area = float(ds.resolution_m) ** 2
    return min_landslide_area_m2(areas * pixel_area, pixel_area)[0]


def data_fingerprint(stages: list[Stage]) -> str:
    """What a run trains on, wherever its folders lie: each stage's patch size, bands, patches (by id, in order)
    and the normalisation its datasets record, for the training and validation splits. A run resumed on other
    patches (its dataset exported again meanwhile) is refused by it; the same dataset moved or copied elsewhere
    resumes."""
    import hashlib
    import json
    from typing import Any

    def content(ds: PatchDataset | None) -> Any:
        if ds is None:
            return None
        if isinstance(ds, MixDataset):
            return [content(part) for part in ds.parts]
        norm = ds.normalisation()
        return [ds.patch_size, list(ds.band_names), [ds.sample_id(i) for i in range(len(ds))],
                None if norm is None else [list(values) for values in norm]]  # as recorded (a None refused later)

    described = [[content(stage.train), content(stage.val)] for stage in stages]
    return hashlib.sha256(json.dumps(described).encode("utf-8")).hexdigest()[:16]


def resolution_note(stage: Stage) -> str | None:
    """A warning when a stage mixes datasets whose pixels differ by more than detection tolerates: the model card
    records the first one's, and detection resamples every scene to it."""
    sizes = {ds.name: ds.resolution_m for ds in stage.sources if ds.resolution_m}
    if len(sizes) < 2 or same_resolution(max(sizes.values()), min(sizes.values())):
        return None
    return (f"the datasets of {stage.name} have pixels of different sizes ("
            + ", ".join(f"{name} {size:g} m" for name, size in sizes.items())
            + f"): the model records {stage.train.resolution_m:g} m and detection resamples every scene to it; "
              "export them at one pixel size (lmhld stack --pixel-size, or gdalwarp -tr) unless that is wanted")


def open_splits(path: str, bands: list[int] | None) -> tuple[PatchDataset, PatchDataset | None]:
    """(train, val) for a dataset folder. Folders without splits, and released folders (Landslide4Sense, CAS)
    whose validation split is missing or has no masks (the public Landslide4Sense release's ValidData), hold out a
    deterministic fifth of their training patches (`held_out_note` says so); an exported dataset keeps the splits
    its export chose."""
    fmt = detect_format(path)
    if has_splits(path, fmt):
        train = open_dataset(path, "train", bands, fmt)
        val: PatchDataset | None
        try:
            val = open_dataset(path, "val", bands, fmt)
            val = val if len(val) else None
        except LmhldError:
            val = None
        if fmt == "lmhld" and not train.name:
            train.name = Path(path).name
        if fmt == "lmhld" or (val is not None and len(val.unlabelled()) < len(val)):  # partly labelled: refused
            return train, val
        return _hold_out(train)
    return _hold_out(open_dataset(path, "train", bands, fmt))


def _hold_out(whole: PatchDataset) -> tuple[PatchDataset, PatchDataset | None]:
    """A deterministic 80/20 split of one dataset's patches (all of them train when too few to split)."""
    order = np.random.default_rng(0).permutation(len(whole)).tolist()
    cut = max(1, round(0.8 * len(whole)))
    rest = SubsetView(whole, sorted(order[cut:])) if cut < len(whole) else None
    return SubsetView(whole, sorted(order[:cut])), rest


def held_out_note(path: str, train: PatchDataset, val: PatchDataset | None) -> str | None:
    """Said before training when validation is a fifth held out of the training patches (it was silent)."""
    if not (isinstance(val, SubsetView) and isinstance(train, SubsetView) and val.ds is train.ds):
        return None
    why = ("has no train/val split" if not has_splits(path) else
           "has no labelled validation split (none, or one without masks, as the public Landslide4Sense ValidData)")
    return (f"dataset {path} {why}: {len(val)} of its {len(train) + len(val)} patches (a fifth, the same on every "
            "run) are held out for validation and not trained on")


def open_in_order(path: str, bands: list[int] | None, target: list[str] | None, wanted_by: str, *,
                  strict: bool) -> tuple[PatchDataset, PatchDataset | None]:
    """(train, val) of a dataset with its bands in the order `target` names (matched by name as detection matches a
    scene to a model: a dataset stacked as dsm, red, green, blue is read as red, green, blue, dsm); `bands` selects
    by position when there is no target or the names say nothing of it (unnamed bands). Bands that cannot be
    matched: an error naming `wanted_by` when `strict`, else the dataset as `bands` selects it."""
    train, val = open_splits(path, bands)
    if (target is None or len(train.band_names) != len(target)  # another count: MixDataset says so, part mode copes
            or [band_key(n) for n in train.band_names] == [band_key(n) for n in target]):
        return train, val
    fix = ("export the datasets with the same bands (lmhld export --bands), or train them one after the other "
           "(--mode part)")
    try:
        order, by_position = match_model_bands(target, open_splits(path, None)[0].band_names, f"dataset {path}",
                                               fix, wanted_by=wanted_by)
    except LmhldError:
        if strict:
            raise
        return train, val
    return (train, val) if by_position else open_splits(path, order)


def _require_labels(ds: PatchDataset | None, split: str, path: str) -> None:
    missing = ds.unlabelled() if ds is not None else []
    if missing:
        raise LmhldError(f"dataset {path}: {len(missing)} of its {len(ds or [])} {split} samples have no mask (first: "
                         f"{missing[0]}); training needs labels: give the folder with its masks (a Landslide4Sense "
                         "release's TrainData holds img/ and mask/; its TestData has no masks)")


def _without_validation(path: str, n_train: int) -> str:
    """Why a dataset trains without validation, and what that costs: said before training (the epoch lines' "no
    validation split" was the only word, and the run's best F1 came out as nan)."""
    few = (f"its {n_train} patches are too few to hold a fifth out" if not has_splits(path) else
           "its validation split is missing or empty")
    return (f"dataset {path} trains without validation: {few}; best.pt follows the training loss, early stopping "
            "is off and the configured threshold is kept (the best validation F1 is undefined); give it more "
            "patches, or a validation split")


def plan_stages(cfg: TrainConfig, reference: list[str] | None = None) -> list[Stage]:
    """Open every dataset up front, so a bad configuration fails before any training starts. Every dataset is read
    in one band order, by name: `reference`'s (a fine-tuned checkpoint's bands, so that its input convolution meets
    the bands it learnt), else the first dataset's; mix mode refuses datasets whose bands differ."""
    first = open_in_order(cfg.data[0], cfg.bands, reference, "the checkpoint", strict=False)
    target, by = first[0].band_names, f"dataset {cfg.data[0]}"  # in the checkpoint's order when it could be
    opened = [first] + [open_in_order(p, cfg.bands, target, by, strict=cfg.mode == "mix") for p in cfg.data[1:]]
    for (train, val), name in zip(opened, cfg.names or [], strict=False):  # an experiment's area names
        for ds in (train, val):
            if ds is not None:
                ds.name = name
    for (train, val), path in zip(opened, cfg.data, strict=True):
        if len(train) < 2:  # one sample cannot make a batch BatchNorm trains on, nor a fit worth a model
            raise LmhldError(f"dataset {path} has {len(train)} training sample(s); training needs at least 2: export "
                             "more patches (a lower minimum landslide fraction, a smaller patch size or stride, "
                             "background patches)")
        for split, ds in (("training", train), ("validation", val)):
            _require_labels(ds, split, path)
    notes = [check_uniform_splits([(ds, f"dataset {path} ({split} split)")
                                   for split, ds in (("training", train), ("validation", val)) if ds is not None])
             + ([] if val is not None else [_without_validation(path, len(train))])
             + [n for n in [held_out_note(path, train, val)] if n]
             for (train, val), path in zip(opened, cfg.data, strict=True)]
    if cfg.mode == "single":
        train, val = opened[0]
        return [Stage(0, train.name, train, val, [train], notes[0])]
    if cfg.mode == "mix":
        mixed = MixDataset([t for t, _ in opened])
        vals = [v for _, v in opened if v is not None]
        return [Stage(0, mixed.name, mixed, MixDataset(vals) if vals else None, [t for t, _ in opened],
                      [n for ns in notes for n in ns])]
    names = unique_names([t.name for t, _ in opened])  # two datasets named alike would share a forgetting.csv column
    return [Stage(i, names[i], t, v, [t], notes[i]) for i, (t, v) in enumerate(opened)]
