"""Divide a folder of patches as released (CAS, image/mask folders, a flat Landslide4Sense folder) into train, val
and test with the paper's split: 70/20/10 by default, landslide-pixel proportions within 1 point.

A released folder says nothing of which patches are held out, so training holds out a fifth for validation and
nothing is left for an honest test; an experiment refuses it. The split is written as a new folder laid out as the
readers expect (`train/`, `val/`, `test/` each in the source's own layout; Landslide4Sense's TrainData/,
ValidData/, TestData/), whose files are hard links to the source's (copies where the file system cannot link):
the source is never touched, and the split costs no space. `split.csv` lists each patch, its split and its
landslide pixels.
"""

from __future__ import annotations

import csv
import io
import os
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from .atomic import atomic_dir
from .datasets.base import PatchDataset, check_uniform
from .datasets.detect import detect_format, has_splits, open_dataset
from .datasets.folders import FolderDataset
from .datasets.landslide4sense import SPLIT_DIRS, Landslide4SenseDataset, _number
from .errors import LmhldError
from .progress import Progress, check_cancelled, reader_progress
from .splits import SPLIT_NAMES, SplitResult, split_patches

SPLIT_FILE = "split.csv"


@dataclass
class FolderSplit:
    """What `split_folder` wrote."""

    path: Path
    format: str
    split: SplitResult
    linked: bool  # hard links (False: the file system could not link, so the files were copied)

    def describe(self) -> str:
        counts = ", ".join(f"{name} {self.split.counts[name]}" for name in SPLIT_NAMES)
        shares = ", ".join(f"{name} {self.split.proportions[name]:.2%}" for name in SPLIT_NAMES
                           if self.split.counts[name])
        how = "hard links to the source's files" if self.linked else "copies of the source's files"
        return (f"{sum(self.split.counts.values())} patches split into {counts} (landslide pixels: {shares}; "
                f"largest difference {self.split.spread * 100:.2f} points) -> {self.path} ({how})")


def split_folder(source: str | Path, out: str | Path, *, ratios: Sequence[float] = (0.7, 0.2, 0.1),
                 tolerance: float = 0.01, seed: int = 0, overwrite: bool = False,
                 progress: Progress | None = None) -> FolderSplit:
    """Write `out`: the patches of `source` divided into train, val and test (see the module's docstring)."""
    progress = reader_progress(progress)
    source = Path(source)
    if Path(out).resolve().is_relative_to(source.resolve()):
        raise LmhldError(f"the split folder {out} is inside the source {source}, which a split leaves as it is; "
                         f"choose a folder beside it, e.g. {source.name}_split")
    fmt = detect_format(source)
    if fmt == "lmhld":
        raise LmhldError(f"{source} is an lmhld export: it is split already (lmhld export --split chooses how)")
    if has_splits(source, fmt):
        raise LmhldError(f"{source} is divided into train, val and test already; give it to lmhld train or an "
                         "experiment as it is")
    dataset = open_dataset(source, "train", fmt=fmt)
    check_uniform(dataset, str(source))  # one size and band count: training refused a mixed split only later
    missing = dataset.unlabelled()
    if missing:
        raise LmhldError(f"{source}: {len(missing)} of its {len(dataset)} patches have no mask (first: "
                         f"{missing[0]}); a split balances landslide pixels, so every patch needs its mask: give "
                         "each image its mask, or move the unlabelled ones out")
    orphans = dataset.orphan_masks() if isinstance(dataset, FolderDataset) else []
    if orphans:
        progress.warn(f"{source}: {len(orphans)} mask(s) have no image of their name and are left out (first: "
                      f"{orphans[0]})")
    positives, totals = [], []
    for i in range(len(dataset)):
        if i % 32 == 0:
            check_cancelled(progress)
            progress.set_fraction(0.8 * i / len(dataset))
        mask = dataset.mask(i)  # the mask's file alone: the image is not read
        assert mask is not None  # unlabelled() said every patch has one
        positives.append(int(mask.sum()))
        totals.append(int(mask.size))
    try:  # here the folder is all there is: no filter or patch size to change, as export has
        result = split_patches(positives, totals, ratios=ratios, seed=seed, tolerance=tolerance,
                               more_patches="add patches to the folder")
    except LmhldError as exc:
        raise LmhldError(f"{source}: {exc}") from exc
    files = _files(dataset)
    linked = True
    with atomic_dir(out, overwrite=overwrite) as tmp:
        for i, label in enumerate(result.labels):
            if i % 32 == 0:
                check_cancelled(progress)
                progress.set_fraction(0.8 + 0.2 * i / len(dataset))
            split = SPLIT_NAMES[int(label)]
            for relative, path in files[i]:
                linked &= _link(path, tmp / _split_dir(fmt, split) / relative)
        (tmp / SPLIT_FILE).write_text(_table(dataset.sample_id, result, positives, totals), encoding="utf-8")
    progress.set_fraction(1.0)
    return FolderSplit(Path(out), fmt, result, linked)


def _files(dataset: PatchDataset) -> list[list[tuple[Path, Path]]]:
    """Per patch, its files as (path inside a split's folder, source file): image and mask, and a CAS label
    preview where there is one."""
    if isinstance(dataset, Landslide4SenseDataset):
        return [[(Path("img") / image.name, image), (Path("mask") / dataset.masks[_number(image)].name,
                                                     dataset.masks[_number(image)])]
                for image in dataset.images]
    assert isinstance(dataset, FolderDataset)
    image_dir, mask_dir = dataset.image_dir.name, next(iter(dataset.masks.values())).parent.name
    previews: dict[str, list[Path]] = {}  # CAS: label/ holds RGB previews of the masks, by the patch's exact name
    if image_dir == "img" and (dataset.image_dir.parent / "label").is_dir():
        for path in sorted((dataset.image_dir.parent / "label").iterdir()):
            if path.is_file():
                previews.setdefault(path.stem, []).append(path)
    out = []
    for key in dataset.ids:
        image, mask = dataset.images[key], dataset.masks[key]
        pair = [(Path(image_dir) / image.name, image), (Path(mask_dir) / mask.name, mask)]
        pair += [(Path("label") / p.name, p) for p in previews.get(key, [])]
        out.append(pair)
    return out


def _split_dir(fmt: str, split: str) -> str:
    return SPLIT_DIRS[split] if fmt == "landslide4sense" else split


def _link(source: Path, dest: Path) -> bool:
    """A hard link to `source` at `dest`, else a copy; True when linked."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(source, dest)
        return True
    except FileExistsError:  # two files for one place: a fault of the plan, not of the file system
        raise
    except OSError:  # another file system, or one without hard links
        shutil.copy2(source, dest)
        return False


def _table(sample_id: Callable[[int], str], result: SplitResult, positives: list[int], totals: list[int]) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["patch", "split", "landslide_pixels", "pixels"])
    for i, label in enumerate(result.labels):
        writer.writerow([sample_id(i), SPLIT_NAMES[int(label)], positives[i], totals[i]])
    return buf.getvalue()


__all__ = ["FolderSplit", "split_folder"]
