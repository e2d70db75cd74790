"""lmhld:previewpatches in QGIS: a styled layer of every window, whose kept windows are what
lmhld:exportpatches then writes with the same parameters."""

from __future__ import annotations

from collections import Counter

import pytest
from qgis.core import QgsProcessingException, QgsVectorLayer

from lmhld_qgis.core.synthetic import make_scene

from .feedback import WarningsFeedback


@pytest.fixture(scope="module")
def scene(tmp_path_factory):
    return make_scene(tmp_path_factory.mktemp("scene"), width=384, height=352, n_landslides=40, seed=6,
                      preset="hard")


def test_preview_is_styled_and_equals_the_export(qgis_processing, lmhld_provider, scene, tmp_path):
    import processing

    common = {"RASTERS": [str(scene.raster)], "INVENTORY": str(scene.inventory), "PATCH_SIZE": 32,
              "NEGATIVES": str(scene.distractors), "BACKGROUND_SHARE": 0.25, "TOLERANCE": 0.02, "SEED": 3}
    result = processing.run("lmhld:previewpatches", common | {"OUTPUT": str(tmp_path / "preview.gpkg")})
    layer = QgsVectorLayer(result["OUTPUT_LAYER"], "preview", "ogr")
    assert layer.isValid() and layer.crs().authid() == "EPSG:32618"
    renderer = layer.renderer()  # the style stored in the GeoPackage is the layer's default
    assert renderer.type() == "categorizedSymbol" and renderer.classAttribute() == "category"
    shown = {c.value(): c.renderState() for c in renderer.categories()}
    assert shown == {"train": True, "val": True, "test": True, "dropped": True, "dropped overlap": False,
                     "kept": True}
    windows = list(layer.getFeatures())
    kept = {f["id"]: (f["split"], f["kind"]) for f in windows if f["status"] == "kept"}
    assert Counter(kind for _, kind in kept.values()).keys() == {"landslide", "background", "negative"}
    assert {f["reason"] for f in windows if f["status"] == "dropped"} >= {"no_landslide", "overlaps_other_split"}

    exported = processing.run("lmhld:exportpatches", common | {"OUTPUT_FOLDER": str(tmp_path / "ds")})
    footprints = QgsVectorLayer(exported["OUTPUT_FOOTPRINTS"], "patches", "ogr")
    assert {f["id"]: (f["split"], f["kind"]) for f in footprints.getFeatures()} == kept
    del layer, footprints


def test_paper_recipe_and_a_bad_stride_through_processing(qgis_processing, lmhld_provider, scene, tmp_path):
    import processing

    result = processing.run("lmhld:previewpatches", {
        "RASTERS": [str(scene.raster)], "INVENTORY": str(scene.inventory), "PATCH_SIZE": 32, "RECIPE": 1,
        "MIN_FRACTION": 0.05, "OUTPUT": str(tmp_path / "paper.gpkg")})
    layer = QgsVectorLayer(result["OUTPUT_LAYER"], "preview", "ogr")
    placements = {f["placement"] for f in layer.getFeatures()}
    kinds = {f["kind"] for f in layer.getFeatures() if f["status"] == "kept"}
    assert placements == {"grid"} and kinds == {"landslide"}
    del layer
    with pytest.raises(QgsProcessingException, match="stride must be an integer from 1 to the patch size"):
        processing.run("lmhld:previewpatches", {"RASTERS": [str(scene.raster)], "INVENTORY": str(scene.inventory),
                                                "PATCH_SIZE": 32, "STRIDE": 48,
                                                "OUTPUT": str(tmp_path / "bad.gpkg")})
    assert not (tmp_path / "bad.gpkg").exists()


def test_a_preview_of_too_few_windows_still_shows_them(qgis_processing, lmhld_provider, scene, tmp_path):
    """Where export refuses (too few windows kept to split), the preview layer is written anyway (with a warning
    that names the refusal), so the reasons can be looked at on the map."""
    import processing

    feedback = WarningsFeedback()
    result = processing.run("lmhld:previewpatches", {
        "RASTERS": [str(scene.raster)], "INVENTORY": str(scene.inventory), "PATCH_SIZE": 128, "RECIPE": 1,
        "MIN_FRACTION": 0.6, "OUTPUT": str(tmp_path / "few.gpkg")}, feedback=feedback)
    layer = QgsVectorLayer(result["OUTPUT_LAYER"], "preview", "ogr")
    assert layer.isValid() and layer.featureCount() > 0
    assert all(f["status"] == "dropped" or not f["split"] for f in layer.getFeatures())
    assert any(text.startswith("Export would refuse this: no patch kept") for text in feedback.said), feedback.said
    del layer
