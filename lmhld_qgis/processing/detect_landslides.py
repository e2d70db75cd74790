"""lmhld:detectlandslides: sliding-window detection over a scene, as styled polygons and a probability raster."""

from __future__ import annotations

from pathlib import Path

from qgis.core import (
    QgsProcessing,
    QgsProcessingException,
    QgsProcessingOutputNumber,
    QgsProcessingParameterBoolean,
    QgsProcessingParameterEnum,
    QgsProcessingParameterExtent,
    QgsProcessingParameterFeatureSource,
    QgsProcessingParameterFile,
    QgsProcessingParameterNumber,
    QgsProcessingParameterRasterDestination,
    QgsProcessingParameterRasterLayer,
    QgsProcessingParameterString,
    QgsProcessingParameterVectorDestination,
)

from .. import PLUGIN_NAME
from .base import LmhldAlgorithm
from .common import FeedbackProgress, core_errors, optional_number, polygon_source, raster_path, source_polygons
from .outputs import layer_destination, safe_stem
from .styling import ResultLayer

PROVIDERS = ("auto", "cpu", "cuda")
TTA = ("none", "flips", "d4")  # core.tta.TTA_MODES, in the order of the dialog's choices
CONTEXT = ("auto", "off", "2", "3", "4")  # core.context.CONTEXT_MODES, in the order of the dialog's choices


class DetectLandslides(LmhldAlgorithm):
    RASTER = "RASTER"
    MODEL = "MODEL"
    EXTENT = "EXTENT"
    AOI = "AOI"
    THRESHOLD = "THRESHOLD"
    OVERLAP = "OVERLAP"
    TILE = "TILE"
    MIN_AREA = "MIN_AREA"
    FILL_HOLES = "FILL_HOLES"
    SIMPLIFY = "SIMPLIFY"
    BATCH_SIZE = "BATCH_SIZE"
    PROVIDER = "PROVIDER"
    BANDS = "BANDS"
    RESAMPLE = "RESAMPLE"
    TTA = "TTA"
    CONTEXT = "CONTEXT"
    GROW_THRESHOLD = "GROW_THRESHOLD"
    MIN_MEAN_PROB = "MIN_MEAN_PROB"
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
        self._add_advanced_parameters()
        self.addParameter(QgsProcessingParameterVectorDestination(
            self.OUTPUT, self.tr("Landslide polygons (temporary → beside scene)"), QgsProcessing.TypeVectorPolygon))
        self.addParameter(QgsProcessingParameterRasterDestination(
            self.OUTPUT_PROB, self.tr("Probability (temporary → beside scene)"), optional=True,
            createByDefault=True))
        self.addOutput(QgsProcessingOutputNumber(self.N_POLYGONS, self.tr("Number of landslide polygons")))
        self.addOutput(QgsProcessingOutputNumber(  # decided on the scene by default: a model chains it to the next
            self.MEAN_PROB_FLOOR, self.tr("Minimum mean probability applied")))

    def _add_advanced_parameters(self) -> None:
        double, integer = QgsProcessingParameterNumber.Double, QgsProcessingParameterNumber.Integer
        for key, label, kind, low, high in (
                (self.THRESHOLD, self.tr("Threshold (not set: the model's)"), double, 0.0, 1.0),
                (self.OVERLAP, self.tr("Window overlap, 0-0.99 (not set: model's)"), double, 0.0,
                 0.99),
                (self.TILE, self.tr("Window size, px (not set: the model's)"), integer, 1, None),
                (self.MIN_AREA, self.tr("Minimum area, m² (not set: the model's)"), double, 0.0,
                 None),
                (self.FILL_HOLES, self.tr("Fill holes below, m² (not set: min. area)"), double, 0.0,
                 None),
                (self.GROW_THRESHOLD, self.tr("Grow down to probability (not set: off)"), double,
                 0.0, 1.0),
                (self.MIN_MEAN_PROB, self.tr("Min. mean probability (not set: auto)"), double,
                 0.0, 1.0)):
            self.addAdvancedParameter(QgsProcessingParameterNumber(
                key, label, kind, optional=True, minValue=low, **({} if high is None else {"maxValue": high})))
        self.addAdvancedParameter(QgsProcessingParameterNumber(
            self.SIMPLIFY, self.tr("Simplify, map units (0: pixel outlines)"),
            double, 0.0, minValue=0.0))
        self.addAdvancedParameter(QgsProcessingParameterString(
            self.BANDS, self.tr("Bands in the model's order, e.g. 3,2,1,4"),
            optional=True))
        self.addAdvancedParameter(QgsProcessingParameterBoolean(
            self.RESAMPLE, self.tr("Resample to the model's resolution"),
            defaultValue=True))
        self.addAdvancedParameter(QgsProcessingParameterEnum(
            self.TTA, self.tr("Test-time augmentation"),
            [self.tr("None"), self.tr("Flips (4 per window)"),
             self.tr("Flips and rotations (8 per window)")], defaultValue=0))
        self.addAdvancedParameter(QgsProcessingParameterEnum(
            self.CONTEXT, self.tr("Coarse context pass"),
            [self.tr("Automatic (large landslides)"), self.tr("Off"), self.tr("Pixels 2 times larger"),
             self.tr("Pixels 3 times larger"), self.tr("Pixels 4 times larger")],
            defaultValue=0))
        self.addAdvancedParameter(QgsProcessingParameterNumber(
            self.BATCH_SIZE, self.tr("Windows per batch"), integer, 8, minValue=1))
        self.addAdvancedParameter(QgsProcessingParameterEnum(
            self.PROVIDER, self.tr("Run on"), [self.tr("Automatic: a GPU when there is one"), self.tr("CPU"),
                                               self.tr("GPU (CUDA)")], defaultValue=0))

    def processAlgorithm(self, parameters, context, feedback):
        layer = self.parameterAsRasterLayer(parameters, self.RASTER, context)
        if layer is None:
            raise QgsProcessingException(self.invalidRasterError(parameters, self.RASTER))
        model = self.parameterAsFile(parameters, self.MODEL, context)
        with core_errors(self.displayName(), self):
            scene = raster_path(layer)
            stem = safe_stem(Path(scene).stem)
            out = layer_destination(self, parameters, self.OUTPUT, context,
                                    Path(scene).with_name(f"{stem}_landslides.gpkg")).path
            if not out.lower().endswith(".gpkg"):
                raise QgsProcessingException(self.tr("Landslide polygons are written as a GeoPackage (.gpkg), "
                                                     "not {0}").format(out))
            prob = None
            if parameters.get(self.OUTPUT_PROB) is not None:
                prob = layer_destination(self, parameters, self.OUTPUT_PROB, context,
                                         Path(scene).with_name(f"{stem}_probability.tif")).path
                if not prob.lower().endswith((".tif", ".tiff")):
                    raise QgsProcessingException(self.tr("The probability raster is written as a GeoTIFF (.tif), "
                                                         "not {0}").format(prob))
            from ..core.detect import detect

            result = detect(scene, model, out, prob, self._options(parameters, context, layer),
                            progress=FeedbackProgress(feedback, self))
        feedback.pushInfo(self.tr("{0} polygons from {1} windows of {2} px on {3} in {4:.1f} s; threshold {5}").format(
            result.n_polygons, result.n_windows, result.tile, result.provider, result.seconds, result.threshold))
        self._style(context, layer, model, out, prob)
        results = {self.OUTPUT: out, self.N_POLYGONS: result.n_polygons,
                   self.MEAN_PROB_FLOOR: result.postprocess["min_mean_prob"]}
        if prob:
            results[self.OUTPUT_PROB] = prob
        return results

    def _options(self, parameters, context, layer):
        from ..core.bands import parse_band_list
        from ..core.detect import DetectOptions

        def value(key: str, as_int: bool = False):
            return optional_number(self, parameters, key, context, as_int)

        extent = None
        if parameters.get(self.EXTENT):
            rect = self.parameterAsExtent(parameters, self.EXTENT, context, layer.crs())
            extent = (rect.xMinimum(), rect.yMinimum(), rect.xMaximum(), rect.yMaximum())
        aoi_source = polygon_source(self, parameters, self.AOI, context)
        set_only = {k: v for k, v in (("min_area_m2", value(self.MIN_AREA)), ("fill_holes_m2", value(self.FILL_HOLES)))
                    if v is not None}  # not set: the model's defaults
        return DetectOptions(
            tile=value(self.TILE, as_int=True), overlap=value(self.OVERLAP), threshold=value(self.THRESHOLD),
            batch_size=self.parameterAsInt(parameters, self.BATCH_SIZE, context),
            simplify=self.parameterAsDouble(parameters, self.SIMPLIFY, context),
            provider=PROVIDERS[self.parameterAsEnum(parameters, self.PROVIDER, context)],
            bands=parse_band_list(self.parameterAsString(parameters, self.BANDS, context)),
            extent=extent, aoi=source_polygons(aoi_source, "area of interest") if aoi_source is not None else None,
            resample=self.parameterAsBool(parameters, self.RESAMPLE, context),
            tta=TTA[self.parameterAsEnum(parameters, self.TTA, context)], grow_threshold=value(self.GROW_THRESHOLD),
            min_mean_prob=value(self.MIN_MEAN_PROB),
            context=CONTEXT[self.parameterAsEnum(parameters, self.CONTEXT, context)],
            **set_only)

    def _style(self, context, layer, model: str, out: str, prob: str | None) -> None:
        """Names after the scene and the model; polygons above the probability raster, both above the scene."""
        from ..core.modelcard import model_display_name
        from ..core.styles import LANDSLIDES_QML, PROBABILITY_QML

        label = f"{layer.name()} ({model_display_name(model)})"
        run = f"detect:{out}"
        ResultLayer.attach(context, out, self.tr("Landslides — {0}").format(label), str(LANDSLIDES_QML), run=run,
                           rank=0, anchor_id=layer.id())
        if prob:
            ResultLayer.attach(context, prob, self.tr("Landslide probability — {0}").format(label),
                               str(PROBABILITY_QML), run=run, rank=1, anchor_id=layer.id())
