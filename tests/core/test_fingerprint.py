"""core.fingerprint: an area's files changed in place show; QGIS's side files and a copy elsewhere do not."""

from __future__ import annotations

import shutil

import numpy as np
from osgeo import ogr

from lmhld_qgis.core.fingerprint import _sample_windows, inventory_fingerprint, raster_fingerprint

from ..helpers import square, write_polygons, write_raster


def test_raster_fingerprint_follows_pixels_and_grid_not_side_files_or_place(tmp_path):
    data = np.arange(3 * 200 * 300, dtype=np.float32).reshape(3, 200, 300)
    scene = write_raster(tmp_path / "scene.tif", data)
    before = raster_fingerprint(scene)
    (tmp_path / "scene.tif.aux.xml").write_text("<PAMDataset/>")  # QGIS's statistics beside it
    copy = tmp_path / "elsewhere" / "scene.tif"
    copy.parent.mkdir()
    shutil.copy(scene, copy)
    assert raster_fingerprint(scene) == raster_fingerprint(copy) == before
    edited = data.copy()
    edited[1, 150, 250] += 1  # one pixel of one band (a small raster is sampled whole)
    assert raster_fingerprint(write_raster(tmp_path / "scene.tif", edited)) != before
    assert raster_fingerprint(write_raster(tmp_path / "moved.tif", data, origin=(500003.0, 4000000.0))) != before


def test_sample_windows_cover_a_small_raster_and_spread_over_a_large_one():
    small = _sample_windows(300, 200)
    covered = np.zeros((200, 300), bool)
    for c, r, w, h in small:
        covered[r:r + h, c:c + w] = True
    assert covered.all()
    large = _sample_windows(40_000, 30_000)
    assert len(large) == 64 and all(w == h == 128 for *_, w, h in large)
    assert large[0][:2] == (0, 0) and large[-1][:2] == (40_000 - 128, 30_000 - 128)  # corners to corners


def test_inventory_fingerprint_follows_features_attributes_and_crs(tmp_path):
    def inventory(name, wkts, types=("slide", "flow"), epsg=32618):
        return write_polygons(tmp_path / name, wkts, epsg=epsg, fields={"type": list(types)})

    shapes = [square(0, 0, 10), square(20, 0, 10)]
    base = inventory_fingerprint(inventory("a.gpkg", shapes))
    assert inventory_fingerprint(inventory("same.gpkg", shapes)) == base
    assert inventory_fingerprint(inventory("vertex.gpkg", [square(0, 0, 11), square(20, 0, 10)])) != base
    assert inventory_fingerprint(inventory("attr.gpkg", shapes, types=("slide", "fall"))) != base
    assert inventory_fingerprint(inventory("crs.gpkg", shapes, epsg=32619)) != base
    ds = ogr.Open(str(tmp_path / "a.gpkg"), 1)  # an annotator deletes one polygon and saves
    lyr = ds.GetLayer(0)
    lyr.DeleteFeature(lyr.GetNextFeature().GetFID())
    ds = None
    assert inventory_fingerprint(tmp_path / "a.gpkg") != base
