"""Inventory analysis rate: 100,000 generated polygons (irregular 12-gons in UTM 18N), features per second.

Prints the rate and its ratio to reading the same layer alone (how much the area computation costs on top of I/O).
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np
from osgeo import ogr

from lmhld_qgis.core.inventory import analyse_inventory
from lmhld_qgis.core.vector import read_layer_wkb, srs_from_epsg

N = 100_000


def make_inventory(path: Path, n: int, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    ds = ogr.GetDriverByName("GPKG").CreateDataSource(str(path))
    lyr = ds.CreateLayer("landslides", srs_from_epsg(32618), ogr.wkbPolygon)
    angles = np.linspace(0, 2 * np.pi, 13)[:-1]
    lyr.StartTransaction()
    for _ in range(n):
        cx, cy = rng.uniform(400_000, 600_000), rng.uniform(3_900_000, 4_100_000)
        r = rng.lognormal(3.5, 0.8) * rng.uniform(0.6, 1.0, 12)
        ring = ogr.Geometry(ogr.wkbLinearRing)
        for a, rr in zip(angles, r, strict=True):
            ring.AddPoint_2D(cx + rr * np.cos(a), cy + rr * np.sin(a))
        ring.CloseRings()
        poly = ogr.Geometry(ogr.wkbPolygon)
        poly.AddGeometry(ring)
        feat = ogr.Feature(lyr.GetLayerDefn())
        feat.SetGeometry(poly)
        lyr.CreateFeature(feat)
    lyr.CommitTransaction()
    ds = None


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "inv.gpkg"
        make_inventory(path, N)
        t0 = time.perf_counter()
        read_layer_wkb(path)
        t_read = time.perf_counter() - t0
        t0 = time.perf_counter()
        report = analyse_inventory(path, pixel_size_m=3.0)
        t_all = time.perf_counter() - t0
    print(f"inventory analysis: {report.n_landslides} polygons in {t_all:.2f} s = {N / t_all:,.0f} polygons/s; "
          f"read alone {t_read:.2f} s; analysis/read time ratio {t_all / t_read:.1f}")


if __name__ == "__main__":
    main()
