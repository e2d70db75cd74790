"""The pieces a patch plan is made of: the table of every window considered, a view of one window, a spatial
index to find overlapping windows, and a reader that opens one raster for windowed reads and masks."""

from __future__ import annotations

import math
import warnings
from array import array
from collections import defaultdict
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from .grid import Window
from .raster import RasterInfo, raster_srs
from .rasterize import InventoryBurner
from .splits import SPLIT_NAMES
from .validity import PixelValidity
from .vector import PolygonSet

PLACEMENTS = ("grid", "overlap", "centred")  # the paper's grid; training-only windows between; on a negative
KINDS = ("landslide", "background", "negative")
DROP_REASONS = ("boundary", "no_landslide", "below_min_fraction", "nodata", "overlaps_other_split")
NONE = -1
_DROP_WORDS = {"boundary": "cross the raster's edge", "no_landslide": "hold no landslide",
               "below_min_fraction": "hold less landslide than the minimum fraction", "nodata": "hold nodata",
               "overlaps_other_split": "overlap a window of another split"}


def describe_dropped(counts: Mapping[str, int]) -> str:
    """Dropped-window counts in words, most common reason first: '63 hold no landslide, 1 holds nodata'."""
    said = []
    for reason, n in sorted(counts.items(), key=lambda item: -item[1]):
        if n:
            verb = _DROP_WORDS.get(reason, reason)
            said.append(f"{n} {_singular(verb) if n == 1 else verb}")
    return ", ".join(said) or "none"


def _singular(verb_phrase: str) -> str:
    verb, _, rest = verb_phrase.partition(" ")
    return f"{verb}es {rest}" if verb.endswith("s") else f"{verb}s {rest}"


def describe_kept(by_split: Mapping[str, int], by_kind: Mapping[str, int],
                  proportions: Mapping[str, float] | None = None, *, detail: str = "") -> str:
    """Kept-patch counts in words: '80 patches: 56 train, 16 val, 8 test; 60 landslide, 20 background; landslide
    pixels 21.3% of train, 20.8% of val, 22.1% of test' (empty kinds and splits left out); `detail` follows the
    count ('80 patches of 32 px: ...')."""
    total = sum(by_split.values())
    counts = "; ".join(part for part in (", ".join(f"{n} {name}" for name, n in by_split.items() if n),
                                         ", ".join(f"{n} {kind}" for kind, n in by_kind.items() if n)) if part)
    said = f"{total} patch{'' if total == 1 else 'es'}{detail}" + (f": {counts}" if total else "")
    if proportions:
        shares = ", ".join(f"{100 * share:.1f}% of {name}" for name, share in proportions.items()
                           if by_split.get(name) and math.isfinite(share))
        if shares:
            said += f"; landslide pixels {shares}"
    return said


RING = 10  # image buffers per raster: MAX_PENDING patches in flight, the one being read and a spare
MAX_PENDING = RING - 2

ImageArray = npt.NDArray[Any]
MaskArray = npt.NDArray[np.uint8]


@dataclass(frozen=True)
class PlanSource:
    """One raster of the plan and the bands taken from it."""

    index: int
    info: RasterInfo
    bands: list[int]  # 1-based
    band_names: list[str]

    @property
    def stem(self) -> str:
        return Path(self.info.path).stem.replace(" ", "_")


@dataclass(frozen=True)
class PlannedWindow:
    """One window as the plan decided it: kept (reason None) or dropped, and where a kept one goes."""

    index: int
    id: str
    source: int
    row: int
    col: int
    size: int
    placement: str
    kind: str
    reason: str | None
    positives: int
    split: str | None

    @property
    def kept(self) -> bool:
        return self.reason is None

    @property
    def landslide_fraction(self) -> float:
        return self.positives / (self.size * self.size)

    @property
    def window(self) -> Window:
        return Window(self.row, self.col, self.size, self.size)


class WindowTable:
    """Every window a plan considered, column-wise (a 20,000 x 20,000 scene at stride 64 has ~100,000)."""

    def __init__(self) -> None:
        self.source, self.row, self.col = array("i"), array("q"), array("q")
        self.placement, self.kind, self.reason, self.split = array("b"), array("b"), array("b"), array("b")
        self.positives = array("q")

    def __len__(self) -> int:
        return len(self.row)

    def add(self, source: int, window: Window, placement: str, kind: str, positives: int,
            reason: str | None) -> int:
        self.source.append(source)
        self.row.append(window.row)
        self.col.append(window.col)
        self.placement.append(PLACEMENTS.index(placement))
        self.kind.append(KINDS.index(kind))
        self.positives.append(positives)
        self.reason.append(NONE if reason is None else DROP_REASONS.index(reason))
        self.split.append(NONE)
        return len(self.row) - 1

    def keep(self, i: int, split: int = NONE) -> None:
        self.reason[i] = NONE
        self.split[i] = split

    def drop(self, i: int, reason: str) -> None:
        self.reason[i] = DROP_REASONS.index(reason)
        self.split[i] = NONE

    def is_kept(self, i: int) -> bool:
        return self.reason[i] == NONE

    def kind_of(self, i: int) -> str:
        return KINDS[self.kind[i]]

    def window(self, i: int, size: int) -> Window:
        return Window(self.row[i], self.col[i], size, size)

    def patch_id(self, i: int, stems: list[str]) -> str:
        suffix = "_n" if PLACEMENTS[self.placement[i]] == "centred" else ""
        return f"{self.source[i]}_{stems[self.source[i]]}_r{self.row[i]}_c{self.col[i]}{suffix}"

    def record(self, i: int, size: int, stems: list[str]) -> PlannedWindow:
        reason, split = self.reason[i], self.split[i]
        return PlannedWindow(i, self.patch_id(i, stems), self.source[i], self.row[i], self.col[i], size,
                             PLACEMENTS[self.placement[i]], KINDS[self.kind[i]],
                             None if reason == NONE else DROP_REASONS[reason], self.positives[i],
                             None if split == NONE else SPLIT_NAMES[split])

    def indices(self, *, kept: bool | None = None, placement: str | None = None) -> Iterator[int]:
        code = None if placement is None else PLACEMENTS.index(placement)
        for i in range(len(self)):
            if (kept is None or (self.reason[i] == NONE) == kept) and (code is None or self.placement[i] == code):
                yield i


class SpatialIndex:
    """Same-size square windows hashed by the grid cells they touch: which ones overlap a given window."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._cells: defaultdict[tuple[int, int, int], list[tuple[int, int, int]]] = defaultdict(list)

    def _cells_of(self, source: int, row: int, col: int) -> Iterator[tuple[int, int, int]]:
        s = self.size
        for r in range(row // s, (row + s - 1) // s + 1):
            for c in range(col // s, (col + s - 1) // s + 1):
                yield source, r, c

    def add(self, source: int, row: int, col: int, payload: int) -> None:
        for cell in self._cells_of(source, row, col):
            self._cells[cell].append((row, col, payload))

    def overlapping(self, source: int, row: int, col: int) -> set[int]:
        """Payloads of the windows that share at least one pixel with the window at (row, col)."""
        found = set()
        for cell in self._cells_of(source, row, col):
            for r, c, payload in self._cells.get(cell, ()):
                if abs(r - row) < self.size and abs(c - col) < self.size:
                    found.add(payload)
        return found


class PointIndex:
    """Points (pixel row, col) hashed by grid cell: does a square window hold one of them?"""

    def __init__(self, size: int, points: list[tuple[int, int]]) -> None:
        self.size = size
        self._cells: defaultdict[tuple[int, int], list[tuple[int, int]]] = defaultdict(list)
        for row, col in points:
            self._cells[row // size, col // size].append((row, col))

    def any_in(self, row: int, col: int) -> bool:
        s = self.size
        for r in range(row // s, (row + s - 1) // s + 1):
            for c in range(col // s, (col + s - 1) // s + 1):
                if any(row <= pr < row + s and col <= pc < col + s for pr, pc in self._cells.get((r, c), ())):
                    return True
        return False


class WindowReader:
    """One raster open for windowed reads, its inventory burner and a ring of image buffers reused read after
    read (so streaming allocates nothing large per patch: freed per-patch temporaries fragment glibc's heap)."""

    def __init__(self, source: PlanSource, polygons: PolygonSet, size: int) -> None:
        import rasterio

        info = source.info
        self.source, self.size = source, size
        self.burner = InventoryBurner(polygons, raster_srs(info), info.transform)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            self.ds = rasterio.open(info.path)
        self.validity = PixelValidity(self.ds, source.bands)
        self.ring = [np.empty((len(source.bands), size, size), dtype=info.dtype) for _ in range(RING)]
        self.turn = 0
        self.empty: MaskArray = np.zeros((size, size), np.uint8)

    def landslide_points(self) -> list[tuple[int, int]]:
        """A pixel (row, col) inside each landslide (on its surface), in polygon order."""
        a, _, c, _, e, f = self.source.info.transform
        return [(math.floor((y - f) / e), math.floor((x - c) / a)) for x, y in self.burner.inner_points()]

    def landslide_mask(self, window: Window) -> MaskArray:
        """The inventory burnt on the window (1 = landslide)."""
        return self.burner.burn(window) if self.burner.count_in(window) else self.empty

    def read(self, window: Window) -> ImageArray | None:
        """The window's pixels (selected bands, into the next ring buffer), or None where a pixel is nodata. Only
        for pixels handed to the sink: the ring holds the patches still waiting to be written, and only a valid
        read takes a buffer (a nodata window's read may not advance onto a patch in flight)."""
        image = self._read(window, self.ring[self.turn % RING])
        if image is not None:
            self.turn += 1
        return image

    def peek(self, window: Window) -> ImageArray | None:
        """As `read`, into a new array: for pixels only looked at (scores, statistics), which must not take a ring
        buffer from a patch still waiting to be written."""
        return self._read(window, None)

    def _read(self, window: Window, out: ImageArray | None) -> ImageArray | None:
        rio_window = window.to_rasterio()
        image: ImageArray = self.ds.read(self.source.bands, window=rio_window, out=out)
        return None if self.validity.any_missing(image, rio_window) else image

    def valid(self, window: Window) -> bool:
        """No nodata pixel in the window (read only when the raster can hold nodata)."""
        return self.validity.always_valid or self.peek(window) is not None

    def invalid_bands(self, window: Window) -> list[str]:
        """The names of the selected bands holding a nodata (or NaN) pixel in the window: for the count of windows
        lost to holes of one band (a DSM's), which a fill of that band would keep."""
        rio_window = window.to_rasterio()
        image: ImageArray = self.ds.read(self.source.bands, window=rio_window)
        return [name for k, name in enumerate(self.source.band_names)
                if self.validity.any_missing(image[k:k + 1], rio_window, [k])]

    def lacks_entirely(self, window: Window, names: Sequence[str]) -> bool:
        """Whether every pixel of the named bands is missing in the window: it lies beyond that raster's footprint
        (a DSM that covers part of the orthophoto), where there is no hole to fill."""
        rio_window = window.to_rasterio()
        bands = [self.source.bands[self.source.band_names.index(n)] for n in names]
        image = self.ds.read(bands, window=rio_window)
        missing = self.ds.read_masks(bands, window=rio_window) == 0
        if np.issubdtype(image.dtype, np.floating):
            missing |= ~np.isfinite(image)
        return bool(missing.all())

    def close(self) -> None:
        self.ds.close()
        self.burner.close()
