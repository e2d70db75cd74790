"""The packaged plugin under the real qgis_process.bin (what batch users and CI scripts call)."""

from __future__ import annotations

import json
import sys
import zipfile

import pytest

import lmhld_qgis

from ..helpers import ROOT, square, write_polygons

pytestmark = pytest.mark.slow


def test_make_package_zip_has_metadata_inside_plugin_folder(tmp_path):
    sys.path.insert(0, str(ROOT / "tools"))
    from package import build_zip

    zpath = build_zip(tmp_path / "lmhld_qgis.zip")
    names = zipfile.ZipFile(zpath).namelist()
    assert "lmhld_qgis/metadata.txt" in names and "lmhld_qgis/__init__.py" in names
    assert "lmhld_qgis/processing/provider.py" in names
    assert all(n.startswith("lmhld_qgis/") for n in names) and not any("__pycache__" in n for n in names)
    meta = zipfile.ZipFile(zpath).read("lmhld_qgis/metadata.txt").decode()
    assert "qgisMinimumVersion=3.22" in meta and "hasProcessingProvider=yes" in meta
    assert f"\nname={lmhld_qgis.PLUGIN_NAME}\n" in meta  # the menu, the provider and the help say the same name


def test_qgis_process_lists_and_runs_analyse(qgis_process, tmp_path):
    listing = qgis_process.run("list")
    assert "lmhld:analyseinventory" in listing.stdout, listing.stdout[-2000:] + listing.stderr[-2000:]
    x, y = 500_000, 4_000_000
    inv = write_polygons(tmp_path / "inv.gpkg", [square(x + 100 * i, y, 10 + 3 * i) for i in range(30)])
    proc, result = qgis_process.run_algorithm("lmhld:analyseinventory", INVENTORY=inv, PIXEL_SIZE=1,
                                              OUTPUT_JSON=tmp_path / "r.json")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["n_landslides"] == 30
    assert result is not None and result["results"]["PATCH_Q1"] == report["recommended_patch_sizes"][0]


def test_qgis_process_reports_bad_input(qgis_process, tmp_path):
    inv = write_polygons(tmp_path / "inv.gpkg", [square(0, 0, 10)], epsg=None)
    proc, _ = qgis_process.run_algorithm("lmhld:analyseinventory", INVENTORY=inv, PIXEL_SIZE=1,
                                         OUTPUT_JSON=tmp_path / "r.json")
    assert proc.returncode != 0
    assert "has no CRS" in proc.stdout + proc.stderr
    assert not (tmp_path / "r.json").exists()


def test_qgis_process_exports_patches(qgis_process, tmp_path):
    from lmhld_qgis.core.synthetic import make_scene

    scene = make_scene(tmp_path / "scene", width=512, height=512, n_landslides=70, seed=3)
    proc, result = qgis_process.run_algorithm("lmhld:exportpatches", RASTERS=scene.raster,
                                              INVENTORY=scene.inventory, PATCH_SIZE=64,
                                              OUTPUT_FOLDER=tmp_path / "ds")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    card = json.loads((tmp_path / "ds" / "dataset.json").read_text())
    assert sum(card["counts"].values()) == len(list((tmp_path / "ds" / "img").iterdir()))
    assert result["results"]["OUTPUT_FOOTPRINTS"].startswith(str(tmp_path / "ds" / "patches.gpkg"))


def test_qgis_process_detects_landslides(qgis_process, small_onnx_model, tmp_path):
    from osgeo import ogr

    from lmhld_qgis.core.synthetic import make_scene

    scene = make_scene(tmp_path / "scene", width=256, height=256, n_landslides=15, seed=3)
    proc, result = qgis_process.run_algorithm("lmhld:detectlandslides", RASTER=scene.raster, MODEL=small_onnx_model,
                                              THRESHOLD=0.0, OUTPUT=tmp_path / "l.gpkg",
                                              OUTPUT_PROB=tmp_path / "p.tif")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    ds = ogr.Open(str(tmp_path / "l.gpkg"))
    lyr = ds.GetLayer("landslides")
    assert lyr.GetFeatureCount() == result["results"]["N_POLYGONS"] >= 1
    assert all(f.GetGeometryRef().IsValid() for f in lyr)


def test_qgis_process_trains_a_model(qgis_process, areas, tmp_path):
    proc, _ = qgis_process.run_algorithm("lmhld:trainmodel", DATA=areas["a32"], EPOCHS=1, BATCH_SIZE=8, WIDTH=4,
                                              OUTPUT_FOLDER=tmp_path / "run")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert (tmp_path / "run" / "model.onnx").exists() and (tmp_path / "run" / "metrics.csv").exists()
