"""Relative-level bands: bands whose level is removed per patch, so that the network sees their shape, not their
altitude.

A digital surface or elevation model (DSM/DEM) stacked with the image is the case: a landslide is a scar, a scarp and
a deposit, which the relief within a patch shows wherever the area lies, while the absolute elevation says which
valley the patch is in. Standardised with the training areas' mean and std, an unseen area 150 m higher arrives
several standard deviations off, and the network has never seen such inputs. With the level removed (each patch's
own mean of the band subtracted, over its valid pixels) and the result scaled by the within-patch spread, the band
means the same in every area.

What is relative is decided at training, from the training patches ("auto"): a band named as elevation (dsm, dem,
dtm, ndsm, elevation, height, altitude), or one whose level changes between patches far more than within them
(within-patch std below half the overall std: elevation does that; spectral bands sit at 0.75-0.95 on the scenes we
measured). The choice travels in the model card and inside the ONNX graph (so Deepness and any raw-pixel client get
it too); `relative_bands = []` keeps every band absolute.

The surface removed is the patch's best-fit plane by default ("plane"), not only its level ("level", every model
trained before it): on a valley side the hillslope tilts a 128 m patch by tens of metres, ten times a scar's depth,
and with the level alone the network has to learn that every tilt means nothing - from a few dozen patches it does
not, and at detection the lower side of each tile came out as landslide (tile-shaped stripes on bench/uav.toml).
With the plane gone, what is left is local relief: scars, scarps and deposits against the slope around them, the
"local relief model" terrain analysts map landslides on.

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

from ..core.bands import ELEVATION_NAMES, band_key
from ..core.datasets.base import PatchDataset
from ..core.errors import LmhldError
from ..core.modelcard import RELATIVE_SURFACES

WITHIN_RATIO = 0.5  # within-patch std / overall std below this: the band's level says where, not what
SAMPLE_PATCHES = 512  # patches read to measure the spreads (evenly spaced over the training split)


@dataclass(frozen=True)
class RelativeLevels:
    """Which input channels lose their level per patch, and the scale that gives them unit spread again."""

    bands: tuple[int, ...] = ()
    scale: tuple[float, ...] = ()
    surface: str = "level"  # what each patch loses: its level, or its best-fit plane (see the module docstring)

    def __post_init__(self) -> None:
        if self.surface not in RELATIVE_SURFACES:
            raise LmhldError(f"relative surface must be one of {', '.join(RELATIVE_SURFACES)}, got {self.surface!r}")

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
        for band, factor in zip(self.bands, self.scale, strict=True):  # elementwise only: exports as plain ops
            chosen[0, band] = 1.0
            scale[0, band] = factor
        valid = (~missing).to(x.dtype)
        count = valid.sum(dim=(2, 3), keepdim=True).clamp(min=1.0)
        residual = x - (x * valid).sum(dim=(2, 3), keepdim=True) / count
        if self.surface == "plane":
            residual = residual - _tilt(residual, valid, count)
        return x + chosen * (residual * scale * valid - x)

    def to_card(self) -> tuple[list[int], list[float], str]:
        return list(self.bands), list(self.scale), self.surface

    @classmethod
    def from_card(cls, bands: Sequence[int], scale: Sequence[float], surface: str = "level") -> RelativeLevels:
        return cls(tuple(int(b) for b in bands), tuple(float(s) for s in scale), surface)


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
    """What every band of a (C, H, W) patch keeps once its `surface` is removed (RelativeLevels.apply, unscaled)."""
    channels = image.shape[0]
    levels = RelativeLevels(tuple(range(channels)), (1.0,) * channels, surface)
    x = torch.from_numpy(image[None])
    kept: npt.NDArray[np.float64] = levels.apply(x, torch.zeros_like(x[:, :1], dtype=torch.bool))[0].numpy()
    return kept


def choose(ds: PatchDataset, setting: Sequence[int] | str, std: Sequence[float],
           surface: str = "plane") -> tuple[RelativeLevels, str | None]:
    """The relative channels for a training split: `setting` is "auto" or 0-based channel positions ([] = none),
    `std` the standardisation's per band; with the note that says what was chosen and why (None when nothing is
    relative). `surface` is what each patch loses (its best-fit plane, or its level only); the scale makes a relative
    channel's values (x - that surface) / the training patches' spread around it."""
    names = [band_key(n) for n in ds.band_names]
    if setting != "auto":
        chosen = sorted({int(b) for b in setting})
        bad = [b + 1 for b in chosen if b >= len(names)]
        if bad:
            raise LmhldError(f"relative band(s) {bad} do not exist: the data have {len(names)} band(s) "
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
    removed = "level" if surface == "level" else "best-fit plane"
    note = f"relative levels (each patch's own {removed} removed) for " + "; ".join(
        f"band {b + 1} ({names[b]}): {reasons[b]}" for b in bands)
    if setting == "auto":
        note += " - set relative_bands to [] (--relative-bands none) to keep absolute values"
    return RelativeLevels(bands, scale, surface), note
