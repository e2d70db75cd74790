"""Decode each patch once: the patches of a split as one array, in memory when it fits the memory allowed, else
as a memory-mapped pack written next to the dataset on first use.

A pack (`.lmhld-cache/<key>.images.npy`, `.masks.npy` and a manifest) is used only while every source file (the
patches, the split list, dataset.json) keeps the size and modification time the manifest recorded; otherwise it is
written again. Images are kept in the smallest type that holds them exactly (uint8, uint16, int16, else float32),
so 16-bit imagery takes half the memory of its float32 decoding.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ..core.atomic import CACHE_DIR
from ..core.datasets.base import PatchDataset
from ..core.errors import LmhldError

PACK_DIR = CACHE_DIR
PACK_VERSION = 1
_EXACT_TYPES = (np.uint8, np.uint16, np.int16)


@dataclass
class PatchArrays:
    """All patches of a split: images (N, C, H, W) and masks (N, H, W) uint8, in memory or memory-mapped."""

    images: NDArray[Any]
    masks: NDArray[Any]
    where: str  # "memory" or the pack's path

    @property
    def nbytes(self) -> int:
        return int(self.images.nbytes + self.masks.nbytes)

    def __len__(self) -> int:
        return int(self.images.shape[0])

    def take(self, index: NDArray[Any]) -> tuple[NDArray[Any], NDArray[Any]]:
        return self.images[index], self.masks[index]


@dataclass
class ConcatArrays:
    """Several datasets' arrays seen as one (mix mode with memory-mapped packs)."""

    parts: list[PatchArrays]

    @property
    def nbytes(self) -> int:
        return sum(p.nbytes for p in self.parts)

    @property
    def where(self) -> str:
        return ", ".join(p.where for p in self.parts)

    def __len__(self) -> int:
        return sum(len(p) for p in self.parts)

    def take(self, index: NDArray[Any]) -> tuple[NDArray[Any], NDArray[Any]]:
        offsets = np.cumsum([0] + [len(p) for p in self.parts])
        part_of = np.searchsorted(offsets, index, side="right") - 1
        first = self.parts[0]
        images = np.empty((len(index), *first.images.shape[1:]), first.images.dtype)
        masks = np.empty((len(index), *first.masks.shape[1:]), np.uint8)
        for k, part in enumerate(self.parts):
            where = np.nonzero(part_of == k)[0]
            if len(where):
                images[where], masks[where] = part.take(index[where] - offsets[k])
        return images, masks


Arrays = PatchArrays | ConcatArrays


# -- memory budget -----------------------------------------------------------------------------------------------
def available_memory() -> int:
    """Bytes of memory available now (MemAvailable on Linux; half the physical memory elsewhere)."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // 2)
    except (ValueError, OSError, AttributeError):
        return 2 << 30


def memory_budget(cache_memory_mb: int, processes_per_host: int = 1) -> int:
    """Bytes the cache may hold in memory: the configured value, else a quarter of the available memory shared by
    the processes of this host (torchrun ranks each hold a copy)."""
    if cache_memory_mb > 0:
        return cache_memory_mb << 20
    return available_memory() // 4 // max(processes_per_host, 1)


# -- decoding ----------------------------------------------------------------------------------------------------
def exact_dtype(image: NDArray[Any]) -> np.dtype[Any]:
    """The smallest type that holds the (float32) image exactly."""
    if image.size and np.all(np.isfinite(image)) and np.array_equal(image, np.rint(image)):
        lo, hi = float(image.min()), float(image.max())
        for kind in _EXACT_TYPES:
            info = np.iinfo(kind)
            if info.min <= lo and hi <= info.max:
                return np.dtype(kind)
    return np.dtype(np.float32)


class _UpcastError(Exception):
    """A later patch does not fit the type chosen from the first one."""


class RaggedPatchesError(LmhldError):
    """The patches of a split differ in size: they cannot be held as one array."""


def _labelled(ds: PatchDataset, index: int) -> tuple[NDArray[Any], NDArray[Any]]:
    sample = ds[index]
    if sample.mask is None:
        raise LmhldError(f"sample {sample.meta.get('id')} of {ds.name} has no mask; training needs labels")
    return sample.image, sample.mask


def _fill(ds: PatchDataset, images: NDArray[Any], masks: NDArray[Any], threads: int,
          cancelled: Callable[[], bool]) -> None:
    """Decode every patch of `ds` into the arrays (GDAL and h5py release the GIL: threads decode in parallel)."""
    exact = images.dtype != np.float32

    def one(i: int) -> None:
        image, mask = _labelled(ds, i)
        if image.shape != images.shape[1:] or mask.shape != masks.shape[1:]:
            raise RaggedPatchesError(f"{ds.name}: patch {i} is {image.shape}, the first one {images.shape[1:]}")
        if exact:
            cast = image.astype(images.dtype)
            if not np.array_equal(cast, image):
                raise _UpcastError
            image = cast
        images[i], masks[i] = image, mask

    with ThreadPoolExecutor(max(threads, 1)) as pool:
        for start in range(0, len(ds), 64):  # in chunks, so a cancel is noticed
            if cancelled():
                from ..core.errors import CancelledError

                raise CancelledError("cancelled while reading the patches")
            list(pool.map(one, range(start, min(start + 64, len(ds)))))


def _shape(ds: PatchDataset) -> tuple[tuple[int, ...], tuple[int, ...], np.dtype[Any]]:
    image, mask = _labelled(ds, 0)
    return image.shape, mask.shape, exact_dtype(image)


def decode_to_memory(ds: PatchDataset, threads: int, cancelled: Callable[[], bool] = lambda: False) -> PatchArrays:
    shape, mshape, dtype = _shape(ds)
    for kind in (dtype, np.dtype(np.float32)):
        images = np.empty((len(ds), *shape), kind)
        masks = np.empty((len(ds), *mshape), np.uint8)
        try:
            _fill(ds, images, masks, threads, cancelled)
            return PatchArrays(images, masks, "memory")
        except _UpcastError:
            continue
    raise AssertionError("float32 always holds a decoded patch")


# -- packs -------------------------------------------------------------------------------------------------------
def source_files(ds: PatchDataset) -> tuple[Path, list[Path]] | None:
    """(the folder a pack goes in, the files its patches come from), for the readers that say; else None."""
    from ..core.datasets.folders import FolderDataset
    from ..core.datasets.landslide4sense import Landslide4SenseDataset
    from ..core.datasets.lmhld import LmhldDataset
    from .stages import SubsetView

    if isinstance(ds, SubsetView):
        return source_files(ds.ds)
    if isinstance(ds, LmhldDataset):
        splits = ("train", "val", "test") if ds.split == "all" else (ds.split,)
        files = [ds.root / "dataset.json", *(ds.root / "splits" / f"{s}.txt" for s in splits)]
        files += [ds.root / sub / f"{pid}.tif" for pid in ds.ids for sub in ("img", "mask")]
        return ds.root, files
    if isinstance(ds, Landslide4SenseDataset):
        return ds.images[0].parent.parent, [*ds.images, *sorted(ds.masks.values())]
    if isinstance(ds, FolderDataset):
        return ds.image_dir.parent, [*ds.images.values(), *ds.masks.values()]
    return None


def _pack_key(ds: PatchDataset, files: Sequence[Path]) -> str:
    from .stages import SubsetView

    parts: list[Any] = [type(ds).__name__, getattr(ds, "bands", None), [str(f) for f in files]]
    if isinstance(ds, SubsetView):
        parts += [type(ds.ds).__name__, getattr(ds.ds, "bands", None), ds.indices]
    return hashlib.sha1(json.dumps(parts).encode()).hexdigest()[:16]


def _stats(files: Sequence[Path]) -> list[list[int]]:
    out = []
    for f in files:
        st = f.stat()
        out.append([st.st_size, st.st_mtime_ns])
    return out


def _open_pack(base: Path, files: Sequence[Path]) -> PatchArrays | None:
    manifest = base.with_suffix(".json")
    try:
        info = json.loads(manifest.read_text())
        if info.get("version") != PACK_VERSION or info.get("files") != _stats(files):
            return None
        images = np.load(base.with_suffix(".images.npy"), mmap_mode="r")
        masks = np.load(base.with_suffix(".masks.npy"), mmap_mode="r")
    except (OSError, ValueError, json.JSONDecodeError):
        return None
    if images.shape[0] != masks.shape[0]:
        return None
    return PatchArrays(images, masks, str(base.parent))


def _open_memmap(path: Path, dtype: np.dtype[Any], shape: tuple[int, ...]) -> np.memmap[Any, Any]:
    """A new .npy file mapped in memory, to be filled in place."""
    array: np.memmap[Any, Any] = np.lib.format.open_memmap(path, "w+", dtype, shape)  # type: ignore[no-untyped-call]
    return array


def _write_pack(ds: PatchDataset, base: Path, files: Sequence[Path], threads: int,
                cancelled: Callable[[], bool]) -> None:
    from ..core.atomic import atomic_file, write_text_atomic

    shape, mshape, dtype = _shape(ds)
    stats = _stats(files)
    for kind in (dtype, np.dtype(np.float32)):
        try:
            with atomic_file(base.with_suffix(".images.npy")) as img_tmp, \
                    atomic_file(base.with_suffix(".masks.npy")) as mask_tmp:
                images = _open_memmap(img_tmp, kind, (len(ds), *shape))
                masks = _open_memmap(mask_tmp, np.dtype(np.uint8), (len(ds), *mshape))
                _fill(ds, images, masks, threads, cancelled)
                images.flush()
                masks.flush()
                del images, masks
            break
        except _UpcastError:
            continue
    write_text_atomic(base.with_suffix(".json"), json.dumps({"version": PACK_VERSION, "files": stats}))


def packed(ds: PatchDataset, threads: int, cancelled: Callable[[], bool] = lambda: False,
           info: Callable[[str], None] = lambda m: None) -> PatchArrays | None:
    """The dataset's memory-mapped pack, written first if missing or stale; None where it cannot be written."""
    found = source_files(ds)
    if found is None:
        return None
    home, files = found
    base = home / PACK_DIR / _pack_key(ds, files)
    arrays = _open_pack(base, files)
    if arrays is not None:
        return arrays
    info(f"writing a memory-mapped pack of {ds.name} ({len(ds)} patches) in {home / PACK_DIR}")
    try:
        base.parent.mkdir(exist_ok=True)
        _write_pack(ds, base, files, threads, cancelled)
    except OSError as exc:  # a read-only dataset folder, a full disk: train from the patches themselves
        info(f"no pack for {ds.name} ({exc.strerror or exc}): its patches are read at every epoch")
        return None
    return _open_pack(base, files)


def estimated_bytes(ds: PatchDataset) -> int:
    """Memory the split would take in the cache (from its first patch)."""
    shape, mshape, dtype = _shape(ds)
    return len(ds) * (int(np.prod(shape)) * dtype.itemsize + int(np.prod(mshape)))


def writes_pack(ds: PatchDataset, policy: str, budget: int) -> bool:
    """Whether cache_split may write a pack beside `ds` (which several processes must not do at once)."""
    if policy == "off" or len(ds) == 0 or policy == "memory":
        return False
    return policy == "pack" or estimated_bytes(ds) > budget


def cache_split(ds: PatchDataset, policy: str, budget: int, threads: int,
                cancelled: Callable[[], bool] = lambda: False,
                info: Callable[[str], None] = lambda m: None) -> Arrays | None:
    """The split's patches decoded once (see the module docstring), or None: read at every epoch instead
    (policy "off", patches of different sizes, or too large for memory with no pack possible)."""
    from ..core.datasets.mix import MixDataset

    if policy == "off" or len(ds) == 0:
        return None
    try:
        if not writes_pack(ds, policy, budget):
            return decode_to_memory(ds, threads, cancelled)
        if not isinstance(ds, MixDataset):
            return packed(ds, threads, cancelled, info)
        parts = [packed(p, threads, cancelled, info) for p in ds.parts]
        return ConcatArrays([p for p in parts if p is not None]) if all(p is not None for p in parts) else None
    except RaggedPatchesError as exc:
        info(f"patches are read at every epoch: {exc}")
        return None

