"""Windows over a raster grid: one module serves patch export, detection and evaluation."""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

Affine6 = tuple[float, float, float, float, float, float]  # a, b, c, d, e, f (rasterio order)


@dataclass(frozen=True)
class Window:
    row: int
    col: int
    height: int
    width: int

    @property
    def slices(self) -> tuple[slice, slice]:
        return slice(self.row, self.row + self.height), slice(self.col, self.col + self.width)

    def inside(self, height: int, width: int) -> bool:
        """True when the window lies wholly within an image of that size."""
        return self.row >= 0 and self.col >= 0 and self.row + self.height <= height and self.col + self.width <= width

    def to_rasterio(self) -> Any:  # rasterio.windows.Window (rasterio ships no type hints)
        from rasterio.windows import Window as RioWindow

        return RioWindow(self.col, self.row, self.width, self.height)


def grid_windows(height: int, width: int, size: int, stride: int | None = None) -> Iterator[Window]:
    """Windows of `size` on a regular grid from the top-left corner, including those that run past the image
    (patch export drops them as 'boundary')."""
    stride = stride or size
    if size <= 0 or stride <= 0:
        raise ValueError(f"size and stride must be positive, got {size}, {stride}")
    for row in range(0, height, stride):
        for col in range(0, width, stride):
            yield Window(row, col, size, size)


def _starts(length: int, size: int, stride: int) -> list[int]:
    """Window starts that cover [0, length): a regular grid, the last one shifted back to end at the edge."""
    if length <= size:
        return [0]
    starts = list(range(0, length - size + 1, stride))
    if starts[-1] + size < length:
        starts.append(length - size)
    return starts


def covering_windows(height: int, width: int, size: int, stride: int) -> list[Window]:
    """Windows that cover the whole image (for detection); images smaller than `size` give one padded window."""
    return [Window(r, c, size, size) for r in _starts(height, size, stride) for c in _starts(width, size, stride)]


def window_transform(transform: Affine6, window: Window) -> Affine6:
    """The geotransform of a window: the same pixel size, its origin moved to the window's top-left pixel."""
    a, b, c, d, e, f = transform
    return (a, b, c + a * window.col + b * window.row, d, e, f + d * window.col + e * window.row)


def window_bounds(transform: Affine6, window: Window) -> tuple[float, float, float, float]:
    """(xmin, ymin, xmax, ymax) of a window on a north-up grid."""
    a, _, c, _, e, f = window_transform(transform, window)
    xs = (c, c + a * window.width)
    ys = (f, f + e * window.height)
    return min(xs), min(ys), max(xs), max(ys)


def clip_window(transform: Affine6, window: Window, box: tuple[float, float, float, float]) -> Window:
    """The part of `window` within the box (xmin, ymin, xmax, ymax in the grid's CRS), out to whole pixels, on a
    north-up grid; 0 x 0 when they do not meet."""
    a, _, c, _, e, f = transform
    xmin, ymin, xmax, ymax = box
    cols = sorted(((xmin - c) / a, (xmax - c) / a))
    rows = sorted(((ymax - f) / e, (ymin - f) / e))
    r0, r1 = max(window.row, math.floor(rows[0])), min(window.row + window.height, math.ceil(rows[1]))
    c0, c1 = max(window.col, math.floor(cols[0])), min(window.col + window.width, math.ceil(cols[1]))
    return Window(r0, c0, r1 - r0, c1 - c0) if r1 > r0 and c1 > c0 else Window(0, 0, 0, 0)


def multiples_around(size: int, multiple: int) -> tuple[int, int]:
    """The multiples of `multiple` on either side of `size` (the smaller one at least `multiple`): the sizes a
    network that takes only such sizes can be given instead."""
    return size - size % multiple or multiple, size + multiple - size % multiple
