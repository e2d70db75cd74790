"""Look-alike background: which landslide-free windows look most like landslides, from the pixels alone.

A model trained on landslide patches plus a random sample of background learns "bare and bright = landslide"
and, on a whole scene, marks bare soil, sediment bars, ploughed fields and tracks: the precision an analyst loses
on an unseen area (issue 12: thousands of polygons around a few true shapes). Those look-alikes are rare in a
random sample of background windows, so the model barely meets them. Export therefore picks part of its
background windows among those that hold the most landslide-like pixels.

"Landslide-like" is a two-class Gaussian model of the pixel values (quadratic discriminant analysis), fitted on
the training inventory's own windows: the landslide pixels against the other pixels of the same windows. A
background window's score is the share of its valid pixels that the model puts on the landslide side. No network
is involved, so export and the patch preview decide the same windows before any training.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

Floats = npt.NDArray[np.float64]
MAX_PIXELS_PER_WINDOW = 2048  # pixels of each class drawn per window to fit the model (bounded memory and time)
SCORE_STEP = 2  # a candidate window is scored on every second pixel of every second row
RIDGE = 1e-6  # relative regularisation of the covariances (constant or collinear bands)
# Fewer distinct landslide pixels than this in the windows the model is fitted on: no look-alike background. A
# handful of small landslides says too little about what a landslide looks like, and the most landslide-like ground
# is then as likely an unmapped landslide as a look-alike (Kaikoura, 20 and 134 landslide pixels at 10 m: look-alike
# windows took the unseen scene's F1 from 0.37 to 0.00; docs/quality.md).
MIN_LANDSLIDE_PIXELS = 1000


@dataclass(frozen=True)
class _Gaussian:
    mean: Floats
    inverse: Floats
    log_det: float

    @classmethod
    def fit(cls, pixels: Floats) -> _Gaussian:
        mean = pixels.mean(axis=0)
        cov = np.atleast_2d(np.cov(pixels, rowvar=False))
        cov += np.eye(len(mean)) * (RIDGE * max(float(np.trace(cov)) / len(mean), 1e-12))
        sign, log_det = np.linalg.slogdet(cov)
        return cls(mean, np.linalg.inv(cov), float(log_det) if sign > 0 else 0.0)

    def log_density(self, pixels: Floats) -> Floats:
        centred = pixels - self.mean
        distance: Floats = np.einsum("ij,jk,ik->i", centred, self.inverse, centred)
        return -0.5 * (distance + self.log_det)


@dataclass(frozen=True)
class LookalikeModel:
    """Landslide and background pixel values as two Gaussians, with the landslides' share as prior."""

    landslide: _Gaussian
    background: _Gaussian
    log_prior_ratio: float

    @classmethod
    def fit(cls, landslide: Floats, background: Floats) -> LookalikeModel | None:
        """None when either class has too few pixels to estimate a covariance."""
        bands = landslide.shape[1] if landslide.ndim == 2 else 0
        if bands == 0 or len(landslide) <= 2 * bands or len(background) <= 2 * bands:
            return None
        prior = len(landslide) / (len(landslide) + len(background))
        return cls(_Gaussian.fit(landslide), _Gaussian.fit(background), float(np.log(prior / (1 - prior))))

    def score(self, image: npt.NDArray[Any]) -> float:
        """Share of the (bands, rows, cols) window's finite pixels on the landslide side (scored on a grid)."""
        sample = np.asarray(image[:, ::SCORE_STEP, ::SCORE_STEP], np.float64).reshape(image.shape[0], -1).T
        sample = sample[np.isfinite(sample).all(axis=1)]
        if not len(sample):
            return 0.0
        margin = self.landslide.log_density(sample) - self.background.log_density(sample) + self.log_prior_ratio
        return float((margin > 0).mean())


class PixelSampler:
    """Collects landslide and other pixels from windows (bounded per window), then fits the model."""

    def __init__(self, seed: int) -> None:
        self.rng = np.random.default_rng([seed, 3])
        self.landslide: list[Floats] = []
        self.background: list[Floats] = []
        self._landslide_ids: list[npt.NDArray[np.int64]] = []

    def add(self, image: npt.NDArray[Any], mask: npt.NDArray[Any], origin: tuple[int, int, int] = (0, 0, 0)) -> None:
        """A (bands, rows, cols) window and its landslide mask; `origin` (raster, row, col) places it, so that a
        landslide pixel seen in overlapping windows counts once."""
        grid = np.asarray(mask, bool).reshape(image.shape[1:])
        rows, cols = np.nonzero(grid)
        source, row, col = (np.int64(v) for v in origin)
        self._landslide_ids.append((source << 42) + ((row + rows) << 21) + col + cols)
        pixels = np.asarray(image, np.float64).reshape(image.shape[0], -1).T
        on = grid.reshape(-1)
        finite = np.isfinite(pixels).all(axis=1)
        for keep, out in ((on & finite, self.landslide), (~on & finite, self.background)):
            chosen = pixels[keep]
            if len(chosen) > MAX_PIXELS_PER_WINDOW:
                chosen = chosen[self.rng.choice(len(chosen), MAX_PIXELS_PER_WINDOW, replace=False)]
            if len(chosen):
                out.append(chosen)

    @property
    def landslide_pixels(self) -> int:
        """Distinct landslide pixels in the windows added."""
        return len(np.unique(np.concatenate(self._landslide_ids))) if self._landslide_ids else 0

    def fit(self, min_landslide_pixels: int = MIN_LANDSLIDE_PIXELS) -> LookalikeModel | None:
        """The model, or None with fewer than `min_landslide_pixels` distinct landslide pixels (see the constant)
        or too few pixels of either kind."""
        if not self.landslide or not self.background or self.landslide_pixels < min_landslide_pixels:
            return None
        return LookalikeModel.fit(np.concatenate(self.landslide), np.concatenate(self.background))


def pick(candidates: Sequence[int], scores: Sequence[float], wanted: int, lookalike_share: float,
         rng: np.random.Generator) -> list[int]:
    """The order in which to try background candidates: the `lookalike_share` of `wanted` with the highest scores
    first (ties by position; only windows with a landslide-like pixel), then the others in random order (so the
    rest stays a plain random sample)."""
    if not candidates:
        return []
    top = min(len(candidates), round(lookalike_share * wanted))
    ranked = sorted(range(len(candidates)), key=lambda j: (-scores[j], j))
    first = [j for j in ranked[:top] if scores[j] > 0]  # a window without one landslide-like pixel is no look-alike
    taken = set(first)
    rest = [j for j in range(len(candidates)) if j not in taken]
    rest = [rest[j] for j in rng.permutation(len(rest))]
    return [candidates[j] for j in first + rest]
