"""What to label next: windows of a probability raster ranked by the model's uncertainty, so an hour of annotation
goes where the model is least sure.

Each window gets two measures over its valid pixels: the share of pixels whose probability lies within `margin`
of the threshold, and the mean binary entropy H(p) = -p log2 p - (1-p) log2(1-p) (1 at p = 0.5, 0 at 0 or 1).
The score is their mean (or either alone). The raster is read in stripes one window high and in column chunks,
so memory is bounded by a stripe chunk whatever the raster's size.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from osgeo import ogr

from . import qml
from .atomic import atomic_file
from .errors import LmhldError
from .grid import Window, window_bounds
from .outputs import check_other_layers
from .progress import Progress, check_cancelled, reader_progress

ogr.UseExceptions()

TILES_LAYER = "tiles"
SCORES = ("combined", "near", "entropy")
TILE_FIELDS = (("rank", ogr.OFTInteger), ("score", ogr.OFTReal), ("near_share", ogr.OFTReal),
               ("entropy", ogr.OFTReal), ("mean_prob", ogr.OFTReal), ("valid_share", ogr.OFTReal),
               ("row", ogr.OFTInteger), ("col", ogr.OFTInteger), ("size", ogr.OFTInteger))


@dataclass
class RankOptions:
    window: int = 128  # window side in pixels (the patch size you will export)
    stride: int | None = None  # default: the window (no overlap)
    threshold: float | None = None  # the model's threshold; default: the one the probability raster records
    # (detection tags it: the cut its polygons were made at), else 0.5
    margin: float = 0.1  # |p - threshold| <= margin counts as near the threshold
    top: int = 20  # how many windows to write
    score: str = "combined"  # "combined" (mean of both), "near" or "entropy"
    min_valid: float = 0.5  # windows with a smaller share of valid pixels are skipped
    band: int = 1
    chunk_width: int = 4096  # columns read at once (bounds memory)

    def validate(self) -> None:
        if self.window < 2:
            raise LmhldError(f"window must be at least 2 pixels, got {self.window}")
        if self.stride is not None and self.stride < 1:
            raise LmhldError(f"stride must be a positive number of pixels, got {self.stride}")
        if (self.threshold is not None and not 0 <= self.threshold <= 1) or not 0 < self.margin <= 1:
            raise LmhldError(f"threshold must lie in [0, 1] and margin in (0, 1], got {self.threshold}, "
                             f"{self.margin}")
        if self.top < 1:
            raise LmhldError(f"top must be at least 1, got {self.top}")
        if self.score not in SCORES:
            raise LmhldError(f"score must be one of {', '.join(SCORES)}, got {self.score!r}")
        if not 0 <= self.min_valid <= 1:
            raise LmhldError(f"minimum valid share must lie in [0, 1], got {self.min_valid}")


@dataclass(frozen=True)
class RankedTile:
    rank: int
    row: int
    col: int
    score: float
    near_share: float
    entropy: float
    mean_prob: float
    valid_share: float


@dataclass
class RankResult:
    path: Path
    tiles: list[RankedTile]
    n_windows: int  # windows scored (enough valid pixels)
    seconds: float


Floats = npt.NDArray[np.float64]


def binary_entropy(p: npt.ArrayLike) -> Floats:
    """H(p) in bits, elementwise (0 at p = 0 or 1)."""
    q = np.clip(np.asarray(p, dtype=np.float64), 1e-12, 1 - 1e-12)
    return np.asarray(-(q * np.log2(q) + (1 - q) * np.log2(1 - q)), dtype=np.float64)


def _column_sums(prob: npt.NDArray[np.floating[Any]], valid: npt.NDArray[np.bool_], options: RankOptions) -> Floats:
    """Per column of a stripe: (valid pixels, near-threshold pixels, entropy sum, probability sum)."""
    p = np.where(valid, prob, 0.0).astype(np.float64)
    assert options.threshold is not None  # rank_tiles resolved it (the raster's, else 0.5)
    near = valid & (np.abs(p - options.threshold) <= options.margin)
    sums: Floats = np.stack([valid.sum(axis=0), near.sum(axis=0),
                             np.where(valid, binary_entropy(p), 0.0).sum(axis=0), p.sum(axis=0)]).astype(np.float64)
    return sums


def _valid(src: Any, band: int, prob: npt.NDArray[np.float32], window: Any) -> npt.NDArray[np.bool_]:
    """Pixels with a value: finite, not the nodata value, not masked by an alpha or mask band."""
    from rasterio.enums import MaskFlags

    valid = np.isfinite(prob)
    flags = set(src.mask_flag_enums[band - 1])
    if src.nodata is not None and not np.isnan(src.nodata):
        valid &= prob != np.float32(src.nodata)
    if flags - {MaskFlags.all_valid, MaskFlags.nodata}:
        valid &= src.read_masks(band, window=window) > 0
    return valid


def _stripe_sums(src: Any, row: int, options: RankOptions) -> Floats:
    """Column sums over rows [row, row + window) for the whole width, read chunk by chunk."""
    from rasterio.windows import Window as RioWindow

    sums = np.empty((4, src.width))
    for c0 in range(0, src.width, options.chunk_width):
        c1 = min(src.width, c0 + options.chunk_width)
        win = RioWindow(c0, row, c1 - c0, options.window)
        prob = src.read(options.band, window=win, out_dtype=np.float32)
        valid = _valid(src, options.band, prob, win)
        _require_probabilities(prob[valid], src, options.band)
        sums[:, c0:c1] = _column_sums(prob, valid, options)
    return sums


def _require_probabilities(values: npt.NDArray[np.float32], src: Any, band: int) -> None:
    """Refuse a raster that holds other things than probabilities (an image, a mask of 0 and 255): its ranking
    (or scoring) would be meaningless."""
    if values.size and (values.min() < -1e-6 or values.max() > 1 + 1e-6):
        name = Path(src.name).name
        raise LmhldError(f"{name} is not a probability raster: band {band} holds values from {values.min():g} to "
                         f"{values.max():g}, not probabilities between 0 and 1; give the probability raster that "
                         "landslide detection writes beside its polygons")


def require_probability_raster(path: str | Path, band: int = 1) -> None:
    """Refuse a raster that is not a probability raster before any work, from 9 windows spread over it."""
    import rasterio
    from rasterio.windows import Window

    with rasterio.open(path) as src:
        side = min(256, src.width, src.height)
        cols = sorted({int(c) for c in np.linspace(0, src.width - side, 3)})
        rows = sorted({int(r) for r in np.linspace(0, src.height - side, 3)})
        values = [src.read(band, window=Window(c, r, side, side), masked=True).compressed()
                  for r in rows for c in cols]
        _require_probabilities(np.concatenate(values), src, band)


def _window_scores(sums: Floats, starts: npt.NDArray[np.int64], options: RankOptions) -> Floats:
    """(n_starts, 5): valid share, near share, entropy, mean probability, score, per window of the stripe."""
    csum = np.concatenate([np.zeros((4, 1)), np.cumsum(sums, axis=1)], axis=1)
    totals = csum[:, starts + options.window] - csum[:, starts]
    n_valid = totals[0]
    with np.errstate(invalid="ignore", divide="ignore"):
        near, entropy, mean = totals[1] / n_valid, totals[2] / n_valid, totals[3] / n_valid
    score = {"combined": (near + entropy) / 2, "near": near, "entropy": entropy}[options.score]
    scores: Floats = np.stack([n_valid / options.window**2, near, entropy, mean, score], axis=1).astype(np.float64)
    return scores


Candidate = tuple[float, int, int, Floats]  # score, row, col, the window's measures


def _pick(candidates: list[Candidate], options: RankOptions) -> list[RankedTile]:
    """The best `top` windows, none overlapping another (only possible when stride < window)."""
    chosen: list[RankedTile] = []
    for score, row, col, values in sorted(candidates, key=lambda c: (-c[0], c[1], c[2])):
        if any(abs(row - t.row) < options.window and abs(col - t.col) < options.window for t in chosen):
            continue
        chosen.append(RankedTile(len(chosen) + 1, row, col, float(score), float(values[1]), float(values[2]),
                                 float(values[3]), float(values[0])))
        if len(chosen) == options.top:
            break
    return chosen


def rank_tiles(prob_raster: str | Path, out_gpkg: str | Path, options: RankOptions | None = None, *,
               progress: Progress | None = None) -> RankResult:
    """Score every window of `prob_raster` and write the `top` most uncertain as a polygon layer."""
    import rasterio

    from .preflight import options_of

    options = options_of(RankOptions, options, "rank")
    options.validate()
    if Path(out_gpkg).suffix.lower() != ".gpkg":
        raise LmhldError(f"the tiles layer must be a GeoPackage (.gpkg), got {Path(out_gpkg).name}")
    progress = reader_progress(progress)
    if options.threshold is None:  # a probe's ranking was measured around 0.5 beside polygons cut at 0.85
        from dataclasses import replace

        from .rasterwriter import read_threshold

        recorded = read_threshold(prob_raster)
        options = replace(options, threshold=0.5 if recorded is None else recorded)
        chosen = f"threshold {options.threshold:g}: " + (  # said once the raster is read as probabilities: a scene
            "the one this probability raster's polygons were cut at" if recorded is not None else  # given for one
            "the raster records none (give the model's: --threshold)")  # was told this, then refused
    else:
        chosen = ""
    t0 = time.perf_counter()
    stride = options.stride or options.window
    with rasterio.open(prob_raster) as src:
        if options.band > src.count:
            raise LmhldError(f"{Path(prob_raster).name} has {src.count} band(s), not band {options.band}")
        if src.width < options.window or src.height < options.window:
            raise LmhldError(f"{Path(prob_raster).name} ({src.width} x {src.height} px) is smaller than one "
                             f"window of {options.window} px; choose a smaller window")
        crs_wkt = src.crs.to_wkt() if src.crs else None
        a, b, c, d, e, f = tuple(src.transform)[:6]
        transform = (a, b, c, d, e, f)
        starts = np.arange(0, src.width - options.window + 1, stride)
        rows = range(0, src.height - options.window + 1, stride)
        # enough candidates to fill the top after dropping the windows that overlap a better one
        keep = options.top * math.ceil(2 * options.window / stride) ** 2
        candidates: list[Candidate] = []
        n_windows = 0
        for k, row in enumerate(rows):
            check_cancelled(progress)
            scores = _window_scores(_stripe_sums(src, row, options), starts, options)
            ok = np.nonzero(scores[:, 0] >= max(options.min_valid, 1e-12))[0]
            n_windows += len(ok)
            best = ok[np.argsort(-scores[ok, 4], kind="stable")[:keep]]
            candidates += [(float(scores[i, 4]), row, int(starts[i]), scores[i]) for i in best]
            candidates = sorted(candidates, key=lambda c: (-c[0], c[1], c[2]))[:keep]
            progress.set_fraction(0.95 * (k + 1) / len(rows))
    if not n_windows:  # an empty layer and exit 0 said nothing of why
        raise LmhldError(f"no window of {options.window} px of {Path(prob_raster).name} holds {options.min_valid:.0%} "
                         "valid pixels or more: the raster is all nodata there (an area the detection did not cover, "
                         "or its nodata value set wrong); rank the probability raster of a detection that covered "
                         "the area, or lower the minimum valid share (--min-valid)")
    if chosen:
        progress.info(chosen)
    tiles = _pick(candidates, options)
    write_tiles(tiles, out_gpkg, crs_wkt, transform, options.window)
    progress.set_fraction(1.0)
    return RankResult(Path(out_gpkg), tiles, n_windows, time.perf_counter() - t0)


def tiles_style() -> str:
    root = qml.new_style("Symbology|Labeling")
    qml.single_renderer(root, qml.FillSymbol(fill="0,0,0,0", outline="255,0,255,255", width_mm=0.8))
    qml.labels(root, "rank")
    return qml.to_text(root)


def write_tiles(tiles: list[RankedTile], out_gpkg: str | Path, crs_wkt: str | None,
                transform: tuple[float, float, float, float, float, float], size: int) -> Path:
    """The ranked windows as a styled GeoPackage polygon layer (the raster's CRS), atomically."""
    from .inventory_schema import embed_style
    from .vector import srs_from_wkt

    out = Path(out_gpkg)
    if out.suffix.lower() != ".gpkg":
        raise LmhldError(f"the tiles layer must be a GeoPackage (.gpkg), got {out.name}")
    check_other_layers("tiles layer", out, [TILES_LAYER])  # --overwrite replaces lmhld's layer, not the user's
    srs = srs_from_wkt(crs_wkt, "probability raster")
    with atomic_file(out) as tmp:
        ds = ogr.GetDriverByName("GPKG").CreateDataSource(str(tmp))
        lyr = ds.CreateLayer(TILES_LAYER, srs, ogr.wkbPolygon, ["GEOMETRY_NAME=geom"])
        for name, kind in TILE_FIELDS:
            lyr.CreateField(ogr.FieldDefn(name, kind))
        for t in tiles:
            feat = ogr.Feature(lyr.GetLayerDefn())
            xmin, ymin, xmax, ymax = window_bounds(transform, Window(t.row, t.col, size, size))
            feat.SetGeometry(ogr.CreateGeometryFromWkt(
                f"POLYGON(({xmin} {ymin},{xmax} {ymin},{xmax} {ymax},{xmin} {ymax},{xmin} {ymin}))"))
            for name, value in (("rank", t.rank), ("score", t.score), ("near_share", t.near_share),
                                ("entropy", t.entropy), ("mean_prob", t.mean_prob), ("valid_share", t.valid_share),
                                ("row", t.row), ("col", t.col), ("size", size)):
                feat.SetField(name, value if not (isinstance(value, float) and math.isnan(value)) else None)
            lyr.CreateFeature(feat)
        ds = None
        embed_style(tmp, TILES_LAYER, tiles_style())
    return out
