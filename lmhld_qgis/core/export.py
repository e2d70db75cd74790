"""Patch export (LMHLD sec. 2.3): rasterize the inventory on each raster's grid, cut windows, keep patches with
at least `min_fraction` landslide pixels and neither nodata nor image boundary, split them, write a dataset.

Windowed reads only (memory bounded by a patch); the dataset is built in a folder beside the target and moved
into place at the end, so a cancelled or failed export leaves nothing behind.
"""

from __future__ import annotations

import json
import math
import warnings
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from .. import __version__
from .atomic import atomic_dir, gdal_checked
from .bands import select_bands
from .errors import LmhldError
from .grid import grid_windows, window_transform
from .memory import release_free_memory
from .outputs import check_outputs
from .preflight import require_distinct, require_patch_fits
from .progress import NullProgress, Progress, check_cancelled
from .raster import RasterInfo, read_raster_info
from .report import json_text
from .splits import SPLIT_NAMES, block_ids, parse_ratios, split_patches
from .stats import BandStats
from .styles import PATCHES_QML, tag_band_colours, write_vector_style
from .validate import refuse_blocking_problems
from .vector import PolygonSet, read_polygons, srs_from_wkt

DATASET_FORMAT = "lmhld-dataset"
DATASET_FORMAT_VERSION = 1
DROP_REASONS = ("boundary", "no_landslide", "below_min_fraction", "nodata")


@dataclass
class ExportOptions:
    patch_size: int
    stride: int | None = None
    bands: Sequence[int] | None = None  # 1-based; None = blue, green, red, nir by name, else the first four
    min_fraction: float = 0.10
    split: Sequence[float] = (0.7, 0.2, 0.1)
    split_method: str = "balanced"  # or "block"
    block: int = 4  # block side in patches, for split_method="block"
    tolerance: float = 0.01
    seed: int = 0
    name: str = ""
    sensor: str = ""
    date: str = ""
    overwrite: bool = False

    def validate(self) -> None:
        if int(self.patch_size) != self.patch_size or self.patch_size < 8:
            raise LmhldError(f"patch size must be an integer >= 8 pixels, got {self.patch_size}")
        if self.stride is not None and (int(self.stride) != self.stride or self.stride < 1):
            raise LmhldError(f"stride must be a positive integer, got {self.stride}")
        if not 0 <= self.min_fraction <= 1:
            raise LmhldError(f"minimum landslide fraction must lie in [0, 1], got {self.min_fraction}")
        parse_ratios(list(self.split))
        if self.split_method not in ("balanced", "block"):
            raise LmhldError(f"split method must be 'balanced' or 'block', got {self.split_method!r}")


@dataclass
class _Patch:
    id: str
    source: int
    row: int
    col: int
    positives: int
    total: int
    transform: tuple
    stats: tuple = field(repr=False)  # (n, means, m2s) as Python floats: tiny numpy arrays kept per patch would
    # pin glibc's heap between the large per-patch temporaries and make memory grow with the scene


@dataclass
class ExportReport:
    out_dir: Path
    card: dict

    @property
    def counts(self) -> dict[str, int]:
        return self.card["counts"]


def patch_size_from_report(path: str | Path, quartile: str = "q2") -> int:
    """The patch size an inventory analysis recommended for a quartile (q1, q2 or q3)."""
    index = {"q1": 0, "q2": 1, "median": 1, "q3": 2}.get(quartile.lower())
    if index is None:
        raise LmhldError(f"quartile must be q1, q2 or q3, got {quartile!r}")
    try:
        return int(json.loads(Path(path).read_text(encoding="utf-8"))["recommended_patch_sizes"][index])
    except (KeyError, IndexError, TypeError, ValueError) as exc:  # not JSON, not UTF-8, not a report
        raise LmhldError(f"{path} is not a report of `lmhld analyse` (no recommended_patch_sizes)") from exc


def _check_grid(info: RasterInfo) -> None:
    if info.crs_wkt is None:
        raise LmhldError(f"raster {info.path} has no CRS; assign one (gdal_edit.py -a_srs EPSG:XXXX) and retry")
    if info.is_rotated:
        raise LmhldError(f"raster {info.path} has a rotated or sheared geotransform; warp it to a north-up grid "
                         "first (gdalwarp in.tif out.tif)")


def export_patches(rasters: Sequence[str | Path], inventory: str | Path | PolygonSet, out_dir: str | Path,
                   options: ExportOptions, *, layer: str | None = None,
                   progress: Progress | None = None) -> ExportReport:
    """Export training patches from `rasters` and a polygon `inventory` into the dataset folder `out_dir`."""
    progress = progress or NullProgress()
    options.validate()
    if not rasters:
        raise LmhldError("give at least one raster")
    check_outputs(inputs={"raster": list(rasters), "inventory": inventory}, folders={"out_dir": out_dir},
                  overwrite=options.overwrite)
    require_distinct(list(rasters), "raster")
    refuse_blocking_problems(inventory, layer)  # invalid geometries, CRS mismatches: see lmhld:validateinventory
    infos = [read_raster_info(r) for r in rasters]
    require_patch_fits(int(options.patch_size), infos)
    for info in infos:
        _check_grid(info)
    chosen = [select_bands(i.descriptions, i.count, options.bands, i.path) for i in infos]
    if len({len(c[0]) for c in chosen}) != 1:
        raise LmhldError(f"rasters give different band counts {[len(c[0]) for c in chosen]}; choose --bands")
    polygons = inventory if isinstance(inventory, PolygonSet) else read_polygons(inventory, layer)
    size = int(options.patch_size)
    stride = int(options.stride or size)
    min_px = math.ceil(options.min_fraction * size * size)

    with atomic_dir(out_dir, overwrite=options.overwrite) as tmp:
        (tmp / "img").mkdir()
        (tmp / "mask").mkdir()
        patches: list[_Patch] = []
        sources: list[dict] = []
        total_windows = sum(math.ceil(i.height / stride) * math.ceil(i.width / stride) for i in infos)
        done = 0
        for k, (info, (band_idx, _)) in enumerate(zip(infos, chosen, strict=True)):
            kept, dropped, done = _export_one(k, info, band_idx, polygons, size, stride, min_px, tmp, patches,
                                              progress, done, total_windows)
            sources.append({"path": str(Path(info.path).resolve()), "crs": info.crs_wkt, "bands": band_idx,
                            "width": info.width, "height": info.height, "kept": kept, "dropped": dropped})
        progress.set_fraction(0.92)
        if not patches:
            raise LmhldError(f"no patch kept (dropped: {_sum_drops(sources)}); check that the inventory overlaps "
                             "the rasters, or lower the minimum landslide fraction or the patch size")
        groups = None
        if options.split_method == "block":
            groups = [p.source * 10**12 + int(b) for p, b in zip(
                patches, block_ids([p.row for p in patches], [p.col for p in patches], size, options.block),
                strict=True)]
        split = split_patches([p.positives for p in patches], [p.total for p in patches], ratios=options.split,
                              seed=options.seed, tolerance=options.tolerance, groups=groups,
                              method=options.split_method)
        labels = split.labels
        train_stats = BandStats()
        for p, lab in zip(patches, labels, strict=True):
            if lab == 0:
                train_stats = train_stats.merge(BandStats.from_tuple(p.stats))
        (tmp / "splits").mkdir()
        for k, name in enumerate(SPLIT_NAMES):
            ids = [p.id for p, lab in zip(patches, labels, strict=True) if lab == k]
            (tmp / "splits" / f"{name}.txt").write_text("".join(f"{i}\n" for i in ids))
        _write_footprints(tmp / "patches.gpkg", patches, labels, infos, size)
        write_vector_style(tmp / "patches.gpkg", PATCHES_QML)
        info0 = infos[0]
        res = _resolution_m(info0)
        card = {
            "format": DATASET_FORMAT, "format_version": DATASET_FORMAT_VERSION, "version": __version__,
            "created": datetime.now(UTC).isoformat(timespec="seconds"),
            "name": options.name or Path(out_dir).name, "sensor": options.sensor, "date": options.date,
            "resolution_m": res, "crs": info0.crs_wkt, "bands": chosen[0][1], "dtype": info0.dtype,
            "patch_size": size, "stride": stride, "min_fraction": options.min_fraction,
            "split": split.summary() | {"ratios": list(parse_ratios(list(options.split))),
                                        "tolerance": options.tolerance, "block": options.block},
            "counts": split.counts, "landslide_proportion": split.proportions,
            "mean": train_stats.mean.tolist(), "std": train_stats.std.tolist(),
            "sources": sources, "dropped": _sum_drops(sources), "seed": options.seed,
            "inventory": {"n_features": polygons.n_features, "n_polygons": len(polygons.geometries),
                          "n_repaired": polygons.n_repaired, "skipped": polygons.skipped},
        }
        (tmp / "dataset.json").write_text(json_text(card))  # NaN (an empty split's proportion) as null
        progress.set_fraction(1.0)
    progress.info(f"kept {len(patches)} patches {split.counts}; dropped {card['dropped']}; landslide proportion "
                  f"{ {k: round(v, 4) for k, v in split.proportions.items()} }")
    return ExportReport(Path(out_dir), card)


def _resolution_m(info: RasterInfo) -> float:
    from .raster import pixel_area_m2

    return math.sqrt(pixel_area_m2(info))


def _sum_drops(sources: list[dict]) -> dict[str, int]:
    return {r: sum(s["dropped"][r] for s in sources) for r in DROP_REASONS}


def _export_one(k, info, band_idx, polygons, size, stride, min_px, tmp, patches, progress, done, total):
    import rasterio

    from .rasterize import InventoryBurner

    srs = srs_from_wkt(info.crs_wkt, f"raster {info.path}")
    burner = InventoryBurner(polygons, srs, info.transform)
    dropped = dict.fromkeys(DROP_REASONS, 0)
    kept = 0
    stem = Path(info.path).stem.replace(" ", "_")
    pending: list = []
    # Buffers allocated once and reused: reads go into a ring of image buffers (one per patch in flight) and the
    # statistics use one scratch array, so the loop allocates nothing large per patch. (Freeing large per-patch
    # temporaries makes glibc's heap fragment and grow with the scene size.)
    max_pending = 8
    ring = [np.empty((len(band_idx), size, size), dtype=info.dtype) for _ in range(max_pending + 2)]
    work = np.empty((len(band_idx), size * size), np.float64)
    with rasterio.open(info.path) as src, warnings.catch_warnings(), ThreadPoolExecutor(2) as pool:
        warnings.simplefilter("ignore")
        descriptions = [src.descriptions[b - 1] for b in band_idx]
        mask_kind = _mask_kind(src, band_idx)
        for window in grid_windows(info.height, info.width, size, stride):
            done += 1
            if done % 64 == 0:
                check_cancelled(progress)
                progress.set_fraction(0.9 * done / total)
            if kept and done % 128 == 0:
                release_free_memory()
            if not window.inside(info.height, info.width):
                dropped["boundary"] += 1
                continue
            if burner.count_in(window) == 0:
                dropped["no_landslide"] += 1
                continue
            mask = burner.burn(window)
            positives = int(mask.sum())
            if positives == 0:
                dropped["no_landslide"] += 1
                continue
            if positives < min_px:
                dropped["below_min_fraction"] += 1
                continue
            rio_window = window.to_rasterio()
            image = src.read(band_idx, window=rio_window, out=ring[kept % len(ring)])
            if _has_invalid(src, band_idx, image, rio_window, mask_kind):
                dropped["nodata"] += 1
                continue
            pid = f"{k}_{stem}_r{window.row}_c{window.col}"
            transform = window_transform(info.transform, window)
            pending.append(pool.submit(_write_patch, tmp, pid, image, mask, transform, info.crs_wkt, info.nodata,
                                       descriptions))
            if len(pending) > max_pending:  # bounded: a few patches in flight (their ring buffers stay untouched)
                pending.pop(0).result()
            patches.append(_Patch(pid, k, window.row, window.col, positives, size * size, transform,
                                  BandStats.of(image, work).as_tuple()))
            kept += 1
        for future in pending:
            future.result()
    return kept, dropped, done


def _mask_kind(src, bands: list[int]) -> str:
    """How to find invalid pixels: 'none' (all valid), 'nodata' (compare values), or 'read' (alpha/mask band)."""
    from rasterio.enums import MaskFlags

    flags = [set(src.mask_flag_enums[b - 1]) for b in bands]
    if all(f == {MaskFlags.all_valid} for f in flags):
        return "none"
    if all(f == {MaskFlags.nodata} for f in flags):
        return "nodata"
    return "read"


def _has_invalid(src, bands: list[int], image: np.ndarray, window, kind: str) -> bool:
    """True if the window holds a nodata / masked pixel in any selected band (without a second read when the
    mask is a plain nodata value)."""
    if kind == "none":
        return False
    if kind == "nodata":
        for i, b in enumerate(bands):
            nodata = src.nodatavals[b - 1]
            band = image[i]
            if (np.isnan(band).any() if np.isnan(nodata) else (band == nodata).any()):
                return True
        return False
    return bool((src.read_masks(bands, window=window) == 0).any())


@gdal_checked
def _write_patch(tmp: Path, pid: str, image: np.ndarray, mask: np.ndarray, transform: tuple, crs_wkt: str,
                 nodata: float | None, descriptions: Sequence[str | None]) -> None:
    """Write img/<pid>.tif (source dtype) and mask/<pid>.tif (uint8) with GDAL (cheaper per file than rasterio)."""
    from osgeo import gdal, gdal_array

    a, b, c, d, e, f = transform
    gt = (c, a, b, f, d, e)
    driver = gdal.GetDriverByName("GTiff")
    for path, array in ((tmp / "img" / f"{pid}.tif", image), (tmp / "mask" / f"{pid}.tif", mask[None])):
        ds = driver.Create(str(path), array.shape[2], array.shape[1], array.shape[0],
                           gdal_array.NumericTypeCodeToGDALTypeCode(array.dtype), ["COMPRESS=DEFLATE", "ZLEVEL=1"])
        ds.SetGeoTransform(gt)
        ds.SetProjection(crs_wkt)
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


@gdal_checked
def _write_footprints(path: Path, patches: list[_Patch], labels, infos, size: int) -> None:
    """patches.gpkg: one footprint per patch (id, split, landslide_fraction, source, row, col), per source CRS."""
    from osgeo import ogr

    ds = ogr.GetDriverByName("GPKG").CreateDataSource(str(path))
    layers: dict[str, ogr.Layer] = {}
    ds.StartTransaction()  # one for the file: GeoPackage allows one at a time (a layer per CRS)
    for p, lab in zip(patches, labels, strict=True):
        info = infos[p.source]
        key = info.crs_wkt or ""
        if key not in layers:
            name = "patches" if not layers else f"patches_{len(layers)}"
            lyr = ds.CreateLayer(name, srs_from_wkt(info.crs_wkt, "raster"), ogr.wkbPolygon)
            for fname, ftype in (("id", ogr.OFTString), ("split", ogr.OFTString),
                                 ("landslide_fraction", ogr.OFTReal), ("source", ogr.OFTString),
                                 ("row", ogr.OFTInteger), ("col", ogr.OFTInteger)):
                lyr.CreateField(ogr.FieldDefn(fname, ftype))
            layers[key] = lyr
        lyr = layers[key]
        a, _, c, _, e, f = p.transform
        ring = ogr.Geometry(ogr.wkbLinearRing)
        for x, y in ((c, f), (c + a * size, f), (c + a * size, f + e * size), (c, f + e * size), (c, f)):
            ring.AddPoint_2D(x, y)
        poly = ogr.Geometry(ogr.wkbPolygon)
        poly.AddGeometry(ring)
        feat = ogr.Feature(lyr.GetLayerDefn())
        feat.SetGeometry(poly)
        for fname, value in (("id", p.id), ("split", SPLIT_NAMES[lab]), ("landslide_fraction", p.positives / p.total),
                             ("source", Path(info.path).name), ("row", p.row), ("col", p.col)):
            feat.SetField(fname, value)
        lyr.CreateFeature(feat)
    ds.CommitTransaction()
    ds = None
