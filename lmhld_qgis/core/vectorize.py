"""Probability raster -> landslide polygons with attributes, through GDAL (Polygonize streams by rows)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from osgeo import gdal, ogr, osr

from .atomic import GdalStop, gdal_checked
from .progress import NullProgress, Progress, check_cancelled
from .vector import _polygonal, equal_area_srs, srs_from_wkt

gdal.UseExceptions()

FIELDS = (("id", ogr.OFTInteger), ("area_m2", ogr.OFTReal), ("perimeter_m", ogr.OFTReal),
          ("mean_prob", ogr.OFTReal), ("max_prob", ogr.OFTReal), ("source", ogr.OFTString), ("model", ogr.OFTString))


@dataclass
class VectorizeOptions:
    min_area_m2: float = 0.0
    fill_holes_m2: float = 0.0  # interior rings smaller than this are filled
    simplify: float = 0.0  # tolerance in CRS units (topology-preserving per polygon)


@gdal_checked
def polygonize(mask_tif: Path, prob_tif: Path, out_gpkg: Path, layer: str, options: VectorizeOptions, *,
               source: str, model: str, progress: Progress | None = None) -> int:
    """Polygonize the 1-pixels of `mask_tif` into `out_gpkg` with area, perimeter and probability statistics."""
    progress = progress or NullProgress()
    mask_ds = gdal.Open(str(mask_tif))
    band = mask_ds.GetRasterBand(1)
    srs = srs_from_wkt(mask_ds.GetProjection(), "probability raster")
    gt = mask_ds.GetGeoTransform()
    mem = ogr.GetDriverByName("Memory").CreateDataSource("raw")
    raw = mem.CreateLayer("raw", srs, ogr.wkbPolygon)
    raw.CreateField(ogr.FieldDefn("v", ogr.OFTInteger))
    # 4-connected (GDAL's default): rings that touch only at a pixel corner stay separate polygons, so the output is
    # valid by construction; 8-connected rings touch themselves and need MakeValid, which is very slow on the huge
    # speckled polygons a noisy model or a low threshold produces.
    stop = GdalStop(progress)
    try:
        gdal.Polygonize(band, band, raw, 0, [], callback=stop)
    except RuntimeError:
        stop.reraise()
        raise
    check_cancelled(progress)
    progress.set_fraction(0.4)

    laea = equal_area_srs(_extent(gt, mask_ds.RasterXSize, mask_ds.RasterYSize), srs)
    to_m = osr.CoordinateTransformation(srs, laea)
    prob_ds = gdal.Open(str(prob_tif))
    prob_band = prob_ds.GetRasterBand(1)
    out_ds = ogr.GetDriverByName("GPKG").CreateDataSource(str(out_gpkg))
    out = out_ds.CreateLayer(layer, srs, ogr.wkbMultiPolygon, ["GEOMETRY_NAME=geom"])
    for name, kind in FIELDS:
        out.CreateField(ogr.FieldDefn(name, kind))
    out.StartTransaction()
    n_raw = max(raw.GetFeatureCount(), 1)
    kept = 0
    for i, feat in enumerate(raw):
        if i % 200 == 0:
            check_cancelled(progress)
            progress.set_fraction(0.4 + 0.6 * i / n_raw)
        geom = feat.GetGeometryRef().Clone()
        if not geom.IsValid():  # rare with 4-connectivity; repaired rather than written invalid
            geom = _polygonal(geom.MakeValid())
            if geom is None:
                continue
        if options.fill_holes_m2 > 0:
            geom = _fill_holes(geom, options.fill_holes_m2, to_m)
        if options.simplify > 0:
            geom = geom.SimplifyPreserveTopology(options.simplify)
            if not geom.IsValid():
                geom = _polygonal(geom.MakeValid())
        if geom is None or geom.IsEmpty():
            continue
        metric = geom.Clone()
        metric.Transform(to_m)
        area = metric.GetArea()
        if area < options.min_area_m2 or area <= 0:
            continue
        mean_p, max_p = _zonal(prob_band, gt, geom, srs)
        kept += 1
        f = ogr.Feature(out.GetLayerDefn())
        f.SetGeometry(ogr.ForceToMultiPolygon(geom))
        for name, value in (("id", kept), ("area_m2", area), ("perimeter_m", metric.Boundary().Length()),
                            ("mean_prob", mean_p), ("max_prob", max_p), ("source", source), ("model", model)):
            f.SetField(name, value)
        out.CreateFeature(f)
    out.CommitTransaction()
    out_ds = None
    return kept


def _fill_holes(geom: ogr.Geometry, max_area_m2: float, to_m: osr.CoordinateTransformation) -> ogr.Geometry:
    """Fill small holes in a Polygon or in each part of a MultiPolygon."""
    if ogr.GT_Flatten(geom.GetGeometryType()) == ogr.wkbPolygon:
        return _fill_holes_polygon(geom, max_area_m2, to_m)
    out = ogr.Geometry(ogr.wkbMultiPolygon)
    for i in range(geom.GetGeometryCount()):
        out.AddGeometry(_fill_holes_polygon(geom.GetGeometryRef(i), max_area_m2, to_m))
    return out


def _extent(gt, width: int, height: int) -> tuple[float, float, float, float]:
    xs = (gt[0], gt[0] + gt[1] * width)
    ys = (gt[3], gt[3] + gt[5] * height)
    return min(xs), min(ys), max(xs), max(ys)


def _fill_holes_polygon(geom: ogr.Geometry, max_area_m2: float, to_m: osr.CoordinateTransformation) -> ogr.Geometry:
    """Drop interior rings whose true area is below `max_area_m2`."""
    out = ogr.Geometry(ogr.wkbPolygon)
    out.AddGeometry(geom.GetGeometryRef(0).Clone())
    for r in range(1, geom.GetGeometryCount()):
        ring = geom.GetGeometryRef(r)
        probe = ogr.Geometry(ogr.wkbPolygon)
        probe.AddGeometry(ring.Clone())
        probe.Transform(to_m)
        if probe.GetArea() >= max_area_m2:
            out.AddGeometry(ring.Clone())
    return out


def _zonal(band: gdal.Band, gt, geom: ogr.Geometry, srs) -> tuple[float, float]:
    """Mean and max probability of the pixels whose centres fall in `geom` (read over its bounding box only)."""
    minx, maxx, miny, maxy = geom.GetEnvelope()
    c0 = max(int(np.floor((minx - gt[0]) / gt[1])), 0)
    c1 = min(int(np.ceil((maxx - gt[0]) / gt[1])), band.XSize)
    r0 = max(int(np.floor((maxy - gt[3]) / gt[5])), 0)
    r1 = min(int(np.ceil((miny - gt[3]) / gt[5])), band.YSize)
    if c1 <= c0 or r1 <= r0:
        return float("nan"), float("nan")
    values = band.ReadAsArray(c0, r0, c1 - c0, r1 - r0)
    mem = gdal.GetDriverByName("MEM").Create("", c1 - c0, r1 - r0, 1, gdal.GDT_Byte)
    mem.SetGeoTransform((gt[0] + c0 * gt[1], gt[1], 0, gt[3] + r0 * gt[5], 0, gt[5]))
    mem.SetProjection(srs.ExportToWkt())
    lyr_ds = ogr.GetDriverByName("Memory").CreateDataSource("z")
    lyr = lyr_ds.CreateLayer("z", srs, ogr.wkbPolygon)
    f = ogr.Feature(lyr.GetLayerDefn())
    f.SetGeometry(geom)
    lyr.CreateFeature(f)
    gdal.RasterizeLayer(mem, [1], lyr, burn_values=[1])
    inside = mem.GetRasterBand(1).ReadAsArray().astype(bool)
    if not inside.any():
        return float("nan"), float("nan")
    sel = values[inside]
    return float(sel.mean()), float(sel.max())
