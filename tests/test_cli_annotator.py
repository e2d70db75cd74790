"""The annotator's commands as a user runs them: create-inventory, validate (exit status), rank."""

from __future__ import annotations

import json

import numpy as np
from osgeo import ogr

from .helpers import write_raster
from .inventories import clean_inventory, crafted_inventory
from .test_cli import lmhld


def test_create_inventory_then_validate_it_clean(tmp_path):
    raster = write_raster(tmp_path / "scene.tif", np.ones((1, 16, 16), np.uint16))
    proc = lmhld("create-inventory", str(tmp_path / "inv.gpkg"), "--raster", str(raster), "--event-date",
                 "2019-12-24")
    assert proc.returncode == 0, proc.stderr
    assert "start digitizing" in proc.stdout
    again = lmhld("create-inventory", str(tmp_path / "inv.gpkg"), "--crs", "EPSG:4326")
    assert again.returncode == 2 and "exists" in again.stderr


def test_validate_exit_status_layer_json_and_repair(tmp_path):
    inv, raster = crafted_inventory(tmp_path)
    proc = lmhld("validate", str(inv), "--raster", str(raster), "--problems", str(tmp_path / "p.gpkg"),
                 "--json", str(tmp_path / "p.json"), "--repair", str(tmp_path / "fixed.gpkg"))
    assert proc.returncode == 1, proc.stderr  # blocking problems
    assert "BLOCKING self_intersection" in proc.stdout and "2 blocking (export refuses)" in proc.stdout
    summary = json.loads((tmp_path / "p.json").read_text())
    assert summary["n_blocking"] == 2 and summary["repaired"]["repaired"] == 2
    ds = ogr.Open(str(tmp_path / "p.gpkg"))
    assert ds.GetLayerByName("problems").GetFeatureCount() == summary["n_problems"]
    fixed = lmhld("validate", str(tmp_path / "fixed.gpkg"), "--raster", str(raster))
    assert fixed.returncode == 0 and "ready for export" in fixed.stdout

    clean, raster = clean_inventory(tmp_path)
    ok = lmhld("validate", str(clean), "--raster", str(raster))
    assert ok.returncode == 0 and "no problem; ready for export" in ok.stdout and "not checked" not in ok.stdout
    bare = lmhld("validate", str(clean), "--json", str(tmp_path / "bare.json"))  # no imagery: say what went unchecked
    assert bare.returncode == 0 and ("ready for export; not checked: sizes under 10 pixels (give the imagery, or a "
                                     "pixel size), imagery cover and nodata (give the imagery)") in bare.stdout
    sized = lmhld("validate", str(clean), "--pixel-size", "3", "--json", str(tmp_path / "sized.json"))
    assert json.loads((tmp_path / "sized.json").read_text())["not_checked"] == [
        "imagery cover and nodata (give the imagery)"], sized.stdout


def test_validate_exits_1_on_imagery_whose_fill_value_is_not_declared(tmp_path):
    """A clean inventory over a DSM whose nodata tag was lost: the summary says the imagery is not ready, and the
    exit status says there is something to do (export would refuse the raster)."""
    from .helpers import square, write_polygons

    dsm = np.full((2, 64, 64), 812.0, np.float32)
    dsm[1, :, 48:] = -32767.0
    raster = write_raster(tmp_path / "dsm.tif", dsm, pixel=(1.0, -1.0), descriptions=["red", "dsm"])
    inv = write_polygons(tmp_path / "inv.gpkg", [square(500_010, 3_999_970, 8)])
    proc = lmhld("validate", str(inv), "--raster", str(raster))
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert ("no problem; inventory ready for export, imagery not; imagery: 1 band(s) hold a fill value not declared "
            "as nodata (export refuses it until it is declared)") in proc.stdout
    assert "band 2 (dsm) of dsm.tif holds -32767" in proc.stderr and "gdal_edit.py -a_nodata -32767" in proc.stderr


def test_validate_never_writes_over_its_inventory_or_an_existing_file(tmp_path):
    inv, raster = clean_inventory(tmp_path)
    before = inv.read_bytes()
    for option in ("--json", "--problems"):
        proc = lmhld("validate", str(inv), "--raster", str(raster), option, str(inv))
        assert proc.returncode == 2 and "is the input" in proc.stderr, proc.stderr
    assert inv.read_bytes() == before
    mine = tmp_path / "mine.json"
    mine.write_text("my notes")
    proc = lmhld("validate", str(inv), "--json", str(mine))
    assert proc.returncode == 2 and "--overwrite" in proc.stderr and mine.read_text() == "my notes"
    assert lmhld("validate", str(inv), "--json", str(mine), "--overwrite").returncode == 0
    assert json.loads(mine.read_text())["n_problems"] == 0
    both = lmhld("validate", str(inv), "--repair", str(tmp_path / "x.gpkg"), "--problems", str(tmp_path / "x.gpkg"))
    assert both.returncode == 2 and not (tmp_path / "x.gpkg").exists()


def test_validate_never_calls_an_inventory_without_polygons_ready(tmp_path):
    from osgeo import ogr as _ogr

    from .helpers import write_polygons

    for name, wkts, kind in (("empty", [], _ogr.wkbPolygon), ("points", ["POINT (500010 4000010)"], _ogr.wkbPoint)):
        inv = write_polygons(tmp_path / f"{name}.gpkg", wkts, geom_type=kind)
        proc = lmhld("validate", str(inv), "--json", str(tmp_path / f"{name}.json"))
        assert proc.returncode == 1 and "no polygon to export (export refuses)" in proc.stdout, proc.stdout
        assert json.loads((tmp_path / f"{name}.json").read_text())["ok_for_export"] is False
        # with imagery too: no polygon at all is not a question of place or CRS (a probe's empty inventory was)
        raster = write_raster(tmp_path / "scene.tif", np.zeros((1, 32, 32), np.uint8))
        beside = lmhld("validate", str(inv), "--raster", str(raster))
        assert beside.returncode == 1 and "no polygon to export (export refuses)" in beside.stdout, beside.stdout
        assert "lies on the imagery" not in beside.stdout + beside.stderr and "digitize" in beside.stderr


def test_layer_problems_are_the_layers_and_geos_warnings_stay_quiet(tmp_path):
    """A layer without CRS is 'the layer', not 'feature None'; invalid geometries are reported by validate and
    analyse in their own words, without GDAL's raw 'Warning 1: Self-intersection at or near point ...' beside."""
    from .helpers import square, write_polygons

    nocrs = write_polygons(tmp_path / "nocrs.gpkg", [square(0, 0, 50)], epsg=None)
    proc = lmhld("validate", str(nocrs))
    assert proc.returncode == 1 and "no_crs             the layer: it has no CRS" in proc.stdout, proc.stdout
    assert "feature None" not in proc.stdout + proc.stderr
    inv, raster = crafted_inventory(tmp_path)
    checked = lmhld("validate", str(inv), "--raster", str(raster))
    assert "feature 6: Self-intersection at or near point" in checked.stdout
    analysed = lmhld("analyse", str(inv), "--raster", str(raster), "--json", str(tmp_path / "a.json"))
    assert analysed.returncode == 0 and "2 invalid geometries were repaired" in analysed.stderr
    for proc in (checked, analysed):
        assert "Warning 1" not in proc.stderr and "at or near point" not in proc.stderr, proc.stderr


def test_validate_and_analyse_take_every_scene_of_the_inventory(kaikoura, tmp_path):
    """Two real scenes, their landslides in one layer: a second --raster adds a scene (it used to replace the
    first, so the first scene's landslides were reported outside), as export's does."""
    from .inventories import two_scene_inventory

    inv = two_scene_inventory(kaikoura, tmp_path)
    a, b = str(kaikoura / "diff_landslide_69.tif"), str(kaikoura / "diff_landslide_70.tif")
    proc = lmhld("validate", str(inv), "--raster", a, "--raster", b, "--json", str(tmp_path / "v.json"))
    assert proc.returncode == 0 and "outside" not in proc.stdout, proc.stdout
    summary = json.loads((tmp_path / "v.json").read_text())
    assert summary["rasters"] == [a, b] and summary["by_kind"]["outside_raster"] == 0
    proc = lmhld("analyse", str(inv), "--raster", a, "--raster", b, "--json", str(tmp_path / "a.json"))
    assert proc.returncode == 0, proc.stderr
    assert "pixels: diff_landslide_69.tif 10 m (6 landslides), diff_landslide_70.tif 10 m (9 landslides)" in proc.stdout
    report = json.loads((tmp_path / "a.json").read_text())
    assert [r["n_landslides"] for r in report["rasters"]] == [6, 9] and report["n_landslides"] == 15


def test_a_shapefile_without_prj_is_fixed_by_assigning_its_crs_not_by_the_repaired_copy(tmp_path):
    from .helpers import square, write_polygons

    shp = write_polygons(tmp_path / "noprj.shp", [square(500000, 3999900, 30)], epsg=None)
    proc = lmhld("validate", str(shp), "--repair", str(tmp_path / "fixed.gpkg"))
    assert proc.returncode == 1 and "no CRS: export refuses it too until one is assigned" in proc.stdout, proc.stdout
    assert "instead" not in proc.stderr and "rerun with --assign-crs EPSG:XXXX" in proc.stderr, proc.stderr
    proc = lmhld("validate", str(shp), "--assign-crs", "EPSG:32618", "--repair", str(tmp_path / "crs.gpkg"))
    assert proc.returncode == 0 and "ready for export" in proc.stdout, proc.stdout + proc.stderr
    assert lmhld("validate", str(tmp_path / "crs.gpkg")).returncode == 0


def test_a_project_geopackage_read_at_its_points_names_its_polygon_layer(tmp_path):
    from .helpers import square, write_polygons

    project = write_polygons(tmp_path / "project.gpkg", ["POINT (500010 3999990)"], layer="gcp_points",
                             geom_type=ogr.wkbPoint)
    write_polygons(project, [square(500030, 3999930, 30)], layer="landslides", geom_type=ogr.wkbPolygon, append=True)
    note = "project.gpkg holds the polygon layer 'landslides': read it (--layer landslides; in QGIS, choose that layer)"
    proc = lmhld("validate", str(project))
    assert proc.returncode == 1 and note in proc.stderr, proc.stderr
    raster = write_raster(tmp_path / "scene.tif", np.ones((3, 64, 64), np.uint16))
    export = ["export", "--raster", str(raster), "--inventory", str(project), "--patch-size", "32", "--out",
              str(tmp_path / "ds")]
    proc = lmhld(*export)
    assert proc.returncode == 2 and note in proc.stderr, proc.stderr
    assert lmhld("validate", str(project), "--layer", "landslides").returncode == 0


def test_validate_rejects_bad_numbers(tmp_path):
    inv, _ = clean_inventory(tmp_path)
    proc = lmhld("validate", str(inv), "--sliver", "1.5")
    assert proc.returncode == 2 and "--sliver" in proc.stderr


def test_rank_writes_the_top_windows(tmp_path):
    p = np.full((1, 256, 256), 0.05, np.float32)
    p[0, 128:, 128:] = 0.5
    prob = write_raster(tmp_path / "prob.tif", p)
    proc = lmhld("rank", str(prob), "--out", str(tmp_path / "tiles.gpkg"), "--window", "64", "--top", "2")
    assert proc.returncode == 0, proc.stderr
    assert "#1: row 128, col 128" in proc.stdout
    ds = ogr.Open(str(tmp_path / "tiles.gpkg"))
    assert ds.GetLayerByName("tiles").GetFeatureCount() == 2
    bad = lmhld("rank", str(prob), "--out", str(tmp_path / "t.gpkg"), "--top", "0")
    assert bad.returncode == 2 and "--top" in bad.stderr
    inventory, _ = clean_inventory(tmp_path)
    before = inventory.read_bytes()
    again = lmhld("rank", str(prob), "--out", str(inventory))  # an existing GeoPackage: not replaced unasked
    assert again.returncode == 2 and "--overwrite" in again.stderr and inventory.read_bytes() == before
    assert lmhld("rank", str(prob), "--out", str(tmp_path / "tiles.gpkg"), "--window", "64", "--top", "1",
                 "--overwrite").returncode == 0
    itself = lmhld("rank", str(prob), "--out", str(prob), "--overwrite")  # named as a raster, not by its dest
    assert itself.returncode == 2 and f"is the input probability raster {prob}: writing it" in itself.stderr
