"""lmhld:exportpatches through processing.run; its footprints layer loads in QGIS."""

from __future__ import annotations

import json

import pytest
from qgis.core import QgsProcessingException, QgsRasterLayer, QgsVectorLayer

from lmhld_qgis.core.synthetic import make_scene


@pytest.fixture(scope="module")
def scene(tmp_path_factory):
    return make_scene(tmp_path_factory.mktemp("scene"), width=640, height=640, n_landslides=90, seed=5)


def test_processing_run_exports_and_footprints_load(qgis_processing, lmhld_provider, scene, tmp_path):
    import processing

    raster = QgsRasterLayer(str(scene.raster), "scene")
    result = processing.run("lmhld:exportpatches", {
        "RASTERS": [raster], "INVENTORY": str(scene.inventory), "PATCH_SIZE": 64, "MIN_FRACTION": 0.1,
        "SPLIT": "0.7,0.2,0.1", "SPLIT_METHOD": 0, "SEED": 1, "NAME": "synthetic",
        "OUTPUT_FOLDER": str(tmp_path / "ds")})
    card = json.loads((tmp_path / "ds" / "dataset.json").read_text())
    assert card["name"] == "synthetic" and card["patch_size"] == 64 and sum(card["counts"].values()) > 10
    layer = QgsVectorLayer(result["OUTPUT_FOOTPRINTS"], "patches", "ogr")
    assert layer.isValid() and layer.featureCount() == sum(card["counts"].values())
    assert layer.crs().authid() == "EPSG:32618"
    assert {f["split"] for f in layer.getFeatures()} == {"train", "val", "test"}


def test_bad_band_is_a_processing_error(qgis_processing, lmhld_provider, scene, tmp_path):
    import processing

    with pytest.raises(QgsProcessingException, match="do not exist"):
        processing.run("lmhld:exportpatches", {"RASTERS": [str(scene.raster)], "INVENTORY": str(scene.inventory),
                                               "PATCH_SIZE": 64, "BANDS": "1,9",
                                               "OUTPUT_FOLDER": str(tmp_path / "ds")})
    assert not (tmp_path / "ds").exists() or not any((tmp_path / "ds").iterdir())
