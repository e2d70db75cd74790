"""Crafted inventories for validation tests: one with every kind of problem (and how many of each), one clean.

Both sit on a 200 x 200 px raster of 3 m pixels (EPSG:32618, x 500000-500600, y 3999400-4000000) whose
bottom-left 50 x 50 px are nodata.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from .helpers import square, write_polygons, write_raster

X, Y = 500_000.0, 3_999_400.0


def reference_raster(path: Path) -> Path:
    data = np.full((2, 200, 200), 100, np.uint16)
    data[:, 150:, :50] = 0
    return write_raster(path, data, nodata=0, origin=(X, Y + 600))


def _poly(*ring: tuple[float, float]) -> str:
    pts = ",".join(f"{X + x} {Y + y}" for x, y in (*ring, ring[0]))
    return f"({pts})"


# (WKT, the problem kinds this feature has)
CRAFTED: list[tuple[str | None, tuple[str, ...]]] = [
    (square(X + 100, Y + 400, 60), ()),
    (square(X + 300, Y + 400, 60), ()),
    (None, ("empty_geometry",)),
    ("POLYGON EMPTY", ("empty_geometry",)),
    (f"LINESTRING({X + 10} {Y + 10}, {X + 50} {Y + 50})", ("not_polygon",)),
    ("POLYGON(" + _poly((200, 200), (260, 260), (260, 200), (200, 260)) + ")", ("self_intersection",)),  # bow-tie
    ("POLYGON(" + _poly((300, 200), (360, 200), (360, 260), (300, 260)) + ","
     + _poly((370, 210), (380, 210), (380, 220), (370, 220)) + ")", ("invalid_geometry",)),  # hole outside shell
    (square(X + 100, Y + 400, 60), ("duplicate",)),  # a copy of the first
    (square(X + 400, Y + 200, 60), ("overlap",)),  # overlaps the next by half
    (square(X + 430, Y + 200, 60), ()),
    ("POLYGON(" + _poly((100, 300), (220, 300), (220, 301), (100, 301)) + ")", ("sliver",)),  # 120 m x 1 m
    (square(X + 500, Y + 500, 6), ("too_small",)),  # 4 px
    (square(X + 1000, Y + 400, 60), ("outside_raster",)),
    (square(X + 580, Y + 400, 60), ("outside_raster",)),  # partly
    (square(X + 30, Y + 50, 60), ("in_nodata",)),
    ("POLYGON((-74.1 3.5,-74.099 3.5,-74.099 3.501,-74.1 3.501,-74.1 3.5))", ("crs_mismatch",)),  # degrees in UTM
]

CLEAN = [square(X + 160 + 110 * i, Y + 100 + 120 * j, 50 + 5 * i) for i in range(4) for j in range(4)]


def expected_counts() -> dict[str, int]:
    counts: dict[str, int] = {}
    for _, kinds in CRAFTED:
        for kind in kinds:
            counts[kind] = counts.get(kind, 0) + 1
    return counts


def crafted_inventory(folder: Path) -> tuple[Path, Path]:
    """(inventory, raster) with every kind of problem; expected_counts() says how many of each."""
    return (write_polygons(folder / "crafted.gpkg", [w for w, _ in CRAFTED]),
            reference_raster(folder / "reference.tif"))


def clean_inventory(folder: Path) -> tuple[Path, Path]:
    return write_polygons(folder / "clean.gpkg", CLEAN), reference_raster(folder / "reference.tif")


def two_scene_inventory(kaikoura: Path, folder: Path, extra: Sequence[str] = ()) -> Path:
    """The landslides of both real Kaikoura scenes in one GeoPackage (6 on scene 69, then 9 on scene 70, fids 1-15),
    then the `extra` polygons (WKT in EPSG:32759), as an inventory spread over two scenes is."""
    from osgeo import gdal, ogr

    out = folder / "kaikoura_both.gpkg"
    for n in (69, 70):
        gdal.VectorTranslate(str(out), str(kaikoura / f"label_landslide_{n}.shp"), format="GPKG",
                             accessMode="append" if n == 70 else None, layerName="landslides",
                             geometryType="MULTIPOLYGON")
    if extra:
        ds = ogr.Open(str(out), 1)
        layer = ds.GetLayer(0)
        for wkt in extra:
            feat = ogr.Feature(layer.GetLayerDefn())
            feat.SetGeometry(ogr.ForceToMultiPolygon(ogr.CreateGeometryFromWkt(wkt)))
            layer.CreateFeature(feat)
        ds = None
    return out
