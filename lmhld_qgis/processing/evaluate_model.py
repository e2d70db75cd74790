"""lmhld:evaluatemodel: metrics on dataset splits, or over a scene with an error map (TP/FP/FN/TN)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from qgis.core import (
    QgsProcessing,
    QgsProcessingException,
    QgsProcessingOutputNumber,
    QgsProcessingParameterEnum,
    QgsProcessingParameterFeatureSource,
    QgsProcessingParameterFile,
    QgsProcessingParameterFileDestination,
    QgsProcessingParameterRasterDestination,
    QgsProcessingParameterRasterLayer,
)

from .base import LmhldAlgorithm
from .common import (
    FeedbackProgress,
    core_errors,
    layer_origin,
    raster_path,
    required_source,
    source_polygons,
)
from .detection_parameters import DetectionParameters
from .outputs import default_output, is_skipped, is_temporary, layer_destination, safe_stem
from .parameters import folder_list, folder_list_parameter, folder_list_value
from .styling import ResultLayer

if TYPE_CHECKING:
    from ..core.vector import PolygonSet

SPLITS = ("test", "val", "train")
METRICS = ("precision", "recall", "f1", "iou", "miou", "oa")
OBJECT_FIGURES = ("object_f1", "inventory_detected", "detected_correct")  # the core's keys, outputs in capitals


class ScoreOutputs:
    """What scoring polygons against an inventory shares (Evaluate over a scene, Score detections): the reference
    inventory read with its repairs said, the error map's destination, and the figures returned as outputs a
    graphical model hands on."""

    PRECISION = "PRECISION"
    RECALL = "RECALL"
    F1 = "F1"
    IOU = "IOU"
    MIOU = "MIOU"
    OA = "OA"
    OBJECT_F1, INVENTORY_DETECTED, DETECTED_CORRECT = "OBJECT_F1", "INVENTORY_DETECTED", "DETECTED_CORRECT"

    def add_score_outputs(self) -> None:
        tr = self.tr  # type: ignore[attr-defined]  # a QgsProcessingAlgorithm's
        for key, label in ((self.PRECISION, tr("Precision")), (self.RECALL, tr("Recall")), (self.F1, tr("F1")),
                           (self.IOU, tr("IoU")), (self.MIOU, tr("Mean IoU")), (self.OA, tr("Overall accuracy")),
                           (self.OBJECT_F1, tr("Object F1")),
                           (self.INVENTORY_DETECTED, tr("Share of inventory landslides detected")),
                           (self.DETECTED_CORRECT, tr("Share of detections that are landslides"))):
            self.addOutput(QgsProcessingOutputNumber(key, label))  # type: ignore[attr-defined]

    def reference(self, parameters, context, progress) -> tuple[PolygonSet, str]:
        """The INVENTORY parameter as the core's polygons (a landslide-free scene is a fair reference), its
        repairs said here (the copy the core reads is valid; the core says an empty one), and the name reports
        give it: its file (and layer), else the layer's name."""
        from ..core.evaluate import reference_notes

        source = required_source(self, parameters, "INVENTORY", context)
        origin = layer_origin(self, parameters, "INVENTORY", context)
        truth = source_polygons(source, "inventory", allow_empty=True, origin=origin)
        if truth.n_features:
            for note in reference_notes(truth, source.sourceName()):
                progress.warn(note)
        return truth, _origin_text(origin) or source.sourceName()

    def error_map_path(self, parameters, context, default: Path) -> str | None:
        """The error map's file (`default` when left at temporary), or None when skipped."""
        if is_skipped(parameters.get("OUTPUT_ERROR_MAP")):
            return None
        return layer_destination(self, parameters, "OUTPUT_ERROR_MAP", context, default).path

    def scored(self, result: dict, feedback, json_path: str, error_map: str | None) -> dict:
        """The algorithm's results from a core result (its keys are the outputs' in lower case), said in the log."""
        feedback.pushInfo(", ".join(f"{k} {result[k]:.4f}" for k in (*METRICS, *OBJECT_FIGURES))
                          + self.tr("; metrics: {0}").format(json_path))  # type: ignore[attr-defined]
        out = {"OUTPUT_JSON": json_path, **{k.upper(): result[k] for k in (*METRICS, *OBJECT_FIGURES)}}
        if error_map:
            out["OUTPUT_ERROR_MAP"] = error_map
        return out


class EvaluateModel(ScoreOutputs, DetectionParameters, LmhldAlgorithm):
    MODEL = "MODEL"
    DATA = "DATA"
    SPLIT = "SPLIT"
    RASTER = "RASTER"
    INVENTORY = "INVENTORY"
    OUTPUT_JSON = "OUTPUT_JSON"
    OUTPUT_ERROR_MAP = "OUTPUT_ERROR_MAP"

    ALG_ID = "evaluatemodel"
    CLI_FLAGS = (("json", "OUTPUT_JSON"), ("error-map", "OUTPUT_ERROR_MAP"))
    GROUP_ID = "evaluation"
    ICON = "evaluate.svg"
    README_HEADING = "### 4. Evaluation — `lmhld:evaluatemodel`, `lmhld evaluate`"

    def displayName(self) -> str:
        return self.tr("Evaluate landslide model")

    def shortHelpString(self) -> str:
        return self.tr(
            "Scores a model either on dataset folders (their test set by default) or over a whole scene against "
            "its landslide inventory.\n\n"
            "Reports the landslide class's precision, recall, F1 and IoU counted over all pixels, the mean IoU, "
            "the overall accuracy and the confusion counts. Over a scene it also writes an error map (true and "
            "false positives, false negatives, true negatives) and the share of inventory polygons detected (a "
            "polygon counts when detections cover at least half of it).\n\n"
            "Over a scene, the polygons scored are those Detect landslides delivers with the same Advanced "
            "parameters (threshold, post-processing, test-time augmentation, bands): set them as for the detection "
            "you evaluate. On datasets, the threshold and Run on apply.\n\n"
            "Left at [Save to temporary file], the metrics are written beside the model instead.")

    def initAlgorithm(self, config=None) -> None:
        self.addParameter(QgsProcessingParameterFile(
            self.MODEL, self.tr("Model (.onnx, or a .pt checkpoint)"),
            fileFilter=self.tr("Landslide models (*.onnx *.pt)")))
        self.addParameter(folder_list_parameter(self.DATA, self.tr("Dataset folders (or a scene below)"),
                                                optional=True))
        self.addParameter(QgsProcessingParameterEnum(
            self.SPLIT, self.tr("Set of the datasets"), [self.tr("Test"), self.tr("Validation"), self.tr("Training")],
            defaultValue=0))
        self.addParameter(QgsProcessingParameterRasterLayer(self.RASTER, self.tr("Scene (instead of datasets)"),
                                                            optional=True))
        self.addParameter(QgsProcessingParameterFeatureSource(
            self.INVENTORY, self.tr("Landslide inventory of the scene"), [QgsProcessing.TypeVectorPolygon],
            optional=True))
        self.add_detection_parameters()  # a scene is scored on the polygons a detection so set delivers
        self.addParameter(QgsProcessingParameterFileDestination(
            self.OUTPUT_JSON, self.tr("Metrics, JSON (temporary → beside model)"), self.tr("JSON files (*.json)")))
        self.addParameter(QgsProcessingParameterRasterDestination(
            self.OUTPUT_ERROR_MAP, self.tr("Error map (scene only)"), optional=True, createByDefault=False))
        self.add_score_outputs()

    def checkParameterValues(self, parameters, context):
        has_data = bool(folder_list(parameters.get(self.DATA)))
        has_scene = parameters.get(self.RASTER) not in (None, "")
        if has_data == has_scene:
            return False, self.tr("Give either dataset folders, or a scene with its landslide inventory.")
        if has_scene and parameters.get(self.INVENTORY) in (None, ""):
            return False, self.tr("A scene is scored against its landslide inventory: choose it.")
        return super().checkParameterValues(parameters, context)

    def processAlgorithm(self, parameters, context, feedback):
        model = self.parameterAsFile(parameters, self.MODEL, context)
        data = folder_list_value(self, parameters, self.DATA, context)
        layer = self.parameterAsRasterLayer(parameters, self.RASTER, context)
        if bool(data) == (layer is not None):
            raise QgsProcessingException(self.tr("Give either dataset folders, or a scene with its landslide "
                                                 "inventory."))
        json_path = self.parameterAsFileOutput(parameters, self.OUTPUT_JSON, context)
        if is_temporary(parameters.get(self.OUTPUT_JSON)):
            json_path = str(default_output(Path(model).with_name(f"{safe_stem(Path(model).stem)}_evaluation.json"),
                                           context))
        with core_errors(self.displayName(), self):
            options = self.detection_options(parameters, context)
            if data:
                self._refuse_scene_only(parameters, context)
                from ..core.evaluate import evaluate_dataset
                from ..core.report import write_json

                result = evaluate_dataset(model, data, SPLITS[self.parameterAsEnum(parameters, self.SPLIT, context)],
                                          threshold=options.threshold, provider=options.provider,
                                          progress=FeedbackProgress(feedback, self))
                write_json(json_path, result)
                error_map = None
            else:
                error_map, result = self._scene(parameters, context, feedback, model, layer, json_path, options)
        return self.scored(result, feedback, json_path, error_map)

    def _refuse_scene_only(self, parameters, context) -> None:
        """Settings only a scene uses, given with dataset folders, are refused by name (as `lmhld evaluate` refuses
        them) rather than ignored: a chain in a model or a batch copies a detection's settings over."""
        given = self.scene_only_given(parameters, context)
        if parameters.get(self.INVENTORY) not in (None, ""):
            given.insert(0, self.parameterDefinition(self.INVENTORY).description())
        if not is_skipped(parameters.get(self.OUTPUT_ERROR_MAP)):
            given.append(self.parameterDefinition(self.OUTPUT_ERROR_MAP).description())
        if given:
            raise QgsProcessingException(self.tr(
                "{0}: only a scene is scored with these; dataset folders are scored on their patches' own masks at "
                "the threshold. Leave them unset, or evaluate a scene").format("; ".join(given)))

    def _scene(self, parameters, context, feedback, model, layer, json_path, options):
        import tempfile

        from ..core.evaluate import evaluate_scene
        from ..core.modelcard import model_display_name
        from ..core.styles import ERRORS_QML
        from ..core.vector import write_polygons_gpkg

        error_map = self.error_map_path(parameters, context, Path(raster_path(layer)).with_name(
            f"{safe_stem(layer.name())}_errors.tif"))
        progress = FeedbackProgress(feedback, self)
        truth, name = self.reference(parameters, context, progress)
        with tempfile.TemporaryDirectory() as tmp:
            inventory = write_polygons_gpkg(truth, Path(tmp) / f"{safe_stem(truth.name or 'inventory')}.gpkg")
            result = evaluate_scene(model, raster_path(layer), inventory, error_map=error_map, json_out=json_path,
                                    options=options, progress=progress, inventory_name=name)
        if error_map:
            ResultLayer.attach(context, error_map, self.tr("Errors — {0} ({1})").format(layer.name(),
                                                                                        model_display_name(model)),
                               str(ERRORS_QML), run=f"evaluate:{error_map}", anchor_id=layer.id())
        return error_map, result


def _origin_text(origin: tuple[str, str] | None) -> str:
    """The inventory's file (and layer, in a file of several) as the report records it; "" for a layer of no file."""
    if origin is None:
        return ""
    path, layer = origin
    return f"{path}|layername={layer}" if layer and Path(path).suffix.lower() == ".gpkg" else path
