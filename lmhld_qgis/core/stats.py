"""Streaming per-band statistics (Chan et al.'s parallel merge of count, mean and M2): one pass, any size."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class BandStats:
    n: int = 0
    mean: np.ndarray = field(default_factory=lambda: np.zeros(0))
    m2: np.ndarray = field(default_factory=lambda: np.zeros(0))

    @classmethod
    def of(cls, image: np.ndarray) -> BandStats:
        """Statistics of one (bands, rows, cols) array."""
        flat = image.reshape(image.shape[0], -1).astype(np.float64)
        mean = flat.mean(axis=1)
        return cls(flat.shape[1], mean, ((flat - mean[:, None]) ** 2).sum(axis=1))

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
    def std(self) -> np.ndarray:
        return np.sqrt(self.m2 / max(self.n, 1))
