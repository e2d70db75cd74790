"""lmhld:analyseinventory through processing.run, in a graphical model, and the plugin's load/unload."""

from __future__ import annotations

import json

import pytest
from qgis.core import NULL, QgsApplication, QgsProcessingException, QgsVectorLayer

from ..helpers import square, write_polygons


@pytest.fixture
def inventory(tmp_path):
    x, y = 500_000, 4_000_000
    return write_polygons(tmp_path / "inv.gpkg", [square(x + 200 * i, y, 20 + 10 * i) for i in range(12)] + [None])


def test_processing_run_writes_reports_and_layer(qgis_processing, lmhld_provider, inventory, tmp_path):
    import processing

    layer = QgsVectorLayer(str(inventory), "inv", "ogr")
    result = processing.run("lmhld:analyseinventory", {
        "INVENTORY": layer, "PIXEL_SIZE": 2.0, "FRACTION": 0.1, "CANDIDATES": "32,64,128,224,256",
        "OUTPUT_JSON": str(tmp_path / "r.json"), "OUTPUT_HTML": str(tmp_path / "r.html"),
        "OUTPUT": "memory:areas"})
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["n_features"] == 13 and report["n_skipped"] == 1 and report["pixel_size_m"] == 2.0
    assert result["PATCH_Q2"] == report["recommended_patch_sizes"][1]
    assert (tmp_path / "r.html").stat().st_size > 10_000
    out = result["OUTPUT"]
    assert isinstance(out, QgsVectorLayer)
    areas = [f["area_m2"] for f in out.getFeatures()]
    known = [a for a in areas if a != NULL]
    assert out.featureCount() == 13 and len(known) == 12 and areas.count(NULL) == 1
    assert min(known) == pytest.approx(400.0, rel=2e-3)  # 20 m square near UTM's central meridian


def test_the_layer_with_areas_holds_the_unsaved_polygons_too(qgis_processing, lmhld_provider, inventory, tmp_path):
    """Written to a GeoPackage, the copy of an inventory being digitized (an unsaved polygon's fid is the text
    "Autogenerate") lost every row; the dialog then found a GeoPackage with no layer."""
    import processing
    from osgeo import ogr
    from qgis.core import QgsGeometry, QgsVectorLayerUtils

    layer = QgsVectorLayer(str(inventory), "inv", "ogr")
    assert layer.startEditing()
    new = QgsVectorLayerUtils.createFeature(layer, QgsGeometry.fromWkt(square(500_000, 4_000_500, 30)), {},
                                            layer.createExpressionContext())
    assert layer.addFeature(new)
    from qgis.core import QgsProcessingFeedback

    said = []

    class Feedback(QgsProcessingFeedback):
        def pushInfo(self, info):
            said.append(info)

    processing.run("lmhld:analyseinventory", {"INVENTORY": layer, "PIXEL_SIZE": 2.0,
                                              "OUTPUT_JSON": str(tmp_path / "r.json"),
                                              "OUTPUT": str(tmp_path / "areas.gpkg")}, feedback=Feedback())
    # the unsaved polygon is used, and said to be (a probe's export was cut from 6 unsaved polygons without a word)
    assert "inv is read with its unsaved edits (1 added, 0 reshaped, 0 deleted), as the map shows it; save them " \
           "(Toggle Editing) so that the file holds what this run used" in said
    ds = ogr.Open(str(tmp_path / "areas.gpkg"))
    areas = sorted(f.GetField("area_m2") or 0 for f in ds.GetLayer(0))
    assert len(areas) == 14 and [round(a) for a in areas].count(901) == 2  # the new 30 m square beside the saved one
    ds = None
    layer.rollBack()


def test_bad_pixel_size_raises_processing_exception(qgis_processing, lmhld_provider, inventory, tmp_path):
    import processing

    with pytest.raises(QgsProcessingException,
                       match=r"give the pixel size: a reference raster of the imagery \(\"Imagery \(gives the pixel "
                             r"size\)\" \(RASTER\)\), or a pixel size in metres \(\"Pixel size"):
        processing.run("lmhld:analyseinventory", {"INVENTORY": str(inventory), "OUTPUT_JSON": str(tmp_path / "r.json")})
    assert not (tmp_path / "r.json").exists()


def test_runs_inside_a_graphical_model(qgis_processing, lmhld_provider, inventory, tmp_path):
    from qgis.core import (
        QgsProcessingContext,
        QgsProcessingFeedback,
        QgsProcessingModelAlgorithm,
        QgsProcessingModelChildAlgorithm,
        QgsProcessingModelChildParameterSource,
        QgsProcessingModelParameter,
        QgsProcessingParameterFileDestination,
        QgsProcessingParameterVectorLayer,
    )

    model = QgsProcessingModelAlgorithm("analyse model", "tests")
    model.addModelParameter(QgsProcessingParameterVectorLayer("inv", "Inventory"), QgsProcessingModelParameter("inv"))
    model.addModelParameter(QgsProcessingParameterFileDestination("report", "Report"),
                            QgsProcessingModelParameter("report"))
    child = QgsProcessingModelChildAlgorithm("lmhld:analyseinventory")
    child.setChildId("analyse")
    child.addParameterSources("INVENTORY", [QgsProcessingModelChildParameterSource.fromModelParameter("inv")])
    child.addParameterSources("PIXEL_SIZE", [QgsProcessingModelChildParameterSource.fromStaticValue(1.5)])
    child.addParameterSources("OUTPUT_JSON", [QgsProcessingModelChildParameterSource.fromModelParameter("report")])
    model.addChildAlgorithm(child)
    context, feedback = QgsProcessingContext(), QgsProcessingFeedback()
    ok = model.prepare({"inv": str(inventory), "report": str(tmp_path / "m.json")}, context, feedback)
    assert ok
    _, ok = model.run({"inv": str(inventory), "report": str(tmp_path / "m.json")}, context, feedback)
    assert ok
    assert json.loads((tmp_path / "m.json").read_text())["pixel_size_m"] == 1.5


def test_plugin_loads_and_unloads_cleanly(qgis_iface, qgis_processing):
    import lmhld_qgis

    registry = QgsApplication.processingRegistry()
    existing = registry.providerById("lmhld")
    if existing is not None:  # registered by another test's fixture: start clean
        registry.removeProvider(existing)
    plugin = lmhld_qgis.classFactory(qgis_iface)
    plugin.initGui()
    assert registry.providerById("lmhld") is not None
    assert registry.algorithmById("lmhld:analyseinventory") is not None
    plugin.unload()
    assert registry.providerById("lmhld") is None
    plugin.initProcessing()  # and again, as QGIS does when a plugin is reloaded
    assert registry.algorithmById("lmhld:analyseinventory") is not None
    plugin.unload()
