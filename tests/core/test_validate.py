"""Inventory validation: each kind of problem found (and counted) in a crafted inventory, nothing in a clean one,
the real Colombian inventory, a repaired copy that leaves the input alone, and export refusing blocking problems."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest
from osgeo import ogr

from lmhld_qgis.core.errors import LmhldError
from lmhld_qgis.core.validate import (
    KINDS,
    ValidateOptions,
    blocking_problems,
    candidate_pairs,
    validate_inventory,
)
from lmhld_qgis.core.validate_write import write_problems, write_repaired

from ..helpers import square, write_polygons
from ..inventories import CRAFTED, clean_inventory, crafted_inventory, expected_counts


def _digest(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_every_kind_is_found_with_its_count(tmp_path):
    inv, raster = crafted_inventory(tmp_path)
    report = validate_inventory(inv, ValidateOptions(raster=raster))
    expected = expected_counts()
    assert {k: n for k, n in report.counts().items() if n} == expected
    assert set(expected) == set(KINDS) - {"no_crs"}  # the crafted layer has a CRS; no_crs is tested below
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
    report = validate_inventory(inv, ValidateOptions(raster=raster))
    assert report.problems == [] and report.n_features == 16
    assert report.to_json()["ok_for_export"] is True


def test_a_layer_without_crs(tmp_path):
    inv = write_polygons(tmp_path / "nocrs.gpkg", [square(0, 0, 50), square(100, 0, 50)], epsg=None)
    report = validate_inventory(inv)
    assert [p.kind for p in report.problems] == ["no_crs"] and report.problems[0].blocking


def test_problems_layer_and_summary(tmp_path):
    inv, raster = crafted_inventory(tmp_path)
    report = validate_inventory(inv, ValidateOptions(raster=raster))
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
    report = validate_inventory(inv, ValidateOptions(raster=raster))
    repaired = write_repaired(report, tmp_path / "fixed.gpkg")
    assert _digest(inv) == before
    assert repaired.repaired == 2 and repaired.dropped == {"empty_geometry": 2, "not_polygon": 1, "duplicate": 1}
    assert repaired.n_written == len(CRAFTED) - 4
    again = validate_inventory(repaired.path, ValidateOptions(raster=raster))
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


def test_export_refuses_blocking_problems_and_names_the_validation(tmp_path):
    from lmhld_qgis.core.export import ExportOptions, export_patches

    inv, raster = crafted_inventory(tmp_path)
    with pytest.raises(LmhldError, match=r"lmhld:validateinventory.*lmhld validate"):
        export_patches([raster], inv, tmp_path / "ds", ExportOptions(patch_size=32))
    assert not (tmp_path / "ds").exists()
    assert [p.kind for p in blocking_problems(inv)] == ["self_intersection", "invalid_geometry"]


def test_an_inventory_in_another_crs_than_the_raster(tmp_path):
    from osgeo import gdal

    inv, raster = crafted_inventory(tmp_path)
    lonlat = tmp_path / "crafted_4326.gpkg"
    gdal.VectorTranslate(str(lonlat), str(inv), format="GPKG", dstSRS="EPSG:4326")
    report = validate_inventory(lonlat, ValidateOptions(raster=raster))
    expected = expected_counts()
    del expected["crs_mismatch"]  # its degrees were read as UTM metres (a 1 mm square) and reprojected:
    expected["outside_raster"] += 1  # valid longitudes and latitudes now, far from the raster,
    expected["too_small"] += 1  # and tiny
    assert {k: n for k, n in report.counts().items() if n} == expected
