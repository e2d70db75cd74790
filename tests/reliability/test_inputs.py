"""Damaged, odd and wrong inputs: a named error (exit 2) or a correct result, never a traceback or a partial output."""

from __future__ import annotations

import json

import numpy as np
import pytest

from ..helpers import square, write_polygons, write_raster

AREA = "Inputs"
X0, Y0 = 500_000.0, 4_000_000.0  # the scenes' origin (EPSG:32618, 3 m pixels)


def _truncate(path, share: float = 0.5) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * share)])


def _expect(work, cases) -> None:
    """Run cases; a failing one must leave the folder as it found it, and no case may change an input."""
    inputs = work.snapshot()
    for case, args, code, words in cases:
        before = work.snapshot()
        proc = work.run(*args, area=AREA, case=case)
        assert proc.returncode == code, proc.stderr
        for w in words if isinstance(words, tuple) else (words,):
            assert w in proc.stderr + proc.stdout, proc.stderr
        if code:
            assert work.snapshot() == before
    assert {k: v for k, v in work.snapshot().items() if k in inputs} == inputs


def test_truncated_files(work):
    work.add("scene.tif", "inventory.gpkg", "model.onnx", "model.pt")
    for name in ("scene.tif", "inventory.gpkg", "model.onnx", "model.pt"):
        stem, ext = name.split(".")
        work.path(f"{stem}_cut.{ext}").write_bytes(work.path(name).read_bytes())
        _truncate(work.path(f"{stem}_cut.{ext}"))
    from osgeo import gdal

    for fmt, ext in (("ESRI Shapefile", "shp"), ("FlatGeobuf", "fgb")):  # damaged past the header: RuntimeError
        gdal.VectorTranslate(str(work.path(f"inventory_cut.{ext}")), str(work.path("inventory.gpkg")), format=fmt)
        _truncate(work.path(f"inventory_cut.{ext}"), 0.6)
    detect = ["detect", "--out", "d.gpkg"]
    _expect(work, [
        ("truncated GeoTIFF scene (detect)", [*detect, "--model", "model.onnx", "--raster", "scene_cut.tif"], 2,
         "a raster file is truncated, damaged"),
        ("truncated GeoTIFF scene (export)", ["export", "--raster", "scene_cut.tif", "--inventory", "inventory.gpkg",
                                              "--patch-size", "32", "--out", "ds"], 2, "truncated"),
        ("truncated GeoPackage inventory (export)", ["export", "--raster", "scene.tif", "--inventory",
                                                     "inventory_cut.gpkg", "--patch-size", "32", "--out", "ds"], 2,
         "inventory_cut.gpkg"),
        ("truncated GeoPackage inventory (analyse)", ["analyse", "inventory_cut.gpkg", "--pixel-size", "3", "--json",
                                                      "a.json"], 2, "inventory_cut.gpkg"),
        ("shapefile cut short (analyse)", ["analyse", "inventory_cut.shp", "--pixel-size", "3", "--json", "a.json"],
         2, ("vector file inventory_cut.shp is damaged: reading stopped after", "save the layer again")),
        ("shapefile cut short (validate)", ["validate", "inventory_cut.shp"], 2,
         "vector file inventory_cut.shp is damaged"),
        ("FlatGeobuf cut short (export)", ["export", "--raster", "scene.tif", "--inventory", "inventory_cut.fgb",
                                           "--patch-size", "32", "--out", "ds"], 2,
         "vector file inventory_cut.fgb is damaged"),
        ("truncated ONNX model", [*detect, "--model", "model_cut.onnx", "--raster", "scene.tif"], 2,
         "model_cut.onnx"),
        ("truncated checkpoint (export-onnx)", ["export-onnx", "model_cut.pt", "--out", "m.onnx"], 2,
         "model_cut.pt"),
        ("truncated checkpoint (detect)", [*detect, "--model", "model_cut.pt", "--raster", "scene.tif"], 2,
         "model_cut.pt"),
    ])


def test_wrong_kinds_of_input(work):
    work.add("scene.tif", "inventory.gpkg", "model.onnx")
    work.path("folder").mkdir()
    work.path("notes.txt").write_text("not data")
    work.path("latin1.json").write_bytes("{\"r\": \"caf\xe9\"}".encode("latin-1"))
    from osgeo import gdal

    work.path("gone.tif").write_bytes(work.path("scene.tif").read_bytes())
    gdal.BuildVRT(str(work.path("mosaic.vrt")), [str(work.path("gone.tif"))]).FlushCache()
    work.path("gone.tif").unlink()  # moved or deleted after the VRT was built
    detect = ["detect", "--out", "d.gpkg"]
    _expect(work, [
        ("a VRT whose source file is gone", [*detect, "--model", "model.onnx", "--raster", "mosaic.vrt"], 2,
         "raster mosaic.vrt is a VRT whose source file(s)"),
        ("a GeoTIFF given as the model", [*detect, "--model", "scene.tif", "--raster", "scene.tif"], 2, "scene.tif"),
        ("a folder given as the model", [*detect, "--model", "folder", "--raster", "scene.tif"], 2, "folder"),
        ("a folder given as the scene", [*detect, "--model", "model.onnx", "--raster", "folder"], 2,
         "raster folder is a folder GDAL cannot read as a raster; give the raster file"),
        ("a GeoPackage given as the scene", [*detect, "--model", "model.onnx", "--raster", "inventory.gpkg"], 2,
         "inventory.gpkg"),
        ("a text file given as the scene", [*detect, "--model", "model.onnx", "--raster", "notes.txt"], 2,
         "notes.txt"),
        ("a missing scene", [*detect, "--model", "model.onnx", "--raster", "missing.tif"], 2,
         "--raster missing.tif does not exist"),
        ("a GeoTIFF given as the inventory", ["export", "--raster", "scene.tif", "--inventory", "scene.tif",
                                              "--patch-size", "32", "--out", "ds"], 2, "scene.tif"),
        ("an empty folder given as the inventory", ["analyse", "folder", "--pixel-size", "3", "--json", "a.json"], 2,
         "folder"),
        ("a GeoTIFF given as --patch-size-from", ["export", "--raster", "scene.tif", "--inventory", "inventory.gpkg",
                                                  "--patch-size-from", "scene.tif", "--out", "ds"], 2, "scene.tif"),
        ("a non-UTF-8 file given as --patch-size-from", ["export", "--raster", "scene.tif", "--inventory",
                                                         "inventory.gpkg", "--patch-size-from", "latin1.json",
                                                         "--out", "ds"], 2, "latin1.json is not UTF-8 text"),
        ("a folder given as the checkpoint", ["export-onnx", "folder", "--out", "m.onnx"], 2, "folder"),
        ("a dataset folder that is not one", ["evaluate", "--model", "model.onnx", "--data", "folder", "--json",
                                              "e.json"], 2, "folder"),
    ])


def _bad_geometries(path):
    wkts = [square(X0 + 30, Y0 - 120, 45), None, "POLYGON EMPTY",
            f"POLYGON(({X0 + 150} {Y0 - 150},{X0 + 210} {Y0 - 90},{X0 + 210} {Y0 - 150},{X0 + 150} {Y0 - 90},"
            f"{X0 + 150} {Y0 - 150}))",  # a bow tie: self-intersecting
            f"POLYGON(({X0 + 300} {Y0 - 300},{X0 + 360} {Y0 - 300},{X0 + 360} {Y0 - 360},{X0 + 300} {Y0 - 300},"
            f"{X0 + 300} {Y0 - 300}))",  # a repeated point
            f"POLYGON(({X0 + 100} {Y0 - 400},{X0 + 160} {Y0 - 400},{X0 + 100} {Y0 - 400}))",  # no area
            square(X0 + 240, Y0 - 240, 60)]
    return write_polygons(path, wkts)


def test_inventories_with_bad_geometries_or_elsewhere(work):
    work.add("scene.tif", "model.onnx")
    _bad_geometries(work.path("bad geometries.gpkg"))
    write_polygons(work.path("elsewhere.gpkg"), [square(X0 + 1e6, Y0, 60), square(X0 + 1e6, Y0 - 200, 80)])
    write_polygons(work.path("wrong crs.gpkg"), [square(30, 10, 0.01)], epsg=4326)
    write_polygons(work.path("a slip.gpkg"), [square(X0 + 90, Y0 - 90, 60), "POLYGON((0 0,1e9 0,1e9 1e9,0 0))"])
    export = ["export", "--raster", "scene.tif", "--patch-size", "32", "--min-fraction", "0.01", "--tolerance", "1",
              "--out", "ds"]
    evaluate = ["evaluate", "--model", "model.onnx", "--raster", "scene.tif", "--json", "e.json"]
    _expect(work, [
        ("null, empty, self-intersecting and degenerate polygons (analyse)",
         ["analyse", "bad geometries.gpkg", "--pixel-size", "3", "--json", "a.json"], 0, "repaired"),
        ("an inventory beside the scene (export)", [*export, "--inventory", "elsewhere.gpkg"], 2,
         "overlaps raster"),  # said before the scan, not as a hedged "no patch kept" after it
        ("an inventory beside the scene (evaluate)", [*evaluate, "--inventory", "elsewhere.gpkg"], 2,
         "overlaps raster"),
        ("an inventory in another place and CRS (evaluate)", [*evaluate, "--inventory", "wrong crs.gpkg"], 2,
         "overlaps raster"),
        ("a polygon digitized at 1e9 m, outside the CRS's domain (analyse)",  # was PROJ's RuntimeError
         ["analyse", "a slip.gpkg", "--pixel-size", "3", "--json", "slip.json"], 0,
         "1 feature(s) skipped: 1 outside its CRS's domain"),
    ])
    report = json.loads(work.path("a.json").read_text())
    assert report["n_features"] == 7 and report["n_repaired"] >= 1 and report["n_skipped"] >= 2
    work.path("a.json").unlink()
    proc = work.run(*export, "--inventory", "bad geometries.gpkg", area=AREA,
                    case="null, empty, self-intersecting and degenerate polygons (export)")
    assert proc.returncode == 2 and "blocking problem" in proc.stderr and "lmhld validate" in proc.stderr, proc.stderr
    assert not work.path("ds").exists()  # refused before any work: a repair would have to guess the shapes
    proc = work.run("validate", "bad geometries.gpkg", "--repair", "fixed.gpkg", area=AREA,
                    case="the validation's repaired copy")
    assert proc.returncode == 1 and work.path("fixed.gpkg").exists(), proc.stderr  # 1: blocking problems found
    proc = work.run(*export, "--inventory", "fixed.gpkg", area=AREA, case="export of the repaired copy")
    assert proc.returncode == 0, proc.stderr
    card = json.loads((work.path("ds") / "dataset.json").read_text())
    assert card["inventory"]["n_features"] >= 3


def test_odd_rasters(work):
    work.add("model.onnx", "inventory.gpkg")
    bands = ["blue", "green", "red", "nir"]
    write_raster(work.path("nodata.tif"), np.zeros((4, 96, 96), np.uint16), nodata=0, descriptions=bands)
    write_raster(work.path("one pixel.tif"), np.full((4, 1, 1), 700, np.uint16), descriptions=bands)
    rng = np.random.default_rng(0)
    write_raster(work.path("small.tif"), rng.integers(300, 3000, (4, 40, 40)).astype(np.uint16), descriptions=bands)
    write_polygons(work.path("small.gpkg"), [square(X0 + 30, Y0 - 60, 30)])
    patch = rng.integers(300, 3000, (4, 40, 40)).astype(np.uint16)  # a dataset patch (CAS): no geotransform
    write_raster(work.path("patch.tif"), patch, descriptions=bands, georeferenced=False, epsg=None)
    write_raster(work.path("patch with crs.tif"), patch, descriptions=bands, georeferenced=False)  # gdal_edit -a_srs
    from osgeo import gdal

    site = gdal.Open(str(write_raster(work.path("site grid.tif"), patch, descriptions=bands, epsg=None)), 1)
    site.SetProjection('LOCAL_CS["site grid",UNIT["metre",1]]')  # a UAV survey's own grid, tied to no datum
    site = None
    detect = ["detect", "--model", "model.onnx", "--threshold", "0.5"]
    _expect(work, [
        ("a dataset patch without georeferencing (detect)", [*detect, "--raster", "patch.tif", "--out", "p.gpkg"], 2,
         ("patch.tif is not georeferenced: it has no geotransform and no CRS", "gdal_translate -a_srs EPSG:XXXX")),
        ("a dataset patch given a CRS but no geotransform (detect)",
         [*detect, "--raster", "patch with crs.tif", "--out", "p.gpkg"], 2,
         "is not georeferenced: it has no geotransform, so its pixels have no place on the ground"),
        ("a scene in a local site grid (detect)", [*detect, "--raster", "site grid.tif", "--out", "p.gpkg"], 2,
         ("has a local CRS ('site grid'", "assign every layer of the site one projected CRS in metres")),
        ("a dataset patch without georeferencing (export)", ["export", "--raster", "patch.tif", "--inventory",
                                                             "inventory.gpkg", "--patch-size", "32", "--out", "ds"], 2,
         "patch.tif is not georeferenced"),
        ("a dataset patch without georeferencing (analyse)", ["analyse", "inventory.gpkg", "--raster", "patch.tif",
                                                              "--json", "a.json"], 2, "patch.tif is not georeferenced"),
        ("an all-nodata scene (evaluate)", ["evaluate", "--model", "model.onnx", "--raster", "nodata.tif",
                                            "--inventory", "inventory.gpkg", "--json", "e.json"], 2,
         "no valid pixel"),
        ("an all-nodata scene (export)", ["export", "--raster", "nodata.tif", "--inventory", "inventory.gpkg",
                                          "--patch-size", "32", "--out", "ds"], 2, "no patch kept"),
        ("a 1 x 1 scene (export)", ["export", "--raster", "one pixel.tif", "--inventory", "inventory.gpkg",
                                    "--patch-size", "32", "--out", "ds"], 2, "larger than every raster"),
    ])
    for case, raster in (("an all-nodata scene (detect)", "nodata.tif"), ("a 1 x 1 scene (detect)", "one pixel.tif"),
                         ("a scene smaller than one tile (detect)", "small.tif")):
        proc = work.run(*detect, "--raster", raster, "--out", f"{raster}.gpkg", "--json", f"{raster}.json",
                        area=AREA, case=case)
        assert proc.returncode == 0, proc.stderr
        result = json.loads(work.path(f"{raster}.json").read_text())
        assert result["n_polygons"] == 0 or raster != "nodata.tif"  # an untrained model may see one in 1 pixel
        assert result["n_windows"] == (4 if raster == "nodata.tif" else 1)  # 96 px: 2 x 2 windows of 64 px
    proc = work.run("evaluate", "--model", "model.onnx", "--raster", "small.tif", "--inventory", "small.gpkg",
                    "--json", "small.json", area=AREA, case="a scene smaller than one tile (evaluate)")
    assert proc.returncode == 0, proc.stderr
    scores = json.loads(work.path("small.json").read_text())
    assert scores["tp"] + scores["fp"] + scores["fn"] + scores["tn"] == 40 * 40
    assert all(v is None or np.isfinite(v) for v in scores.values() if isinstance(v, float | type(None)))
    # An inventory kept as the second layer of a project GeoPackage: --layer picks it; the first layer (a study
    # area's outline, far away) is refused as not overlapping, and scene options with --data are refused by name.
    from osgeo import gdal

    two = work.path("project.gpkg")
    write_polygons(two, [square(X0 + 1e6, Y0, 600)], layer="study_area")
    gdal.VectorTranslate(str(two), str(work.path("small.gpkg")), accessMode="update", layerName="landslides")
    scene = ["evaluate", "--model", "model.onnx", "--raster", "small.tif", "--inventory", "project.gpkg"]
    _expect(work, [
        ("the first layer of a GeoPackage of several (evaluate)", [*scene, "--json", "first.json"], 2,
         ("overlaps raster", "project.gpkg holds 2 layers (study_area, landslides) and its first, 'study_area', was "
                             "read: name the one to use (--layer)")),
        ("scene options on a dataset split (evaluate)", ["evaluate", "--model", "model.onnx", "--data", "small.tif",
                                                         "--layer", "landslides", "--json", "d.json"], 2,
         "--layer belongs to a whole scene"),
    ])
    proc = work.run(*scene, "--layer", "landslides", "--json", "layer.json", area=AREA,
                    case="the inventory's layer named (evaluate --layer)")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(work.path("layer.json").read_text())["tp"] == scores["tp"]


@pytest.mark.slow
def test_the_whole_way_through_paths_with_spaces_and_accents(work):
    work.add("scene.tif", "inventory.gpkg")
    (work.path("scène été")).mkdir()
    for name in ("scene.tif", "inventory.gpkg"):
        work.path(name).rename(work.path("scène été") / f"{name.split('.')[0]} ü ø.{name.split('.')[1]}")
    scene, inventory = "scène été/scene ü ø.tif", "scène été/inventory ü ø.gpkg"
    steps = [
        ("analyse with spaces and accents in the paths", ["analyse", inventory, "--raster", scene, "--json",
                                                          "résultats/analyse é.json", "--html", "résultats/a b.html"]),
        ("export with spaces and accents in the paths", ["export", "--raster", scene, "--inventory", inventory,
                                                         "--patch-size", "32", "--min-fraction", "0.05",
                                                         "--tolerance", "0.3", "--out", "jeu de données"]),
    ]
    for case, args in steps:
        proc = work.run(*args, area=AREA, case=case)
        assert proc.returncode == 0, proc.stderr
    assert (work.path("jeu de données") / "dataset.json").exists()
    assert json.loads(work.path("résultats/analyse é.json").read_text())["n_features"] > 0


def test_an_inventory_another_program_is_writing(work):
    """QGIS saving its edits holds an exclusive SQLite lock: 'database is locked; give a file OGR can read' told the
    user the file was of the wrong kind."""
    import sqlite3

    work.add("inventory.gpkg")
    holder = sqlite3.connect(work.path("inventory.gpkg"), isolation_level=None)
    try:
        holder.execute("BEGIN EXCLUSIVE")
        proc = work.run("validate", "inventory.gpkg", area=AREA, case="an inventory another program is writing")
    finally:
        holder.close()
    assert proc.returncode == 2 and "another program is writing it" in proc.stderr, proc.stderr
    assert "give a file OGR can read" not in proc.stderr
