"""Burn an inventory onto any window of a raster grid, one window at a time (memory bounded by the window)."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
from osgeo import gdal, ogr, osr

from .grid import Affine6, Window, window_bounds, window_transform
from .vector import PolygonSet

gdal.UseExceptions()

_VALUE = "value"


class InventoryBurner:
    """The inventory reprojected once into the raster's CRS, in an in-memory GeoPackage whose R-tree index makes
    each window's lookup cheap whatever the inventory's size. One burner per thread (OGR is not thread-safe).

    `values` (1..255, one per polygon) are burnt instead of 1 when given (e.g. a class per polygon)."""

    def __init__(self, polygons: PolygonSet, raster_srs: osr.SpatialReference, transform: Affine6,
                 values: Sequence[int] | None = None) -> None:
        self.transform = transform
        self.path = f"/vsimem/lmhld-burner-{uuid.uuid4().hex}.gpkg"
        self._ds = ogr.GetDriverByName("GPKG").CreateDataSource(self.path)
        self.layer = self._ds.CreateLayer("inventory", raster_srs, ogr.wkbMultiPolygon, ["SPATIAL_INDEX=YES"])
        self._by_value = values is not None
        if values is not None:
            self.layer.CreateField(ogr.FieldDefn(_VALUE, ogr.OFTInteger))
        ct = None if polygons.srs.IsSame(raster_srs) else osr.CoordinateTransformation(polygons.srs, raster_srs)
        defn = self.layer.GetLayerDefn()
        self.layer.StartTransaction()
        for i, geom in enumerate(polygons.geometries):
            g = geom.Clone()
            if ct is not None:
                g.Transform(ct)
            feat = ogr.Feature(defn)
            feat.SetGeometry(ogr.ForceToMultiPolygon(g))
            if values is not None:
                feat.SetField(_VALUE, int(values[i]))
            self.layer.CreateFeature(feat)  # feature ids 1..n in polygon order
        self.layer.CommitTransaction()
        self._wkt = raster_srs.ExportToWkt()

    def extent(self) -> tuple[float, float, float, float]:
        xmin, xmax, ymin, ymax = self.layer.GetExtent()
        return xmin, ymin, xmax, ymax

    def count_in(self, window: Window) -> int:
        """Polygons whose envelope meets the window (0 means the window holds no landslide)."""
        xmin, ymin, xmax, ymax = window_bounds(self.transform, window)
        self.layer.SetSpatialFilterRect(xmin, ymin, xmax, ymax)
        n = int(self.layer.GetFeatureCount())
        self.layer.SetSpatialFilter(None)
        return n

    def indices_in(self, window: Window) -> list[int]:
        """0-based indices (polygon order) of the polygons whose envelope meets the window."""
        xmin, ymin, xmax, ymax = window_bounds(self.transform, window)
        self.layer.SetSpatialFilterRect(xmin, ymin, xmax, ymax)
        try:
            return [int(feat.GetFID()) - 1 for feat in self.layer]
        finally:
            self.layer.SetSpatialFilter(None)
            self.layer.ResetReading()

    def centres(self) -> list[tuple[float, float]]:
        """The centre of each polygon's envelope in raster coordinates (x, y), in polygon order."""
        out = []
        self.layer.ResetReading()
        for feat in self.layer:
            xmin, xmax, ymin, ymax = feat.GetGeometryRef().GetEnvelope()
            out.append(((xmin + xmax) / 2, (ymin + ymax) / 2))
        self.layer.ResetReading()
        return out

    def inner_points(self) -> list[tuple[float, float]]:
        """A point inside each polygon (on its surface, unlike a centroid), in raster coordinates, polygon order."""
        out = []
        self.layer.ResetReading()
        for feat in self.layer:
            point = feat.GetGeometryRef().PointOnSurface()
            out.append((point.GetX(), point.GetY()))
        self.layer.ResetReading()
        return out

    def burn(self, window: Window) -> npt.NDArray[np.uint8]:
        """A (height, width) uint8 mask, 1 (or the polygon's value) where a polygon covers the pixel centre."""
        mem = gdal.GetDriverByName("MEM").Create("", window.width, window.height, 1, gdal.GDT_Byte)
        a, b, c, d, e, f = window_transform(self.transform, window)
        mem.SetGeoTransform((c, a, b, f, d, e))  # GDAL order
        mem.SetProjection(self._wkt)
        xmin, ymin, xmax, ymax = window_bounds(self.transform, window)
        self.layer.SetSpatialFilterRect(xmin, ymin, xmax, ymax)
        try:
            if self.layer.GetFeatureCount():
                if self._by_value:
                    gdal.RasterizeLayer(mem, [1], self.layer, options=[f"ATTRIBUTE={_VALUE}"])
                else:
                    gdal.RasterizeLayer(mem, [1], self.layer, burn_values=[1])
        finally:
            self.layer.SetSpatialFilter(None)
        mask: npt.NDArray[np.uint8] = mem.GetRasterBand(1).ReadAsArray()
        return mask

    def close(self) -> None:
        if self._ds is not None:
            self._ds = None
            self.layer = None
            gdal.Unlink(self.path)

    def __del__(self) -> None:
        with contextlib.suppress(Exception):
            self.close()
