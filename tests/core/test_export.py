"""Patch export on generated scenes: pixels where the transform says, filters, splits, layout, atomicity."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
import rasterio
from osgeo import gdal, ogr

from lmhld_qgis.core.errors import CancelledError, LmhldError
from lmhld_qgis.core.export import ExportOptions, export_patches, patch_size_from_report
from lmhld_qgis.core.synthetic import make_scene

from ..helpers import square, write_polygons, write_raster


@pytest.fixture(scope="module")
def scene(tmp_path_factory):
    # 1000 x 1100 px: not a multiple of 64, so the last row and column of windows run past the image;
    # a nodata box in the top-left corner.
    return make_scene(tmp_path_factory.mktemp("scene"), width=1100, height=1000, n_landslides=160, seed=2,
                      nodata_box=(0, 0, 150, 150))


@pytest.fixture(scope="module")
def exported(scene, tmp_path_factory):
    # The paper's recipe: these tests check its filter, grid and split exactly (the default recipe's are in
    # test_export_recipes.py).
    out = tmp_path_factory.mktemp("ds") / "area"
    return export_patches([scene.raster], scene.inventory, out,
                          ExportOptions(patch_size=64, name="synthetic-area", recipe="paper"))


def test_layout_and_card(exported):
    root, card = exported.out_dir, exported.card
    assert {p.name for p in root.iterdir()} == {"dataset.json", "img", "mask", "splits", "patches.gpkg", "patches.qml",
                                                ".lmhld-manifest.json"}  # the manifest: what overwrite may replace
    on_disk = json.loads((root / "dataset.json").read_text())
    assert on_disk == card
    for key in ("name", "sensor", "resolution_m", "crs", "bands", "patch_size", "stride", "min_fraction", "counts",
                "landslide_proportion", "mean", "std", "sources", "seed", "version"):
        assert key in card
    assert card["bands"] == ["blue", "green", "red", "nir"] and card["resolution_m"] == pytest.approx(3.0)
    ids = {s: (root / "splits" / f"{s}.txt").read_text().split() for s in ("train", "val", "test")}
    all_ids = [i for split_ids in ids.values() for i in split_ids]
    assert len(all_ids) == len(set(all_ids)) == len(list((root / "img").iterdir()))
    n = len(all_ids)
    assert [len(ids[s]) for s in ("train", "val", "test")] == [round(n * 0.7 + 0.49), *[len(ids[s]) for s in
                                                                                     ("val", "test")]]
    props = card["landslide_proportion"].values()
    assert max(props) - min(props) <= 0.01


def test_every_patch_matches_the_source_pixels(scene, exported):
    root = exported.out_dir
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        src = rasterio.open(scene.raster)
        full = src.read()
        inv_t = ~src.transform
        for path in sorted((root / "img").glob("*.tif")):
            with rasterio.open(path) as p:
                col, row = (round(v) for v in inv_t * (p.transform.c, p.transform.f))
                assert p.crs == src.crs and p.dtypes[0] == src.dtypes[0]
                assert np.array_equal(p.read(), full[:, row:row + 64, col:col + 64]), path.name
            with rasterio.open(root / "mask" / path.name) as m:
                mask = m.read(1)
                assert m.transform == p.transform and mask.dtype == np.uint8 and set(np.unique(mask)) <= {0, 1}
                assert mask.mean() >= 0.10
                assert row >= 150 or col >= 150  # nothing from the nodata corner
                assert row + 64 <= 1000 and col + 64 <= 1100  # nothing past the image
        src.close()


def test_drops_are_counted_by_reason(exported):
    dropped = exported.card["dropped"]
    assert dropped["boundary"] == 16 + 18 - 1  # last row (18 windows) and last column (16) of a 16 x 18 grid
    assert dropped["nodata"] > 0 and dropped["below_min_fraction"] > 0 and dropped["no_landslide"] > 0
    kept = sum(exported.counts.values())
    assert kept + sum(dropped.values()) == 16 * 18


def test_train_statistics_match_the_train_patches(exported):
    root = exported.out_dir
    ids = (root / "splits" / "train.txt").read_text().split()
    stack = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for pid in ids:
            with rasterio.open(root / "img" / f"{pid}.tif") as p:
                stack.append(p.read().reshape(4, -1).astype(np.float64))
    pixels = np.concatenate(stack, axis=1)
    assert np.allclose(exported.card["mean"], pixels.mean(axis=1), rtol=1e-9)
    assert np.allclose(exported.card["std"], pixels.std(axis=1), rtol=1e-9)


def test_footprints_layer(exported):
    ds = ogr.Open(str(exported.out_dir / "patches.gpkg"))
    lyr = ds.GetLayer("patches")
    names = [lyr.GetLayerDefn().GetFieldDefn(i).GetName() for i in range(lyr.GetLayerDefn().GetFieldCount())]
    assert names == ["id", "split", "landslide_fraction", "source", "row", "col", "kind"]
    assert lyr.GetFeatureCount() == sum(exported.counts.values())
    feat = lyr.GetNextFeature()
    assert feat.GetGeometryRef().GetArea() == pytest.approx((64 * 3.0) ** 2)


def test_inventory_in_another_crs_is_reprojected(scene, exported, tmp_path):
    geo = tmp_path / "inv4326.gpkg"
    gdal.VectorTranslate(str(geo), str(scene.inventory), dstSRS="EPSG:4326", reproject=True)
    other = export_patches([scene.raster], geo, tmp_path / "ds", ExportOptions(patch_size=64, recipe="paper"))
    a = sorted(p.name for p in (exported.out_dir / "img").iterdir())
    b = sorted(p.name for p in (other.out_dir / "img").iterdir())
    assert abs(len(a) - len(b)) <= 2 and len(set(a) & set(b)) >= len(a) - 2  # edge pixels may flip


def test_band_selection_and_bad_band(scene, tmp_path):
    rep = export_patches([scene.raster], scene.inventory, tmp_path / "ds",
                         ExportOptions(patch_size=128, bands=[4, 3, 2], min_fraction=0.05))
    assert rep.card["bands"] == ["nir", "red", "green"]
    one = export_patches(scene.raster, scene.inventory, tmp_path / "one", ExportOptions(patch_size=128, bands=[1]))
    assert one.card["bands"] == ["blue"]  # a raster given alone, not in a list
    with pytest.raises(LmhldError, match=r"has 4 band\(s\); band\(s\) \[7\] do not exist"):
        export_patches([scene.raster], scene.inventory, tmp_path / "ds2", ExportOptions(patch_size=64, bands=[7]))
    assert not (tmp_path / "ds2").exists()


def test_non_square_pixels_handled_and_rotated_grid_refused(tmp_path):
    data = np.full((1, 256, 256), 100, np.uint16)
    data[0, 64:128, 64:128] = 900
    x, y = 500_000.0, 4_000_000.0
    inv = write_polygons(tmp_path / "inv.gpkg", [f"POLYGON(({x + 3 * 64} {y - 2 * 64},{x + 3 * 128} {y - 2 * 64},"
                                                 f"{x + 3 * 128} {y - 2 * 128},{x + 3 * 64} {y - 2 * 128},"
                                                 f"{x + 3 * 64} {y - 2 * 64}))"])
    ok = write_raster(tmp_path / "ok.tif", data, pixel=(3.0, -2.0), origin=(x, y))
    rep = export_patches([ok], inv, tmp_path / "ds", ExportOptions(patch_size=64, split=(1, 0, 0), recipe="paper"))
    assert rep.counts == {"train": 1, "val": 0, "test": 0}
    with rasterio.open(next((tmp_path / "ds" / "img").iterdir())) as p:
        assert p.read().min() == 900 and p.transform.a == 3.0 and p.transform.e == -2.0
    rotated = write_raster(tmp_path / "rot.tif", data, rotation=(0.5, 0.5), origin=(x, y))
    with pytest.raises(LmhldError, match="rotated or sheared"):
        export_patches([rotated], inv, tmp_path / "ds_rot", ExportOptions(patch_size=64))


def test_nothing_left_behind_on_failure_or_cancel(scene, tmp_path):
    far = write_polygons(tmp_path / "far.gpkg", [square(0, 0, 50)])  # does not overlap the scene: said before
    with pytest.raises(LmhldError, match=r"no polygon of the inventory .* overlaps raster .*; check that both cover "
                                         r"the same area and that their CRSs are right"):  # the scan, not after it
        export_patches([scene.raster], far, tmp_path / "ds", ExportOptions(patch_size=64))
    assert not (tmp_path / "ds").exists()

    class CancelSoon:
        calls = 0

        def set_fraction(self, f): pass
        def info(self, m): pass
        def warn(self, m): pass

        def is_cancelled(self):
            self.calls += 1
            return self.calls > 2

    with pytest.raises(CancelledError):
        export_patches([scene.raster], scene.inventory, tmp_path / "ds", ExportOptions(patch_size=32),
                       progress=CancelSoon())
    assert list(tmp_path.iterdir()) == [tmp_path / "far.gpkg"]


def test_refuses_non_empty_folder_unless_asked(scene, tmp_path):
    out = tmp_path / "ds"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    with pytest.raises(LmhldError, match="not empty"):
        export_patches([scene.raster], scene.inventory, out, ExportOptions(patch_size=64))
    assert (out / "keep.txt").read_text() == "mine"
    with pytest.raises(LmhldError, match=r"holds files lmhld did not write \(keep.txt\)"):
        export_patches([scene.raster], scene.inventory, out, ExportOptions(patch_size=64, overwrite=True))
    assert [p.name for p in out.iterdir()] == ["keep.txt"]  # overwrite never deletes what lmhld did not write
    (out / "keep.txt").unlink()
    export_patches([scene.raster], scene.inventory, out, ExportOptions(patch_size=64))
    export_patches([scene.raster], scene.inventory, out,
                   ExportOptions(patch_size=64, overwrite=True, seed=1, recipe="paper"))
    assert json.loads((out / "dataset.json").read_text())["seed"] == 1  # a folder lmhld wrote is replaced


def test_patch_size_from_analysis_report(tmp_path):
    (tmp_path / "r.json").write_text(json.dumps({"recommended_patch_sizes": [64, 128, 224]}))
    assert patch_size_from_report(tmp_path / "r.json") == 128
    assert patch_size_from_report(tmp_path / "r.json", "q3") == 224


def test_rasters_stacked_in_another_band_order_are_read_by_name(tmp_path):
    # A second area stacked dsm, red, green, blue beside a first of red, green, blue, dsm: its patches must hold red
    # under "red" (the probe found the DSM there, which training then normalised as colour).
    x, y = 500_000.0, 4_000_000.0
    first = np.stack([np.full((128, 128), v, np.float32) for v in (10, 20, 30, 400)])
    second = np.stack([np.full((128, 128), v, np.float32) for v in (401, 11, 21, 31)])
    a = write_raster(tmp_path / "a.tif", first, origin=(x, y), descriptions=["red", "green", "blue", "dsm"])
    b = write_raster(tmp_path / "b.tif", second, origin=(x + 3 * 200, y), descriptions=["dsm", "red", "green", "blue"])
    inv = write_polygons(tmp_path / "inv.gpkg", [square(x + 3 * 16, y - 3 * 48, 3 * 32),
                                                 square(x + 3 * 216, y - 3 * 48, 3 * 32)])
    options = ExportOptions(patch_size=64, split=(1, 0, 0), recipe="paper")
    rep = export_patches([a, b], inv, tmp_path / "ds", options)
    assert rep.card["bands"] == ["red", "green", "blue", "dsm"]
    firsts = set()
    for path in (tmp_path / "ds" / "img").glob("*.tif"):
        with rasterio.open(path) as p:
            red, green, blue, dsm = (float(p.read(i).mean()) for i in (1, 2, 3, 4))
        assert (green, blue, dsm) == (red + 10, red + 20, red + 390), path.name
        firsts.add(red)
    assert firsts == {10.0, 11.0}  # patches from both rasters
    for k, names in enumerate((["h", "r", "g", "b"], ["p", "q", "s", "t"])):
        other = write_raster(tmp_path / f"c{k}.tif", second, origin=(x + 3 * 200, y), descriptions=names)
        with pytest.raises(LmhldError, match=rf"c{k}\.tif .*(without dsm|names its bands).*need the same bands"):
            export_patches([a, other], inv, tmp_path / "ds2", options)
        assert not (tmp_path / "ds2").exists()


def test_windows_lost_to_holes_in_one_band_are_counted_by_band(tmp_path):
    # A stacked scene whose DSM has a small hole: the whole window is lost to it, and export says which band held
    # the nodata (and the fix), apart from a window outside the flight (nodata in every band).
    x, y = 500_000.0, 4_000_000.0
    data = np.stack([np.full((128, 192), v, np.float32) for v in (10, 20, 30, 400)])
    data[3, 10:12, 10:12] = np.nan  # DSM hole in window (0, 0)
    data[:, 70:80, 70:80] = np.nan  # nothing at all in window (1, 1)
    scene = write_raster(tmp_path / "scene.tif", data, origin=(x, y), descriptions=["red", "green", "blue", "dsm"])
    inv = write_polygons(tmp_path / "inv.gpkg", [square(x + 3 * (16 + 64 * c), y - 3 * (48 + 64 * r), 3 * 32)
                                                 for r, c in ((0, 0), (1, 1), (0, 2))])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        rep = export_patches([scene], inv, tmp_path / "ds", ExportOptions(patch_size=64, split=(1, 0, 0),
                                                                          recipe="paper"))
    source = rep.card["sources"][0]
    assert source["kept"] == 1 and source["dropped"]["nodata"] == 2
    assert source["nodata_in"] == {"dsm": 1, "red, green, blue, dsm": 1}
    said = [str(w.message) for w in caught if "some bands only" in str(w.message)]
    assert said == ["1 window(s) of scene.tif that would be kept hold nodata in some bands only (1 in dsm only): fill "
                    "the holes of those bands (e.g. gdal_fillnodata.py on the surface model, then stack again) to "
                    "keep them"]
