"""lmhld:detectlandslides through processing.run: valid polygons, styled layers, clear errors."""

from __future__ import annotations

import json

import pytest
from qgis.core import QgsProcessingContext, QgsProcessingException, QgsProject, QgsVectorLayer

from lmhld_qgis.core.synthetic import make_scene


@pytest.fixture(scope="module")
def scene(tmp_path_factory):
    return make_scene(tmp_path_factory.mktemp("scene"), width=300, height=300, n_landslides=20, seed=7)


def test_processing_run_gives_valid_styled_polygons(qgis_processing, lmhld_provider, scene, small_onnx_model,
                                                    tmp_path):
    import processing

    out, prob = tmp_path / "l.gpkg", tmp_path / "p.tif"
    context = QgsProcessingContext()
    context.setProject(QgsProject.instance())
    result = processing.run("lmhld:detectlandslides", {
        "RASTER": str(scene.raster), "MODEL": str(small_onnx_model), "THRESHOLD": 0.0, "OVERLAP": 0.25,
        "MIN_AREA": 0, "BATCH_SIZE": 4, "OUTPUT": str(out), "OUTPUT_PROB": str(prob)}, context=context)
    assert result["N_POLYGONS"] >= 1 and prob.exists()
    layer = QgsVectorLayer(str(out), "landslides", "ogr")
    assert layer.isValid() and layer.featureCount() == result["N_POLYGONS"]
    means = [f["mean_prob"] for f in layer.getFeatures()]  # the floor: midway from the cut (0) to the surest
    assert result["MEAN_PROB_FLOOR"] == pytest.approx(max(means) / 2, abs=1e-4)
    assert result["MEAN_PROB_FLOOR"] <= min(means)
    assert layer.crs().authid() == "EPSG:32618"
    assert all(f.geometry().isGeosValid() for f in layer.getFeatures())
    symbol = layer.renderer().symbol()  # the GeoPackage's default style: red outline, light fill
    assert symbol.symbolLayer(0).strokeColor().red() > 200 and symbol.symbolLayer(0).fillColor().alpha() < 100


def test_augmentation_growing_and_context_reach_the_core(qgis_processing, lmhld_provider, scene, small_onnx_model,
                                                 tmp_path):
    import processing
    from osgeo import gdal

    from lmhld_qgis.core.detect import DetectOptions, detect

    result = processing.run("lmhld:detectlandslides", {
        "RASTER": str(scene.raster), "MODEL": str(small_onnx_model), "THRESHOLD": 0.6, "GROW_THRESHOLD": 0.3,
        "TTA": 1, "CONTEXT": 2, "OUTPUT": str(tmp_path / "qgis.gpkg"), "OUTPUT_PROB": str(tmp_path / "qgis.tif")})
    same = detect(scene.raster, small_onnx_model, tmp_path / "core.gpkg", tmp_path / "core.tif",
                  DetectOptions(threshold=0.6, grow_threshold=0.3, tta="flips", context="2"))
    detect(scene.raster, small_onnx_model, tmp_path / "plain.gpkg", tmp_path / "plain.tif",
           DetectOptions(threshold=0.6))
    read = [gdal.Open(str(tmp_path / f"{n}.tif")).ReadAsArray() for n in ("qgis", "core", "plain")]
    assert (read[0] == read[1]).all() and not (read[0] == read[2]).all()  # averaged over flips, as asked
    assert same.context.startswith("a coarse pass at 1/2")  # the dialog's third choice: pixels 2 times larger
    assert result["N_POLYGONS"] == same.n_polygons  # grown down to 0.3 the same way


def test_band_mismatch_is_a_processing_error(qgis_processing, lmhld_provider, small_onnx_model, tmp_path):
    import numpy as np
    import processing

    from ..helpers import write_raster

    rgb = write_raster(tmp_path / "rgb.tif", np.ones((3, 64, 64), np.uint16))
    with pytest.raises(QgsProcessingException, match="band mismatch"):
        processing.run("lmhld:detectlandslides", {"RASTER": str(rgb), "MODEL": str(small_onnx_model),
                                                  "OUTPUT": str(tmp_path / "l.gpkg")})
    assert not (tmp_path / "l.gpkg").exists()
    (tmp_path / "model.dbf").write_bytes(b"x")  # QGIS said only "Incorrect parameter value for MODEL"
    with pytest.raises(QgsProcessingException, match=r"Model \(\.onnx, or a \.pt checkpoint\): model\.dbf is not a "
                                                     r"\.onnx or \.pt file; choose one"):
        processing.run("lmhld:detectlandslides", {"RASTER": str(rgb), "MODEL": str(tmp_path / "model.dbf"),
                                                  "OUTPUT": str(tmp_path / "l.gpkg")})
    # the output widget's "Save to GeoPackage...": refused as "not a GeoPackage (.gpkg)" though it named one
    project = tmp_path / "project.gpkg"
    with pytest.raises(QgsProcessingException, match=r'Landslide polygons.*: "Save to GeoPackage\.\.\." and .* choose '
                                                     r'"Save to File\.\.\." and a new file'):
        processing.run("lmhld:detectlandslides", {"RASTER": str(rgb), "MODEL": str(small_onnx_model),
                                                  "OUTPUT": f"ogr:dbname='{project}' table=\"detections\" (geom)"})
    assert not project.exists()


def test_a_cancelled_detection_says_so_once_and_leaves_nothing(qgis_processing, lmhld_provider, scene,
                                                                small_onnx_model, tmp_path):
    import processing
    from qgis.core import QgsProcessingFeedback

    feedback = QgsProcessingFeedback()
    feedback.cancel()
    with pytest.raises(QgsProcessingException, match=r"^Cancelled by the user$"):  # was "Cancelled: cancelled by .."
        processing.run("lmhld:detectlandslides", {"RASTER": str(scene.raster), "MODEL": str(small_onnx_model),
                                                  "OUTPUT": str(tmp_path / "l.gpkg")}, feedback=feedback)
    assert not (tmp_path / "l.gpkg").exists()


def test_a_cancel_after_the_outputs_were_written_says_they_are_complete(qgis_processing, lmhld_provider, scene,
                                                                        small_onnx_model, tmp_path):
    """A probe's Cancel at 2.6 s of a 2.5 s detection: QGIS said "Execution failed" and loaded no layer, and nothing
    said that the GeoPackage and the probability raster were there, complete."""
    import processing

    from .feedback import WarningsFeedback

    class LateCancel(WarningsFeedback):
        def pushInfo(self, info):
            super().pushInfo(info)
            if "polygon(s) from" in info:  # the run's last line, after its outputs were moved into place
                self.cancel()

    feedback = LateCancel()
    out = tmp_path / "late.gpkg"
    processing.run("lmhld:detectlandslides", {"RASTER": str(scene.raster), "MODEL": str(small_onnx_model),
                                              "OUTPUT": str(out)}, feedback=feedback)
    assert QgsVectorLayer(str(out), "late", "ogr").isValid()
    [said] = [w for w in feedback.said if w.startswith("Cancel came after the run had written its outputs")]
    assert str(out) in said and "add them from the Browser panel, or delete them" in said


def test_evaluate_model_over_a_scene_with_error_map(qgis_processing, lmhld_provider, scene, small_onnx_model,
                                                    tmp_path):
    import processing

    result = processing.run("lmhld:evaluatemodel", {
        "MODEL": str(small_onnx_model), "RASTER": str(scene.raster), "INVENTORY": str(scene.inventory),
        "OUTPUT_JSON": str(tmp_path / "m.json"), "OUTPUT_ERROR_MAP": str(tmp_path / "e.tif")})
    metrics = json.loads((tmp_path / "m.json").read_text())
    assert result["F1"] == pytest.approx(metrics["f1"]) and (tmp_path / "e.tif").exists()
    assert "inventory_detected" in metrics


def test_scene_settings_given_with_dataset_folders_are_refused_by_name(qgis_processing, lmhld_provider, areas,
                                                                         scene, small_onnx_model, tmp_path):
    """A probe's batch gave Evaluate dataset folders with a minimum area, test-time augmentation, an inventory and
    an error map: rc 0, the error map never written, the settings silently unapplied (the command line refuses)."""
    import processing

    base = {"MODEL": str(small_onnx_model), "DATA": [str(areas["a32"])], "OUTPUT_JSON": str(tmp_path / "m.json")}
    refused = (r"Landslide inventory of the scene; Minimum area, m² \(not set: the model's\); Test-time "
               r"augmentation; Error map \(scene only\): only a scene is scored with these")
    with pytest.raises(QgsProcessingException, match=refused):
        processing.run("lmhld:evaluatemodel", {**base, "MIN_AREA": 5, "TTA": 1, "INVENTORY": str(scene.inventory),
                                               "OUTPUT_ERROR_MAP": str(tmp_path / "e.tif")})
    assert not (tmp_path / "m.json").exists()
    result = processing.run("lmhld:evaluatemodel", {**base, "THRESHOLD": 0.4, "PROVIDER": 1})  # these apply
    assert json.loads((tmp_path / "m.json").read_text())["threshold"] == 0.4 and 0 <= result["F1"] <= 1


def test_detect_inside_a_graphical_model(qgis_processing, lmhld_provider, scene, small_onnx_model, tmp_path):
    from qgis.core import (
        QgsProcessingContext,
        QgsProcessingFeedback,
        QgsProcessingModelAlgorithm,
        QgsProcessingModelChildAlgorithm,
        QgsProcessingModelChildParameterSource,
        QgsProcessingModelOutput,
        QgsProcessingModelParameter,
        QgsProcessingParameterFile,
        QgsProcessingParameterRasterLayer,
    )

    model = QgsProcessingModelAlgorithm("detect model", "tests")
    model.addModelParameter(QgsProcessingParameterRasterLayer("scene", "Scene"), QgsProcessingModelParameter("scene"))
    model.addModelParameter(QgsProcessingParameterFile("onnx", "Model"), QgsProcessingModelParameter("onnx"))
    child = QgsProcessingModelChildAlgorithm("lmhld:detectlandslides")
    child.setChildId("detect")
    child.addParameterSources("RASTER", [QgsProcessingModelChildParameterSource.fromModelParameter("scene")])
    child.addParameterSources("MODEL", [QgsProcessingModelChildParameterSource.fromModelParameter("onnx")])
    child.addParameterSources("THRESHOLD", [QgsProcessingModelChildParameterSource.fromStaticValue(0.0)])
    output = QgsProcessingModelOutput("landslides")
    output.setChildOutputName("OUTPUT")
    child.setModelOutputs({"landslides": output})
    model.addChildAlgorithm(child)
    model.updateDestinationParameters()
    params = {"scene": str(scene.raster), "onnx": str(small_onnx_model),
              "detect:landslides": str(tmp_path / "model_out.gpkg")}
    context, feedback = QgsProcessingContext(), QgsProcessingFeedback()
    _, ok = model.run(params, context, feedback)
    assert ok
    layer = QgsVectorLayer(str(tmp_path / "model_out.gpkg"), "l", "ogr")
    assert layer.isValid() and layer.featureCount() >= 1


def test_baselines_detect_inside_qgis_from_checkpoint_and_onnx(qgis_processing, lmhld_provider, scene, tmp_path):
    """smp, timm and torchvision load in the QGIS process (.pt path); an smp network runs from ONNX too."""
    import processing
    import torch

    from lmhld_qgis.core.modelcard import ModelCard
    from lmhld_qgis.models import build_model
    from lmhld_qgis.models.registry import SMALL_OPTIONS
    from lmhld_qgis.training.checkpoint import save_checkpoint
    from lmhld_qgis.training.onnx_export import export_onnx

    stats = {"bands": ["blue", "green", "red", "nir"], "mean": [600.0, 900.0, 750.0, 2800.0],
             "std": [400.0, 300.0, 450.0, 500.0], "resolution_m": 3.0, "threshold": 0.0}
    torch.manual_seed(0)
    linknet = build_model("linknet", 4, **SMALL_OPTIONS["linknet"])
    save_checkpoint(tmp_path / "linknet.pt", linknet,
                    ModelCard("linknet", 4, model_options=SMALL_OPTIONS["linknet"], patch_size=64, size_multiple=32,
                              **stats))
    export_onnx(build_model("pspnet", 4, **SMALL_OPTIONS["pspnet"]),
                ModelCard("pspnet", 4, model_options=SMALL_OPTIONS["pspnet"], patch_size=64, **stats),
                tmp_path / "pspnet.onnx")
    for model in ("linknet.pt", "pspnet.onnx"):
        out = tmp_path / f"{model}.gpkg"
        result = processing.run("lmhld:detectlandslides", {
            "RASTER": str(scene.raster), "MODEL": str(tmp_path / model), "MIN_AREA": 0, "MIN_MEAN_PROB": 0,
            "OUTPUT": str(out)})
        assert result["N_POLYGONS"] >= 1 and QgsVectorLayer(str(out), "l", "ogr").isValid(), model


def test_loaded_results_say_their_scene_and_model_and_a_second_run_is_told_apart(
        qgis_processing, lmhld_provider, scene, small_onnx_model, tmp_path):
    """Detection and evaluation name their layers after the scene and the model alike; a second detection's
    polygons and probability raster carry [2], both, rather than repeating the first run's names."""
    import processing

    from lmhld_qgis.core.modelcard import model_display_name

    project = QgsProject.instance()
    project.removeAllMapLayers()
    for k in (1, 2):
        processing.runAndLoadResults("lmhld:detectlandslides", {
            "RASTER": str(scene.raster), "MODEL": str(small_onnx_model), "THRESHOLD": 0.0, "MIN_AREA": 0,
            "OUTPUT": str(tmp_path / f"l{k}.gpkg"), "OUTPUT_PROB": str(tmp_path / f"p{k}.tif")})
    processing.runAndLoadResults("lmhld:evaluatemodel", {
        "MODEL": str(small_onnx_model), "RASTER": str(scene.raster), "INVENTORY": str(scene.inventory),
        "OUTPUT_JSON": str(tmp_path / "m.json"), "OUTPUT_ERROR_MAP": str(tmp_path / "e.tif")})
    by_source = {layer.source().split("|")[0]: layer.name() for layer in project.mapLayers().values()}
    label = f"{scene.raster.stem} ({model_display_name(small_onnx_model)})"
    doubtful = f"{label} — doubtful, see the log"  # a cut at 0 marks the whole scene: said in the layers' names
    assert by_source == {
        str(tmp_path / "l1.gpkg"): f"Landslides — {doubtful}",
        str(tmp_path / "p1.tif"): f"Landslide probability — {doubtful}",
        str(tmp_path / "l2.gpkg"): f"Landslides — {doubtful} [2]",
        str(tmp_path / "p2.tif"): f"Landslide probability — {doubtful} [2]",
        str(tmp_path / "e.tif"): f"Errors — {label}"}
    project.removeAllMapLayers()
