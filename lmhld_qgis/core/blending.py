"""Window weights and accumulation: overlapping predictions are blended with smooth weights, so no seams.

A window's weight is 0 in a margin of a quarter of the overlap along each side that another window also covers
(where zero padding makes the network's output least reliable), then rises as sin^2 to 1 across the rest of the
overlap. Sides on the image border are not tapered: no other window sees those pixels. Without overlap the
weights are uniform.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import numpy as np
from numpy.typing import NDArray

from .grid import Window


def _ramp(size: int, overlap: int) -> NDArray[Any]:
    """1-D weights rising from the window's start: 0 over the margin, sin^2 up to 1 across the overlap."""
    ramp = np.ones(size, dtype=np.float64)
    if overlap <= 0:
        return ramp
    margin = overlap // 4
    length = max(overlap - 2 * margin, 1)
    x = np.arange(size, dtype=np.float64)
    rising = np.sin(0.5 * np.pi * np.clip((x - margin + 0.5) / length, 0, 1)) ** 2
    return np.where(x < margin, 0.0, rising)


@lru_cache(maxsize=64)
def window_weights(size: int, overlap: int, top: bool = False, bottom: bool = False, left: bool = False,
                   right: bool = False) -> NDArray[Any]:
    """(size, size) weights; `top`... say which sides lie on the image border (and are not tapered)."""
    rise = _ramp(size, overlap)
    ones = np.ones(size)
    rows = (ones if top else rise) * (ones if bottom else rise[::-1])
    cols = (ones if left else rise) * (ones if right else rise[::-1])
    w = np.outer(rows, cols).astype(np.float32)
    w.setflags(write=False)
    return w


def weights_for(window: Window, height: int, width: int, overlap: int) -> NDArray[Any]:
    return window_weights(window.height, overlap, window.row == 0, window.row + window.height >= height,
                          window.col == 0, window.col + window.width >= width)


class StripeAccumulator:
    """Weighted sums for the rows that windows still touch; rows are handed out once no later window can reach them.

    Memory: 2 x (about two tiles) x scene width float32, whatever the scene's height.
    """

    def __init__(self, width: int, height: int, tile: int) -> None:
        self.width, self.height = width, height
        self.top = 0  # scene row of buffer row 0
        rows = min(2 * tile, height)
        self.num = np.zeros((rows, width), np.float32)
        self.den = np.zeros((rows, width), np.float32)

    def add(self, window: Window, prob: NDArray[Any], weights: NDArray[Any]) -> None:
        h = min(window.height, self.height - window.row)
        w = min(window.width, self.width - window.col)
        r0 = window.row - self.top
        if r0 < 0:
            raise RuntimeError("window above the flushed rows: windows must come in row order")
        self._ensure(r0 + h)
        self.num[r0:r0 + h, window.col:window.col + w] += prob[:h, :w] * weights[:h, :w]
        self.den[r0:r0 + h, window.col:window.col + w] += weights[:h, :w]

    def _ensure(self, rows: int) -> None:
        if rows > self.num.shape[0]:
            extra = rows - self.num.shape[0]
            self.num = np.vstack([self.num, np.zeros((extra, self.width), np.float32)])
            self.den = np.vstack([self.den, np.zeros((extra, self.width), np.float32)])

    def flush(self, until_row: int) -> tuple[int, NDArray[Any], NDArray[Any]]:
        """Finish scene rows [top, until_row): returns (first row, blended values, covered mask) and drops them."""
        n = max(0, min(until_row, self.height) - self.top)
        den = self.den[:n]
        covered = den > 0
        values = np.where(covered, self.num[:n] / np.where(covered, den, 1), 0).astype(np.float32)
        top = self.top
        self.num = np.vstack([self.num[n:], np.zeros((n, self.width), np.float32)])
        self.den = np.vstack([self.den[n:], np.zeros((n, self.width), np.float32)])
        self.top += n
        return top, values, covered
