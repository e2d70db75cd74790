"""Which pixels of a raster window are valid: the one rule that patch export and detection share, so a pixel that
export refuses as nodata is never one that detection scores (or the other way round)."""
from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from .raster import alpha_valid, unmasked_alpha


class PixelValidity:
    """The valid pixels of windows read from one open rasterio dataset's `bands` (1-based). Missing are: a band's
    declared nodata value (compared on the values read, with no second decode), a pixel GDAL's mask bands mark
    (alpha or per-dataset masks), a float alpha band's 0 (GDAL does not apply it: read apart), and in a
    floating-point raster NaN and infinity, declared or not."""

    def __init__(self, src: Any, bands: Sequence[int]) -> None:
        from rasterio.enums import MaskFlags

        self.src, self.bands = src, list(bands)
        self.alphas = unmasked_alpha(src)
        self.nodata = [src.nodatavals[b - 1] for b in self.bands]
        self.floating = any(np.issubdtype(np.dtype(src.dtypes[b - 1]), np.floating) for b in self.bands)
        flags = [set(src.mask_flag_enums[b - 1]) for b in self.bands]
        if all(f == {MaskFlags.all_valid} for f in flags):
            self.kind = "all"
        elif all(f == {MaskFlags.nodata} for f in flags):
            self.kind = "nodata"
        else:
            self.kind = "masks"

    @property
    def always_valid(self) -> bool:
        """Every pixel is valid whatever its value: there is nothing to read or compare."""
        return self.kind == "all" and not self.floating and not self.alphas

    def mask(self, raw: NDArray[Any], window: Any, positions: Sequence[int] | None = None) -> NDArray[np.bool_]:
        """Per pixel of `raw` (the bands read for rasterio `window`, all of them or those at `positions` in
        `bands`), whether every band is valid there."""
        positions = range(len(self.bands)) if positions is None else positions
        valid = np.ones(raw.shape[1:], bool)
        if self.kind == "nodata":
            for band, k in zip(raw, positions, strict=True):
                nodata = self.nodata[k]
                if nodata is not None and not math.isnan(nodata):  # a NaN nodata is caught as not finite below
                    valid &= band != nodata
        elif self.kind == "masks":
            masks = self.src.read_masks([self.bands[k] for k in positions], window=window)
            valid &= (masks > 0).all(axis=0)
        if np.issubdtype(raw.dtype, np.floating):
            valid &= np.isfinite(raw).all(axis=0)
        if self.alphas:
            valid &= alpha_valid(self.src, self.alphas, window)
        return valid

    def any_missing(self, raw: NDArray[Any], window: Any, positions: Sequence[int] | None = None) -> bool:
        """Whether any pixel of `raw` is missing (see `mask`)."""
        return not self.always_valid and not bool(self.mask(raw, window, positions).all())
