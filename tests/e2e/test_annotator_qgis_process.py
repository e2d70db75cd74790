"""The annotator's algorithms from the packaged plugin under the real qgis_process.bin."""

from __future__ import annotations

import json

import pytest
from osgeo import ogr

from ..inventories import crafted_inventory, expected_counts

pytestmark = pytest.mark.slow


def test_qgis_process_validates_and_creates(qgis_process, tmp_path):
    listing = qgis_process.run("list").stdout
    for alg in ("lmhld:createinventory", "lmhld:validateinventory", "lmhld:ranktiles"):
        assert alg in listing, alg
    inv, raster = crafted_inventory(tmp_path)
    proc, _ = qgis_process.run_algorithm("lmhld:validateinventory", INVENTORY=inv, RASTER=raster,
                                         OUTPUT=tmp_path / "problems.gpkg", OUTPUT_JSON=tmp_path / "v.json")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    summary = json.loads((tmp_path / "v.json").read_text())
    assert {k: n for k, n in summary["by_kind"].items() if n} == expected_counts()
    ds = ogr.Open(str(tmp_path / "problems.gpkg"))
    assert ds.GetLayer(0).GetFeatureCount() == summary["n_problems"]
    ds = None
    proc, _ = qgis_process.run_algorithm("lmhld:createinventory", OUTPUT=tmp_path / "new.gpkg", RASTER=raster)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert (tmp_path / "new.gpkg").exists()
