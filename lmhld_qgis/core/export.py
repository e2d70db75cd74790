"""Patch export (LMHLD sec. 2.3 and beyond it): rasterize the inventory on each raster's grid, decide every window
(`plan_patches`: kept or dropped and why, kind, split; see core/patch_plan.py and the recipes in
core/export_options.py), and write the kept ones as a dataset: img/, mask/, splits/, patches.gpkg, dataset.json.

Export runs the very plan the preview shows: the planner hands each kept window's pixels to a writer as it reads
them. Windowed reads only (memory bounded by a few patches); the dataset is built in a folder beside the target
and moved into place at the end, so a cancelled or failed export leaves nothing behind.
"""

from __future__ import annotations

import contextlib
import json
import math
import re
from collections import deque
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from .. import __version__
from .atomic import atomic_dir, gdal_checked
from .bands import select_bands
from .errors import LmhldError
from .export_options import DEFAULT_RECIPE, RECIPES, ExportOptions, PlanSettings
from .grid import Affine6, Window, multiples_around, window_transform
from .outputs import check_outputs
from .patch_layer import write_footprints
from .patch_plan import PatchPlan, make_plan
from .patch_windows import DROP_REASONS, MAX_PENDING, ImageArray, MaskArray, PlanSource
from .preflight import as_path_list, options_of, require_distinct, require_patch_fits
from .progress import Progress, SubProgress, reader_progress
from .raster import (
    RasterInfo,
    black_collar,
    pixel_area_m2,
    read_raster_info,
    require_north_up,
    same_resolution,
    stretched_pixels_note,
    undeclared_fill,
    untagged_alpha,
)
from .report import json_text
from .splits import SPLIT_NAMES
from .stats import BandStats
from .styles import PATCHES_QML, tag_band_colours, write_vector_style
from .validate import refuse_blocking_problems
from .vector import PolygonSet, read_polygons, skipped_text

__all__ = ["DATASET_FORMAT", "DEFAULT_RECIPE", "DROP_REASONS", "RECIPES", "ExportOptions", "ExportReport",
           "export_patches", "patch_size_from_report", "plan_patches"]

DATASET_FORMAT = "lmhld-dataset"
DATASET_FORMAT_VERSION = 1
StatsTuple = tuple[int, tuple[float, ...], tuple[float, ...]]


@dataclass
class ExportReport:
    out_dir: Path
    card: dict[str, Any]

    @property
    def counts(self) -> dict[str, int]:
        counts: dict[str, int] = self.card["counts"]
        return counts


@dataclass
class _Inputs:
    """What a plan reads, checked: settings, rasters with their bands, the inventory and the negatives."""

    settings: PlanSettings
    sources: list[PlanSource]
    polygons: PolygonSet
    negatives: PolygonSet | None


def patch_size_from_report(path: str | Path, quartile: str = "q2") -> int:
    """The patch size an inventory analysis recommended for a quartile (q1, q2 or q3)."""
    index = {"q1": 0, "q2": 1, "median": 1, "q3": 2}.get(quartile.lower())
    if index is None:
        raise LmhldError(f"quartile must be q1, q2 or q3, got {quartile!r}")
    if not Path(path).is_file():
        raise LmhldError(f"analysis report {path} does not exist; run the inventory analysis (lmhld analyse) first, "
                         "or give the patch size")
    try:
        return int(json.loads(Path(path).read_text(encoding="utf-8"))["recommended_patch_sizes"][index])
    except (KeyError, IndexError, TypeError, ValueError) as exc:  # not JSON, not UTF-8, not a report
        raise LmhldError(f"{path} is not a report of `lmhld analyse` (no recommended_patch_sizes)") from exc


def plan_patches(rasters: Sequence[str | Path] | str | Path, inventory: str | Path | PolygonSet, options: ExportOptions,
                 layer: str | None = None, progress: Progress | None = None, *, refuse_few: bool = True) -> PatchPlan:
    """Every window export would consider at `options.patch_size`, kept or dropped (and why), with its landslide
    fraction, kind and split, computed without writing anything (pixels are read only to find nodata). Too few
    windows kept to split: refused as export refuses them, or, not `refuse_few` (a preview, which shows why), the
    windows unsplit with the refusal in `PatchPlan.refusal`."""
    progress = reader_progress(progress)
    rasters, options = as_path_list(rasters), options_of(ExportOptions, options, "export")
    inputs = _read_inputs(rasters, inventory, options, layer, progress)
    plan = make_plan(inputs.settings, inputs.sources, inputs.polygons, inputs.negatives, progress,
                     refuse_few=refuse_few)
    _report(plan, progress)
    return plan


def export_patches(rasters: Sequence[str | Path] | str | Path, inventory: str | Path | PolygonSet, out_dir: str | Path,
                   options: ExportOptions, *, layer: str | None = None,
                   progress: Progress | None = None) -> ExportReport:
    """Export training patches from `rasters` and a polygon `inventory` into the dataset folder `out_dir`."""
    progress = reader_progress(progress)
    rasters, options = as_path_list(rasters), options_of(ExportOptions, options, "export")
    check_outputs(inputs={"raster": list(rasters), "inventory": inventory, "negatives": options.negatives},
                  folders={"dataset folder": out_dir}, overwrite=options.overwrite)
    inputs = _read_inputs(rasters, inventory, options, layer, progress)
    with atomic_dir(out_dir, overwrite=options.overwrite) as tmp:
        (tmp / "img").mkdir()
        (tmp / "mask").mkdir()
        with _PatchWriter(tmp, len(inputs.sources[0].bands), inputs.settings.patch_size) as writer:
            plan = make_plan(inputs.settings, inputs.sources, inputs.polygons, inputs.negatives,
                             SubProgress(progress, 0.0, 0.9), writer)
        _write_splits(tmp / "splits", plan)
        write_footprints(tmp / "patches.gpkg", plan)
        write_vector_style(tmp / "patches.gpkg", PATCHES_QML)
        card = _dataset_card(plan, options, out_dir, inputs, writer.stats)
        (tmp / "dataset.json").write_text(json_text(card))  # NaN (an empty split's proportion) as null
        progress.set_fraction(1.0)
    _report(plan, progress)
    return ExportReport(Path(out_dir), card)


NETWORK_SIZE_MULTIPLE = 16  # every U-Net's sizes divide by 2**models.base.DEPTH (the baselines' by 32)


def untrainable_size_note(size: int) -> str | None:
    """Why patches of `size` px cannot be trained on by lmhld's networks, and the sizes that can (None: they can)."""
    m = NETWORK_SIZE_MULTIPLE
    if size % m == 0:
        return None
    smaller, larger = multiples_around(size, m)
    return (f"patch size {size} px: lmhld's U-Nets train on sizes that divide by {m} (the baselines by {2 * m}), so "
            f"training will refuse these patches; export {smaller} or {larger} px instead unless they are for "
            "another tool")


def _read_inputs(rasters: Sequence[str | Path], inventory: str | Path | PolygonSet, options: ExportOptions,
                 layer: str | None, progress: Progress) -> _Inputs:
    """Check the options and rasters (before any pixel is read but a sample for the fill values) and read the
    inventory and negatives."""
    settings = options.settings()
    if not rasters:
        raise LmhldError("give at least one raster")
    require_distinct(list(rasters), "raster")
    refuse_blocking_problems(inventory, layer)  # invalid geometries, CRS mismatches: see lmhld:validateinventory
    infos = [read_raster_info(r) for r in rasters]
    require_patch_fits(int(options.patch_size), infos)
    size_note = untrainable_size_note(int(options.patch_size))
    if size_note:  # said now, not one step later in a model's chain, when training refuses them
        progress.warn(size_note)
    for info in infos:
        require_north_up(info)
        stretched = stretched_pixels_note(info, "train")
        if stretched:  # detection says so of the same raster: a model trained on it learns stretched shapes
            progress.warn(stretched)
    _require_one_resolution(infos)
    chosen = [select_bands(i.band_names, i.count, options.bands, i.path, i.alpha_bands) for i in infos]
    if options.bands is None:
        chosen = [chosen[0], *(_in_order_of(chosen[0][1], info, c) for info, c in zip(infos[1:], chosen[1:],
                                                                                         strict=True))]
    if len({len(c[0]) for c in chosen}) != 1:
        raise LmhldError(f"rasters give different band counts {[len(c[0]) for c in chosen]}; choose --bands")
    sources = [PlanSource(k, info, bands, names) for k, (info, (bands, names)) in enumerate(zip(infos, chosen,
                                                                                               strict=True))]
    _check_pixels(sources, progress)
    polygons = inventory if isinstance(inventory, PolygonSet) else read_polygons(inventory, layer)
    if polygons.skipped:  # recorded in dataset.json too
        progress.warn(f"{polygons.n_skipped} feature(s) of the inventory skipped: {skipped_text(polygons.skipped)}")
    _require_overlap_with_any(polygons, infos)
    negatives = options.negatives
    if negatives is not None and not isinstance(negatives, PolygonSet):
        negatives = read_polygons(negatives, options.negatives_layer, role="negatives")
    if negatives is not None:
        _require_negatives_apart(polygons, negatives, progress)
    return _Inputs(settings, sources, polygons, negatives)


def _require_negatives_apart(polygons: PolygonSet, negatives: PolygonSet, progress: Progress) -> None:
    """Negatives that are the inventory's own polygons (the inventory given twice, a layer copied) would centre
    "no landslide" patches on landslides: refused when they are at least half the negatives, said otherwise."""
    landslides = {bytes(g.ExportToIsoWkb()) for g in polygons.geometries}
    shared = sum(bytes(g.ExportToIsoWkb()) in landslides for g in negatives.geometries)
    if not shared:
        return
    said = (f"{shared} of the {len(negatives.geometries)} negatives are landslides of the inventory (the same "
            "polygons), while negatives are places known not to be landslides (look-alikes, rejected detections)")
    if 2 * shared >= len(negatives.geometries):
        raise LmhldError(f"{said}: give the negatives' own file or layer (--negatives-layer), or leave --negatives "
                         "out")
    progress.warn(f"{said}: remove them from the negatives")


def _require_one_resolution(infos: list[RasterInfo]) -> None:
    """Rasters exported together share one pixel size (within detection's tolerance): a dataset holds one
    resolution (dataset.json's, the one detection resamples scenes to), and a landslide 20 px wide in one raster's
    patches is not 100 px wide in another's."""
    if len(infos) < 2:
        return
    pixels = [math.sqrt(pixel_area_m2(info)) for info in infos]
    if same_resolution(max(pixels), min(pixels)):
        return
    target = float(f"{max(pixels):.3g}")  # averaging finer pixels onto a coarser grid invents nothing
    sizes = ", ".join(f"{Path(info.path).name} {p:.3g} m" for info, p in zip(infos, pixels, strict=True))
    finer = next(Path(info.path) for info, p in zip(infos, pixels, strict=True) if not same_resolution(p, target))
    resampled = f"{finer.stem}_{target:g}m.tif"
    raise LmhldError(f"the rasters' pixel sizes differ ({sizes}): a dataset holds one resolution. Resample the "
                     f"finer to {target:g} m, e.g. `lmhld stack --raster {finer.name} --pixel-size {target:g} --out "
                     f"{resampled}` (or `gdalwarp -tr {target:g} {target:g} {finer.name} {resampled}`), and export "
                     "the resampled rasters")


def _check_pixels(sources: list[PlanSource], progress: Progress) -> None:
    """Refuse bands whose nodata tag was lost (their fill value, -32767 say, would be learnt as elevation: in the
    patches and in the normalisation dataset.json records for training); warn of an orthophoto's untagged alpha
    band taken as data."""
    fills = [note for s in sources for note in undeclared_fill(s.info.path, s.bands, s.band_names)]
    if fills:
        raise LmhldError("; ".join(fills) + ". Refused: the patches would hold the fill value as data (and "
                         "dataset.json's band statistics, which training normalises by, with it)")
    for note in (n for s in sources for n in black_collar(s.info.path, s.bands)):
        progress.warn(note)
    for s in sources:
        if (band := untagged_alpha(s.info.path, s.info)) in s.bands:
            name = Path(s.info.path).name
            progress.warn(f"band {band} of {name} holds only 0 and 255 after its red, green and blue bands: "
                          "probably an alpha band (transparency) that is not tagged as one, used here as data and "
                          f"its transparent edge as imagery; stack the orthophoto (lmhld stack --raster {name} ...), "
                          f"which reads it as alpha, or tag it (gdal_edit.py -colorinterp_{band} alpha {name})")


def _in_order_of(names: list[str], info: RasterInfo, chosen: tuple[list[int], list[str]]) -> tuple[list[int],
                                                                                                   list[str]]:
    """Another raster's default bands in the first raster's order when both name them (a scene stacked dsm, red,
    green, blue beside one of red, green, blue, dsm: its patches would hold the DSM under "red"); a raster whose
    bands are named otherwise is refused; unnamed bands, on either side, keep their default choice."""
    if chosen[1] == names or not any(info.band_names) or all(re.fullmatch(r"band\d+", n) for n in names):
        return chosen
    from .bands import match_model_bands

    source = Path(info.path).name
    fix = (f"rasters exported together need the same bands: give {source} the first raster's band names (stack it "
           f"again with `lmhld stack ... --names {','.join(names)}`) or choose --bands")
    indices, by_position = match_model_bands(names, info.band_names, source, fix, [b - 1 for b in info.alpha_bands],
                                             wanted_by="the first raster")
    if by_position:
        raise LmhldError(f"{source} names its bands {[d or '' for d in info.band_names]}, the first raster "
                         f"{names}: {fix}")
    return [i + 1 for i in indices], list(names)


def _require_overlap_with_any(polygons: PolygonSet, infos: list[RasterInfo]) -> None:
    """An inventory that touches none of the rasters (another area, or a wrong CRS) is named as such, not found
    out after the scan as 'no patch kept'. Several rasters: one overlapped is enough (the others may hold only
    background)."""
    from .preflight import require_overlap

    errors: list[LmhldError] = []
    for info in infos:
        try:
            require_overlap(polygons, info)
            return
        except LmhldError as exc:
            errors.append(exc)
    if errors:
        raise errors[0]


def _report(plan: PatchPlan, progress: Progress) -> None:
    for note in plan.warnings:
        progress.warn(note)
    progress.info(f"bands: {plan.bands_in_words()}")
    if plan.refusal is None:  # else the refusal says what was kept and dropped
        progress.info(f"kept {plan.kept_in_words()}; dropped windows: {plan.dropped_in_words()}")


class _PatchWriter:
    """The sink export gives the planner: writes each kept window (two GeoTIFFs, on two threads, a few patches in
    flight so the reader's ring buffers are never overwritten while written) and keeps its band statistics."""

    def __init__(self, root: Path, n_bands: int, size: int) -> None:
        self.root = root
        self.pool = ThreadPoolExecutor(2)
        self.pending: deque[Future[None]] = deque()
        self.stats: dict[str, StatsTuple] = {}
        # tiny numpy arrays kept per patch would pin glibc's heap between large per-patch temporaries and make
        # memory grow with the scene: statistics are kept as Python floats, computed in one reused scratch array
        self.work = np.empty((n_bands, size * size), np.float64)

    def add(self, pid: str, source: PlanSource, window: Window, image: ImageArray, mask: MaskArray) -> None:
        info = source.info
        descriptions = [info.band_names[b - 1] for b in source.bands]
        self.pending.append(self.pool.submit(_write_patch, self.root, pid, image, mask,
                                             window_transform(info.transform, window), info.crs_wkt, info.nodata,
                                             descriptions))
        if len(self.pending) > MAX_PENDING:
            self.pending.popleft().result()
        self.stats[pid] = BandStats.of(image, self.work).as_tuple()

    def discard(self, pid: str) -> None:
        self.finish()
        for folder in ("img", "mask"):
            (self.root / folder / f"{pid}.tif").unlink()
        del self.stats[pid]

    def finish(self) -> None:
        while self.pending:
            self.pending.popleft().result()

    def __enter__(self) -> _PatchWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            if exc[0] is None:
                self.finish()
        finally:
            for future in self.pending:
                future.cancel()
            with contextlib.suppress(Exception):
                self.pool.shutdown(wait=True)


@gdal_checked
def _write_patch(root: Path, pid: str, image: ImageArray, mask: MaskArray, transform: Affine6, crs_wkt: str | None,
                 nodata: float | None, descriptions: Sequence[str | None]) -> None:
    """Write img/<pid>.tif (source dtype) and mask/<pid>.tif (uint8) with GDAL (cheaper per file than rasterio)."""
    from osgeo import gdal, gdal_array

    a, b, c, d, e, f = transform
    gt = (c, a, b, f, d, e)
    driver = gdal.GetDriverByName("GTiff")
    for path, array in ((root / "img" / f"{pid}.tif", image), (root / "mask" / f"{pid}.tif", mask[None])):
        ds = driver.Create(str(path), array.shape[2], array.shape[1], array.shape[0],
                           gdal_array.NumericTypeCodeToGDALTypeCode(array.dtype), ["COMPRESS=DEFLATE", "ZLEVEL=1"])
        ds.SetGeoTransform(gt)
        ds.SetProjection(crs_wkt or "")
        for i in range(array.shape[0]):
            band = ds.GetRasterBand(i + 1)
            band.WriteArray(array[i])
            if array is image:
                if nodata is not None:
                    band.SetNoDataValue(nodata)
                if descriptions[i]:
                    band.SetDescription(descriptions[i])
        if array is image:
            tag_band_colours(ds)
        ds = None


def _write_splits(folder: Path, plan: PatchPlan) -> None:
    folder.mkdir()
    kept = plan.kept()
    for name in SPLIT_NAMES:
        folder.joinpath(f"{name}.txt").write_text("".join(f"{p.id}\n" for p in kept if p.split == name))


def _train_stats(plan: PatchPlan, stats: dict[str, StatsTuple]) -> BandStats:
    total = BandStats()
    for p in plan.kept():
        if p.split == "train":
            total = total.merge(BandStats.from_tuple(stats[p.id]))
    return total


def _dataset_card(plan: PatchPlan, options: ExportOptions, out_dir: str | Path, inputs: _Inputs,
                  stats: dict[str, StatsTuple]) -> dict[str, Any]:
    """dataset.json: what the dataset holds, how it was made and what a trainer needs (normalisation)."""
    s, info0, polygons = plan.settings, plan.sources[0].info, inputs.polygons
    train = _train_stats(plan, stats)
    return {
        "format": DATASET_FORMAT, "format_version": DATASET_FORMAT_VERSION, "version": __version__,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "name": options.name or Path(out_dir).name, "sensor": options.sensor, "date": options.date,
        "resolution_m": math.sqrt(pixel_area_m2(info0)), "crs": info0.crs_wkt, "bands": plan.sources[0].band_names,
        "dtype": info0.dtype, "patch_size": s.patch_size, "stride": plan.stride, "min_fraction": s.min_fraction,
        "recipe": s.to_json(), "split": _split_card(plan),
        "counts": plan.counts(), "counts_by_kind": plan.counts_by_kind(), "landslide_proportion": plan.proportions(),
        "windows": plan.windows_by_placement(),
        "mean": train.mean.tolist(), "std": train.std.tolist(),
        "sources": _sources_card(plan), "dropped": plan.dropped(), "seed": s.seed,
        "inventory": {"n_features": polygons.n_features, "n_polygons": len(polygons.geometries),
                      "n_repaired": polygons.n_repaired, "skipped": polygons.skipped},
        "negatives": plan.negatives,
        "min_landslide_area_m2": plan.min_landslide_area_m2, "min_landslide_area_rule": plan.min_landslide_area_rule,
        "large_landslide_area_m2": plan.large_landslide_area_m2,
        "warnings": plan.warnings,
    }


def _split_card(plan: PatchPlan) -> dict[str, Any]:
    s, split = plan.settings, plan.split
    return {
        "method": split.method, "ratios": list(s.ratios), "tolerance": s.tolerance, "block": s.block,
        "block_used": split.block, "counts": plan.counts(), "landslide_proportion": plan.proportions(),
        "max_proportion_difference": _spread(plan.proportions()), "kinds": plan.kinds_by_split(),
        "assigned": split.summary() | {"what": "grid and centred windows; the ratios and the tolerance apply to "
                                               "them, training-only overlapping windows join train afterwards"},
        "val_test_neighbours_in_train": plan.train_neighbour_share,
    }


def _spread(proportions: dict[str, float]) -> float:
    valid = [p for p in proportions.values() if p == p]
    return float(max(valid) - min(valid)) if valid else 0.0


def _sources_card(plan: PatchPlan) -> list[dict[str, Any]]:
    per_source: list[dict[str, Any]] = []
    for src, nodata_in in zip(plan.sources, plan.nodata_in, strict=True):
        kept = sum(1 for p in plan.kept() if p.source == src.index)
        reasons = [r for r, k in zip(plan.windows.reason, plan.windows.source, strict=True) if k == src.index]
        dropped = {reason: reasons.count(code) for code, reason in enumerate(DROP_REASONS)}
        info = src.info
        per_source.append({"path": str(Path(info.path).resolve()), "crs": info.crs_wkt, "bands": src.bands,
                           "width": info.width, "height": info.height, "kept": kept, "dropped": dropped,
                           "nodata_in": nodata_in})  # windows dropped for nodata, by the bands holding it
    return per_source
