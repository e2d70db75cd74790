"""Outputs never destroy inputs or other files: refused before any work, replaced only with --overwrite (and a folder
only when lmhld wrote it), locked while written, created with the user's umask."""

from __future__ import annotations

import json
import os
import signal
import subprocess

import pytest

from .conftest import interrupt, parts_of, record, wait_for

AREA = "Outputs"


def test_outputs_equal_to_inputs_are_refused(work):
    work.add("scene.tif", "inventory.gpkg", "model.onnx")
    before = work.snapshot()
    cases = [
        ("--prob is the scene", ["detect", "--model", "model.onnx", "--raster", "scene.tif", "--out", "d.gpkg",
                                 "--prob", "scene.tif"], "--prob scene.tif is the input --raster scene.tif"),
        ("--out is the area of interest", ["detect", "--model", "model.onnx", "--raster", "scene.tif", "--aoi",
                                           "inventory.gpkg", "--out", "inventory.gpkg"], "is the input --aoi"),
        ("--polygons is the inventory", ["evaluate", "--model", "model.onnx", "--raster", "scene.tif", "--inventory",
                                         "inventory.gpkg", "--polygons", "inventory.gpkg", "--json", "e.json"],
         "--polygons inventory.gpkg is the input --inventory"),
        ("--error-map is the scene", ["evaluate", "--model", "model.onnx", "--raster", "scene.tif", "--inventory",
                                      "inventory.gpkg", "--error-map", "scene.tif", "--json", "e.json"],
         "--error-map scene.tif is the input --raster"),
        ("--json is the model", ["evaluate", "--model", "model.onnx", "--raster", "scene.tif", "--inventory",
                                 "inventory.gpkg", "--json", "model.onnx"], "--json model.onnx is the input --model"),
        ("--json is the GeoPackage's journal", ["evaluate", "--model", "model.onnx", "--raster", "scene.tif",
                                                "--inventory", "inventory.gpkg", "--json", "inventory.gpkg-journal"],
         "(a file of inventory.gpkg)"),
        ("two outputs are one file", ["evaluate", "--model", "model.onnx", "--raster", "scene.tif", "--inventory",
                                      "inventory.gpkg", "--polygons", "x.gpkg", "--json", "x.gpkg"],
         "would overwrite each other"),
        ("--json of analyse is the inventory", ["analyse", "inventory.gpkg", "--pixel-size", "3", "--json",
                                                "inventory.gpkg"], "is the input inventory"),
        ("export-onnx --out is the checkpoint", ["export-onnx", "model.onnx", "--out", "model.onnx"],
         "is the input checkpoint"),
    ]
    for case, args, words in cases:
        proc = work.run(*args, area=AREA, case=case)
        assert proc.returncode == 2 and words in proc.stderr, proc.stderr
    assert work.snapshot() == before


def test_a_vrt_source_is_an_input_too(work):
    from osgeo import gdal

    work.add("scene.tif", "model.onnx")
    gdal.BuildVRT(str(work.path("scene.vrt")), [str(work.path("scene.tif"))])
    before = work.snapshot()
    proc = work.run("detect", "--model", "model.onnx", "--raster", "scene.vrt", "--out", "d.gpkg", "--prob",
                    "scene.tif", area=AREA, case="--prob is a file the VRT scene reads")
    assert proc.returncode == 2 and "(a file of scene.vrt)" in proc.stderr
    assert work.snapshot() == before


def test_existing_outputs_need_overwrite(work):
    work.add("scene.tif", "model.onnx")
    (work.path("p.qml")).write_text("<qgis>my own style</qgis>")
    args = ["detect", "--model", "model.onnx", "--raster", "scene.tif", "--out", "d.gpkg", "--prob", "p.tif"]
    proc = work.run(*args, area=AREA, case="--prob whose .qml style exists")
    assert proc.returncode == 2 and "p.qml exists; pass --overwrite" in proc.stderr
    assert work.path("p.qml").read_text() == "<qgis>my own style</qgis>" and not work.path("d.gpkg").exists()
    work.path("p.qml").unlink()
    assert work.run(*args, area=AREA, case="detect into new files").returncode == 0
    before = work.snapshot()
    proc = work.run(*args, area=AREA, case="detect again over its outputs")
    assert proc.returncode == 2 and "--out d.gpkg exists; pass --overwrite" in proc.stderr
    assert work.snapshot() == before
    proc = work.run(*args, "--overwrite", area=AREA, case="detect again with --overwrite")
    assert proc.returncode == 0


def test_overwrite_never_deletes_what_lmhld_did_not_write(work):
    work.add("scene.tif", "inventory.gpkg")
    folder = work.path("D")
    folder.mkdir()
    for name in ("scene.tif", "inventory.gpkg"):
        os.replace(work.path(name), folder / name)
    (folder / "notes.txt").write_text("field notes")
    before = work.snapshot()
    proc = work.run("export", "--raster", "D/scene.tif", "--inventory", "D/inventory.gpkg", "--patch-size", "32",
                    "--out", "D", "--overwrite", area=AREA, case="--overwrite of the folder holding the inputs")
    assert proc.returncode == 2 and "lies inside the output folder --out D" in proc.stderr
    work.add("scene.tif", "inventory.gpkg")
    export = ["export", "--raster", "scene.tif", "--inventory", "inventory.gpkg", "--patch-size", "32",
              "--min-fraction", "0.05", "--tolerance", "0.3"]
    proc = work.run(*export, "--out", "D", "--overwrite", area=AREA,
                    case="--overwrite of a folder of the user's files")
    assert proc.returncode == 2 and "holds files lmhld did not write" in proc.stderr
    assert {k: v for k, v in work.snapshot().items() if k.startswith("D")} == before
    assert work.run(*export, "--out", "E", area=AREA, case="export to a new folder").returncode == 0
    proc = work.run(*export, "--out", "E", area=AREA, case="export again without --overwrite")
    assert proc.returncode == 2 and "--out E is not empty" in proc.stderr
    (work.path("E") / "notes.txt").write_text("mine")
    proc = work.run(*export, "--out", "E", "--overwrite", area=AREA,
                    case="--overwrite of a dataset the user added a file to")
    assert proc.returncode == 2 and "(notes.txt)" in proc.stderr and (work.path("E") / "notes.txt").exists()
    (work.path("E") / "notes.txt").unlink()
    (work.path("E") / "mask" / "notes.txt").write_text("hand-corrected masks: hours of work")
    proc = work.run(*export, "--out", "E", "--overwrite", area=AREA,
                    case="--overwrite of a dataset the user added a file to, inside its mask/ folder")
    assert proc.returncode == 2 and "(mask/notes.txt)" in proc.stderr
    assert (work.path("E") / "mask" / "notes.txt").exists()
    (work.path("E") / "mask" / "notes.txt").unlink()
    from osgeo import gdal

    patch = next((work.path("E") / "img").iterdir())
    gdal.Info(str(patch), stats=True)  # QGIS opening a patch leaves GDAL's statistics beside it: not the user's file
    assert patch.with_name(patch.name + ".aux.xml").exists()
    proc = work.run(*export, "--out", "E", "--overwrite", "--seed", "3", area=AREA,
                    case="--overwrite of a dataset lmhld wrote")
    assert proc.returncode == 0 and json.loads((work.path("E") / "dataset.json").read_text())["seed"] == 3


def test_overwrite_never_deletes_other_layers_of_a_geopackage(work):
    """`detect --out inventory.gpkg --overwrite` replaced the whole file: the inventory and an area of interest kept
    in it were gone; so was the negatives layer a review adds beside its detections."""
    from osgeo import ogr

    work.add("scene.tif", "model.onnx", "inventory.gpkg")
    ds = ogr.Open(str(work.path("inventory.gpkg")), 1)
    ds.CreateLayer("my_aoi", ds.GetLayer(0).GetSpatialRef(), ogr.wkbPolygon)
    ds = None
    before = work.snapshot()
    args = ["detect", "--model", "model.onnx", "--raster", "scene.tif", "--overwrite"]
    proc = work.run(*args, "--out", "inventory.gpkg", area=AREA,
                    case="detect --overwrite into a GeoPackage of other layers")
    assert proc.returncode == 2 and "holds the layer(s) " in proc.stderr and "my_aoi" in proc.stderr, proc.stderr
    assert work.snapshot() == before
    assert work.run(*args, "--out", "d.gpkg", area=AREA, case="detect into a new GeoPackage").returncode == 0
    ds = ogr.Open(str(work.path("d.gpkg")), 1)
    ds.CreateLayer("negatives", ds.GetLayer(0).GetSpatialRef(), ogr.wkbMultiPolygon)  # as the review dock adds
    ds = None
    proc = work.run(*args, "--out", "d.gpkg", area=AREA, case="detect --overwrite over reviewed detections")
    assert proc.returncode == 2 and "holds the layer(s) negatives" in proc.stderr, proc.stderr


def test_overwrite_never_replaces_an_inventory_or_another_commands_layers(work):
    """create-inventory names its layer `landslides`, as detection names its polygons: `detect --overwrite` into
    the annotator's inventory replaced nine digitised polygons by detections; rank, validate and create-inventory
    replaced a GeoPackage whatever other layers it held."""
    from osgeo import ogr

    work.add("scene.tif", "model.onnx", "inventory.gpkg")
    assert work.run("create-inventory", "mine.gpkg", "--crs", "EPSG:32618", area=AREA,
                    case="a new inventory").returncode == 0
    ds = ogr.Open(str(work.path("mine.gpkg")), 1)
    lyr = ds.GetLayer("landslides")
    feature = ogr.Feature(lyr.GetLayerDefn())
    feature.SetGeometry(ogr.CreateGeometryFromWkt("MULTIPOLYGON(((500010 3999900,500050 3999900,500050 3999950,"
                                                  "500010 3999900)))"))
    lyr.CreateFeature(feature)
    ds = None
    before = work.snapshot()
    proc = work.run("detect", "--model", "model.onnx", "--raster", "scene.tif", "--out", "mine.gpkg", "--overwrite",
                    area=AREA, case="detect --overwrite into an inventory")
    assert proc.returncode == 2 and "holds a layer landslides that this run did not write (it has no perimeter_m, " \
        "max_prob field: an inventory?)" in proc.stderr, proc.stderr
    ds = ogr.Open(str(work.path("mine.gpkg")), 1)
    ds.CreateLayer("my_aoi", ds.GetLayer(0).GetSpatialRef(), ogr.wkbPolygon)
    ds = None
    before = work.snapshot()
    for case, args in [("create-inventory --overwrite", ["create-inventory", "mine.gpkg", "--crs", "EPSG:32618"]),
                       ("validate --problems --overwrite", ["validate", "inventory.gpkg", "--problems", "mine.gpkg"]),
                       ("validate --repair --overwrite", ["validate", "inventory.gpkg", "--repair", "mine.gpkg"])]:
        proc = work.run(*args, "--overwrite", area=AREA, case=case)
        assert proc.returncode == 2 and "holds the layer(s) " in proc.stderr and "my_aoi" in proc.stderr, \
            (case, proc.stderr)
    assert work.snapshot() == before


def test_wrong_kinds_of_output_paths(work):
    work.add("scene.tif", "inventory.gpkg", "model.onnx")
    work.path("afile").write_text("x")
    work.path("adir.gpkg").mkdir()
    export = ["export", "--raster", "scene.tif", "--inventory", "inventory.gpkg", "--patch-size", "32"]
    detect = ["detect", "--model", "model.onnx", "--raster", "scene.tif"]
    for case, args, words in [
        ("export --out is a file", [*export, "--out", "afile"], "--out afile is a file; give a folder"),
        ("detect --out is a folder", [*detect, "--out", "adir.gpkg"], "--out adir.gpkg is a folder; give a file"),
        ("detect --out under a file", [*detect, "--out", "afile/d.gpkg"], "afile is a file, not a folder"),
        ("detect --out is empty", [*detect, "--out", ""], "give a name ending in .gpkg, got ''"),
        ("input missing, output folder not created", [*detect[:-1], "nowhere.tif", "--out", "new/sub/d.gpkg"],
         "--raster nowhere.tif does not exist"),
    ]:
        proc = work.run(*args, area=AREA, case=case)
        assert proc.returncode == 2 and words in proc.stderr, proc.stderr
    assert not work.path("new").exists()


def test_read_only_output_folder(work, readonly_dir):
    work.add("scene.tif", "inventory.gpkg", "model.onnx")
    ro = str(readonly_dir)
    for case, args in [
        ("export into a read-only folder", ["export", "--raster", "scene.tif", "--inventory", "inventory.gpkg",
                                            "--patch-size", "32", "--out", f"{ro}/ds"]),
        ("detect into a read-only folder", ["detect", "--model", "model.onnx", "--raster", "scene.tif", "--out",
                                            f"{ro}/d.gpkg"]),
        ("analyse into a read-only folder", ["analyse", "inventory.gpkg", "--pixel-size", "3", "--json",
                                             f"{ro}/a.json"]),
        ("create-inventory into a read-only folder", ["create-inventory", f"{ro}/inv.gpkg", "--crs", "EPSG:32618"]),
    ]:
        proc = work.run(*args, area=AREA, case=case)
        assert proc.returncode == 2 and "is read-only" in proc.stderr, proc.stderr
    assert list(readonly_dir.iterdir()) == []


def test_umask_is_respected(work):
    work.add("scene.tif", "inventory.gpkg")
    proc = work.run("export", "--raster", "scene.tif", "--inventory", "inventory.gpkg", "--patch-size", "32",
                    "--min-fraction", "0.05", "--tolerance", "0.3", "--out", "ds", area=AREA,
                    case="export under umask 027", preexec=lambda: os.umask(0o027))
    assert proc.returncode == 0
    ds = work.path("ds")
    assert ds.stat().st_mode & 0o777 == 0o750 and (ds / "img").stat().st_mode & 0o777 == 0o750
    assert (ds / "dataset.json").stat().st_mode & 0o777 == 0o640


def test_two_writers_to_one_output(work):
    work.add("scene.tif", "inventory.gpkg")
    export = ["export", "--raster", "scene.tif", "--inventory", "inventory.gpkg", "--patch-size", "32",
              "--min-fraction", "0.05", "--tolerance", "0.3", "--out", "ds"]
    first = work.spawn(*export)
    wait_for(lambda: work.path(".ds.lock").exists(), first)
    os.kill(first.pid, signal.SIGSTOP)  # hold the first writer mid-run
    try:
        second = work.run(*export, area=AREA, case="a second export to the same --out", others_running=True)
    finally:
        os.kill(first.pid, signal.SIGCONT)
    _, err = first.communicate(timeout=300)
    assert second.returncode == 2
    assert f"is being written by another lmhld process (pid {first.pid})" in second.stderr
    assert first.returncode == 0, err
    assert json.loads((work.path("ds") / "dataset.json").read_text())["patch_size"] == 32
    assert not work.leftovers()


@pytest.mark.slow
def test_a_killed_writer_leaves_nothing_that_looks_complete_and_the_next_run_sweeps(work):
    work.add("scene.tif", "inventory.gpkg", "model.onnx")
    detect = ["detect", "--model", "model.onnx", "--raster", "scene.tif", "--out", "d.gpkg", "--prob", "p.tif",
              "--batch-size", "1", "--overlap", "0.5"]
    proc = work.spawn(*detect)
    wait_for(lambda: parts_of(work.dir, "p.tif"), proc)
    killed = interrupt(proc, signal.SIGKILL)
    record(AREA, "detect killed (SIGKILL) mid-run", detect, killed, work.dir)
    assert killed.returncode == -signal.SIGKILL
    assert not work.path("d.gpkg").exists() and not work.path("p.tif").exists()  # nothing that looks complete
    assert work.leftovers()  # a killed process cannot clean up: its parts, lock and scratch folder remain ...
    again = subprocess.run(work.argv(tuple(detect)), cwd=work.dir, env=work.env, capture_output=True, text=True,
                           timeout=300)
    work.check(again)  # ... until the next run to the same outputs sweeps them
    record(AREA, "detect again after a killed run", detect, again, work.dir)
    assert again.returncode == 0 and work.path("d.gpkg").exists()
