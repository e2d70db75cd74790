"""lmhld:scoredetections: reviewed detections scored as they are, unsaved edits and review decisions included."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from qgis.core import QgsField, QgsProject, QgsVectorLayer
from qgis.PyQt.QtCore import QVariant

from lmhld_qgis.core.detect import DetectOptions
from lmhld_qgis.core.evaluate import evaluate_scene
from lmhld_qgis.core.synthetic import make_scene

from ..core.test_evaluate import RedBackend


def test_reviewed_detections_are_scored_with_their_unsaved_edits(qgis_processing, lmhld_provider, tmp_path):
    import processing

    scene = make_scene(tmp_path / "s", width=400, height=300, n_landslides=30, seed=9)
    polys, prob = tmp_path / "det.gpkg", tmp_path / "prob.tif"
    delivered = evaluate_scene(RedBackend(), scene.raster, scene.inventory, polygons_out=polys, prob_out=prob,
                               options=DetectOptions(min_area_m2=50))
    layer = QgsVectorLayer(f"{polys}|layername=landslides", "detections", "ogr")
    QgsProject.instance().addMapLayer(layer)
    try:
        layer.startEditing()  # a review under way: one rejected, one deleted by hand, nothing saved
        layer.addAttribute(QgsField("review", QVariant.String))
        first, second = list(layer.getFeatures())[:2]
        layer.changeAttributeValue(first.id(), layer.fields().indexOf("review"), "rejected")
        layer.deleteFeature(second.id())
        result = processing.run("lmhld:scoredetections", {"DETECTIONS": layer, "PROBABILITY": str(prob),
                                                          "INVENTORY": str(scene.inventory),
                                                          "OUTPUT_JSON": "TEMPORARY_OUTPUT"})
        layer.rollBack()
    finally:
        QgsProject.instance().removeMapLayer(layer.id())
    report = json.loads(Path(result["OUTPUT_JSON"]).read_text())
    assert Path(result["OUTPUT_JSON"]) == tmp_path / "prob_scores.json"  # beside the probability raster, kept
    assert report["n_detected"] == delivered["n_detected"] - 2 and report["rejected_left_out"] == 1
    assert result["F1"] == pytest.approx(report["f1"]) and 0.5 < report["f1"] <= delivered["f1"] + 1e-9
    assert report["n_inventory"] == delivered["n_inventory"]
