"""lmhld:detectlandslides: sliding-window detection over a scene, as styled polygons and a probability raster."""

from __future__ import annotations

from pathlib import Path

from qgis.core import (
    QgsProcessing,
    QgsProcessingException,
    QgsProcessingOutputNumber,
    QgsProcessingParameterExtent,
    QgsProcessingParameterFeatureSource,
    QgsProcessingParameterFile,
    QgsProcessingParameterRasterDestination,
    QgsProcessingParameterRasterLayer,
    QgsProcessingParameterVectorDestination,
)

from .. import PLUGIN_NAME
from .base import LmhldAlgorithm
from .common import FeedbackProgress, core_errors, polygon_source, raster_path, source_polygons
from .detection_parameters import DetectionParameters
from .outputs import default_outputs, is_skipped, is_temporary, layer_destination, safe_stem
from .styling import ResultLayer


class DetectLandslides(DetectionParameters, LmhldAlgorithm):
    RASTER = "RASTER"
    MODEL = "MODEL"
    EXTENT = "EXTENT"
    AOI = "AOI"
    OUTPUT = "OUTPUT"
    OUTPUT_PROB = "OUTPUT_PROB"
    N_POLYGONS = "N_POLYGONS"
    MEAN_PROB_FLOOR = "MEAN_PROB_FLOOR"

    ALG_ID = "detectlandslides"
    CLI_FLAGS = (("out", "OUTPUT"), ("prob", "OUTPUT_PROB"))
    GROUP_ID = "detection"
    ICON = "detect.svg"
    README_HEADING = "### 5. Detection — `lmhld:detectlandslides`, `lmhld detect`"

    def displayName(self) -> str:
        return self.tr("Detect landslides")

    def shortHelpString(self) -> str:
        return self.tr(
            "Runs a landslide model over the whole scene in overlapping windows, blended without seams, and "
            "writes landslide polygons (with area, perimeter and probability) and a probability raster. Both are "
            "added to the map above the scene, named after the scene and the model.\n\n"
            "The model is an ONNX file written by Train landslide model (or a .pt checkpoint, which needs torch). "
            "Bands, window size, normalisation, threshold and post-processing come from the model unless set "
            f"under Advanced parameters; Plugins > {PLUGIN_NAME} > Model information shows them and "
            "checks a scene against them. Nothing is detected on nodata or outside the extent and area of interest.\n\n"
            "A scene whose pixel size differs from the model's training resolution by more than 10% is resampled "
            "to it (Resample to the model's resolution, ticked by default: a network recognises shapes at the size "
            "in pixels it learnt them); the probability raster is then on the model's grid. Untick it to run on "
            "the scene's own pixels.\n\n"
            "A polygon the model is lukewarm about is dropped: its mean probability must reach midway between the "
            "threshold and the mean of the scene's surest polygon (a cut calibrated for full outlines also lets "
            "in look-alikes just above it, while landslides sit near the model's own certainty). The log says the "
            "value used; set Min. mean probability to 0 to keep every polygon, or to a value of your own.\n\n"
            "Growing down to a lower probability keeps the regions that reach the threshold and extends them to "
            "where the probability stays above the lower value: fuller outlines without more false alarms. "
            "Test-time augmentation averages the model over flipped (and rotated) copies of each window: "
            "smoother, more reliable probabilities for 4 or 8 times the time. The coarse context pass looks at "
            "the scene again with pixels 2 (3, 4) times larger, so landslides larger than a window are seen with "
            "their outline, and keeps the higher probability of the two passes; automatic runs it when the "
            "model's training landslides are large for its window and it has no surface-model band (about 1.25 "
            "times the time).\n\n"
            "Left at [Save to temporary file], the outputs are written beside the scene instead, since temporary "
            "files are deleted when QGIS closes.")

    def initAlgorithm(self, config=None) -> None:
        self.addParameter(QgsProcessingParameterRasterLayer(self.RASTER, self.tr("Scene")))
        self.addParameter(QgsProcessingParameterFile(
            self.MODEL, self.tr("Model (.onnx, or a .pt checkpoint)"),
            fileFilter=self.tr("Landslide models (*.onnx *.pt)")))
        self.addParameter(QgsProcessingParameterExtent(self.EXTENT, self.tr("Extent"), optional=True))
        self.addParameter(QgsProcessingParameterFeatureSource(
            self.AOI, self.tr("Area of interest (polygons)"), [QgsProcessing.TypeVectorPolygon], optional=True))
        self.add_detection_parameters()
        self.addParameter(QgsProcessingParameterVectorDestination(
            self.OUTPUT, self.tr("Landslide polygons (temporary → beside scene)"), QgsProcessing.TypeVectorPolygon))
        self.addParameter(QgsProcessingParameterRasterDestination(
            self.OUTPUT_PROB, self.tr("Probability (temporary → beside scene)"), optional=True,
            createByDefault=True))
        self.addOutput(QgsProcessingOutputNumber(self.N_POLYGONS, self.tr("Number of landslide polygons")))
        self.addOutput(QgsProcessingOutputNumber(  # decided on the scene by default: a model chains it to the next
            self.MEAN_PROB_FLOOR, self.tr("Minimum mean probability applied")))

    def processAlgorithm(self, parameters, context, feedback):
        layer = self.parameterAsRasterLayer(parameters, self.RASTER, context)
        if layer is None:
            raise QgsProcessingException(self.invalidRasterError(parameters, self.RASTER))
        model = self.parameterAsFile(parameters, self.MODEL, context)
        with core_errors(self.displayName(), self):
            scene = raster_path(layer)
            stem = safe_stem(Path(scene).stem)
            want_prob = not is_skipped(parameters.get(self.OUTPUT_PROB))
            beside = {name: Path(scene).with_name(f"{stem}_{kind}") for name, kind in (
                (self.OUTPUT, "landslides.gpkg"), (self.OUTPUT_PROB, "probability.tif"))
                if (name == self.OUTPUT or want_prob) and is_temporary(parameters.get(name))}
            beside = dict(zip(beside, default_outputs(list(beside.values()), context), strict=True))  # one _N
            out = layer_destination(self, parameters, self.OUTPUT, context, beside.get(self.OUTPUT)).path
            if not out.lower().endswith(".gpkg"):
                raise QgsProcessingException(self.tr("Landslide polygons are written as a GeoPackage (.gpkg), "
                                                     "not {0}").format(out))
            prob = None
            if want_prob:
                prob = layer_destination(self, parameters, self.OUTPUT_PROB, context, beside.get(self.OUTPUT_PROB)).path
                if not prob.lower().endswith((".tif", ".tiff")):
                    raise QgsProcessingException(self.tr("The probability raster is written as a GeoTIFF (.tif), "
                                                         "not {0}").format(prob))
            from ..core.detect import detect

            result = detect(scene, model, out, prob, self._options(parameters, context, layer),
                            progress=FeedbackProgress(feedback, self))
        feedback.pushInfo(self.tr("{0} polygon(s) from {1} windows of {2} px on {3} in {4:.1f} s; threshold {5}"
                                  ).format(result.n_polygons, result.n_windows, result.tile, result.provider,
                                           result.seconds, result.threshold))
        self._style(context, layer, model, out, prob, doubtful=bool(result.doubts))
        results = {self.OUTPUT: out, self.N_POLYGONS: result.n_polygons,
                   self.MEAN_PROB_FLOOR: result.postprocess["min_mean_prob"]}
        if prob:
            results[self.OUTPUT_PROB] = prob
        return results

    def _options(self, parameters, context, layer):
        extent = None
        if parameters.get(self.EXTENT):
            rect = self.parameterAsExtent(parameters, self.EXTENT, context, layer.crs())
            extent = (rect.xMinimum(), rect.yMinimum(), rect.xMaximum(), rect.yMaximum())
        from ..core.vector import AREA_OF_INTEREST

        aoi_source = polygon_source(self, parameters, self.AOI, context)
        return self.detection_options(parameters, context, extent=extent, aoi=source_polygons(
            aoi_source, AREA_OF_INTEREST) if aoi_source is not None else None)

    def _style(self, context, layer, model: str, out: str, prob: str | None, doubtful: bool = False) -> None:
        """Names after the scene and the model (and "doubtful" where the run said why its detections may mean
        little: the layers outlive the log); polygons above the probability raster, both above the scene."""
        from ..core.modelcard import model_display_name
        from ..core.styles import LANDSLIDES_QML, PROBABILITY_QML

        label = f"{layer.name()} ({model_display_name(model)})"
        if doubtful:
            label += self.tr(" — doubtful, see the log")
        run = f"detect:{out}"
        ResultLayer.attach(context, out, self.tr("Landslides — {0}").format(label), str(LANDSLIDES_QML), run=run,
                           rank=0, anchor_id=layer.id())
        if prob:
            ResultLayer.attach(context, prob, self.tr("Landslide probability — {0}").format(label),
                               str(PROBABILITY_QML), run=run, rank=1, anchor_id=layer.id())
