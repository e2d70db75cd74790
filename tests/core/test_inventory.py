"""Inventory analysis: the paper's patch-size rule, true areas, repair/skip accounting, bad input."""

from __future__ import annotations

import numpy as np
import pytest
from osgeo import gdal, ogr

from lmhld_qgis.core.errors import LmhldError
from lmhld_qgis.core.inventory import (
    analyse_inventory,
    choose_patch_sizes,
    min_landslide_area_m2,
    parse_candidates,
    recommend_patch_sizes,
    snap_to_candidate,
)
from lmhld_qgis.core.vector import srs_from_epsg

from ..helpers import square, write_polygons, write_raster


def test_wenchuan_case_from_the_paper():
    # LMHLD sec. 4.1: Q1 417, Q2 1191, Q3 4123 px at 10% -> 64, 128, 224.
    assert recommend_patch_sizes([417, 1191, 4123], 0.10, [32, 64, 128, 224, 256]) == [64, 128, 224]


def test_snap_tie_goes_to_larger_candidate():
    assert snap_to_candidate(96.0, [64, 128]) == 128
    assert snap_to_candidate(95.9, [64, 128]) == 64
    assert snap_to_candidate(10_000, [32, 64]) == 64  # beyond the largest: the largest


def test_patch_sizes_go_past_the_candidates_only_when_every_quartile_asks_for_more():
    # 0.5 m imagery of large landslides: sides 447, 632, 949 px at 10%
    big = choose_patch_sizes([20_000, 40_000, 90_000], 0.10, [32, 64, 128, 224, 256])
    assert big.sizes == [448, 640, 960] and big.rule == "beyond candidates"
    assert "every quartile asks for a patch larger than the largest candidate (256 px" in big.notes[0]
    capped = choose_patch_sizes([20_000, 40_000, 90_000], 0.10, [32, 64, 128, 224, 256], beyond_candidates=False)
    assert capped.sizes == [256, 256, 256] and "capped at 256" in capped.notes[0]
    huge = choose_patch_sizes([1e6, 2e6, 3e6], 0.10, [32, 64])
    assert huge.sizes == [1024, 1024, 1024]  # at most 1024 px
    some = choose_patch_sizes([417, 1191, 9000], 0.10, [32, 64, 128, 224, 256])
    assert some.sizes == [64, 128, 256] and some.rule == "candidates"
    assert some.notes == ["Q3's ideal side (300 px) exceeds the largest candidate; capped at 256"]
    small = choose_patch_sizes([1, 4, 6], 0.10, [32, 64])
    assert small.sizes == [32, 32, 32] and "smaller than the smallest candidate" in small.notes[0]
    assert choose_patch_sizes([417, 1191, 4123], 0.10, [32, 64, 128, 224, 256]).notes == []


def test_real_inventory_at_uav_resolution_goes_past_the_candidates_and_says_so(colombia_inventory, tmp_path):
    from lmhld_qgis.core.report import inventory_html

    with pytest.warns(UserWarning, match="every quartile asks for a patch larger"):
        report = analyse_inventory(colombia_inventory, pixel_size_m=0.25)
    assert report.patch_size_rule == "beyond candidates" and min(report.recommended_patch_sizes) > 256
    assert all(size % 32 == 0 for size in report.recommended_patch_sizes)
    assert report.to_json()["notes"] == report.notes and "go past the candidates" in inventory_html(report)
    paper = analyse_inventory(colombia_inventory, pixel_size_m=0.25, beyond_candidates=False)
    assert paper.recommended_patch_sizes == [256, 256, 256] and paper.patch_size_rule == "candidates"


def test_min_landslide_area_rule():
    areas = np.array([5.0, 40.0, 400.0, 900.0, 2000.0, 5000.0] * 10)
    value, rule = min_landslide_area_m2(areas, pixel_area_m2=1.0)
    assert value == pytest.approx(0.5 * np.quantile(areas, 0.05)) and "60 inventory landslides" in rule
    assert min_landslide_area_m2(areas, pixel_area_m2=100.0)[0] == 200.0  # never below two pixels
    assert min_landslide_area_m2(np.zeros(0), pixel_area_m2=9.0)[0] == 18.0
    fine = min_landslide_area_m2(np.array([0.01] * 20), pixel_area_m2=0.01)[1]  # 0.1 m pixels: no '0.0 m2'
    assert fine.endswith("quantile (0.01 m2) of the areas of the 20 inventory landslides in the rasters, at least 2 "
                         "pixels (0.02 m2)"), fine


def test_parse_candidates_rejects_garbage():
    assert parse_candidates("32, 64;128") == [32, 64, 128]
    with pytest.raises(LmhldError, match="comma-separated integers"):
        parse_candidates("32,abc")


def _geod_areas(path) -> dict[int, float]:
    """Independent ellipsoidal areas: geodesic polygons on WGS84 via pyproj.Geod (not the code under test)."""
    from pyproj import Geod

    geod = Geod(ellps="WGS84")
    ds = ogr.Open(str(path))
    lyr = ds.GetLayer(0)
    out = {}
    for feat in lyr:
        geom = feat.GetGeometryRef()
        polys = [geom.GetGeometryRef(i) for i in range(geom.GetGeometryCount())] \
            if geom.GetGeometryName() == "MULTIPOLYGON" else [geom]
        total = 0.0
        for poly in polys:
            for r in range(poly.GetGeometryCount()):
                pts = np.array(poly.GetGeometryRef(r).GetPoints())
                area, _ = geod.polygon_area_perimeter(pts[:, 0], pts[:, 1])
                total += abs(area) if r == 0 else -abs(area)
        out[feat.GetFID()] = total
    return out


def test_real_inventory_areas_match_geodesic_within_1_percent(colombia_inventory):
    report = analyse_inventory(colombia_inventory, pixel_size_m=3.0)
    expected = _geod_areas(colombia_inventory)
    got = report.area_by_fid()
    assert report.n_features == 838 and report.n_landslides == 838
    rel = np.array([abs(got[fid] - area) / area for fid, area in expected.items()])
    assert rel.max() < 0.01, rel.max()
    assert report.area_px.q1 == pytest.approx(np.quantile(np.array(list(expected.values())) / 9.0, 0.25), rel=0.01)
    assert len(report.recommended_patch_sizes) == 3


def test_reprojected_inventory_gives_the_same_areas(colombia_inventory, tmp_path):
    utm = tmp_path / "colombia_utm18n.gpkg"
    gdal.VectorTranslate(str(utm), str(colombia_inventory), dstSRS="EPSG:32618", reproject=True)
    geo = analyse_inventory(colombia_inventory, pixel_size_m=3.0)
    projected = analyse_inventory(utm, pixel_size_m=3.0)
    assert projected.area_px.median == pytest.approx(geo.area_px.median, rel=0.01)
    assert projected.area_m2.count == geo.area_m2.count
    assert projected.recommended_patch_sizes == geo.recommended_patch_sizes


def test_repair_skip_and_explode_are_counted(tmp_path):
    # Near UTM 18N's central meridian (scale 0.9996): true areas are planar areas within 0.1%.
    x, y = 500_000, 4_000_000
    bowtie = f"POLYGON(({x} {y},{x+100} {y+100},{x+100} {y},{x} {y+100},{x} {y}))"  # repaired: two triangles
    multi = (f"MULTIPOLYGON((({x} {y},{x} {y+30},{x+30} {y+30},{x+30} {y},{x} {y})),"
             f"(({x+100} {y+100},{x+100} {y+130},{x+130} {y+130},{x+130} {y+100},{x+100} {y+100})))")
    path = write_polygons(tmp_path / "inv.gpkg", [square(x, y, 30), bowtie, None, "POLYGON EMPTY", multi,
                                                  "LINESTRING(0 0,1 1)"])
    report = analyse_inventory(path, pixel_size_m=3.0)
    assert report.n_features == 6
    assert report.n_repaired == 1
    assert report.skipped == {"null geometry": 1, "empty geometry": 1, "not a polygon": 1}
    assert report.n_landslides == 3  # square, repaired bowtie, multipart counted once
    areas = report.area_by_fid()
    assert areas[5] == pytest.approx(1800.0, rel=1e-3)  # two 30 m squares, one landslide
    assert areas[2] == pytest.approx(5000.0, rel=1e-3)  # the bowtie's two triangles
    exploded = analyse_inventory(path, pixel_size_m=3.0, explode=True)
    assert exploded.n_landslides == 5  # square + 2 bowtie triangles + 2 parts
    assert exploded.area_px.min == pytest.approx(900 / 9, rel=1e-3)


def test_pixel_size_from_projected_and_geographic_rasters(tmp_path):
    polys = write_polygons(tmp_path / "inv.gpkg", [square(500_000, 3_999_990, 6), square(500_003, 3_999_995, 3)])
    utm = write_raster(tmp_path / "utm.tif", np.zeros((4, 4), np.uint8), pixel=(3.0, -3.0))
    assert analyse_inventory(polys, rasters=[utm]).pixel_size_m == pytest.approx(3.0)
    # 1 arc-second pixels at the equator: about 30.9 x 30.7 m on WGS84
    geo = write_raster(tmp_path / "geo.tif", np.zeros((4, 4), np.uint8), epsg=4326, origin=(-74.0, 0.001),
                       pixel=(1 / 3600, -1 / 3600))
    report = analyse_inventory(write_polygons(tmp_path / "geo.gpkg", [square(-74.0, 0.0006, 0.0003)], epsg=4326),
                               rasters=[geo])
    assert report.pixel_area_m2 == pytest.approx(30.87 * 30.72, rel=0.01)


def test_landslides_off_the_one_raster_are_measured_in_its_pixels_and_counted(tmp_path):
    """One raster given: a landslide wholly off it is still measured in its pixels, and the report says how many
    lie off it (the usual slip: the wrong scene picked for this inventory)."""
    x, y = 500_000, 4_000_000
    polys = write_polygons(tmp_path / "inv.gpkg", [square(x, y - 30, 30), square(x + 9_000, y, 30),
                                                   square(x - 60, y - 30, 30)])
    raster = write_raster(tmp_path / "scene.tif", np.zeros((100, 100), np.uint8))  # 300 m from (x, y) down-right
    with pytest.warns(UserWarning, match="2 of 3 landslide"):
        report = analyse_inventory(polys, rasters=[raster])
    assert np.allclose(report.areas_px, 100.0, rtol=1e-3)  # all three in 3 m pixels (true areas: 0.08% off)
    assert [r["n_landslides"] for r in report.rasters] == [3]
    assert any("lie wholly off the raster scene.tif" in n and "the scene the inventory was drawn on" in n
               for n in report.notes)
    inside = analyse_inventory(write_polygons(tmp_path / "in.gpkg", [square(x, y - 30, 30)]), rasters=[raster])
    assert not any("off the raster" in n for n in inside.notes)
    elsewhere = write_polygons(tmp_path / "far.gpkg", [square(x + 9_000, y, 30), square(x - 60, y - 30, 30)])
    with pytest.raises(LmhldError, match=r"no landslide of the inventory \(2 in all\) lies on the raster "
                                         r"scene\.tif: they show other places, or one of them has a wrong CRS\. "
                                         r".*--pixel-size"):
        analyse_inventory(elsewhere, rasters=[raster])
    with pytest.raises(LmhldError, match=r"lies on any of the rasters \(scene\.tif, copy\.tif\)"):
        analyse_inventory(elsewhere, rasters=[raster, write_raster(tmp_path / "copy.tif", np.zeros((9, 9), np.uint8))])


def test_an_inventory_over_two_scenes_of_different_resolutions(kaikoura, tmp_path):
    """Kaikoura's scene 69 at its 10 m, scene 70 resampled to 5 m (as a UAV flight beside a satellite scene): each
    landslide is measured in pixels of the scene it lies on, and the report says so."""
    from ..inventories import two_scene_inventory

    a, b = kaikoura / "diff_landslide_69.tif", tmp_path / "diff_landslide_70_5m.tif"
    gdal.Translate(str(b), str(kaikoura / "diff_landslide_70.tif"), xRes=5, yRes=5)
    inv = two_scene_inventory(kaikoura, tmp_path, [square(600_000, 5_000_000, 100)])  # fid 16: on neither
    with pytest.warns(UserWarning, match="the rasters' pixels differ"):
        report = analyse_inventory(inv, rasters=[a, b])
    areas, pixels = report.area_by_fid(), report.pixels_by_fid()
    for fid in range(1, 17):
        pixel = 25.0 if 7 <= fid <= 15 else 100.0  # 1-6 on scene 69; 16 on neither: the first raster's pixels
        assert pixels[fid] == pytest.approx(areas[fid] / pixel), fid
    assert [(r["pixel_size_m"], r["n_landslides"]) for r in report.rasters] == [(10.0, 7), (5.0, 9)]
    assert report.pixel_size_m == 5.0 and report.to_json()["rasters"][1]["path"] == str(b)
    assert any("1 landslide(s) lie on none of the rasters" in note for note in report.notes)
    same = analyse_inventory(inv, rasters=[a, kaikoura / "diff_landslide_70.tif"])  # 10 m both: one pixel size
    assert same.pixel_size_m == 10.0 and not any("differ" in note for note in same.notes)
    assert np.allclose(same.areas_px, same.areas_m2 / 100.0)


def test_a_project_geopackage_read_at_its_points_names_its_polygon_layer(tmp_path):
    """A UAV project's GeoPackage, ground control points first and landslides second: read at its first layer,
    every reader (export, analyse, evaluate: all through read_layer_wkb) names the polygon layer and how to read it."""
    from lmhld_qgis.core.vector import read_polygons

    project = write_polygons(tmp_path / "project.gpkg", ["POINT (500010 3999990)"], layer="gcp_points",
                             geom_type=ogr.wkbPoint)
    write_polygons(project, [square(500000, 3999900, 30)], layer="landslides", geom_type=ogr.wkbPolygon, append=True)
    with pytest.raises(LmhldError) as refused:
        analyse_inventory(project, pixel_size_m=3.0)
    assert str(refused.value) == (
        "layer 'gcp_points' of project.gpkg holds Point geometries; the inventory must hold polygons. project.gpkg "
        "holds the polygon layer 'landslides': read it (--layer landslides; in QGIS, choose that layer)")
    with pytest.raises(LmhldError, match=r"the negatives must hold polygons.*\(--negatives-layer landslides;"):
        read_polygons(project, role="negatives")
    assert analyse_inventory(project, layer="landslides", pixel_size_m=3.0).n_landslides == 1


@pytest.mark.parametrize("case, message", [
    ("lines", "must hold polygons"),
    ("metres_as_degrees", r"coordinates such as \(500030, 4000030\) cannot be degrees, but the layer's CRS is WGS 84"),
    ("empty", "is empty"),
    ("nocrs", "has no CRS"),
    ("raster_nocrs", r"raster .*r\.tif has no CRS; assign one to the file itself \(QGIS: Raster > Projections > "
                     r"Assign Projection; or gdal_edit\.py -a_srs EPSG:XXXX .*r\.tif\) and retry: lmhld reads the "
                     "file, so a CRS set only on the QGIS layer is not seen"),
    ("raster_patch", r"raster .*patch\.tif is not georeferenced: it has no geotransform and no CRS, .*QGIS: Raster > "
                     r"Georeferencer; or gdal_translate -a_srs EPSG:XXXX -a_ullr ULX ULY LRX LRY .*patch\.tif"),
    ("raster_patch_crs", r"raster .*patch\.tif is not georeferenced: it has no geotransform, so"),
    ("raster_gcps", r"raster .*gcps\.tif is georeferenced by control points \(GCPs or RPCs\) only, not on a grid; "
                    r"warp it onto one first \(QGIS: Raster > Projections > Warp; or gdalwarp -t_srs EPSG:XXXX "),
    ("raster_cut", r"cannot read raster .*cut\.tif: it is truncated \(\d+ bytes, but its pixels run to byte \d+\): a "
                   "copy or a download that did not finish"),
    ("raster_h5", r"raster .*patch\.h5 is an HDF5 file with no place on the ground: a dataset patch \(such as "
                  r"Landslide4Sense's\), not a scene; train and evaluate read such patches from their folder"),
    ("pixel_zero", "pixel size must be > 0"),
    ("unreadable", "cannot read vector file"),
    ("missing", "does not exist; check the path"),
    ("all_null", "no usable polygon"),
])
def test_bad_input_fails_clearly(tmp_path, case, message):
    inv = write_polygons(tmp_path / "ok.gpkg", [square(0, 0, 30)])
    kwargs: dict = {"pixel_size_m": 3.0}
    if case == "lines":
        inv = write_polygons(tmp_path / "lines.gpkg", ["LINESTRING(0 0,1 1)"], geom_type=ogr.wkbLineString)
    elif case == "empty":
        inv = write_polygons(tmp_path / "empty.gpkg", [], geom_type=ogr.wkbPolygon)
    elif case == "metres_as_degrees":  # a UTM layer tagged EPSG:4326: was PROJ's "unexpected error"
        inv = write_polygons(tmp_path / "wrongcrs.gpkg", [square(500000, 4000000, 30)], epsg=4326)
    elif case == "nocrs":
        inv = write_polygons(tmp_path / "nocrs.gpkg", [square(0, 0, 30)], epsg=None)
    elif case == "raster_nocrs":
        kwargs = {"rasters": [write_raster(tmp_path / "r.tif", np.zeros((2, 2), np.uint8), epsg=None)]}
    elif case.startswith("raster_patch"):  # a dataset patch (CAS): no geotransform, with or without a CRS
        kwargs = {"rasters": [write_raster(tmp_path / "patch.tif", np.zeros((2, 2), np.uint8), georeferenced=False,
                                           epsg=32618 if case.endswith("crs") else None)]}
    elif case == "raster_gcps":  # a raw scene with ground control points, not yet warped
        raster = write_raster(tmp_path / "gcps.tif", np.zeros((2, 2), np.uint8), georeferenced=False, epsg=None)
        ds = gdal.Open(str(raster), gdal.GA_Update)
        ds.SetGCPs([gdal.GCP(500000.0 + 3 * c, 4000000.0 - 3 * r, 0.0, c, r) for c, r in ((0, 0), (2, 0), (0, 2))],
                   srs_from_epsg(32618).ExportToWkt())
        ds = None
        kwargs = {"rasters": [raster]}
    elif case == "raster_cut":  # header first (a COG), cut inside the pixels: it reads whole up to its pixels
        whole = write_raster(tmp_path / "whole.tif", np.arange(256 * 256, dtype=np.uint16).reshape(256, 256))
        gdal.Translate(str(tmp_path / "cog.tif"), str(whole), format="COG", creationOptions=["COMPRESS=NONE"])
        (tmp_path / "cut.tif").write_bytes((tmp_path / "cog.tif").read_bytes()[:2000])
        kwargs = {"rasters": [tmp_path / "cut.tif"]}
    elif case == "raster_h5":  # a Landslide4Sense patch given as the scene (GDAL reads it as 14 x 8 px)
        import h5py

        with h5py.File(tmp_path / "patch.h5", "w") as f:
            f["img"] = np.zeros((8, 8, 14))
        kwargs = {"rasters": [tmp_path / "patch.h5"]}
    elif case == "pixel_zero":
        kwargs = {"pixel_size_m": 0.0}
    elif case == "unreadable":
        inv = tmp_path / "garbage.gpkg"
        inv.write_text("not a geopackage")
    elif case == "missing":
        inv = tmp_path / "nowhere.gpkg"
    elif case == "all_null":
        inv = write_polygons(tmp_path / "nulls.gpkg", [None, None], geom_type=ogr.wkbPolygon)
    with pytest.raises(LmhldError, match=message):
        analyse_inventory(inv, **kwargs)


def test_the_notes_give_the_ideal_sides_as_the_report_table_does():
    """The note said 'ideal sides 4, 6, 8' beside a table of 3.5, 6.1, 7.6."""
    from lmhld_qgis.core.inventory import choose_patch_sizes, ideal_patch_side

    quartiles = [1.2, 3.7, 5.8]
    (note,) = choose_patch_sizes(quartiles, 0.1, [32, 64, 128]).notes
    shown = ", ".join(f"{ideal_patch_side(q, 0.1):.1f}" for q in quartiles)
    assert f"ideal sides {shown} px" in note and shown == "3.5, 6.1, 7.6"
