"""Mask raster -> landslide polygons with attributes, through GDAL (Polygonize streams by rows), cleaned as the
post-processing asks: small holes filled, polygons simplified, specks dropped, polygons the model is on average
unsure of dropped, and (hysteresis) regions without a pixel at the seed threshold dropped. Every dropped polygon is
counted under its reason."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray
from osgeo import gdal, ogr, osr

from .atomic import GdalStop, gdal_checked
from .errors import hold_signals
from .postprocess import AREA_TOLERANCE, scene_floor
from .progress import Progress, check_cancelled, reader_progress
from .vector import equal_area_srs, polygonal, srs_from_epsg, srs_from_wkt, validity_reason

gdal.UseExceptions()

FIELDS = (("id", ogr.OFTInteger), ("area_m2", ogr.OFTReal), ("perimeter_m", ogr.OFTReal),
          ("mean_prob", ogr.OFTReal), ("max_prob", ogr.OFTReal), ("source", ogr.OFTString), ("model", ogr.OFTString))
DROP_SMALL = "below the minimum area"
DROP_WEAK = "no pixel at the threshold"  # hysteresis: a region of the lower cut that holds no seed
DROP_UNSURE = "mean probability below the minimum"
DROP_EMPTY = "empty after cleaning"

GeoTransform = tuple[float, float, float, float, float, float]  # GDAL order


@dataclass
class VectorizeOptions:
    min_area_m2: float = 0.0
    fill_holes_m2: float = 0.0  # interior rings smaller than this are filled
    simplify: float = 0.0  # tolerance in CRS units (topology-preserving per polygon)
    seed_threshold: float | None = None  # keep only polygons whose highest probability reaches this (hysteresis)
    min_mean_prob: float = 0.0  # keep only polygons whose mean probability reaches this
    floor_from: float | None = None  # the cut: the floor is decided on the scene, midway to its surest polygon


@dataclass
class PolygonizeReport:
    """What polygonize wrote and what it dropped, by reason."""

    kept: int = 0
    dropped: dict[str, int] = field(default_factory=dict)
    holes_filled: int = 0
    surest: float | None = None  # the surest polygon's mean probability, when the scene decided the floor

    def drop(self, reason: str) -> None:
        self.dropped[reason] = self.dropped.get(reason, 0) + 1


@dataclass
class Cleaned:
    """A polygon after cleaning, with its true area and perimeter."""

    geometry: ogr.Geometry
    area_m2: float
    perimeter_m: float
    holes_filled: int


@gdal_checked
def polygonize(mask_tif: Path, prob_tif: Path, out_gpkg: Path, layer: str, options: VectorizeOptions, *,
               source: str, model: str, progress: Progress | None = None) -> PolygonizeReport:
    """Polygonize the 1-pixels of `mask_tif` into `out_gpkg` with area, perimeter and probability statistics."""
    progress = reader_progress(progress)
    mask_ds = gdal.Open(str(mask_tif))
    srs = srs_from_wkt(mask_ds.GetProjection(), "probability raster")
    gt: GeoTransform = mask_ds.GetGeoTransform()
    raw_ds, raw = _raw_polygons(mask_ds.GetRasterBand(1), srs, GdalStop(progress, span=(0.0, 0.4)))
    check_cancelled(progress)
    progress.set_fraction(0.4)
    laea = equal_area_srs(_extent(gt, mask_ds.RasterXSize, mask_ds.RasterYSize), srs)
    cleaner = Cleaner(options, osr.CoordinateTransformation(srs, laea))
    speck = _speck_area(gt, mask_ds.RasterXSize, mask_ds.RasterYSize, cleaner.to_m, options.min_area_m2)
    zonal = Zonal(prob_tif, srs)
    report = PolygonizeReport()
    scene = SceneFloor(options.floor_from) if options.floor_from is not None else None
    with _LayerWriter(out_gpkg, layer, srs, source, model) as writer:
        n_raw = max(raw.GetFeatureCount(), 1)
        for i, feature in enumerate(raw):
            if i % 200 == 0:
                check_cancelled(progress)
                progress.set_fraction(0.4 + 0.6 * i / n_raw)
            geometry = feature.GetGeometryRef()
            if geometry.GetGeometryRef(0).GetArea() < speck:  # its outer ring, holes filled, is still too small
                report.drop(DROP_SMALL)
                continue
            candidate = _candidate(geometry, cleaner, zonal, options, report)
            if candidate is None:
                continue
            if scene is None:
                _write(candidate, writer, report)
            elif not scene.offer(candidate):
                report.drop(DROP_UNSURE)
        if scene is not None:
            report.surest = scene.surest
            for candidate in scene.pending:
                if candidate.mean_p >= scene.floor:
                    _write(candidate, writer, report)
                else:
                    report.drop(DROP_UNSURE)
    report.kept = writer.count
    del raw_ds
    return report


@dataclass
class Candidate:
    """A cleaned polygon and its probability statistics, not yet written."""

    cleaned: Cleaned
    mean_p: float
    max_p: float


class SceneFloor:
    """The minimum mean probability decided on the scene: midway between the cut and the surest polygon.

    The floor only rises as surer polygons come, so a polygon below the floor of the moment is dropped at once and
    only the candidates above it are held until the end (few: the lukewarm specks never are)."""

    def __init__(self, cut: float) -> None:
        self.cut = cut
        self.surest: float | None = None
        self.pending: list[Candidate] = []

    @property
    def floor(self) -> float:
        return 0.0 if self.surest is None else scene_floor(self.cut, self.surest)

    def offer(self, candidate: Candidate) -> bool:
        """Hold the candidate when it reaches the floor of the moment; False when it is already below."""
        if candidate.mean_p == candidate.mean_p and (self.surest is None or candidate.mean_p > self.surest):
            self.surest = candidate.mean_p  # NaN (no pixel centre inside) never sets it
        if not candidate.mean_p >= self.floor:
            return False
        self.pending.append(candidate)
        return True


def _candidate(geometry: ogr.Geometry, cleaner: Cleaner, zonal: Zonal, options: VectorizeOptions,
               report: PolygonizeReport) -> Candidate | None:
    """Clean one raw polygon and measure it, or count why it was dropped (None)."""
    cleaned = cleaner.clean(geometry)
    if isinstance(cleaned, str):
        report.drop(cleaned)
        return None
    mean_p, max_p = zonal.stats(cleaned.geometry)
    if options.seed_threshold is not None and not max_p >= options.seed_threshold:
        report.drop(DROP_WEAK)
        return None
    if options.min_mean_prob > 0 and not mean_p >= options.min_mean_prob:
        report.drop(DROP_UNSURE)
        return None
    return Candidate(cleaned, mean_p, max_p)


def _write(candidate: Candidate, writer: _LayerWriter, report: PolygonizeReport) -> None:
    report.holes_filled += candidate.cleaned.holes_filled
    writer.add(candidate.cleaned, candidate.mean_p, candidate.max_p)


def _raw_polygons(band: gdal.Band, srs: osr.SpatialReference, stop: GdalStop) -> tuple[ogr.DataSource, ogr.Layer]:
    """The mask's regions as polygons in an in-memory layer.

    4-connected (GDAL's default): rings that touch only at a pixel corner stay separate polygons, so the output is
    valid by construction; 8-connected rings touch themselves and need MakeValid, which is very slow on the huge
    speckled polygons a noisy model or a low threshold produces."""
    mem = ogr.GetDriverByName("Memory").CreateDataSource("raw")
    raw = mem.CreateLayer("raw", srs, ogr.wkbPolygon)
    raw.CreateField(ogr.FieldDefn("v", ogr.OFTInteger))
    try:
        with hold_signals():  # a signal's stop is raised after GDAL has stopped, never inside its callback
            gdal.Polygonize(band, band, raw, 0, [], callback=stop)  # stoppable: a cancel or a signal ends it
    except RuntimeError as exc:
        stop.reraise(exc)
        raise
    return mem, raw


class Cleaner:
    """Repairs, fills small holes, simplifies and measures a polygon; answers a drop reason instead when the
    result is empty or smaller than the minimum area."""

    def __init__(self, options: VectorizeOptions, to_metres: osr.CoordinateTransformation) -> None:
        self.options, self.to_m = options, to_metres

    def clean(self, geometry: ogr.Geometry) -> Cleaned | str:
        # an invalid polygon (rare with 4-connectivity) is repaired rather than written invalid
        geom = geometry.Clone() if validity_reason(geometry) is None else polygonal(geometry.MakeValid())
        filled = 0
        if geom is not None and self.options.fill_holes_m2 > 0:
            geom, filled = fill_holes(geom, self.options.fill_holes_m2, self.to_m)
        if geom is not None and self.options.simplify > 0:
            geom = geom.SimplifyPreserveTopology(self.options.simplify)
            if validity_reason(geom) is not None:
                geom = polygonal(geom.MakeValid())
        if geom is None or geom.IsEmpty():
            return DROP_EMPTY
        metric = geom.Clone()
        metric.Transform(self.to_m)
        area = metric.GetArea()
        if area <= 0:
            return DROP_EMPTY
        if area < self.options.min_area_m2 * (1 - AREA_TOLERANCE):
            return DROP_SMALL
        return Cleaned(geom, area, metric.Boundary().Length(), filled)


def fill_holes(geom: ogr.Geometry, max_area_m2: float, to_m: osr.CoordinateTransformation) -> tuple[ogr.Geometry, int]:
    """Fill the holes smaller than `max_area_m2` (true area) in a Polygon or each part of a MultiPolygon; also
    returns how many were filled."""
    if ogr.GT_Flatten(geom.GetGeometryType()) == ogr.wkbPolygon:
        return _fill_polygon_holes(geom, max_area_m2, to_m)
    out = ogr.Geometry(ogr.wkbMultiPolygon)
    filled = 0
    for i in range(geom.GetGeometryCount()):
        part, n = _fill_polygon_holes(geom.GetGeometryRef(i), max_area_m2, to_m)
        out.AddGeometry(part)
        filled += n
    return out, filled


def _fill_polygon_holes(geom: ogr.Geometry, max_area_m2: float, to_m: osr.CoordinateTransformation
                        ) -> tuple[ogr.Geometry, int]:
    out = ogr.Geometry(ogr.wkbPolygon)
    out.AddGeometry(geom.GetGeometryRef(0).Clone())
    filled = 0
    for r in range(1, geom.GetGeometryCount()):
        ring = geom.GetGeometryRef(r)
        probe = ogr.Geometry(ogr.wkbPolygon)
        probe.AddGeometry(ring.Clone())
        probe.Transform(to_m)
        if probe.GetArea() >= max_area_m2:
            out.AddGeometry(ring.Clone())
        else:
            filled += 1
    return out, filled


SPECK_MARGIN = 0.8  # a raw region is dropped unmeasured below this share of the minimum area (see _speck_area)


def _speck_area(gt: GeoTransform, width: int, height: int, to_m: osr.CoordinateTransformation,
                min_area_m2: float) -> float:
    """The area, in the grid's own units, under which a raw region is dropped without being cleaned or measured:
    a noisy model's millions of one-pixel specks cost most of the post-processing (8 of 9 minutes on a 38 Mpx
    scene). The minimum area is taken at the scene's centre pixel, with a wide margin for the projection's scale
    changing across the scene; regions near the minimum are measured exactly by the Cleaner."""
    if min_area_m2 <= 0:
        return 0.0
    x, y = gt[0] + gt[1] * width / 2, gt[3] + gt[5] * height / 2
    pixel = ogr.CreateGeometryFromWkt(f"POLYGON(({x} {y},{x + gt[1]} {y},{x + gt[1]} {y + gt[5]},{x} {y + gt[5]},"
                                      f"{x} {y}))")
    planar = abs(gt[1] * gt[5])
    pixel.Transform(to_m)
    true = pixel.GetArea()
    return 0.0 if true <= 0 else SPECK_MARGIN * min_area_m2 * planar / true


def _extent(gt: GeoTransform, width: int, height: int) -> tuple[float, float, float, float]:
    xs = (gt[0], gt[0] + gt[1] * width)
    ys = (gt[3], gt[3] + gt[5] * height)
    return min(xs), min(ys), max(xs), max(ys)


class Zonal:
    """Mean and max probability of the pixels whose centres fall in a polygon (read over its bounding box only).

    One in-memory layer is reused for every polygon; a polygon that fills its bounding box (a rectangle, as most
    specks are) needs no rasterization at all."""

    def __init__(self, prob_tif: Path, srs: osr.SpatialReference) -> None:
        self.ds = gdal.Open(str(prob_tif))
        self.band = self.ds.GetRasterBand(1)
        self.gt: GeoTransform = self.ds.GetGeoTransform()
        self.wkt = srs.ExportToWkt()
        self.layer_ds = ogr.GetDriverByName("Memory").CreateDataSource("zonal")
        self.layer = self.layer_ds.CreateLayer("zonal", srs, ogr.wkbUnknown)
        self.mem = gdal.GetDriverByName("MEM")

    def stats(self, geom: ogr.Geometry) -> tuple[float, float]:
        """Mean and max probability over the polygon (NaN, NaN where no pixel centre falls in it)."""
        sel = self.values(geom)
        if sel is None:
            return float("nan"), float("nan")
        return float(sel.mean()), float(sel.max())

    def values(self, geom: ogr.Geometry) -> NDArray[Any] | None:
        """The probabilities of the pixels whose centres fall in the polygon; None when there is none."""
        gt = self.gt
        minx, maxx, miny, maxy = geom.GetEnvelope()
        # columns and rows of the envelope's corners, in whichever direction the grid runs (a south-up raster's
        # rows go north: its pixel height is positive)
        cols = sorted(((minx - gt[0]) / gt[1], (maxx - gt[0]) / gt[1]))
        rows = sorted(((maxy - gt[3]) / gt[5], (miny - gt[3]) / gt[5]))
        c0, c1 = max(int(np.floor(cols[0])), 0), min(int(np.ceil(cols[1])), self.band.XSize)
        r0, r1 = max(int(np.floor(rows[0])), 0), min(int(np.ceil(rows[1])), self.band.YSize)
        if c1 <= c0 or r1 <= r0:
            return None
        values = self.band.ReadAsArray(c0, r0, c1 - c0, r1 - r0)
        if abs(geom.GetArea() - (maxx - minx) * (maxy - miny)) <= 1e-9 * geom.GetArea():
            return np.asarray(values.ravel())  # the polygon is its (pixel-aligned) bounding box
        inside = self._burn(geom, (gt[0] + c0 * gt[1], gt[1], 0, gt[3] + r0 * gt[5], 0, gt[5]), c1 - c0, r1 - r0)
        return np.asarray(values[inside]) if inside.any() else None

    def _burn(self, geom: ogr.Geometry, gt: GeoTransform, width: int, height: int) -> NDArray[Any]:
        raster = self.mem.Create("", width, height, 1, gdal.GDT_Byte)
        raster.SetGeoTransform(gt)
        raster.SetProjection(self.wkt)
        feature = ogr.Feature(self.layer.GetLayerDefn())
        feature.SetGeometry(geom)
        self.layer.CreateFeature(feature)
        try:
            gdal.RasterizeLayer(raster, [1], self.layer, burn_values=[1])
        finally:
            self.layer.DeleteFeature(feature.GetFID())
        return np.asarray(raster.GetRasterBand(1).ReadAsArray().astype(bool))


class _LayerWriter:
    """The output GeoPackage layer with its fields, written in one transaction."""

    def __init__(self, path: Path, layer: str, srs: osr.SpatialReference, source: str, model: str) -> None:
        self.ds = ogr.GetDriverByName("GPKG").CreateDataSource(str(path))
        self.layer = self.ds.CreateLayer(layer, srs, ogr.wkbMultiPolygon, ["GEOMETRY_NAME=geom"])
        for name, kind in FIELDS:
            self.layer.CreateField(ogr.FieldDefn(name, kind))
        self.source, self.model, self.count = source, model, 0
        defn = self.layer.GetLayerDefn()
        self.index = {name: defn.GetFieldIndex(name) for name, _ in FIELDS}

    def __enter__(self) -> _LayerWriter:
        self.layer.StartTransaction()
        return self

    def __exit__(self, *exc: object) -> None:
        self.layer.CommitTransaction()
        self.layer = None
        self.ds = None

    def add(self, cleaned: Cleaned, mean_prob: float, max_prob: float) -> None:
        self.count += 1
        f = ogr.Feature(self.layer.GetLayerDefn())
        f.SetGeometry(ogr.ForceToMultiPolygon(cleaned.geometry))
        for name, value in (("id", self.count), ("area_m2", cleaned.area_m2), ("perimeter_m", cleaned.perimeter_m),
                            ("mean_prob", mean_prob), ("max_prob", max_prob), ("source", self.source),
                            ("model", self.model)):
            f.SetField(self.index[name], value)
        self.layer.CreateFeature(f)


def label_components(mask: NDArray[Any]) -> tuple[NDArray[Any], int]:
    """The 4-connected components of a 2-D boolean mask (the connectivity polygonize uses): an int32 array of
    labels 1..n (0 outside) and n. GDAL polygonizes the mask and burns each polygon back with its label."""
    height, width = mask.shape
    labels = np.zeros((height, width), np.int32)
    if not mask.any():
        return labels, 0
    grid = (0.0, 1.0, 0.0, float(height), 0.0, -1.0)
    srs = srs_from_epsg(3857)  # any projected CRS: pixel units, and no warning from the rasterizer
    src = gdal.GetDriverByName("MEM").Create("", width, height, 1, gdal.GDT_Byte)
    src.SetGeoTransform(grid)
    src.SetProjection(srs.ExportToWkt())
    band = src.GetRasterBand(1)
    band.WriteArray(mask.astype(np.uint8))
    layer_ds = ogr.GetDriverByName("Memory").CreateDataSource("components")
    layer = layer_ds.CreateLayer("components", srs, ogr.wkbPolygon)
    layer.CreateField(ogr.FieldDefn("label", ogr.OFTInteger))
    gdal.Polygonize(band, band, layer, -1, [])
    for n, feature in enumerate(layer, start=1):
        feature.SetField("label", n)
        layer.SetFeature(feature)
    out = gdal.GetDriverByName("MEM").Create("", width, height, 1, gdal.GDT_Int32)
    out.SetGeoTransform(grid)
    out.SetProjection(srs.ExportToWkt())
    gdal.RasterizeLayer(out, [1], layer, options=["ATTRIBUTE=label"])
    labels[:] = out.GetRasterBand(1).ReadAsArray()
    return labels, layer.GetFeatureCount()
