"""Does a scene suit a model? Its bands, resolution and size against the model card, checked before a detection
(the Model information dialog shows these; detection itself applies the same band rule)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .bands import match_model_bands
from .errors import LmhldError
from .modelcard import ModelCard
from .raster import (
    RasterInfo,
    finer_or_coarser,
    pixel_area_m2,
    read_raster_info,
    same_resolution,
    stretched_pixels_note,
)

if TYPE_CHECKING:
    from numpy.typing import NDArray


@dataclass(frozen=True)
class Check:
    """One line of the verdict: what was checked, whether it passes (None: a warning), in words."""

    what: str
    ok: bool | None
    message: str


def check_scene(card: ModelCard, raster: str | Path) -> list[Check]:
    """Bands, resolution, size and pixel values of `raster` against `card`."""
    info = read_raster_info(raster)
    bands_check, picked = _bands(card, info)
    checks = [bands_check, _resolution(card, info), _size(card, info)]
    stretched = stretched_pixels_note(info, "detect")  # as detection warns of it
    if stretched:
        checks.append(Check("grid", None, stretched))
    if picked is not None:
        values = SceneValues.sample(info, [i + 1 for i in picked])
        divisor, units = scene_divisor(card, values)
        far = values_far_from_training(card, values, divisor)
        if units:
            checks.append(Check("units", True, units))
        checks.append(Check("values", None, "; ".join(far)) if far else
                      Check("values", True, "within the range the model was trained on"))
    return checks


FAR_FROM_TRAINING = 10.0  # standard deviations between a band's typical value and the model's training mean
SAMPLE_GRID, SAMPLE_SIDE = 4, 64  # windows read across the scene to tell its typical values (a few reads)


@dataclass(frozen=True)
class SceneValues:
    """The typical value of each of a scene's bands: the median of a few windows spread over it, valid pixels only
    (None where none is valid), with the scale and offset each band declares."""

    bands: list[int]  # 1-based
    typical: list[float | None]
    scaling: list[tuple[float, float]]

    @classmethod
    def sample(cls, info: RasterInfo, bands: list[int]) -> SceneValues:
        import warnings

        import numpy as np
        import rasterio
        from rasterio.windows import Window

        side = min(SAMPLE_SIDE, info.width, info.height)
        cols = np.linspace(0, info.width - side, SAMPLE_GRID).astype(int)
        rows = np.linspace(0, info.height - side, SAMPLE_GRID).astype(int)
        windows = [Window(int(c), int(r), side, side) for r in dict.fromkeys(rows) for c in dict.fromkeys(cols)]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # before the open, which warns of a raster without georeferencing
            with rasterio.open(info.path) as src:
                data = np.concatenate([src.read(bands, window=w).reshape(len(bands), -1) for w in windows], axis=1)
                valid = np.concatenate([src.read_masks(bands, window=w).reshape(len(bands), -1)
                                        for w in windows], axis=1)
                scaling = [(float(src.scales[b - 1]), float(src.offsets[b - 1])) for b in bands]
        return cls(list(bands), _medians(data.astype(np.float64), valid > 0), scaling)


def patch_values(images: Sequence[NDArray[Any]], bands: list[int], nodata: float | None) -> SceneValues:
    """The typical value of each band over a few (C, H, W) patches of a dataset: the median of their valid pixels
    (finite, not `nodata`), as SceneValues' windows give it for a scene; `bands`: their 1-based numbers."""
    import numpy as np

    data = np.concatenate([np.asarray(im, dtype=np.float64).reshape(im.shape[0], -1) for im in images], axis=1)
    valid = data != nodata if nodata is not None and not math.isnan(nodata) else np.ones(data.shape, bool)
    return SceneValues(list(bands), _medians(data, valid), [(1.0, 0.0)] * len(bands))


def _medians(data: NDArray[Any], valid: NDArray[Any]) -> list[float | None]:
    """Per band (row) of `data`, the median of its finite values where `valid` (None where there is none)."""
    import numpy as np

    typical: list[float | None] = []
    for row, ok in zip(data, valid, strict=True):
        values = row[ok & np.isfinite(row)]
        typical.append(float(np.median(values)) if values.size else None)
    return typical


def _distances(card: ModelCard, values: SceneValues, divisor: list[float]) -> list[tuple[int, float, float]]:
    """(input, typical value in the model's units, standard deviations from its training mean) for the inputs
    that can be compared: not relative bands (a DSM loses its level in the model), a value and a spread known."""
    out = []
    for k, typical in enumerate(values.typical):
        if k in card.relative_bands or typical is None or not card.std[k] > 0:
            continue
        scaled = typical / divisor[k]
        out.append((k, scaled, abs(scaled - card.mean[k]) / card.std[k]))
    return out


def scene_divisor(card: ModelCard, values: SceneValues) -> tuple[list[float] | None, str | None]:
    """What to divide the scene's bands by for a model trained on divided values (`card.input_divisor`, e.g. a
    Landslide4Sense release), and why, in words: by the divisor when its values look like the imagery's own (a
    Sentinel-2 scene as delivered), not when they are already in the training data's units (divided beforehand).
    (None, None) for a model trained on the imagery's own values."""
    import numpy as np

    if not card.input_divisor or len(card.input_divisor) != len(values.bands) or len(card.mean) != len(values.bands):
        return None, None
    ones = [1.0] * len(values.bands)
    divided = [d for _, _, d in _distances(card, values, card.input_divisor)]
    as_is = [d for _, _, d in _distances(card, values, ones)]
    if divided and as_is and float(np.median(as_is)) < float(np.median(divided)):
        return None, ("the scene's values are already in the units of the model's training patches (each band "
                      "divided as a Landslide4Sense release is): read as they are")
    return list(card.input_divisor), ("the model was trained on values divided per band (a Landslide4Sense "
                                      "release's units): the scene's bands are divided alike ("
                                      + ", ".join(f"{card.bands[k]} / {d:g}" for k, d in enumerate(card.input_divisor))
                                      + ")")


def values_far_from_training(card: ModelCard, values: SceneValues, divisor: list[float] | None = None,
                             what: str = "scene") -> list[str]:
    """A warning (one, naming every such input) when inputs' typical values in the scene (divided by `divisor`
    where detection divides it) lie more than FAR_FROM_TRAINING standard deviations from the training means the
    model card records: a scene scaled otherwise (reflectance as 0-10000 integers rather than 0-1, 8-bit rather
    than 16-bit) gives detections without meaning, and nothing else would say so. `what`: the word for the data
    (evaluation's "patches")."""
    if len(card.mean) != len(values.bands) or len(card.std) != len(values.bands):
        return []
    compared = _distances(card, values, divisor or [1.0] * len(values.bands))
    far = [(k, typical, d) for k, typical, d in compared if d > FAR_FROM_TRAINING]
    divided = " (divided as its training patches were)" if divisor else ""
    far_inputs = {k for k, _, _ in far}
    scale = _scale_off(card, [c for c in compared if c[0] not in far_inputs])  # the bands not named as far
    if not far:
        if scale is None:
            return []
        owner = f"{what}'" if what.endswith("s") else f"{what}'s"
        return [f"the {owner} values{divided} are about {scale:.2g} times the training imagery's, band by band: "
                + _scaled_otherwise(what)]
    if scale is not None:  # a probe's reflectance bands at 0.06 times went unsaid beside one far slope band
        others = ", ".join(card.bands[k] for k, _, _ in compared
                           if k not in far_inputs and card.mean[k] > 2 * card.std[k] > 0)
        far_text = f"; and the other bands' values ({others}) are about {scale:.2g} times the training imagery's"
    else:
        far_text = ""
    bands = "; ".join(f"band {values.bands[k]} ({card.bands[k]}) {typical:.4g} is {d:.0f} standard deviations from "
                      f"the training mean {card.mean[k]:.4g} (std {card.std[k]:.4g})" for k, typical, d in far)
    declared = sorted({values.scaling[k] for k, _, _ in far} - {(1.0, 0.0)})
    note = ("" if not declared else
            f"; the file declares a scale of {declared[0][0]:g} and an offset of {declared[0][1]:g}, which lmhld does "
            "not apply (pixels are read as stored, as export read the training imagery): apply it with "
            "gdal_translate -unscale -ot Float32 if the training imagery was in those units")
    scaled = _scaled_otherwise(what)
    return [f"typical values far from the training imagery's{divided}: {bands}{far_text}. "
            + scaled[:1].upper() + scaled[1:] + note]


def _scaled_otherwise(what: str) -> str:
    """The likely cause and the fix, said of a scene (detection) or of patches (evaluation)."""
    are, come, them = ("are", "come", "them") if what.endswith("s") else ("is", "comes", "it")
    outcome = "the detections" if what == "scene" else "the scores"
    return (f"the {what} {are} scaled otherwise than the training imagery (reflectance as 0-10000 integers rather "
            f"than 0-1, 8-bit rather than 16-bit?) or {come} from another sensor, and {outcome} may mean nothing; "
            f"scale {them} as the training imagery was")


SCALE_OFF = 4.0  # a scene whose values are this many times the training imagery's (or a fraction as small)


def _scale_off(card: ModelCard, compared: list[tuple[int, float, float]]) -> float | None:
    """How many times the training imagery's values the scene's are (the median over the inputs whose training
    mean lies well above 0), where that is SCALE_OFF or more either way: a 10x scale (reflectance 0-1 against a
    training imagery of 0-10000 over 1000) can stay within FAR_FROM_TRAINING standard deviations of a band whose
    spread is large. None where the scale agrees, or no input tells."""
    import numpy as np

    ratios = [typical / card.mean[k] for k, typical, _ in compared if card.mean[k] > 2 * card.std[k] > 0]
    if not ratios:
        return None
    scale = float(np.median(ratios))
    return scale if scale >= SCALE_OFF or 0 < scale <= 1 / SCALE_OFF else None


def _bands(card: ModelCard, info: RasterInfo) -> tuple[Check, list[int] | None]:
    """The bands check, and the raster bands (0-based) that feed the model's inputs (None: they do not fit)."""
    names = [d or f"band {i + 1}" for i, d in enumerate(info.band_names)]
    try:
        picked, by_position = match_model_bands(card.bands, list(info.descriptions), Path(info.path).name,
                                                "choose the bands in the detection's Advanced parameters",
                                                alpha=[b - 1 for b in info.alpha_bands], colours=info.colours)
    except LmhldError as exc:
        return Check("bands", False, str(exc)), None
    used = ", ".join(f"{card.bands[k]} ← {names[i]}" for k, i in enumerate(picked))
    if by_position:
        return Check("bands", None, f"not named like the model's; taken in order: {used}"), picked
    return Check("bands", True, f"matched by name: {used}"), picked


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
