"""lmhld:scoredetections: delivered polygons (reviewed, edited) against an inventory, without running a model."""

from __future__ import annotations

import tempfile
from pathlib import Path

from qgis.core import (
    QgsFeatureRequest,
    QgsProcessing,
    QgsProcessingParameterFeatureSource,
    QgsProcessingParameterFileDestination,
    QgsProcessingParameterRasterDestination,
    QgsProcessingParameterRasterLayer,
)

from .base import LmhldAlgorithm
from .common import FeedbackProgress, core_errors, raster_path, required_source, source_polygons
from .evaluate_model import ScoreOutputs
from .outputs import default_output, is_temporary, safe_stem
from .styling import ResultLayer


class ScoreDetections(ScoreOutputs, LmhldAlgorithm):
    DETECTIONS, PROBABILITY, INVENTORY = "DETECTIONS", "PROBABILITY", "INVENTORY"
    OUTPUT_JSON, OUTPUT_ERROR_MAP = "OUTPUT_JSON", "OUTPUT_ERROR_MAP"

    ALG_ID = "scoredetections"
    CLI_FLAGS = (("json", "OUTPUT_JSON"), ("error-map", "OUTPUT_ERROR_MAP"), ("prob", "PROBABILITY"))
    GROUP_ID = "evaluation"
    ICON = "evaluate.svg"
    README_HEADING = "### Scoring reviewed detections — `lmhld:scoredetections`, `lmhld evaluate --detections`"

    TITLE = "Score detections against an inventory"
    HELP = ("Scores landslide polygons as they are now (a detection's, reviewed, edited or completed by hand since) "
            "against a landslide inventory, without running the model: the figures of Evaluate landslide model "
            "over a scene, for these polygons. Detections rejected in the review dock (their review field) are "
            "left out; a layer being edited is read with its unsaved edits.\n\n"
            "The pixels are those of the probability raster the detection wrote beside its polygons: its valid "
            "pixels are scored, and its cut at the threshold it records gives the figures before the "
            "post-processing.\n\n"
            "Left at [Save to temporary file], the metrics (and an error map asked for) are written beside the "
            "probability raster instead.")

    def initAlgorithm(self, config=None) -> None:
        self.addParameter(QgsProcessingParameterFeatureSource(
            self.DETECTIONS, self.tr("Detections (polygons to score)"), [QgsProcessing.TypeVectorPolygon]))
        self.addParameter(QgsProcessingParameterRasterLayer(
            self.PROBABILITY, self.tr("Their landslide probability raster")))
        self.addParameter(QgsProcessingParameterFeatureSource(
            self.INVENTORY, self.tr("Landslide inventory (the reference)"), [QgsProcessing.TypeVectorPolygon]))
        self.addParameter(QgsProcessingParameterFileDestination(
            self.OUTPUT_JSON, self.tr("Metrics, JSON (temporary → beside the probability raster)"),
            self.tr("JSON files (*.json)")))
        self.addParameter(QgsProcessingParameterRasterDestination(
            self.OUTPUT_ERROR_MAP, self.tr("Error map"), optional=True, createByDefault=False))
        self.add_score_outputs()

    def processAlgorithm(self, parameters, context, feedback):
        from ..core.evaluate import evaluate_detections
        from ..core.review import REJECTED, REVIEW_FIELD
        from ..core.styles import ERRORS_QML
        from ..core.vector import without_fids, write_polygons_gpkg

        prob_layer = self.parameterAsRasterLayer(parameters, self.PROBABILITY, context)
        progress = FeedbackProgress(feedback, self)
        with core_errors(self.displayName(), self):
            prob = raster_path(prob_layer)
            json_path = self.parameterAsFileOutput(parameters, self.OUTPUT_JSON, context)
            if is_temporary(parameters.get(self.OUTPUT_JSON)):
                json_path = str(default_output(Path(prob).with_name(f"{safe_stem(Path(prob).stem)}_scores.json"),
                                               context))
            error_map = self.error_map_path(parameters, context, Path(prob).with_name(
                f"{safe_stem(Path(prob).stem)}_errors.tif"))
            found_source = required_source(self, parameters, self.DETECTIONS, context)
            found = source_polygons(found_source, "detections", allow_empty=True)
            rejected = _rejected(found_source, REVIEW_FIELD, REJECTED)
            if rejected:
                found = without_fids(found, rejected)
                progress.info(self.tr("{0} detection(s) rejected in a review are left out").format(len(rejected)))
            truth, name = self.reference(parameters, context, progress)
            with tempfile.TemporaryDirectory() as tmp:
                result = evaluate_detections(
                    write_polygons_gpkg(found, Path(tmp) / "detections.gpkg"), prob,
                    write_polygons_gpkg(truth, Path(tmp) / "inventory.gpkg"), error_map=error_map,
                    json_out=json_path, progress=progress, inventory_name=name,
                    detections_name=found_source.sourceName(), rejected_before=len(rejected))
        if error_map:
            ResultLayer.attach(context, error_map, self.tr("Errors — {0}").format(found_source.sourceName()),
                               str(ERRORS_QML), run=f"score:{error_map}", anchor_id=prob_layer.id())
        return self.scored(result, feedback, json_path, error_map)


def _rejected(source, field: str, value: str) -> set[int]:
    """The ids of the features whose `field` says `value` (none where the layer has no such field)."""
    if source.fields().indexOf(field) < 0:
        return set()
    request = QgsFeatureRequest().setFlags(QgsFeatureRequest.NoGeometry).setSubsetOfAttributes(
        [field], source.fields())
    return {f.id() for f in source.getFeatures(request) if f[field] == value}
