"""lmhld:evaluatemodel: metrics on dataset splits, or over a scene with an error map (TP/FP/FN/TN)."""

from __future__ import annotations

from qgis.core import (
    QgsProcessing,
    QgsProcessingException,
    QgsProcessingOutputNumber,
    QgsProcessingParameterFeatureSource,
    QgsProcessingParameterFile,
    QgsProcessingParameterFileDestination,
    QgsProcessingParameterRasterDestination,
    QgsProcessingParameterRasterLayer,
    QgsProcessingParameterString,
)

from .base import LmhldAlgorithm
from .common import FeedbackProgress, core_errors, folder_list, raster_path, source_polygons
from .styling import StyleOnLoad


class EvaluateModel(LmhldAlgorithm):
    MODEL, DATA, SPLIT, RASTER, INVENTORY, OUTPUT_JSON, OUTPUT_ERROR_MAP = (
        "MODEL", "DATA", "SPLIT", "RASTER", "INVENTORY", "OUTPUT_JSON", "OUTPUT_ERROR_MAP")

    ALG_ID = "evaluatemodel"
    TITLE = "Evaluate landslide model"
    GROUP_ID = "training"
    HELP = ("Either DATA (dataset folders; SPLIT, default test) or RASTER + INVENTORY (a whole scene). Reports "
                "landslide-class precision, recall, F1 and IoU micro-averaged over all pixels, background IoU, mIoU, "
                "overall accuracy, the CAS two-class mean F1 and the confusion counts; over a scene also an error map "
                "(TP/FP/FN/TN) and object-level shares (matched when covered >= 50%).")

    def initAlgorithm(self, config=None) -> None:
        self.addParameter(QgsProcessingParameterFile(self.MODEL, "Model (.onnx or .pt)",
                                                     fileFilter="Models (*.onnx *.pt)"))
        self.addParameter(QgsProcessingParameterString(self.DATA, "Dataset folders (one per line or ;)",
                                                       multiLine=True, optional=True))
        self.addParameter(QgsProcessingParameterString(self.SPLIT, "Split", defaultValue="test"))
        self.addParameter(QgsProcessingParameterRasterLayer(self.RASTER, "Scene", optional=True))
        self.addParameter(QgsProcessingParameterFeatureSource(self.INVENTORY, "Scene inventory",
                                                              [QgsProcessing.TypeVectorPolygon], optional=True))
        self.addParameter(QgsProcessingParameterFileDestination(self.OUTPUT_JSON, "Metrics (JSON)",
                                                                "JSON files (*.json)"))
        self.addParameter(QgsProcessingParameterRasterDestination(self.OUTPUT_ERROR_MAP, "Error map",
                                                                  optional=True, createByDefault=False))
        for key in ("PRECISION", "RECALL", "F1", "IOU", "MIOU", "OA"):
            self.addOutput(QgsProcessingOutputNumber(key, key.title()))

    def processAlgorithm(self, parameters, context, feedback):
        from ..core.evaluate import evaluate_dataset, evaluate_scene
        from ..core.report import write_json
        from ..core.styles import ERRORS_QML

        model = self.parameterAsFile(parameters, self.MODEL, context)
        data = folder_list(self.parameterAsString(parameters, self.DATA, context))
        layer = self.parameterAsRasterLayer(parameters, self.RASTER, context)
        json_path = self.parameterAsFileOutput(parameters, self.OUTPUT_JSON, context)
        error_map = self.parameterAsOutputLayer(parameters, self.OUTPUT_ERROR_MAP, context) or None
        if bool(data) == (layer is not None):
            raise QgsProcessingException("give either DATA (dataset folders) or RASTER with INVENTORY")
        progress = FeedbackProgress(feedback)
        with core_errors():
            if data:
                result = evaluate_dataset(model, data, self.parameterAsString(parameters, self.SPLIT, context),
                                          progress=progress)
                write_json(json_path, result)
            else:
                truth = source_polygons(self.parameterAsSource(parameters, self.INVENTORY, context), "INVENTORY")
                import tempfile
                from pathlib import Path

                from ..core.vector import write_polygons_gpkg

                with tempfile.TemporaryDirectory() as tmp:
                    inv = write_polygons_gpkg(truth, Path(tmp) / "inventory.gpkg")
                    result = evaluate_scene(model, raster_path(layer), inv, error_map=error_map,
                                            json_out=json_path, progress=progress)
        feedback.pushInfo(", ".join(f"{k} {result[k]:.4f}" for k in ("precision", "recall", "f1", "iou", "miou",
                                                                      "oa")))
        out = {self.OUTPUT_JSON: json_path, **{k.upper(): result[k] for k in ("precision", "recall", "f1", "iou",
                                                                               "miou", "oa")}}
        if error_map:
            out[self.OUTPUT_ERROR_MAP] = error_map
            StyleOnLoad.attach(context, error_map, str(ERRORS_QML))
        return out
