"""Relative-level bands: bands whose level is removed per patch, so that the network sees their shape, not their
altitude.

A digital surface or elevation model (DSM/DEM) stacked with the image is the case: a landslide is a scar, a scarp and
a deposit, which the relief within a patch shows wherever the area lies, while the absolute elevation says which
valley the patch is in. Standardised with the training areas' mean and std, an unseen area 150 m higher arrives
several standard deviations off, and the network has never seen such inputs. With the level removed (each patch's
own mean of the band subtracted, over its valid pixels) and the result scaled by the within-patch spread, the band
means the same in every area.

What is relative is decided at training, from the training patches ("auto"): a band named as elevation (dsm, dem,
dtm, ndsm, elevation, height, altitude, surface model, ...: core.bands), or one whose level changes between patches
far more than within them (within-patch std below half the overall std: elevation does that; spectral bands sit at
0.75-0.95 on the scenes we measured). The choice travels in the model card and inside the ONNX graph (so Deepness
and any raw-pixel client get it too); `relative_bands = []` keeps every band absolute.

The surface removed is the patch's best-fit plane by default ("plane"), not only its level ("level", every model
trained before it): on a valley side the hillslope tilts a 128 m patch by tens of metres, ten times a scar's depth,
and with the level alone the network has to learn that every tilt means nothing - from a few dozen patches it does
not, and at detection the lower side of each tile came out as landslide (tile-shaped stripes on bench/uav.toml).
With the plane gone, what is left is local relief: scars, scarps and deposits against the slope around them, the
"local relief model" terrain analysts map landslides on.

Under trees ("ground", for a photogrammetric DSM, which holds the canopy): a plane through every pixel floats
between crowns and ground at a height that follows the tile's share of forest, so an open field in a dense stand
reads metres lower than in a sparse one (bench/study_dsm_ground.py: scars -8 m and look-alikes -1.5 m around that
plane). The ground surface is the plane fitted again through the pixels that are not canopy: canopy is where the
DSM is rough at the scale of a crown (the mean of |DSM - its 9 px average| over 5 x 5 px above GROUND_ROUGH_M
metres, which a slope of any steepness does not reach, a crown does), widened by 3 px. Then 0 is the ground, the
look-alikes sit on it and scars lie below it. A tile with under 5 % of ground keeps the plane through every pixel.
The windows are in pixels, sized for a 0.5-1 m DSM.

The operation is the same everywhere (training batches, validation, the ONNX graph, the torch backend): on
standardised (N, C, H, W) inputs, for each relative channel, subtract the level (or plane) fitted over the valid
pixels of that sample and multiply by the card's scale (overall std / within-patch spread around that surface);
missing pixels stay 0.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import torch
import torch.nn.functional as F

from ..core.bands import ELEVATION_NAMES, band_key
from ..core.datasets.base import PatchDataset
from ..core.errors import LmhldError
from ..core.modelcard import RELATIVE_SURFACES

GROUND_ROUGH_M = 1.0  # canopy: the DSM's mean |z - its 9 px average| over 5 x 5 px above this (metres); open
# ground measures about 0.5 m on bench/uav.toml's forest areas, crowns 1.2-1.6 m, a plane of any slope 0.36 m
GROUND_SHARE = 0.05  # a tile with less ground than this keeps the plane through every pixel
GROUND_MAX_PIXEL_M = 2.0  # "auto" takes the ground surface for training pixels this fine or finer (a crown spans
# several of them: UAV and aerial DSMs), the plane for coarser ones (satellite DEMs, where 9 px are a hillside)
WITHIN_RATIO = 0.5  # within-patch std / overall std below this: the band's level says where, not what
SAMPLE_PATCHES = 512  # patches read to measure the spreads (evenly spaced over the training split)


@dataclass(frozen=True)
class RelativeLevels:
    """Which input channels lose their level per patch, and the scale that gives them unit spread again."""

    bands: tuple[int, ...] = ()
    scale: tuple[float, ...] = ()
    surface: str = "level"  # what each patch loses: its level, its best-fit plane, or its ground plane
    rough: tuple[float, ...] = ()  # "ground": per band, GROUND_ROUGH_M in the band's standardised units

    def __post_init__(self) -> None:
        if self.surface not in RELATIVE_SURFACES:
            raise LmhldError(f"relative surface must be one of {', '.join(RELATIVE_SURFACES)}, got {self.surface!r}")
        if self.surface == "ground" and len(self.rough) != len(self.bands):
            raise LmhldError(f"a ground surface needs a roughness limit per relative band: {len(self.bands)} "
                             f"band(s), {len(self.rough)} limit(s)")

    def __bool__(self) -> bool:
        return bool(self.bands)

    def apply(self, x: torch.Tensor, missing: torch.Tensor | None = None) -> torch.Tensor:
        """Standardised (N, C, H, W) -> the same with the relative channels de-levelled. `missing` (N, 1, H, W)
        marks pixels to leave out of the mean (default: pixels where every channel is exactly 0, which is how the
        detection path writes them)."""
        if not self.bands:
            return x
        if missing is None:
            missing = (x == 0).all(dim=1, keepdim=True)
        channels = x.shape[1]
        chosen = torch.zeros(1, channels, 1, 1, dtype=x.dtype, device=x.device)
        scale = torch.ones(1, channels, 1, 1, dtype=x.dtype, device=x.device)
        limit = torch.full((1, channels, 1, 1), float("inf"), dtype=x.dtype, device=x.device)
        for band, factor in zip(self.bands, self.scale, strict=True):  # elementwise only: exports as plain ops
            chosen[0, band] = 1.0
            scale[0, band] = factor
        for band, rough in zip(self.bands, self.rough, strict=False):
            limit[0, band] = rough
        valid = (~missing).to(x.dtype)
        count = valid.sum(dim=(2, 3), keepdim=True).clamp(min=1.0)
        residual = x - (x * valid).sum(dim=(2, 3), keepdim=True) / count
        if self.surface != "level":
            residual = residual - _tilt(residual, valid, count)
        if self.surface == "ground":
            residual = _to_ground(residual, valid, limit)
        return x + chosen * (residual * scale * valid - x)

    def to_card(self) -> tuple[list[int], list[float], str, list[float]]:
        return list(self.bands), list(self.scale), self.surface, list(self.rough)

    @classmethod
    def from_card(cls, bands: Sequence[int], scale: Sequence[float], surface: str = "level",
                  rough: Sequence[float] = ()) -> RelativeLevels:
        return cls(tuple(int(b) for b in bands), tuple(float(s) for s in scale), surface,
                   tuple(float(r) for r in rough))


def _local_mean(a: torch.Tensor, valid: torch.Tensor, size: int) -> torch.Tensor:
    """The mean of `a` over the valid pixels of a size x size neighbourhood (size odd; 0 where none is valid)."""
    total = F.avg_pool2d(a * valid, size, 1, size // 2)
    share = F.avg_pool2d(valid, size, 1, size // 2)
    return total / share.clamp(min=1e-6)


def _to_ground(z: torch.Tensor, valid: torch.Tensor, limit: torch.Tensor) -> torch.Tensor:
    """`z` (valid mean 0, plane removed) less the plane through its ground pixels: those whose crown-scale
    roughness stays at or below `limit` (per channel), away from rough ones by 3 px (see the module docstring)."""
    rough = _local_mean((z - _local_mean(z, valid, 9)).abs(), valid, 5)
    canopy = F.max_pool2d((rough > limit).to(z.dtype) * valid, 7, 1, 3)
    ground = valid * (1.0 - canopy)
    enough = ground.sum(dim=(2, 3), keepdim=True) >= GROUND_SHARE * valid.sum(dim=(2, 3), keepdim=True) + 3.0
    weight = torch.where(enough, ground, valid.expand_as(ground))
    count = weight.sum(dim=(2, 3), keepdim=True).clamp(min=1.0)
    z = z - (z * weight).sum(dim=(2, 3), keepdim=True) / count
    return z - _tilt(z, weight, count)


def _tilt(z: torch.Tensor, valid: torch.Tensor, count: torch.Tensor) -> torch.Tensor:
    """The tilt of the least-squares plane through the valid pixels of each (sample, channel) of `z` (whose
    valid mean is already 0): b * u + c * v on coordinates centred on the valid pixels and scaled by the tile's
    side. Elementwise ops, sums and a cumulative sum only, so it traces into ONNX at any tile size; a tile whose
    valid pixels lie on a line keeps its level only."""
    ones = torch.ones_like(valid)
    u = torch.cumsum(ones, dim=3) / ones.sum(dim=3, keepdim=True)  # column position in (0, 1]
    v = torch.cumsum(ones, dim=2) / ones.sum(dim=2, keepdim=True)
    u = u - (u * valid).sum(dim=(2, 3), keepdim=True) / count
    v = v - (v * valid).sum(dim=(2, 3), keepdim=True) / count
    uu, vv, uv = ((a * b * valid).sum(dim=(2, 3), keepdim=True) for a, b in ((u, u), (v, v), (u, v)))
    uz, vz = ((a * z * valid).sum(dim=(2, 3), keepdim=True) for a in (u, v))
    det = uu * vv - uv * uv
    solvable = det > 1e-6 * uu * vv + 1e-12
    safe = torch.where(solvable, det, torch.ones_like(det))
    b = torch.where(solvable, (vv * uz - uv * vz) / safe, torch.zeros_like(uz))
    c = torch.where(solvable, (uu * vz - uv * uz) / safe, torch.zeros_like(vz))
    return b * u + c * v


@dataclass(frozen=True)
class Spread:
    """Per band: overall std, the pooled within-patch std (around each patch's level), and the pooled spread around
    each patch's own surface (its level or plane: what a relative channel keeps) over a sample of training patches."""

    overall: npt.NDArray[np.float64]
    within: npt.NDArray[np.float64]
    around: npt.NDArray[np.float64]

    @property
    def ratio(self) -> npt.NDArray[np.float64]:
        ratio: npt.NDArray[np.float64] = np.where(self.overall > 0, self.within / np.where(self.overall > 0,
                                                                                           self.overall, 1.0), 1.0)
        return ratio


def measure_spread(ds: PatchDataset, limit: int = SAMPLE_PATCHES, surface: str = "level") -> Spread:
    """Overall std, within-patch std and the spread around each patch's `surface` of every band, over up to `limit`
    evenly spaced training patches (each read once)."""
    n = len(ds)
    if n == 0:
        raise LmhldError("the training split holds no patch")
    picks = np.unique(np.linspace(0, n - 1, min(n, limit)).astype(int))
    sums = sq = within = around = None
    pixels = 0
    for i in picks:
        image = np.asarray(ds[int(i)].image, np.float64)
        flat = image.reshape(image.shape[0], -1)
        if sums is None:
            sums, sq, within, around = (np.zeros(flat.shape[0]) for _ in range(4))
        assert sums is not None and sq is not None and within is not None and around is not None
        sums += flat.sum(axis=1)
        sq += np.square(flat).sum(axis=1)
        within += flat.var(axis=1) * flat.shape[1]
        if surface != "level":  # around the level it is the within-patch spread
            around += np.square(_kept(image, surface)).reshape(flat.shape).sum(axis=1)
        pixels += flat.shape[1]
    assert sums is not None and sq is not None and within is not None and around is not None
    mean = sums / pixels
    overall = np.sqrt(np.maximum(sq / pixels - mean**2, 0.0))
    within_std = np.sqrt(within / pixels)
    return Spread(overall, within_std, within_std if surface == "level" else np.sqrt(around / pixels))


def _kept(image: npt.NDArray[np.float64], surface: str) -> npt.NDArray[np.float64]:
    """What every band of a raw (C, H, W) patch keeps once its `surface` is removed (RelativeLevels.apply,
    unscaled; the ground surface's limit in the band's own units: GROUND_ROUGH_M for a DSM in metres)."""
    channels = image.shape[0]
    rough = (GROUND_ROUGH_M,) * channels if surface == "ground" else ()
    levels = RelativeLevels(tuple(range(channels)), (1.0,) * channels, surface, rough)
    x = torch.from_numpy(image[None])
    kept: npt.NDArray[np.float64] = levels.apply(x, torch.zeros_like(x[:, :1], dtype=torch.bool))[0].numpy()
    return kept


def resolve_surface(surface: str, resolution_m: float | None) -> str:
    """The surface "auto" stands for at a training resolution: the ground plane for a fine DSM (pixels of at most
    GROUND_MAX_PIXEL_M), the plane through every pixel otherwise (or when the resolution is unknown)."""
    if surface != "auto":
        return surface
    return "ground" if resolution_m is not None and 0 < resolution_m <= GROUND_MAX_PIXEL_M else "plane"


def off_by_one(band_names: Sequence[str], setting: Sequence[int] | str) -> str | None:
    """A warning when relative bands chosen by number land just after a band named as elevation and are not so
    named themselves: a config file's relative_bands counts from 0, the command line's --relative-bands from 1,
    and a number copied from one to the other picks the neighbouring band without a word."""
    if setting == "auto":
        return None
    names = [band_key(n) for n in band_names]
    for b in sorted({int(x) for x in setting}):
        if 0 < b < len(names) and names[b] not in ELEVATION_NAMES and names[b - 1] in ELEVATION_NAMES \
                and b - 1 not in setting:
            return (f"relative band {b + 1} ({band_names[b]}) is not named as elevation, and band {b} before it is "
                    f"({band_names[b - 1]}): a config file's relative_bands counts from 0, so relative_bands = "
                    f"[{b - 1}] is {band_names[b - 1]} (--relative-bands {b} on the command line); training goes on "
                    f"with {band_names[b]} as asked")
    return None


def choose(ds: PatchDataset, setting: Sequence[int] | str, std: Sequence[float],
           surface: str = "auto") -> tuple[RelativeLevels, str | None]:
    """The relative channels for a training split: `setting` is "auto" or 0-based channel positions ([] = none),
    `std` the standardisation's per band; with the note that says what was chosen and why (None when nothing is
    relative). `surface` is what each patch loses (its ground plane, its best-fit plane, or its level only; "auto":
    resolve_surface); the scale makes a relative channel's values (x - that surface) / the training patches' spread
    around it."""
    asked, surface = surface, resolve_surface(surface, ds.resolution_m)
    names = [band_key(n) for n in ds.band_names]
    if setting != "auto":
        chosen = sorted({int(b) for b in setting})
        bad = [b for b in chosen if b >= len(names)]
        if bad:  # said both ways: --relative-bands counts from 1, a config file's relative_bands from 0
            raise LmhldError(f"relative band(s) {', '.join(str(b + 1) for b in bad)} (relative_bands = {bad} in a "
                             f"config file, which counts from 0) do not exist: the data have {len(names)} band(s) "
                             f"({', '.join(names)})")
        reasons = {b: "chosen" for b in chosen}
    else:
        reasons = {}
    if not reasons and setting != "auto":
        return RelativeLevels(), None
    spread = measure_spread(ds, surface=surface)
    if setting == "auto":
        for b, name in enumerate(names):
            if name in ELEVATION_NAMES:
                reasons[b] = f"named {name}"
            elif spread.ratio[b] < WITHIN_RATIO and spread.overall[b] > 0:
                reasons[b] = (f"its level varies between patches {1 / max(spread.ratio[b], 1e-6):.1f} times "
                              "more than within them, as elevation does")
    if not reasons:
        return RelativeLevels(), None
    bands = tuple(sorted(reasons))
    scale = tuple(float((std[b] or 1.0) / spread.around[b]) if spread.around[b] > 0 else 1.0 for b in bands)
    rough = tuple(GROUND_ROUGH_M / (std[b] or 1.0) for b in bands) if surface == "ground" else ()  # a DSM in m
    removed = {"level": "level", "plane": "best-fit plane", "ground": "ground plane"}[surface]
    how = ["the plane under any trees"] if surface == "ground" else []
    if asked == "auto":
        how.append("chosen for pixels of " + ("unknown size" if ds.resolution_m is None else f"{ds.resolution_m:g} m"))
    removed += " removed" + (f": {', '.join(how)}" if how else "")
    note = f"relative levels (each patch's own {removed}) for " + "; ".join(
        f"band {b + 1} ({names[b]}): {reasons[b]}" for b in bands)
    if setting == "auto":
        note += " - set relative_bands to [] (--relative-bands none) to keep absolute values"
    return RelativeLevels(bands, scale, surface, rough), note
