"""Does a scene suit a model? Its bands, resolution and size against the model card, checked before a detection
(the Model information dialog shows these; detection itself applies the same band rule)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from .bands import match_model_bands
from .errors import LmhldError
from .modelcard import ModelCard
from .raster import RasterInfo, finer_or_coarser, pixel_area_m2, read_raster_info, same_resolution


@dataclass(frozen=True)
class Check:
    """One line of the verdict: what was checked, whether it passes (None: a warning), in words."""

    what: str
    ok: bool | None
    message: str


def check_scene(card: ModelCard, raster: str | Path) -> list[Check]:
    """Bands, resolution and size of `raster` against `card`."""
    info = read_raster_info(raster)
    return [_bands(card, info), _resolution(card, info), _size(card, info)]


def _bands(card: ModelCard, info: RasterInfo) -> Check:
    names = [d or f"band {i + 1}" for i, d in enumerate(info.band_names)]
    try:
        picked, by_position = match_model_bands(card.bands, list(info.descriptions), Path(info.path).name,
                                                "choose the bands in the detection's Advanced parameters",
                                                alpha=[b - 1 for b in info.alpha_bands], colours=info.colours)
    except LmhldError as exc:
        return Check("bands", False, str(exc))
    used = ", ".join(f"{card.bands[k]} ← {names[i]}" for k, i in enumerate(picked))
    if by_position:
        return Check("bands", None, f"not named like the model's; taken in order: {used}")
    return Check("bands", True, f"matched by name: {used}")


def _resolution(card: ModelCard, info: RasterInfo) -> Check:
    try:
        pixel = math.sqrt(pixel_area_m2(info))
    except LmhldError as exc:
        return Check("resolution", False, str(exc))
    if not card.resolution_m:
        return Check("resolution", None, f"{pixel:.3g} m; the model does not say its training resolution")
    if same_resolution(pixel, card.resolution_m):
        return Check("resolution", True, f"{pixel:.3g} m, the model was trained at {card.resolution_m:.3g} m")
    return Check("resolution", None, f"{pixel:.3g} m, {finer_or_coarser(pixel, card.resolution_m)} than the model's "
                                     f"{card.resolution_m:.3g} m: detection resamples the scene to "
                                     f"{card.resolution_m:.3g} m (Resample to the model's resolution, an advanced "
                                     "parameter of Detect landslides, on by default)")


def _size(card: ModelCard, info: RasterInfo) -> Check:
    tile = card.patch_size
    if info.width >= tile and info.height >= tile:
        return Check("size", True, f"{info.width} x {info.height} px, windows of {tile} px")
    return Check("size", None, f"{info.width} x {info.height} px, smaller than one window ({tile} px): detected "
                               "in a single padded window")
