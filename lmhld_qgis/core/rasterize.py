"""Burn an inventory onto any window of a raster grid, one window at a time (memory bounded by the window)."""

from __future__ import annotations

import numpy as np
from osgeo import gdal, ogr, osr

from .grid import Affine6, Window, window_bounds, window_transform
from .vector import PolygonSet

gdal.UseExceptions()


class InventoryBurner:
    """The inventory reprojected once into the raster's CRS, in an in-memory layer with a spatial index."""

    def __init__(self, polygons: PolygonSet, raster_srs: osr.SpatialReference, transform: Affine6) -> None:
        self.transform = transform
        self._ds = ogr.GetDriverByName("Memory").CreateDataSource("inventory")
        self.layer = self._ds.CreateLayer("inventory", raster_srs, ogr.wkbMultiPolygon)
        same = polygons.srs.IsSame(raster_srs)
        ct = None if same else osr.CoordinateTransformation(polygons.srs, raster_srs)
        defn = self.layer.GetLayerDefn()
        for geom in polygons.geometries:
            g = geom.Clone()
            if ct is not None:
                g.Transform(ct)
            feat = ogr.Feature(defn)
            feat.SetGeometry(g)
            self.layer.CreateFeature(feat)

    def count_in(self, window: Window) -> int:
        """Polygons whose envelope meets the window (0 means the window holds no landslide)."""
        xmin, ymin, xmax, ymax = window_bounds(self.transform, window)
        self.layer.SetSpatialFilterRect(xmin, ymin, xmax, ymax)
        n = self.layer.GetFeatureCount()
        return n

    def burn(self, window: Window) -> np.ndarray:
        """A (height, width) uint8 mask, 1 where a polygon covers the pixel centre."""
        mem = gdal.GetDriverByName("MEM").Create("", window.width, window.height, 1, gdal.GDT_Byte)
        a, b, c, d, e, f = window_transform(self.transform, window)
        mem.SetGeoTransform((c, a, b, f, d, e))  # GDAL order
        mem.SetProjection(self.layer.GetSpatialRef().ExportToWkt())
        if self.count_in(window):
            gdal.RasterizeLayer(mem, [1], self.layer, burn_values=[1])
        self.layer.SetSpatialFilter(None)
        return mem.GetRasterBand(1).ReadAsArray()
