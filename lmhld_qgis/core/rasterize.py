"""Burn an inventory onto any window of a raster grid, one window at a time (memory bounded by the window)."""

from __future__ import annotations

import contextlib
import uuid

import numpy as np
from osgeo import gdal, ogr, osr

from .grid import Affine6, Window, window_bounds, window_transform
from .vector import PolygonSet

gdal.UseExceptions()


class InventoryBurner:
    """The inventory reprojected once into the raster's CRS, in an in-memory GeoPackage whose R-tree index makes
    each window's lookup cheap whatever the inventory's size. One burner per thread (OGR is not thread-safe)."""

    def __init__(self, polygons: PolygonSet, raster_srs: osr.SpatialReference, transform: Affine6) -> None:
        self.transform = transform
        self.path = f"/vsimem/lmhld-burner-{uuid.uuid4().hex}.gpkg"
        self._ds = ogr.GetDriverByName("GPKG").CreateDataSource(self.path)
        self.layer = self._ds.CreateLayer("inventory", raster_srs, ogr.wkbMultiPolygon, ["SPATIAL_INDEX=YES"])
        ct = None if polygons.srs.IsSame(raster_srs) else osr.CoordinateTransformation(polygons.srs, raster_srs)
        defn = self.layer.GetLayerDefn()
        self.layer.StartTransaction()
        for geom in polygons.geometries:
            g = geom.Clone()
            if ct is not None:
                g.Transform(ct)
            feat = ogr.Feature(defn)
            feat.SetGeometry(ogr.ForceToMultiPolygon(g))
            self.layer.CreateFeature(feat)
        self.layer.CommitTransaction()
        self._wkt = raster_srs.ExportToWkt()

    def extent(self) -> tuple[float, float, float, float]:
        xmin, xmax, ymin, ymax = self.layer.GetExtent()
        return xmin, ymin, xmax, ymax

    def count_in(self, window: Window) -> int:
        """Polygons whose envelope meets the window (0 means the window holds no landslide)."""
        xmin, ymin, xmax, ymax = window_bounds(self.transform, window)
        self.layer.SetSpatialFilterRect(xmin, ymin, xmax, ymax)
        n = self.layer.GetFeatureCount()
        self.layer.SetSpatialFilter(None)
        return n

    def burn(self, window: Window) -> np.ndarray:
        """A (height, width) uint8 mask, 1 where a polygon covers the pixel centre."""
        mem = gdal.GetDriverByName("MEM").Create("", window.width, window.height, 1, gdal.GDT_Byte)
        a, b, c, d, e, f = window_transform(self.transform, window)
        mem.SetGeoTransform((c, a, b, f, d, e))  # GDAL order
        mem.SetProjection(self._wkt)
        xmin, ymin, xmax, ymax = window_bounds(self.transform, window)
        self.layer.SetSpatialFilterRect(xmin, ymin, xmax, ymax)
        try:
            if self.layer.GetFeatureCount():
                gdal.RasterizeLayer(mem, [1], self.layer, burn_values=[1])
        finally:
            self.layer.SetSpatialFilter(None)
        return mem.GetRasterBand(1).ReadAsArray()

    def close(self) -> None:
        if self._ds is not None:
            self._ds = None
            self.layer = None
            gdal.Unlink(self.path)

    def __del__(self) -> None:
        with contextlib.suppress(Exception):
            self.close()
