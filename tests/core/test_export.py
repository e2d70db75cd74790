"""Patch export on generated scenes: pixels where the transform says, filters, splits, layout, atomicity."""

from __future__ import annotations

import json
import re
import warnings

import numpy as np
import pytest
import rasterio
from osgeo import gdal, ogr

from lmhld_qgis.core.errors import CancelledError, LmhldError
from lmhld_qgis.core.export import ExportOptions, export_patches, patch_size_from_report, plan_patches
from lmhld_qgis.core.patch_layer import write_preview
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


def test_patch_outlines_given_as_the_inventory_are_refused_and_allowed_as_an_area(scene, exported, tmp_path):
    """After an export, QGIS proposes the outlines it just loaded as the next dialog's inventory: exported again,
    every pixel of every patch would have been trained as landslide."""
    from lmhld_qgis.core.inventory import analyse_inventory
    from lmhld_qgis.core.vector import read_polygons

    outlines = exported.out_dir / "patches.gpkg"
    with pytest.raises(LmhldError, match=r"inventory patches.gpkg holds the patch outlines that lmhld export or "
                                         r"preview wrote .* give the landslide inventory"):
        export_patches([scene.raster], outlines, tmp_path / "again", ExportOptions(patch_size=64))
    assert not (tmp_path / "again").exists()
    with pytest.raises(LmhldError, match="patch outlines"):
        analyse_inventory(outlines, pixel_size_m=3.0)
    preview = tmp_path / "preview.gpkg"
    write_preview(preview, plan_patches([scene.raster], scene.inventory, ExportOptions(patch_size=64)))
    with pytest.raises(LmhldError, match=r"negatives preview\.gpkg holds the patch outlines"):
        read_polygons(preview, role="negatives")
    assert len(read_polygons(outlines, role="area of interest").geometries) == sum(exported.counts.values())


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
    with pytest.raises(LmhldError, match=r"has 4 band\(s\); band\(s\) 7 do not exist"):
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
    # validation with that raster said "ready for export" where export refuses it
    from lmhld_qgis.core.validate import ValidateOptions, validate_inventory

    with pytest.raises(LmhldError, match="rotated or sheared geotransform; warp it to a north-up grid first"):
        validate_inventory(inv, ValidateOptions(rasters=[rotated]))


def test_a_geographic_raster_of_stretched_pixels_is_warned_of_as_detection_does(tmp_path):
    """Export from EPSG:4326 pixels 8.9 x 12 m on the ground said nothing, where detection on the same raster
    warns that every shape reaches the network stretched."""
    degrees = 10.0 / 111_195
    x, y = 173.5, -42.0
    data = np.full((1, 128, 128), 100, np.uint16)
    data[0, 32:96, 32:96] = 900
    raster = write_raster(tmp_path / "geo.tif", data, epsg=4326, origin=(x, y), pixel=(degrees, -degrees))
    d = degrees
    inv = write_polygons(tmp_path / "inv.gpkg", [f"POLYGON(({x + 40 * d} {y - 40 * d},{x + 90 * d} {y - 40 * d},"
                                                 f"{x + 90 * d} {y - 90 * d},{x + 40 * d} {y - 90 * d},"
                                                 f"{x + 40 * d} {y - 40 * d}))"], epsg=4326)
    with pytest.warns(UserWarning, match=r"geo.tif's CRS is geographic and its pixels are 7.43 x 10 m on the "
                                         r"ground, so every shape reaches the network stretched; .* to train on "
                                         r"square pixels"):
        export_patches([raster], inv, tmp_path / "ds", ExportOptions(patch_size=64, split=(1, 0, 0),
                                                                     recipe="paper"))


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
    for overwrite in (False, True):  # not "pass overwrite" first, which would then be refused too
        with pytest.raises(LmhldError, match=r"holds files lmhld did not write \(keep.txt\), which it never "):
            export_patches([scene.raster], scene.inventory, out, ExportOptions(patch_size=64, overwrite=overwrite))
    assert [p.name for p in out.iterdir()] == ["keep.txt"]  # overwrite never deletes what lmhld did not write
    (out / "keep.txt").unlink()
    export_patches([scene.raster], scene.inventory, out, ExportOptions(patch_size=64))
    with pytest.raises(LmhldError, match="not empty"):
        export_patches([scene.raster], scene.inventory, out, ExportOptions(patch_size=64))
    export_patches([scene.raster], scene.inventory, out,
                   ExportOptions(patch_size=64, overwrite=True, seed=1, recipe="paper"))
    assert json.loads((out / "dataset.json").read_text())["seed"] == 1  # a folder lmhld wrote is replaced


def test_a_patch_size_no_network_trains_on_is_said_at_export(scene):
    """A probe exported 30 px patches without a word; training refused them one step later in its model's chain."""
    from lmhld_qgis.core.export import NETWORK_SIZE_MULTIPLE
    from lmhld_qgis.core.progress import LmhldWarning
    from lmhld_qgis.models.base import DEPTH

    assert NETWORK_SIZE_MULTIPLE == 2 ** DEPTH
    with pytest.warns(LmhldWarning, match=r"patch size 40 px: lmhld's U-Nets train on sizes that divide by 16 .* "
                                          r"export 32 or 48 px instead"):
        plan_patches([scene.raster], scene.inventory, ExportOptions(patch_size=40))
    with warnings.catch_warnings(record=True) as said:
        warnings.simplefilter("always")
        plan_patches([scene.raster], scene.inventory, ExportOptions(patch_size=64))
    assert not [w for w in said if "patch size" in str(w.message)]  # a size that trains: not a word


def test_patch_size_from_analysis_report(tmp_path):
    (tmp_path / "r.json").write_text(json.dumps({"recommended_patch_sizes": [64, 128, 224]}))
    assert patch_size_from_report(tmp_path / "r.json") == 128
    assert patch_size_from_report(tmp_path / "r.json", "q3") == 224
    with pytest.raises(LmhldError, match=r"analysis report .*nope\.json does not exist; run the inventory analysis"):
        patch_size_from_report(tmp_path / "nope.json")  # was a FileNotFoundError: a traceback in QGIS


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
        with pytest.raises(LmhldError, match=rf"c{k}\.tif .*(without dsm|names its bands).*need the same bands: give "
                                             rf"c{k}\.tif the first raster's band names .*--names red,green,blue,dsm"):
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
                    "the holes of dsm (gdal_fillnodata.py on the surface model, then stack again) to keep them"]


X, Y = 500_000.0, 4_000_000.0


def _rgb_dsm(path, dsm, pixel=3.0, rgb=(10, 20, 30), descriptions=("red", "green", "blue", "dsm"), nodata=None):
    """A stacked scene of red, green, blue (constant) and the given DSM array."""
    h, w = dsm.shape
    data = np.stack([*(np.full((h, w), v, np.float32) for v in rgb), dsm.astype(np.float32)])
    return write_raster(path, data, origin=(X, Y), pixel=(pixel, -pixel), descriptions=list(descriptions),
                        nodata=nodata)


class Listen:
    """A progress that keeps what it is told."""

    def __init__(self):
        self.infos, self.warnings = [], []

    def set_fraction(self, fraction):
        pass

    def info(self, message):
        self.infos.append(message)

    def warn(self, message):
        self.warnings.append(message)

    def is_cancelled(self):
        return False


def test_rasters_of_different_pixel_sizes_are_refused_naming_each_and_the_fix(tmp_path):
    """D5: 0.5 m and 0.1 m rasters exported together gave 0.5 m in dataset.json while most patches were at 0.1 m.
    Refused, naming each raster's pixel size and how to resample; within detection's 10% they go together."""
    a = _rgb_dsm(tmp_path / "a.tif", np.full((128, 128), 400.0), pixel=0.5)
    b = _rgb_dsm(tmp_path / "b.tif", np.full((128, 128), 400.0), pixel=0.1)
    inv = write_polygons(tmp_path / "inv.gpkg", [square(X + 8, Y - 24, 16), square(X + 2, Y - 6, 3)])
    options = ExportOptions(patch_size=64, split=(1, 0, 0), recipe="paper")
    with pytest.raises(LmhldError, match=r"pixel sizes differ \(a\.tif 0\.5 m, b\.tif 0\.1 m\).*Resample the finer to "
                                         r"0\.5 m, e\.g\. `lmhld stack --raster b\.tif --pixel-size 0\.5 .*"
                                         r"`gdalwarp -tr 0\.5 0\.5 b\.tif"):
        export_patches([a, b], inv, tmp_path / "ds", options)
    assert not (tmp_path / "ds").exists()
    c = _rgb_dsm(tmp_path / "c.tif", np.full((128, 128), 400.0), pixel=0.53)
    assert export_patches([a, c], inv, tmp_path / "ds", options).card["resolution_m"] == pytest.approx(0.5)


@pytest.mark.parametrize("fill", [-32767.0, -9999.0, float(np.finfo(np.float32).min)])
def test_a_fill_value_not_declared_as_nodata_is_refused(tmp_path, fill):
    """D3: a DSM whose nodata tag was lost (its collar -32767, kept as elevation) would train the patches on the fill
    value and wreck dataset.json's statistics: refused, naming the band, the value and gdal_edit.py; the same scene
    with the value declared exports (the windows on the collar dropped as nodata)."""
    dsm = np.full((128, 192), 812.0)
    dsm[:, 150:] = fill
    scene = _rgb_dsm(tmp_path / "scene.tif", dsm)
    inv = write_polygons(tmp_path / "inv.gpkg", [square(X + 3 * (16 + 64 * c), Y - 3 * 48, 3 * 32) for c in (0, 2)])
    options = ExportOptions(patch_size=64, split=(1, 0, 0), recipe="paper")
    value = f"{fill:.0f}" if fill > -1e38 else repr(fill)
    with pytest.raises(LmhldError, match=rf"band 4 \(dsm\) of scene\.tif holds {re.escape(value)} as its lowest "
                                         rf"value, a typical fill value that is not declared as nodata.*gdal_edit\.py "
                                         rf"-a_nodata {re.escape(value)} .*scene\.tif.*Refused: the patches would "
                                         "hold"):
        export_patches([scene], inv, tmp_path / "ds", options)
    assert not (tmp_path / "ds").exists()
    declared = _rgb_dsm(tmp_path / "declared.tif", dsm, nodata=fill)
    card = export_patches([declared], inv, tmp_path / "ds", options).card
    assert card["dropped"]["nodata"] == 1 and max(card["mean"]) < 1000
    stacked = _rgb_dsm(tmp_path / "stacked.tif", dsm, nodata=float("nan"))  # as lmhld stack declares nodata
    with pytest.raises(LmhldError) as refused:
        export_patches([stacked], inv, tmp_path / "ds2", options)
    assert (f"declare it on the raster this band was stacked from (gdal_edit.py -a_nodata {value} SOURCE.tif) and "
            "stack again (lmhld stack; in QGIS: Stack imagery and elevation)") in str(refused.value)
    assert "stacked.tif)" not in str(refused.value)  # not told to declare it on the stack, which declares NaN


def test_export_says_its_bands_and_refuses_a_default_that_leaves_out_the_dsm(tmp_path):
    """D4: a stack made with an untagged alpha kept as band 4 (red, green, blue, ortho_4, dsm): "the first four" left
    out the DSM without a word. Refused with the --bands that keep it; with them, export says the bands it took."""
    h, w = 128, 128
    data = np.stack([np.full((h, w), v, np.float32) for v in (10, 20, 30, 255, 400)])
    scene = write_raster(tmp_path / "scene.tif", data, origin=(X, Y),
                         descriptions=["red", "green", "blue", "ortho_4", "dsm"])
    inv = write_polygons(tmp_path / "inv.gpkg", [square(X + 3 * 16, Y - 3 * 48, 3 * 32)])
    options = ExportOptions(patch_size=64, split=(1, 0, 0), recipe="paper")
    with pytest.raises(LmhldError, match=r"leaves out its elevation band 5 \(dsm\)\. Choose the bands: e\.g\. "
                                         r"--bands 1,2,3,5"):
        export_patches([scene], inv, tmp_path / "ds", options)
    listen = Listen()
    options.bands = [1, 2, 3, 5]
    card = export_patches([scene], inv, tmp_path / "ds", options, progress=listen).card
    assert card["bands"] == ["red", "green", "blue", "dsm"]
    assert "bands: red, green, blue, dsm (bands 1, 2, 3, 5 of scene.tif)" in listen.infos


def test_an_untagged_alpha_band_taken_as_data_is_warned_of(tmp_path):
    """D4: an RGBA orthophoto exported as it is, its alpha not tagged: band 4 is data, its collar imagery; said, with
    the two fixes (stack it, or tag the band)."""
    from rasterio.enums import ColorInterp
    from rasterio.transform import from_origin

    rgb = np.full((3, 128, 128), 90, "uint8")
    alpha = np.full((1, 128, 128), 255, "uint8")
    alpha[:, :, 100:] = 0
    with rasterio.open(tmp_path / "ortho.tif", "w", driver="GTiff", width=128, height=128, count=4, dtype="uint8",
                       crs="EPSG:32618", transform=from_origin(X, Y, 3.0, 3.0), photometric="RGB") as dst:
        dst.write(np.concatenate([rgb, alpha]))
        dst.colorinterp = [ColorInterp.red, ColorInterp.green, ColorInterp.blue, ColorInterp.undefined]
    inv = write_polygons(tmp_path / "inv.gpkg", [square(X + 3 * 16, Y - 3 * 48, 3 * 32)])
    listen = Listen()
    export_patches([tmp_path / "ortho.tif"], inv, tmp_path / "ds", ExportOptions(patch_size=64, split=(1, 0, 0),
                                                                                 recipe="paper"), progress=listen)
    assert any(w.startswith("band 4 of ortho.tif holds only 0 and 255 after its red, green and blue bands: probably "
                            "an alpha band") and "gdal_edit.py -colorinterp_4 alpha ortho.tif" in w
               for w in listen.warnings), listen.warnings


def test_windows_lost_to_dsm_holes_are_named_when_nothing_or_too_little_is_kept(tmp_path):
    """D6: small DSM holes cost every window: the failure names the band holding the nodata and the fix (as the
    successful export's warning does), both when no patch is kept and when too few are kept for the split."""
    dsm = np.full((128, 192), 812.0)
    dsm[10:12, 10:12] = np.nan  # a hole in window (0, 0)
    dsm[70:72, 140:142] = np.nan  # and in window (1, 2)
    scene = _rgb_dsm(tmp_path / "scene.tif", dsm)
    inv = write_polygons(tmp_path / "inv.gpkg", [square(X + 3 * (16 + 64 * c), Y - 3 * (48 + 64 * r), 3 * 32)
                                                 for r, c in ((0, 0), (1, 2), (0, 1))])
    hole_advice = (r"hold nodata in some bands only \({} in dsm only\): fill the holes of dsm \(gdal_fillnodata\.py "
                   r"on the surface model, then stack again\) to keep them")
    options = ExportOptions(patch_size=64, split=(1, 0, 0), recipe="paper")
    with pytest.raises(LmhldError, match=r"only 1 patch\(es\) kept, and a 70%/20%/10% split needs at least 3: of 6 "
                                         r"windows, .*2 hold nodata.*" + hole_advice.format(2)):
        plan_patches([scene], inv, ExportOptions(patch_size=64, recipe="paper"))
    only_holes = write_polygons(tmp_path / "holes.gpkg", [square(X + 3 * 16, Y - 3 * 48, 3 * 32)])
    with pytest.raises(LmhldError, match=r"no patch kept: .*" + hole_advice.format(1)):
        export_patches([scene], only_holes, tmp_path / "ds", options)
    # a preview shows those windows rather than refusing: every window with its reason, the kept one unsplit
    plan = plan_patches([scene], inv, ExportOptions(patch_size=64, recipe="paper"), refuse_few=False)
    assert plan.refusal is not None and re.search(r"only 1 patch\(es\) kept.*" + hole_advice.format(2), plan.refusal)
    windows = list(plan)
    assert [w.reason for w in windows].count("nodata") == 2 and [w.split for w in windows if w.kept] == [None]
    write_preview(tmp_path / "preview.gpkg", plan)
    ds = ogr.Open(str(tmp_path / "preview.gpkg"))
    assert sorted(f["category"] for f in ds.GetLayer("windows")) == ["dropped"] * 5 + ["kept"]


def test_windows_on_the_orthophoto_s_collar_are_said_to_be_rightly_dropped(tmp_path):
    """D11: nodata in red, green, blue only (the orthophoto's collar beside a larger DSM) is no hole to fill: the
    warning says those windows are rightly dropped and advises no gdal_fillnodata.py; DSM holes still get it."""
    dsm = np.full((128, 192), 812.0)
    dsm[10:12, 10:12] = np.nan  # DSM hole in window (0, 0)
    scene = _rgb_dsm(tmp_path / "scene.tif", dsm)
    with rasterio.open(scene, "r+") as dst:
        collar = dst.read()
        collar[:3, :, 170:] = np.nan  # the orthophoto ends before the DSM does: window (0, 2)
        dst.write(collar)
    inv = write_polygons(tmp_path / "inv.gpkg", [square(X + 3 * (16 + 64 * c), Y - 3 * 48, 3 * 32)
                                                 for c in (0, 1, 2)])
    listen = Listen()
    export_patches([scene], inv, tmp_path / "ds", ExportOptions(patch_size=64, split=(1, 0, 0), recipe="paper"),
                   progress=listen)
    said = [w for w in listen.warnings if "some bands only" in w]
    assert said == ["1 window(s) of scene.tif that would be kept hold nodata in some bands only (1 in dsm only): fill "
                    "the holes of dsm (gdal_fillnodata.py on the surface model, then stack again) to keep them",
                    "1 window(s) of scene.tif that would be kept hold nodata in some bands only (1 in red, green, blue "
                    "only): the imagery has no pixels there (the orthophoto's edge or gaps), so they are dropped, as "
                    "they should be; nothing to fill"]


def test_windows_where_a_float_alpha_band_is_0_are_dropped(tmp_path):
    """A Float32 alpha band (gdalwarp -dstalpha on a float scene) is no mask GDAL applies: windows of the collar,
    where alpha is 0, were exported as patches of valid pixels."""
    data = np.stack([np.full((128, 192), v, np.float32) for v in (10, 20, 30, 255)])
    data[3, :, 128:] = 0.0  # the third window lies in the collar
    scene = write_raster(tmp_path / "scene.tif", data, origin=(X, Y), pixel=(3.0, -3.0),
                         descriptions=["red", "green", "blue", "alpha"])
    ds = gdal.Open(str(scene), gdal.GA_Update)
    ds.GetRasterBand(4).SetColorInterpretation(gdal.GCI_AlphaBand)
    ds = None
    inv = write_polygons(tmp_path / "inv.gpkg", [square(X + 3 * (16 + 64 * c), Y - 3 * 48, 3 * 32)
                                                 for c in (0, 1, 2)])
    result = export_patches([scene], inv, tmp_path / "ds", ExportOptions(patch_size=64, split=(1, 0, 0),
                                                                         recipe="paper", bands=[1, 2, 3]))
    assert result.counts == {"train": 2, "val": 0, "test": 0}


def test_windows_beyond_the_dsm_s_footprint_are_not_holes_to_fill(tmp_path):
    """A DSM covering a third of the orthophoto: export advised gdal_fillnodata.py for every window beyond it, which
    would extrapolate the surface model over the rest of the scene."""
    dsm = np.full((128, 192), 812.0)
    dsm[:, 64:] = np.nan  # the DSM ends after the first column of windows
    dsm[70:72, 10:12] = np.nan  # and has a hole in window (1, 0)
    scene = _rgb_dsm(tmp_path / "scene.tif", dsm)
    inv = write_polygons(tmp_path / "inv.gpkg", [square(X + 3 * (16 + 64 * c), Y - 3 * (48 + 64 * r), 3 * 32)
                                                 for r in (0, 1) for c in (0, 1, 2)])
    listen = Listen()
    export_patches([scene], inv, tmp_path / "ds", ExportOptions(patch_size=64, split=(1, 0, 0), recipe="paper"),
                   progress=listen)
    said = [w for w in listen.warnings if "some bands only" in w]
    assert said == ["4 window(s) of scene.tif that would be kept hold nodata in some bands only (4 in dsm only), "
                    "wholly: they lie beyond the footprint of those bands' raster, where there is nothing to fill; a "
                    "raster of the whole area would keep them",
                    "1 window(s) of scene.tif that would be kept hold nodata in some bands only (1 in dsm only): fill "
                    "the holes of dsm (gdal_fillnodata.py on the surface model, then stack again) to keep them"]


def test_options_from_python_as_a_dict_and_bands_that_are_not_numbers(scene, tmp_path):
    """From a notebook: options given as a dict failed on an attribute ("'dict' object has no attribute
    'negatives'"), band 0 reached GDAL ("Illegal band #") and band names a comparison of str and int."""
    plan = plan_patches(scene.raster, scene.inventory, {"patch_size": 64, "recipe": "paper"})
    assert plan.settings.patch_size == 64 and plan.settings.recipe == "paper"
    with pytest.raises(LmhldError, match=r"unknown export option\(s\) patchsize; valid: .*patch_size"):
        export_patches(scene.raster, scene.inventory, tmp_path / "ds", {"patchsize": 64})
    for bands in ([0, 1, 2], ["red", "green"], "1,2,3"):
        with pytest.raises(LmhldError, match=r"bands must be a list of the raster's band numbers, counted from 1"):
            export_patches(scene.raster, scene.inventory, tmp_path / "ds", ExportOptions(patch_size=64, bands=bands))
    assert not (tmp_path / "ds").exists()
