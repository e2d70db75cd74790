"""The streaming detection engine: sliding windows over a scene of any size, blended probabilities, polygons.

Reading and normalising (a thread), inference (the caller's thread) and writing (a thread) overlap. The scene is
streamed in column chunks (4096 px by default), each from top to bottom; rows are finished and written as soon
as no later window can reach them, so memory is bounded by a stripe of about two tiles times the chunk width,
whatever the scene. Invalid pixels (nodata, outside the area of interest) reach the model as the band mean and
get no weight in the blend, so they come out as nodata. The mask is cut and polygonized, then cleaned as
`core.postprocess` resolves it (the model's calibrated threshold, specks dropped and small holes filled by
default). Outputs are written aside and moved into place; a cancelled or failed run leaves none.
"""

from __future__ import annotations

import math
import queue
import threading
import time
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from .atomic import atomic_file, gdal_checked, scratch_dir, transactional
from .backends import Backend, Provider, load_backend
from .bands import check_band_numbers
from .blending import StripeAccumulator, weights_for
from .context import ContextChoice, check_context, choose_context
from .errors import LmhldError, given, whole
from .extent import Extent, require_extent_overlaps
from .grid import Window, clip_window, covering_windows, window_bounds, window_transform
from .modelcard import ModelCard
from .multiscale import coarse_raster, coarse_region, fuse_max
from .outputs import check_outputs
from .plain import plain_fields
from .postprocess import PostProcess, check_range, resolve_postprocess
from .preflight import require_memory
from .progress import Progress, SubProgress, check_cancelled, reader_progress
from .raster import (
    RasterInfo,
    black_collar,
    finer_or_coarser,
    pixel_area_m2,
    raster_srs,
    read_raster_info,
    require_north_up,
    resampling_onto,
    same_resolution,
    stretched_pixels_note,
    undeclared_fill,
)
from .rasterwriter import PROB_NODATA, Grid, ProbabilityWriter, Stripe
from .tta import TTA_MODES, with_tta
from .validity import PixelValidity
from .vector import AREA_OF_INTEREST, PolygonSet, first_layer_note, read_polygons

if TYPE_CHECKING:
    from .rasterize import InventoryBurner
    from .vectorize import PolygonizeReport

__all__ = ["LAYER", "PROB_NODATA", "DetectOptions", "DetectResult", "Normalisation", "detect", "resolve_bands"]

LAYER = "landslides"
DETECTION_FIELDS = ("perimeter_m", "max_prob")  # what tells detections from an inventory's layer of the same name
Floats = NDArray[np.float32]
Mask = NDArray[np.bool_]


@dataclass
class DetectOptions:
    tile: int | None = None  # default: the model's patch size
    overlap: float | None = None  # fraction of the tile; default: the model's (0.25)
    batch_size: int = 8
    threshold: float | None = None  # default: the model's (calibrated on validation when training did)
    min_area_m2: float | None = None  # default: the model's, else from the tile (core.postprocess); 0: keep all
    fill_holes_m2: float | None = None  # default: the model's, else the minimum area; 0: fill none
    simplify: float = 0.0  # CRS units
    provider: Provider = "auto"
    bands: Sequence[int] | None = None  # 1-based raster bands in the model's input order
    extent: Extent | None = None  # xmin, ymin, xmax, ymax in `extent_crs`
    extent_crs: str | None = None  # the extent's CRS (EPSG:XXXX, WKT, PROJ); default: the raster's
    aoi: str | Path | PolygonSet | None = None  # polygons; nothing is detected outside them
    aoi_layer: str | None = None  # the area of interest's layer in a file of several; default: its first
    resample: bool = True  # run at the model's resolution when the scene's differs by more than 10%
    chunk_width: int = 4096  # stream the scene in column chunks this wide (memory bound); 0: the whole width
    tta: str = "none"  # test-time augmentation: "flips" (4 predictions per tile) or "d4" (flips and rotations, 8)
    grow_threshold: float | None = None  # hysteresis: grow regions that reach the threshold into this lower one
    min_mean_prob: float | None = None  # drop polygons below this mean probability; default: midway between the
    # threshold and the scene's surest polygon (core.postprocess)
    context: str = "auto"  # coarse context pass (core.multiscale): "auto", "off", or its factor "2", "3", "4"

    def validate(self) -> None:
        """Refuse values out of range before any work, naming the option and the allowed range."""
        plain_fields(self)  # numpy numbers from a sweep
        check_band_numbers(self.bands)
        for name, value, low in (("tile", self.tile, 1), ("batch size", self.batch_size, 1),
                                 ("chunk width", self.chunk_width, 0)):
            if value is not None and (not whole(value) or value < low):
                raise LmhldError(f"{name} must be an integer >= {low}, got {given(value)}")
        if self.overlap is not None and (not isinstance(self.overlap, int | float) or not 0 <= self.overlap < 1):
            raise LmhldError(f"overlap must be in [0, 1), got {given(self.overlap)}")
        check_context(self.context)
        if self.tta not in TTA_MODES:
            raise LmhldError(f"test-time augmentation must be one of {', '.join(TTA_MODES)}, got {self.tta!r}")
        check_range("threshold", self.threshold, 0.0, 1.0)
        check_range("grow threshold", self.grow_threshold, 0.0, 1.0)
        check_range("minimum mean probability", self.min_mean_prob, 0.0, 1.0)


@dataclass
class DetectResult:
    polygons: Path
    probability: Path | None
    n_polygons: int
    provider: str
    tile: int
    stride: int
    n_windows: int
    seconds: float
    threshold: float
    bands: list[int]
    warnings: list[str] = field(default_factory=list)
    postprocess: dict[str, Any] = field(default_factory=dict)  # the values applied and where each came from
    dropped: dict[str, int] = field(default_factory=dict)  # reason -> polygons dropped by the post-processing
    holes_filled: int = 0
    tta: str = "none"
    context: str = "off"  # the coarse context pass run, and why
    resampled: str | None = None  # the scene ran at the model's resolution: how (None: on its own pixels)
    input_divisor: list[float] | None = None  # the scene's bands were divided by it (a model of divided units)
    doubts: list[str] = field(default_factory=list)  # why the detections may mean little (detect.doubts)

    def to_json(self) -> dict[str, Any]:
        return {k: (str(v) if isinstance(v, Path) else v) for k, v in self.__dict__.items()}

    def summary(self) -> str:
        """What the post-processing did, for the log (the context pass has its own line, logged as it starts)."""
        dropped = ", ".join(f"{n} {reason}" for reason, n in self.dropped.items() if n) or "none"
        floor = self.postprocess.get("min_mean_prob")
        why = self.postprocess.get("sources", {}).get("min_mean_prob", "user")
        kept = f"{self.n_polygons} polygon{'' if self.n_polygons == 1 else 's'} kept"
        return (f"{kept}; dropped: {dropped}; {self.holes_filled} small hole(s) filled"
                + (f"; minimum mean probability {floor:.3g} ({why})" if floor else "")
                + (f"; test-time augmentation {self.tta}" if self.tta != "none" else ""))


BANDS_OPTION = "--bands 1,2,3,...; in QGIS: Bands in the model's order"


def resolve_bands(card: ModelCard, info: RasterInfo, bands: Sequence[int] | None) -> tuple[list[int], str | None]:
    """Raster bands (1-based) feeding the model's inputs: given, matched by name, or by position; else an error."""
    from .bands import match_model_bands

    need = card.in_channels
    if bands:
        bands = list(bands)
        if len(bands) != need:
            raise LmhldError(f"the model expects {need} bands ({', '.join(card.bands)}), {len(bands)} were given")
        bad = [b for b in bands if not 1 <= b <= info.count]
        if bad:
            raise LmhldError(f"raster {info.path} has {info.count} band(s); band(s) {', '.join(map(str, bad))} do not "
                             f"exist: choose bands 1..{info.count} (--bands)")
        return bands, None
    indices, by_position = match_model_bands(card.bands, info.descriptions, f"raster {Path(info.path).name}",
                                             f"give {need} band numbers in the model's order ({BANDS_OPTION})",
                                             alpha=[b - 1 for b in info.alpha_bands], colours=info.colours)
    used = ",".join(str(i + 1) for i in indices)
    note = (f"raster bands are not named {card.bands}; using bands {used} in order (give the bands in the "
            f"model's order to map them explicitly: {BANDS_OPTION})") if by_position else None
    return [i + 1 for i in indices], note


# --- normalisation: one step, so that a backend that normalises inside its graph can skip it ------------------


@dataclass(frozen=True)
class Normalisation:
    """The model's input normalisation: (raw - mean) / std per band; invalid pixels become 0 (the band mean)."""

    mean: Floats  # (C, 1, 1)
    std: Floats  # (C, 1, 1), 1 where the card says 0

    @classmethod
    def of(cls, card: ModelCard, divisor: Sequence[float] | None = None) -> Normalisation:
        """The card's normalisation of pixels that are to be divided by `divisor` first (per band; a scene in the
        imagery's units for a model trained on divided values): (x / d - m) / s = (x - m d) / (s d), one step."""
        d = np.asarray(divisor if divisor is not None else [1.0] * len(card.mean), np.float64)[:, None, None]
        std = np.asarray(card.std, np.float64)[:, None, None]
        std = np.where(std > 0, std, 1.0) * d
        return cls((np.asarray(card.mean, np.float64)[:, None, None] * d).astype(np.float32), std.astype(np.float32))

    def apply(self, raw: NDArray[Any], valid: Mask | None = None, out: Floats | None = None) -> Floats:
        """(C, H, W) raw pixels -> normalised float32, written into `out` when given."""
        x = np.subtract(raw, self.mean, out=out, dtype=np.float32)
        np.divide(x, self.std, out=x)
        if valid is not None:
            np.copyto(x, np.float32(0), where=~valid)  # also replaces NaN nodata
        return x


# --- the plan: everything decided before the first window is read ---------------------------------------------


@dataclass
class DetectPlan:
    info: RasterInfo  # what the windows are read from (the scene, or a VRT at the model's resolution)
    bands: list[int]
    region: Window  # the part of the raster processed, in its pixels
    tile: int
    stride: int
    batch_size: int
    chunk_width: int
    post: PostProcess
    aoi: InventoryBurner | None  # the area of interest burnt on the raster's grid; used by the reading thread
    notes: list[str] = field(default_factory=list)  # warnings
    resampled: str | None = None  # the scene resampled to the model's resolution, in words
    divisor: list[float] | None = None  # per band: the scene is divided by it to be in the model's training units
    units: str | None = None  # that choice, in words (said in the log; None for a model of the imagery's own units)
    values_far: bool = False  # the scene's values lie far from the training imagery's (values_far_from_training)
    marked: tuple[int, int] = (0, 0)  # (pixels at or above the cut, valid pixels) of the pass streamed last

    @property
    def overlap_px(self) -> int:
        return max(self.tile - self.stride, 0)

    @property
    def grid(self) -> Grid:
        """The output rasters' grid: the region of the source raster."""
        a, b, c, d, e, f = window_transform(self.info.transform, self.region)
        return Grid(self.region.width, self.region.height, (c, a, b, f, d, e), str(self.info.crs_wkt))


def plan_detection(raster: str | Path, card: ModelCard, options: DetectOptions, workdir: Path) -> DetectPlan:
    """Check the inputs and decide the grid, tiles, region and post-processing (nothing is read yet)."""
    options.validate()
    info = read_raster_info(raster)
    require_north_up(info)
    bands, band_note = resolve_bands(card, info, options.bands)
    read, flip_note = _north_up(info, workdir)
    source, scale_note, resampled = _at_model_scale(read, card, options.resample, workdir)
    resampled = "; ".join(n for n in (flip_note, resampled) if n) or None
    aoi = _aoi_burner(options.aoi, source, options.aoi_layer)
    aoi_note = (first_layer_note(options.aoi, "--aoi-layer") if options.aoi is not None and options.aoi_layer is None
                and not isinstance(options.aoi, PolygonSet) else "")
    region = _region(source, options.extent, options.extent_crs, aoi, Path(raster).name)
    tile, stride, tile_note = _tile_and_stride(card, options, region)
    require_memory(4.0 * 4 * options.batch_size * len(bands) * tile * tile, f"batches of {options.batch_size} "
                   f"windows of {tile} x {tile} px", "lower the tile size or the batch size")
    chunk_width = options.chunk_width
    if 0 < chunk_width < tile:  # a probe's 1 px: every window read in a chunk of its own, 50 times slower
        tile_note = "; ".join(n for n in (tile_note, f"chunk width {chunk_width} px is narrower than a tile: chunks "
                                                     f"of {tile} px") if n)
        chunk_width = tile
    post = resolve_postprocess(card, threshold=options.threshold, min_area_m2=options.min_area_m2,
                               fill_holes_m2=options.fill_holes_m2, simplify=options.simplify,
                               grow_threshold=options.grow_threshold, pixel_area_m2=pixel_area_m2(source),
                               min_mean_prob=options.min_mean_prob)
    fills = [f"{n}; the model reads it as data" for n in undeclared_fill(info.path, bands,
                                                                          [info.band_names[b - 1] for b in bands])]
    fills += black_collar(info.path, bands)
    from .scene_check import SceneValues, scene_divisor, values_far_from_training

    values = SceneValues.sample(info, bands)
    divisor, units = scene_divisor(card, values)
    far = values_far_from_training(card, values, divisor)
    notes = [n for n in (band_note, tile_note, scale_note, aoi_note) if n] + fills + far
    return DetectPlan(source, bands, region, tile, stride, options.batch_size, chunk_width, post, aoi, notes,
                      resampled, divisor, units, values_far=bool(far))


STRIDE_NOTE_BELOW = 4  # a step under a quarter of the tile is said, with what it costs


def _tile_and_stride(card: ModelCard, options: DetectOptions, region: Window) -> tuple[int, int, str | None]:
    """The tile and stride in pixels, and a warning when the asked tile had to be rounded up to the size the
    model's depth needs (it would otherwise change without a word), or down to what covers the region (a probe's
    --tile 5000 on a 1024 px scene ran one 5008 px window: 14.5 GB and 30 times the time)."""
    tile, note = int(options.tile or card.patch_size), None
    if card.dynamic_size:
        def multiple(size: int) -> int:
            return int(math.ceil(size / card.size_multiple) * card.size_multiple)

        rounded = multiple(tile)
        if rounded != tile:
            note = (f"tile {tile} px rounded up to {rounded} px: the model needs multiples of "
                    f"{card.size_multiple}")
        tile = rounded
        cover = max(multiple(max(region.width, region.height)), multiple(card.patch_size))
        if tile > cover:
            note = (f"tile {tile} px is larger than the area to detect ({region.width} x {region.height} px): tiles "
                    f"of {cover} px cover it")
            tile = cover
    elif tile != card.patch_size:
        raise LmhldError(f"this model takes only {card.patch_size} x {card.patch_size} tiles, not {tile}")
    overlap = card.tiles_overlap if options.overlap is None else float(options.overlap)
    if not 0 <= overlap < 1:
        raise LmhldError(f"overlap must be in [0, 1), got {overlap}")
    stride = max(1, round(tile * (1 - overlap)))
    if stride * STRIDE_NOTE_BELOW < tile:  # a probe's 0.99 on 50 px tiles: a 1 px step, 8 minutes for 1 second
        costly = (f"overlap {overlap:g} steps {tile} px windows by {stride} px: about {(tile / stride) ** 2:,.0f} "
                  "times the windows of no overlap, and as much longer to run; 0.25 to 0.5 is usual")
        note = f"{note}; {costly}" if note else costly
    return tile, stride, note


def _north_up(info: RasterInfo, workdir: Path) -> tuple[RasterInfo, str | None]:
    """A south-up raster (positive pixel height: its first row is its southern edge) read through a north-up VRT
    of the same pixels, and what was done: the network was trained on imagery the right way up, and the outputs
    then lie on a grid every reader takes. Other rasters as they are."""
    if info.transform[4] <= 0:
        return info, None
    from osgeo import gdal

    vrt = workdir / "north_up.vrt"
    gdal.Warp(str(vrt), info.path, format="VRT", resampleAlg="near")  # the same pixels, rows in the other order
    return read_raster_info(vrt), ("the raster's rows run from south to north (positive pixel height): detection "
                                   "reads it turned north-up (the outputs are on that grid)")


def _at_model_scale(info: RasterInfo, card: ModelCard, resample: bool,
                    workdir: Path) -> tuple[RasterInfo, str | None, str | None]:
    """The raster to read (resampled to the model's resolution unless asked not to), a warning when it runs at
    another resolution, and what resampling did. A network's filters are tuned to the size of things in pixels: a
    1 m model run on a 0.5 m scene sees every scar twice too large (measured: unseen-area recall 0.16 instead of
    0.46, docs/quality.md)."""
    pixel = math.sqrt(pixel_area_m2(info))
    stretched = stretched_pixels_note(info, "detect")  # square in degrees, not on the ground
    if not card.resolution_m or same_resolution(pixel, card.resolution_m):
        return info, stretched, None
    differs = (f"the raster's {pixel:.3g} m pixels are {finer_or_coarser(pixel, card.resolution_m)} than the "
               f"model's {card.resolution_m:.3g} m")
    unchanged = "; the network sees every shape at another size than it learnt, so results may suffer"
    if not resample:
        return info, "; ".join(n for n in (stretched, differs + " and were not resampled, as asked" + unchanged)
                               if n), None
    srs = raster_srs(info)
    if not srs.IsProjected():  # said beside the stretch (it hid this: a 3 m model ran on 1 m pixels without a word)
        return info, "; ".join(n for n in (stretched, (
            differs + " and were not resampled: the raster's CRS is geographic (warp it to a metric CRS with "
            f"gdalwarp -t_srs and -tr {card.resolution_m:g} {card.resolution_m:g} to run at the model's scale)"
            + unchanged)) if n), None
    unit = srs.GetLinearUnits()
    resampled = _resampled(info, card.resolution_m / unit, pixel / unit, workdir)
    return resampled, None, (f"{differs}: detection runs on the scene resampled to {card.resolution_m:.3g} m "
                             f"({resampled.width} x {resampled.height} px; the outputs are on that grid)")


def _resampled(info: RasterInfo, res: float, pixel: float, workdir: Path) -> RasterInfo:
    """A VRT of the raster at `res` (CRS units): averaged when the scene is finer, else interpolated."""
    from osgeo import gdal

    vrt = workdir / "resampled.vrt"
    gdal.Warp(str(vrt), info.path, format="VRT", xRes=res, yRes=res, resampleAlg=resampling_onto(pixel, res))
    return read_raster_info(vrt)


def _aoi_burner(aoi: str | Path | PolygonSet | None, info: RasterInfo, layer: str | None = None,
                ) -> InventoryBurner | None:
    """The area of interest on the raster's grid (one burner: planning reads its extent, then the reader uses it)."""
    if aoi is None:
        return None
    from .rasterize import InventoryBurner

    polygons = aoi if isinstance(aoi, PolygonSet) else read_polygons(aoi, layer, role=AREA_OF_INTEREST)
    return InventoryBurner(polygons, raster_srs(info), info.transform)


def _region(info: RasterInfo, extent: Extent | None, extent_crs: str | None, aoi: InventoryBurner | None,
            name: str) -> Window:
    """The part of the raster within the extent and the area of interest's bounding box; an error says which
    of them misses the raster (the extent's names both CRSs: a wrong one is the usual cause)."""
    whole = Window(0, 0, info.height, info.width)
    if extent is not None:
        extent = require_extent_overlaps(extent, extent_crs, raster_srs(info),
                                         window_bounds(info.transform, whole), name)
    region = whole if extent is None else clip_window(info.transform, whole, extent)
    if aoi is not None:
        if clip_window(info.transform, whole, aoi.extent()).height == 0:
            raise LmhldError("the area of interest does not overlap the raster")
        region = clip_window(info.transform, region, aoi.extent())
    if region.height == 0:
        raise LmhldError("the extent and the area of interest do not overlap each other; give an extent that "
                         "meets the area of interest, or drop one of them")
    return region


# --- the run ---------------------------------------------------------------------------------------------------


@transactional
def detect(raster: str | Path, model: str | Path | Backend, out_gpkg: str | Path, prob_tif: str | Path | None = None,
           options: DetectOptions | None = None, progress: Progress | None = None) -> DetectResult:
    """Detect landslides in `raster`: polygons to `out_gpkg` (GeoPackage, raster CRS), probabilities to `prob_tif`."""
    from .preflight import options_of

    options = options_of(DetectOptions, options, "detection")
    progress = reader_progress(progress)
    t0 = time.perf_counter()
    options.validate()
    check_outputs(inputs={"raster": raster, "model": model, "aoi": options.aoi},
                  files={"polygons": out_gpkg, "probability raster": prob_tif}, styled=("probability raster",),
                  layers={"polygons": {LAYER: DETECTION_FIELDS}})
    backend = load_backend(model, options.provider) if isinstance(model, str | Path) else model
    with scratch_dir("detect") as tmpdir:
        plan = plan_detection(raster, backend.card, options, Path(tmpdir))
        for note in plan.notes:
            progress.warn(note)
        for line in (plan.resampled, plan.units):
            if line:
                progress.info(line)
        progress.info(plan.post.describe())
        context, coarse = choose_context(options.context, backend.card, pixel_area_m2(plan.info), plan.tile), None
        try:
            coarse = _coarse_plan(plan, options, context, Path(tmpdir))
            if coarse is not None:
                progress.info(f"context: {context.reason}")
            names = Path(raster).name, model_label(backend.card.architecture, model)
            n_windows, polygons = _write_outputs(plan, coarse, with_tta(backend, options.tta), names,
                                                 out_gpkg, prob_tif, Path(tmpdir), progress)
        finally:
            for p in (plan, coarse):
                if p is not None and p.aoi is not None:
                    p.aoi.close()
    result = DetectResult(
        polygons=Path(out_gpkg), probability=Path(prob_tif) if prob_tif else None, n_polygons=polygons.kept,
        provider=backend.provider, tile=plan.tile, stride=plan.stride, n_windows=n_windows,
        seconds=time.perf_counter() - t0, threshold=plan.post.threshold, bands=plan.bands, warnings=plan.notes,
        postprocess=plan.post.with_floor(polygons.surest).to_json(),
        dropped=dict(polygons.dropped), holes_filled=polygons.holes_filled,
        tta=options.tta, context=context.reason if coarse is not None else "off", resampled=plan.resampled,
        input_divisor=plan.divisor)
    progress.info(result.summary())
    result.doubts = doubts(plan)
    if result.doubts:  # said last, where a reader looks once the run is over (the first warnings have scrolled away)
        progress.warn("these detections are doubtful: " + "; ".join(result.doubts))
    progress.set_fraction(1.0)
    return result


MARKED_DOUBTFUL = 0.3  # a cut marking this share of the valid pixels or more: a landslide inventory rarely does


def doubts(plan: DetectPlan) -> list[str]:
    """Why a finished detection may mean little, in words: the scene's values far from the training imagery's, or
    the cut marking a third of the scene or more (a model that does not fit the scene, a threshold too low; not
    within an area of interest, which may be drawn around the landslides themselves)."""
    said = []
    if plan.values_far:
        said.append("the scene's values lie far from the training imagery's (the warning above names the bands)")
    marked, valid = plan.marked
    if valid and marked >= MARKED_DOUBTFUL * valid and plan.aoi is None:  # an area of interest drawn around the
        # landslides is mostly landslide (a probe's: 100%, and correct)
        said.append(f"the probability cut marks {marked / valid:.0%} of the scene's valid pixels as landslide, far "
                    "more than landslides cover: the model may not fit this scene (check its bands and values "
                    "against the model's, in QGIS's Model information), or the threshold is too low")
    return said


def _coarse_plan(plan: DetectPlan, options: DetectOptions, context: ContextChoice, workdir: Path) -> DetectPlan | None:
    """The plan of the coarse context pass (core.multiscale): the same region and tiles over a coarser VRT."""
    if context.factor is None:
        return None
    info = coarse_raster(plan.info, context.factor, workdir)
    return replace(plan, info=info, region=coarse_region(plan.region, context.factor, info),
                   aoi=_aoi_burner(options.aoi, info, options.aoi_layer), notes=[])


def model_label(architecture: str, model: str | Path | Backend) -> str:
    """The polygons' `model` field: the network, and the model file with its run folder when it came from one, so
    that detections of two models of one network (a batch over runs) stay apart."""
    if not isinstance(model, str | Path):
        return architecture
    path = Path(model).resolve()
    return f"{architecture} ({path.parent.name}/{path.name})"


def _write_outputs(plan: DetectPlan, coarse: DetectPlan | None, backend: Backend, names: tuple[str, str],
                   out_gpkg: str | Path, prob_tif: str | Path | None, workdir: Path,
                   progress: Progress) -> tuple[int, PolygonizeReport]:
    """Probabilities and mask by streaming, then polygons; every output written aside and moved into place."""
    from .rasterwriter import tag_threshold
    from .styles import embed_vector_style, write_raster_style
    from .vectorize import polygonize

    prob_final = Path(prob_tif) if prob_tif else workdir / "probability.tif"
    mask_tif = workdir / "mask.tif"
    with atomic_file(out_gpkg) as gpkg_tmp, atomic_file(prob_final) as prob_tmp:
        if coarse is None:
            n_windows = _stream(plan, backend, prob_tmp, mask_tif, SubProgress(progress, 0.0, 0.85))
        else:
            n_windows = _stream_with_context(plan, coarse, backend, prob_tmp, mask_tif, workdir, progress)
        tag_threshold(prob_tmp, plan.post.threshold)
        report = polygonize(mask_tif, prob_tmp, gpkg_tmp, LAYER, plan.post.vectorize_options(),
                            source=names[0], model=names[1],
                            progress=SubProgress(progress, 0.85, 1.0))
        # the style travels inside the GeoPackage: QGIS applies it on load and lists no extra layer on drop, and a
        # sidecar `<stem>.qml` would collide with the probability raster's when both share a name
        embed_vector_style(gpkg_tmp, LAYER)
    if prob_tif:
        write_raster_style(prob_final)
    return n_windows, report


def _stream_with_context(plan: DetectPlan, coarse: DetectPlan, backend: Backend, prob_path: Path, mask_path: Path,
                         workdir: Path, progress: Progress) -> int:
    """The fine pass and the coarse pass, each streamed as one pass is, then fused into the outputs."""
    fine_prob, coarse_prob = workdir / "fine_probability.tif", workdir / "coarse_probability.tif"
    n_fine = _stream(plan, backend, fine_prob, workdir / "fine_mask.tif", SubProgress(progress, 0.0, 0.6))
    n_coarse = _stream(coarse, backend, coarse_prob, workdir / "coarse_mask.tif", SubProgress(progress, 0.6, 0.75),
                       warn_if_empty=False)
    fuse_step = SubProgress(progress, 0.75, 0.85)

    def on_rows(fraction: float) -> None:
        fuse_step.set_fraction(fraction)
        check_cancelled(progress)

    fuse_max(fine_prob, coarse_prob, plan.grid, prob_path, mask_path, plan.post.mask_threshold,
             column_chunks(plan.region.width, plan.chunk_width), workdir, on_rows)
    return n_fine + n_coarse


# --- streaming: windows in column chunks, each from top to bottom ---------------------------------------------


@dataclass(frozen=True)
class Chunk:
    """Columns [first, stop) of the region are written by this chunk; its windows span columns [x0, x1)."""

    first: int
    stop: int
    x0: int
    x1: int
    windows: tuple[Window, ...]


def plan_chunks(windows: Sequence[Window], width: int, chunk_width: int) -> list[Chunk]:
    """Each chunk takes every window that touches its columns (windows are in row order, and stay so)."""
    chunks = []
    for first, stop in column_chunks(width, chunk_width):
        wins = tuple(w for w in windows if w.col < stop and w.col + w.width > first)
        x0 = min(w.col for w in wins)
        chunks.append(Chunk(first, stop, x0, min(max(w.col + w.width for w in wins), width), wins))
    return chunks


def column_chunks(width: int, chunk: int) -> list[tuple[int, int]]:
    """Core column ranges [a, b) of the chunks a scene is streamed in (one chunk when `chunk` is 0)."""
    if chunk <= 0 or chunk >= width:
        return [(0, width)]
    return [(a, min(a + chunk, width)) for a in range(0, width, chunk)]


@dataclass
class Batch:
    """Windows read together: their normalised pixels and where those are valid."""

    chunk: int
    windows: list[Window]
    pixels: Floats  # (n, C, tile, tile), 0 where invalid and in the padding
    valid: Mask  # (n, tile, tile)


@gdal_checked
def _stream(plan: DetectPlan, backend: Backend, prob_path: Path, mask_path: Path, progress: Progress,
            warn_if_empty: bool = True) -> int:
    """Read, infer and blend every window; the writer thread writes finished rows. Returns the window count; says
    when not one valid pixel was read (an all-nodata scene would otherwise report a clean 'no landslide').

    A chunk writes only its own columns, but weights depend on the windows' positions in the whole region, so
    the result equals that of a single chunk while memory is bounded by the chunk's width."""
    region = plan.region
    windows = covering_windows(region.height, region.width, plan.tile, plan.stride)
    chunks = plan_chunks(windows, region.width, plan.chunk_width)
    total = sum(len(c.windows) for c in chunks)
    reader = WindowReader(plan, Normalisation.of(backend.card, plan.divisor))
    writer = ProbabilityWriter(prob_path, mask_path, plan.grid, plan.post.mask_threshold, [c.first for c in chunks])
    blenders = [ChunkBlender(c, plan, writer) for c in chunks]
    done, finished, seen_valid, unscored = 0, False, False, 0
    try:
        for batch in _threaded(reader.batches(chunks)):
            check_cancelled(progress)
            seen_valid = seen_valid or bool(batch.valid.any())
            blender = blenders[batch.chunk]
            probs = _predict_valid(backend, batch)
            finite = np.isfinite(probs)
            scored = batch.valid & finite  # NaN from the model: no probability, not a landslide's
            unscored += _check_scored(scored, batch.valid)
            if not finite.all():  # 0 at no weight: a NaN times 0 would poison the blend of other windows
                probs = np.where(finite, probs, np.float32(0.0))
            for win, prob, valid in zip(batch.windows, probs, scored, strict=True):
                blender.add(win, prob, valid)
            if batch.windows[-1] == blender.chunk.windows[-1]:
                blender.finish()
            done += len(batch.windows)
            progress.set_fraction(done / total)
        finished = True
    finally:
        writer.close(complete=finished)
    plan.marked = (writer.marked_pixels, writer.valid_pixels)
    writer.build_deferred_overviews(prob_path)
    if unscored:
        plan.notes.append(f"the model gave no probability (NaN) for {unscored} valid pixel(s) of its windows: "
                          "where no other window scored them they are nodata in the probability raster, and no "
                          "landslide")
        progress.warn(plan.notes[-1])
    if not seen_valid and warn_if_empty:
        plan.notes.append("no valid pixel was read: the scene (or its part inside the extent and area of interest) "
                          "is all nodata, so nothing could be detected; check the raster's nodata value and coverage")
        progress.warn(plan.notes[-1])
    return len(windows)


def _predict_valid(backend: Backend, batch: Batch) -> Floats:
    """The model's probabilities for the windows holding a valid pixel, 0 (at no weight) for the others: a scene
    99.9 % nodata (a tilted footprint in its bounding box, a strip of a mosaic) ran the model on every window, an
    hour on two cores for a 30000 px square holding 1024 px of imagery."""
    has = batch.valid.reshape(len(batch.windows), -1).any(axis=1)
    if has.all():
        return np.asarray(backend.predict(batch.pixels))
    probs = np.zeros(batch.valid.shape, np.float32)
    if has.any():
        probs[has] = backend.predict(np.ascontiguousarray(batch.pixels[has]))
    return probs


def _check_scored(scored: Mask, valid: Mask) -> int:
    """How many valid pixels of a batch the model gave no probability (NaN); none at all over a batch holding
    valid pixels is a broken model (weights damaged to NaN, an overflow on these values), said before the whole
    scene is run for a probability raster of NaN and "0 landslide polygons"."""
    n_valid = int(valid.sum())
    missing = n_valid - int(scored.sum())
    if n_valid and missing == n_valid:
        raise LmhldError("the model gave no probability (NaN) for any pixel of a batch of windows: its weights are "
                         "damaged or it overflows on this scene's values (QGIS's Model information compares the two); "
                         "train or export the model again")
    return missing


class ChunkBlender:
    """Blends the windows of one chunk (in row order) and hands finished rows of its own columns to the writer."""

    def __init__(self, chunk: Chunk, plan: DetectPlan, writer: ProbabilityWriter) -> None:
        self.chunk, self.writer = chunk, writer
        self.height, self.width, self.overlap = plan.region.height, plan.region.width, plan.overlap_px
        self.acc = StripeAccumulator(chunk.x1 - chunk.x0, self.height, plan.tile)
        self.row: int | None = None

    def add(self, window: Window, prob: Floats, valid: Mask) -> None:
        """Add one window's probabilities; invalid pixels get no weight (and stay nodata if nothing else covers
        them)."""
        if self.row is not None and window.row != self.row:
            self._emit(self.acc.flush(window.row))  # no later window of this chunk reaches above this row
        self.row = window.row
        weights = weights_for(window, self.height, self.width, self.overlap) * valid
        local = Window(window.row, window.col - self.chunk.x0, window.height, window.width)
        self.acc.add(local, prob, weights)

    def finish(self) -> None:
        self._emit(self.acc.flush(self.height))

    def _emit(self, rows: tuple[int, Floats, Mask]) -> None:
        top, values, covered = rows
        a, b = self.chunk.first - self.chunk.x0, self.chunk.stop - self.chunk.x0
        self.writer.put(Stripe(top, self.chunk.first, values[:, a:b], covered[:, a:b]))


class WindowReader:
    """Reads the windows of each chunk, in row order and in batches, normalised (a thread of its own runs it: it
    owns its raster handle and the area-of-interest burner)."""

    def __init__(self, plan: DetectPlan, normalisation: Normalisation) -> None:
        self.plan, self.normalisation = plan, normalisation

    def batches(self, chunks: Sequence[Chunk]) -> Iterator[Batch]:
        import rasterio

        size = self.plan.batch_size
        with warnings.catch_warnings(), rasterio.open(self.plan.info.path) as src:
            warnings.simplefilter("ignore")
            validity = PixelValidity(src, self.plan.bands)
            for k, chunk in enumerate(chunks):
                for i in range(0, len(chunk.windows), size):
                    yield self._read(src, validity, k, list(chunk.windows[i:i + size]))

    def _read(self, src: Any, validity: PixelValidity, chunk: int, windows: list[Window]) -> Batch:
        plan, tile = self.plan, self.plan.tile
        pixels = np.zeros((len(windows), len(plan.bands), tile, tile), np.float32)
        valid = np.zeros((len(windows), tile, tile), bool)
        for i, win in enumerate(windows):
            h, w = min(tile, plan.region.height - win.row), min(tile, plan.region.width - win.col)
            scene = Window(plan.region.row + win.row, plan.region.col + win.col, h, w)
            raw = src.read(plan.bands, window=scene.to_rasterio())
            ok = validity.mask(raw, scene.to_rasterio())
            if plan.aoi is not None:
                ok &= plan.aoi.burn(scene).astype(bool)
            self.normalisation.apply(raw, ok, out=pixels[i, :, :h, :w])
            valid[i, :h, :w] = ok
        return Batch(chunk, windows, pixels, valid)


def _threaded(iterator: Iterator[Batch], depth: int = 3) -> Iterator[Batch]:
    """Run `iterator` in a thread, `depth` items ahead; its exceptions are re-raised in the consumer. Leaving the
    loop early (an error, a cancel) stops the thread and closes the iterator (its files)."""
    q: queue.Queue[object] = queue.Queue(maxsize=depth)
    stop = threading.Event()
    done = object()

    def offer(item: object) -> bool:
        while not stop.is_set():
            try:
                q.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def work() -> None:
        try:
            for item in iterator:
                if not offer(item):
                    return
            offer(done)
        except BaseException as exc:  # handed to the consumer
            offer(exc)
        finally:
            close = getattr(iterator, "close", None)
            if close is not None:
                close()

    thread = threading.Thread(target=work, daemon=True, name="lmhld-reader")
    thread.start()
    try:
        while (item := q.get()) is not done:
            if isinstance(item, BaseException):
                raise item
            yield item  # type: ignore[misc]
    finally:
        stop.set()
        thread.join(timeout=5)
