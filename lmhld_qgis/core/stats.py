"""Streaming per-band statistics (Chan et al.'s parallel merge of count, mean and M2): one pass, any size."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

Floats = npt.NDArray[np.float64]


@dataclass
class BandStats:
    n: int = 0
    mean: Floats = field(default_factory=lambda: np.zeros(0))
    m2: Floats = field(default_factory=lambda: np.zeros(0))

    @classmethod
    def of(cls, image: npt.NDArray[Any], work: Floats | None = None) -> BandStats:
        """Statistics of one (bands, rows, cols) array. `work`, a float64 array of the same size, is reused as
        scratch space: streaming many patches then allocates nothing large (which keeps the heap from fragmenting)."""
        bands = image.shape[0]
        flat = image.reshape(bands, -1)
        if work is None or work.size != flat.size:
            work = np.empty(flat.shape, np.float64)
        work = work.reshape(flat.shape)
        np.copyto(work, flat, casting="unsafe")
        mean = work.mean(axis=1)
        np.subtract(work, mean[:, None], out=work)
        np.square(work, out=work)
        return cls(flat.shape[1], mean, work.sum(axis=1))

    def as_tuple(self) -> tuple[int, tuple[float, ...], tuple[float, ...]]:
        return self.n, tuple(self.mean.tolist()), tuple(self.m2.tolist())

    @classmethod
    def from_tuple(cls, t: tuple[int, tuple[float, ...], tuple[float, ...]]) -> BandStats:
        return cls(t[0], np.asarray(t[1], np.float64), np.asarray(t[2], np.float64))

    def merge(self, other: BandStats) -> BandStats:
        if self.n == 0:
            return other
        if other.n == 0:
            return self
        n = self.n + other.n
        delta = other.mean - self.mean
        mean = self.mean + delta * other.n / n
        m2 = self.m2 + other.m2 + delta**2 * self.n * other.n / n
        return BandStats(n, mean, m2)

    @property
    def std(self) -> Floats:
        std: Floats = np.sqrt(self.m2 / max(self.n, 1))
        return std
