"""Inventory validation: each kind of problem found (and counted) in a crafted inventory, nothing in a clean one,
the real Colombian inventory, a repaired copy that leaves the input alone, and export refusing blocking problems."""

from __future__ import annotations

import hashlib
import json
import math

import numpy as np
import pytest
from osgeo import ogr

from lmhld_qgis.core.errors import LmhldError
from lmhld_qgis.core.progress import NullProgress
from lmhld_qgis.core.validate import (
    KINDS,
    ValidateOptions,
    blocking_problems,
    candidate_pairs,
    repair,
    validate_inventory,
)
from lmhld_qgis.core.validate_write import write_problems, write_repaired

from ..helpers import square, write_polygons
from ..inventories import CRAFTED, clean_inventory, crafted_inventory, expected_counts, two_scene_inventory


def _digest(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_every_kind_is_found_with_its_count(tmp_path):
    inv, raster = crafted_inventory(tmp_path)
    report = validate_inventory(inv, ValidateOptions(rasters=[raster]))
    expected = expected_counts()
    assert {k: n for k, n in report.counts().items() if n} == expected
    assert set(expected) == set(KINDS) - {"no_crs", "none_on_imagery"}  # layer-wide ones: tested below
    by_fid = {}
    for p in report.problems:
        by_fid.setdefault(p.fid, set()).add(p.kind)
    for fid, (_, kinds) in enumerate(CRAFTED, start=1):  # GeoPackage fids start at 1
        assert by_fid.get(fid, set()) == set(kinds), fid
    overlap = next(p for p in report.problems if p.kind == "overlap")
    assert (overlap.fid, overlap.other_fid) == (9, 10) and overlap.geometry.GetArea() == pytest.approx(1800)
    assert {p.kind for p in report.blocking} == {"self_intersection", "invalid_geometry"}
    assert all(p.fix for p in report.problems)


def test_a_clean_inventory_has_no_problem(tmp_path):
    inv, raster = clean_inventory(tmp_path)
    fractions: list[float] = []

    class Fractions(NullProgress):
        def set_fraction(self, fraction):
            fractions.append(fraction)

    report = validate_inventory(inv, ValidateOptions(rasters=[raster]), progress=Fractions())
    assert report.problems == [] and report.n_features == 16
    assert report.to_json()["ok_for_export"] is True
    # the bar moves through the checks against the raster too (it sat at 60 % for half of a 100k-polygon run)
    assert fractions == sorted(fractions) and any(0.7 < f < 1 for f in fractions) and fractions[-1] == 1.0


def test_a_layer_without_crs(tmp_path):
    inv = write_polygons(tmp_path / "nocrs.gpkg", [square(0, 0, 50), square(100, 0, 50)], epsg=None)
    report = validate_inventory(inv)
    assert [p.kind for p in report.problems] == ["no_crs"] and report.problems[0].blocking
    assert report.problems[0].where == "the layer" and report.to_json()["problems"][0]["where"] == "the layer"
    from lmhld_qgis.core.validate import Problem

    # QGIS numbers an edit's features not saved yet below zero (a probe read "feature -27" as a fault)
    assert Problem("self_intersection", -27, "").where == "feature -27 (not saved yet)"
    assert Problem("self_intersection", 9, "").where == "feature 9"


def test_problems_layer_and_summary(tmp_path):
    inv, raster = crafted_inventory(tmp_path)
    report = validate_inventory(inv, ValidateOptions(rasters=[raster]))
    out = write_problems(report, tmp_path / "problems.gpkg")
    ds = ogr.Open(str(out))
    lyr = ds.GetLayerByName("problems")
    rows = [(f["kind"], f["feature_id"], f["severity"], f["fix"], f.GetGeometryRef() is not None) for f in lyr]
    assert len(rows) == len(report.problems) == sum(expected_counts().values())
    assert {r[0] for r in rows if r[2] == "blocking"} == {"self_intersection", "invalid_geometry"}
    assert all(r[3] for r in rows)
    assert sum(1 for r in rows if not r[4]) == 2  # the two empty geometries have nowhere to be drawn
    assert ds.GetLayerByName("layer_styles").GetFeatureCount() == 1
    summary = report.to_json()
    json.dumps(summary)
    assert summary["n_blocking"] == 2 and summary["ok_for_export"] is False
    assert summary["by_kind"]["outside_raster"] == 2


def test_repaired_copy_fixes_what_it_can_and_leaves_the_input(tmp_path):
    inv, raster = crafted_inventory(tmp_path)
    before = _digest(inv)
    report = validate_inventory(inv, ValidateOptions(rasters=[raster]))
    repaired = write_repaired(report, tmp_path / "fixed.gpkg")
    assert _digest(inv) == before
    assert repaired.repaired == 2 and repaired.dropped == {"empty_geometry": 2, "not_polygon": 1, "duplicate": 1}
    assert repaired.n_written == len(CRAFTED) - 4
    again = validate_inventory(repaired.path, ValidateOptions(rasters=[raster]))
    assert not again.blocking
    assert {k for k, n in again.counts().items() if n} == {"overlap", "sliver", "too_small", "outside_raster",
                                                          "in_nodata", "crs_mismatch"}
    with pytest.raises(LmhldError, match="must not replace"):
        write_repaired(report, inv)


def test_real_colombian_inventory(colombia_inventory):
    from pyproj import Geod

    report = validate_inventory(colombia_inventory, ValidateOptions(pixel_size_m=10.0, min_pixels=10))
    assert report.n_features == 838 and not report.blocking
    geod = Geod(ellps="WGS84")
    small = 0
    ds = ogr.Open(str(colombia_inventory))
    for feat in ds.GetLayer(0):  # independent areas: geodesic polygons through pyproj
        small += _geod_area(geod, feat.GetGeometryRef()) < 1000.0
    assert report.counts()["too_small"] == small > 0
    assert report.counts()["crs_mismatch"] == report.counts()["empty_geometry"] == 0


def _geod_area(geod, geom) -> float:
    polys = [geom.GetGeometryRef(i) for i in range(geom.GetGeometryCount())] \
        if geom.GetGeometryName() == "MULTIPOLYGON" else [geom]
    total = 0.0
    for poly in polys:
        for r in range(poly.GetGeometryCount()):
            pts = np.array(poly.GetGeometryRef(r).GetPoints())
            area, _ = geod.polygon_area_perimeter(pts[:, 0], pts[:, 1])
            total += abs(area) if r == 0 else -abs(area)
    return total


def test_sweep_finds_exactly_the_intersecting_boxes():
    rng = np.random.default_rng(0)
    lo = rng.uniform(0, 100, (400, 2))
    bounds = np.hstack([lo, lo + rng.uniform(0.1, 6, (400, 2))])
    brute = {(i, j) for i in range(400) for j in range(i + 1, 400)
             if bounds[i, 0] <= bounds[j, 2] and bounds[j, 0] <= bounds[i, 2]
             and bounds[i, 1] <= bounds[j, 3] and bounds[j, 1] <= bounds[i, 3]}
    assert set(candidate_pairs(bounds)) == brute and len(brute) > 100


def test_thousands_of_polygons_with_known_overlaps(tmp_path):
    x, y = 500_000.0, 4_000_000.0
    wkts = [square(x + 20 * (i % 60), y + 20 * (i // 60), 10) for i in range(3000)]  # a grid, 10 m apart
    wkts += [square(x + 20 * i + 5, y + 5, 10) for i in range(40)]  # 40 squares, each overlapping one
    report = validate_inventory(write_polygons(tmp_path / "many.gpkg", wkts))
    assert report.counts()["overlap"] == 40 and len(report.problems) == 40


def test_export_refuses_blocking_problems_and_names_the_fix(tmp_path):
    """The refusal names the repaired copy to write, with this inventory's name, and export takes that copy."""
    from lmhld_qgis.core.export import ExportOptions, export_patches

    inv, raster = crafted_inventory(tmp_path)
    with pytest.raises(LmhldError, match=r"in QGIS: Validate landslide inventory, its .Repaired copy. output.*"
                                         r"lmhld validate") as refused:  # the algorithm's title, not its id
        export_patches([raster], inv, tmp_path / "ds", ExportOptions(patch_size=32))
    message = str(refused.value)
    assert message.startswith("the inventory crafted.gpkg has 2 blocking problem(s): 1 self intersection, 1 invalid "
                              "geometry (first: feature 6, Self-intersection at or near point")
    assert "`lmhld validate crafted.gpkg --repair crafted_fixed.gpkg`" in message and "export from that copy" in message
    assert not (tmp_path / "ds").exists()
    assert [p.kind for p in blocking_problems(inv)] == ["self_intersection", "invalid_geometry"]
    # A layer read into polygons first (QGIS's Processing export, repaired on reading) names the same features
    from lmhld_qgis.core.validate import refuse_blocking_problems
    from lmhld_qgis.core.vector import read_polygons

    read = read_polygons(inv)
    assert [(p.kind, p.fid) for p in blocking_problems(read)] == [(p.kind, p.fid) for p in blocking_problems(inv)]
    refusal = (r"the inventory layer crafted.gpkg has 2 blocking problem\(s\): 1 self intersection, 1 invalid "
               r"geometry \(first: feature 6, Self-intersection")
    with pytest.raises(LmhldError, match=refusal) as by_layer:
        refuse_blocking_problems(read)
    assert "'Repaired copy' output)" in str(by_layer.value) and "`" not in str(by_layer.value)  # QGIS: no command
    write_repaired(validate_inventory(inv), tmp_path / "crafted_fixed.gpkg")  # what the named command writes
    assert blocking_problems(tmp_path / "crafted_fixed.gpkg") == []


def test_a_layer_without_crs_is_refused_with_the_crs_to_assign(tmp_path):
    from lmhld_qgis.core.validate import refuse_blocking_problems

    inv = write_polygons(tmp_path / "nocrs.gpkg", [square(0, 0, 50)], epsg=None)
    with pytest.raises(LmhldError) as refused:
        refuse_blocking_problems(inv)
    message = str(refused.value)
    assert "(first: the layer, it has no CRS)" in message and "Set CRS" in message
    # the copy it names carries the CRS (a bare --repair's would not)
    assert "`lmhld validate nocrs.gpkg --assign-crs EPSG:XXXX --repair nocrs_fixed.gpkg`" in message
    assert "feature None" not in message


def test_a_shapefile_without_prj_is_fixed_by_assigning_its_crs(tmp_path):
    """The repaired copy of a layer without CRS has none either (export refuses it too); with the CRS assigned the
    layer is checked in it and the copy carries it. A wrong guess shows as coordinates outside the CRS's area."""
    shp = write_polygons(tmp_path / "noprj.shp", [square(500000, 3999900, 30), square(500100, 3999900, 30)],
                         epsg=None)
    assert not (tmp_path / "noprj.prj").exists()
    bare = validate_inventory(shp)
    assert [p.kind for p in bare.blocking] == ["no_crs"]
    still = write_repaired(bare, tmp_path / "still.gpkg")
    assert [p.kind for p in blocking_problems(still.path)] == ["no_crs"]
    assigned = validate_inventory(shp, ValidateOptions(pixel_size_m=3.0), assign_crs="EPSG:32618")
    assert assigned.problems == [] and assigned.ok_for_export
    fixed = write_repaired(assigned, tmp_path / "fixed.gpkg")
    assert blocking_problems(fixed.path) == [] and validate_inventory(fixed.path).problems == []
    ds = ogr.Open(str(fixed.path))
    assert ds.GetLayer(0).GetSpatialRef().GetAuthorityCode(None) == "32618" and ds.GetLayer(0).GetFeatureCount() == 2
    wrong = validate_inventory(shp, assign_crs="EPSG:4326")
    assert {p.kind for p in wrong.problems} == {"crs_mismatch"}
    with pytest.raises(LmhldError, match="PROJ cannot read"):
        validate_inventory(shp, assign_crs="EPSG:99999")


def test_an_inventory_over_two_scenes_is_checked_against_both(kaikoura, tmp_path):
    """Kaikoura's two real scenes lie side by side, 10 m apart, their landslides in one layer. Against one scene the
    other's landslides are outside; against both none is, and only a polygon across the gap or far away is."""
    a, b = kaikoura / "diff_landslide_69.tif", kaikoura / "diff_landslide_70.tif"
    across = "POLYGON((704900 5310300,705030 5310300,705030 5310400,704900 5310400,704900 5310300))"  # 10 of 130 m
    inv = two_scene_inventory(kaikoura, tmp_path, [across, square(600_000, 5_000_000, 100)])  # fids 16, 17
    one = validate_inventory(inv, ValidateOptions(rasters=[a]))
    assert sorted(p.fid for p in one.problems if p.kind == "outside_raster") == list(range(7, 18))
    both = validate_inventory(inv, ValidateOptions(rasters=[a, b]))
    outside = {p.fid: p.message for p in both.problems if p.kind == "outside_raster"}
    assert outside == {
        16: "8% of it lies outside every raster (the rest on diff_landslide_69.tif, diff_landslide_70.tif)",
        17: "entirely outside every raster (diff_landslide_69.tif, diff_landslide_70.tif)"}
    small = {p.fid: p.message for p in both.problems if p.kind == "too_small"}
    assert small[1].endswith("of 10 m, in diff_landslide_69.tif") and small[7].endswith("in diff_landslide_70.tif")
    assert both.to_json()["rasters"] == [str(a), str(b)]
    with pytest.raises(LmhldError, match="is given twice"):
        validate_inventory(inv, ValidateOptions(rasters=[a, a]))


def test_a_bow_tie_is_measured_as_repaired(tmp_path):
    """A crossed 100 m x 1 m strip: its ring's signed area cancels out (compactness 0 as drawn); the sliver figure
    is that of a lobe of the repaired shape, and says so."""
    bow = "POLYGON((500100 4000000,500200 4000001,500200 4000000,500100 4000001,500100 4000000))"
    report = validate_inventory(write_polygons(tmp_path / "bow.gpkg", [bow]), ValidateOptions(pixel_size_m=0.1))
    assert [p.kind for p in report.problems] == ["self_intersection", "sliver"]
    assert ogr.CreateGeometryFromWkt(bow).GetArea() == 0  # the invalid ring as drawn
    repaired = repair(ogr.CreateGeometryFromWkt(bow))  # two 50 m x 1 m triangles (kept: it owns its parts)
    lobe = repaired.GetGeometryRef(0)
    score = 4 * math.pi * lobe.GetArea() / lobe.Boundary().Length() ** 2
    assert report.problems[1].message.startswith(f"a part of its repaired shape: compactness 4πA/P² = {score:.3f} ")


def test_an_inventory_in_another_crs_than_the_raster(tmp_path):
    from osgeo import gdal

    inv, raster = crafted_inventory(tmp_path)
    lonlat = tmp_path / "crafted_4326.gpkg"
    gdal.VectorTranslate(str(lonlat), str(inv), format="GPKG", dstSRS="EPSG:4326")
    report = validate_inventory(lonlat, ValidateOptions(rasters=[raster]))
    expected = expected_counts()
    del expected["crs_mismatch"]  # its degrees were read as UTM metres (a 1 mm square) and reprojected:
    expected["outside_raster"] += 1  # valid longitudes and latitudes now, far from the raster,
    expected["too_small"] += 1  # and tiny
    assert {k: n for k, n in report.counts().items() if n} == expected


def test_a_raster_whose_fill_value_is_not_declared_is_named_with_the_fix(tmp_path):
    """A DSM whose nodata tag was lost: its -32767 collar would read as elevation, and a polygon drawn on it as on
    valid pixels. Validate says so, naming the band, the value, gdal_edit.py and what it hides; with the value
    declared, the polygon on the collar is reported on nodata and nothing is said of the raster."""
    import warnings

    from ..helpers import write_raster

    dsm = np.full((2, 64, 64), 812.0, np.float32)
    dsm[1, :, 48:] = -32767.0
    raster = write_raster(tmp_path / "dsm.tif", dsm, pixel=(1.0, -1.0), descriptions=["red", "dsm"])
    inv = write_polygons(tmp_path / "inv.gpkg", [square(500000 + 52, 4000000 - 30, 8)])
    with pytest.warns(UserWarning, match=r"band 2 \(dsm\) of dsm\.tif holds -32767 as its lowest value, a typical fill "
                                         r"value that is not declared as nodata.*gdal_edit\.py -a_nodata -32767 .*"
                                         r"Until then, polygons on those pixels are not reported as on nodata, and "
                                         r"export refuses the raster"):
        report = validate_inventory(inv, ValidateOptions(rasters=[raster]))
    assert len(report.raster_warnings) == 1 and report.to_json()["raster_warnings"] == report.raster_warnings
    assert report.counts()["in_nodata"] == 0  # what the warning is about
    declared = write_raster(tmp_path / "declared.tif", dsm, pixel=(1.0, -1.0), nodata=-32767.0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        report = validate_inventory(inv, ValidateOptions(rasters=[declared]))
    assert report.raster_warnings == [] and report.counts()["in_nodata"] == 1


def test_an_rgba_raster_with_a_nodata_value_is_read_without_a_library_warning(tmp_path):
    """A probe's RGBA export (band 4 alpha, nodata 0): validate printed rasterio's NodataShadowWarning with a source
    path and a line of code; the polygon on the transparent part is still reported on nodata."""
    import warnings

    import rasterio
    from rasterio.enums import ColorInterp

    from ..helpers import write_raster

    rgba = np.full((4, 64, 64), 120, np.uint8)
    rgba[3] = 255
    rgba[3, :, 48:] = 0
    raster = write_raster(tmp_path / "rgba.tif", rgba, pixel=(1.0, -1.0), nodata=0)
    with rasterio.open(raster, "r+") as dst:
        dst.colorinterp = [ColorInterp.red, ColorInterp.green, ColorInterp.blue, ColorInterp.alpha]
    inv = write_polygons(tmp_path / "inv.gpkg", [square(500000 + 52, 4000000 - 30, 8)])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        report = validate_inventory(inv, ValidateOptions(rasters=[raster]))
    assert report.counts()["in_nodata"] == 1


def test_an_inventory_wholly_off_the_imagery_is_not_ready_for_export(kaikoura, shared_data):
    """The real Colombia inventory against a Kaikoura scene: every polygon outside; was "ready for export", which
    export then refused. It is one blocking problem of the layer: N_BLOCKING said 0 beside "export refuses it", and
    a graphical model checking N_BLOCKING carried on."""
    from lmhld_qgis.core.validate_write import summary_line

    report = validate_inventory(shared_data / "inventory" / "colombia_landslides.gpkg",
                                ValidateOptions(rasters=[kaikoura / "diff_landslide_69.tif"]))
    [blocking] = report.blocking
    assert (blocking.kind, blocking.where) == ("none_on_imagery", "the layer") and report.to_json()["n_blocking"] == 1
    assert report.n_on_imagery == 0 and not report.ok_for_export
    assert summary_line(report).endswith("; no polygon lies on the imagery: export refuses it; check that the "
                                         "inventory and the rasters cover the same place and that their CRSs are right")
    on = validate_inventory(kaikoura / "label_landslide_69.shp",
                            ValidateOptions(rasters=[kaikoura / "diff_landslide_69.tif"]))
    assert on.n_on_imagery == 6 and on.ok_for_export and validate_inventory(kaikoura / "label_landslide_69.shp") \
        .n_on_imagery is None
