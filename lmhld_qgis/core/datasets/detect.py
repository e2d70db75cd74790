"""Pick the reader for a folder: our format, Landslide4Sense, CAS or generic image/mask folders."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from ..errors import LmhldError
from ..splits import SPLIT_NAMES
from .base import PatchDataset
from .landslide4sense import SPLIT_DIRS

FORMATS = ("lmhld", "landslide4sense", "cas", "folders")
# image/mask folders (CAS, generic) split by the researcher: train/, val/ and test/, each laid out as the format is
FOLDER_SPLITS = ("train", "val", "test")


def _folder_format(root: Path) -> str | None:
    """'cas' for img/ + mask/, 'folders' for images/ + masks/, else None."""
    if (root / "img").is_dir() and (root / "mask").is_dir():
        return "cas"
    if (root / "images").is_dir() and (root / "masks").is_dir():
        return "folders"
    return None


def _split_folders(root: Path) -> list[str]:
    """The splits an image/mask folder is divided into (its train/, val/, test/ that hold the format's layout)."""
    return [d for d in FOLDER_SPLITS if (root / d).is_dir() and _folder_format(root / d) is not None]


def detect_format(root: str | Path) -> str:
    root = Path(root)
    if not root.exists():
        raise LmhldError(f"dataset folder {root} does not exist")
    if root.is_file():  # dataset.json or a patch given for its folder, or a scene given for a dataset
        inside = (root.parent / "dataset.json").is_file() or root.parent.name in ("img", "mask", "images", "masks")
        if not inside and root.suffix.lower() in (".tif", ".tiff", ".vrt", ".img", ".jp2"):
            raise LmhldError(f"{root} is a raster, not a dataset: training reads the patches lmhld export cuts from a "
                             f"scene and its inventory (lmhld export --raster {root.name} --inventory INVENTORY "
                             "--out DATASET), then give that folder")
        raise LmhldError(f"{root} is a file; give the dataset folder that holds it ({root.parent})")
    if (root / "dataset.json").is_file():
        return "lmhld"
    if any((root / d).is_dir() for d in SPLIT_DIRS.values()) or any(root.glob("image_*.h5")) \
            or any(root.glob("img/image_*.h5")):
        return "landslide4sense"
    fmt = _folder_format(root)
    if fmt is None and (splits := _split_folders(root)):
        fmt = _folder_format(root / splits[0])
    if fmt is not None:
        return fmt
    raise LmhldError(f"cannot tell the format of {root}: expected dataset.json (lmhld export), "
                     "TrainData/ or image_N.h5 (Landslide4Sense), img/ + mask/ (CAS) or images/ + masks/, either "
                     "directly or in train/, val/ and test/ subfolders")


def has_splits(root: str | Path, fmt: str | None = None) -> bool:
    """Whether the folder says which patches are train, val and test (an lmhld export, a Landslide4Sense release,
    an image/mask folder divided into train/, val/ and test/): a CAS or image/mask folder as released, or a flat
    folder of patches, does not; each of its "splits" is every patch."""
    fmt = fmt or detect_format(root)
    if fmt in ("cas", "folders"):
        return bool(_split_folders(Path(root)))
    return fmt == "lmhld" or (fmt == "landslide4sense" and any((Path(root) / d).is_dir() for d in SPLIT_DIRS.values()))


def open_dataset(root: str | Path, split: str = "train", bands: Sequence[int] | None = None,
                 fmt: str | None = None) -> PatchDataset:
    """Open a dataset folder with the right reader (`fmt` forces one)."""
    if split not in SPLIT_NAMES and not (split == "all" and fmt in (None, "lmhld")):
        raise LmhldError(f"split must be one of {', '.join(SPLIT_NAMES)}, got {split!r}")
    fmt = fmt or detect_format(root)
    if fmt == "lmhld":
        from .lmhld import LmhldDataset

        return LmhldDataset(root, split, bands)
    if fmt == "landslide4sense":
        from .landslide4sense import Landslide4SenseDataset

        return Landslide4SenseDataset(root, split, bands)
    if fmt in ("cas", "folders"):
        base = _split_base(Path(root), split)
        if fmt == "cas":
            from .folders import CASDataset

            return CASDataset(base, bands, name=Path(root).name)
        from .folders import FolderDataset

        return FolderDataset(base / "images", base / "masks", bands, name=Path(root).name)
    raise LmhldError(f"unknown dataset format {fmt!r}; one of {', '.join(FORMATS)}")


def _split_base(root: Path, split: str) -> Path:
    """The folder that holds `split` of an image/mask dataset: its train/, val/ or test/ when it is divided so,
    else the folder itself (every split is every patch)."""
    present = _split_folders(root)
    if not present:
        return root
    if split in present:
        return root / split
    raise LmhldError(f"{root} has no {split}/ (the {split} split); it holds {', '.join(d + '/' for d in present)}: "
                     f"choose one of those splits, or add a {split}/ folder laid out as the others")
