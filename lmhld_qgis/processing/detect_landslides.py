"""lmhld:detectlandslides: sliding-window detection over a scene, as styled polygons and a probability raster."""

from __future__ import annotations

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

from .base import LmhldAlgorithm
from .common import FeedbackProgress, core_errors, raster_path, source_polygons
from .styling import StyleOnLoad

PROVIDERS = ["auto", "cpu", "cuda"]


class DetectLandslides(LmhldAlgorithm):
    RASTER, MODEL, EXTENT, AOI, OVERLAP, THRESHOLD, MIN_AREA, SIMPLIFY = (
        "RASTER", "MODEL", "EXTENT", "AOI", "OVERLAP", "THRESHOLD", "MIN_AREA", "SIMPLIFY")
    FILL_HOLES, BATCH_SIZE, PROVIDER, BANDS, RESAMPLE, OUTPUT, OUTPUT_PROB = (
        "FILL_HOLES", "BATCH_SIZE", "PROVIDER", "BANDS", "RESAMPLE", "OUTPUT", "OUTPUT_PROB")

    ALG_ID = "detectlandslides"
    TITLE = "Detect landslides"
    GROUP_ID = "detection"
    HELP = ("Runs a landslide model (ONNX with lmhld metadata, or a .pt checkpoint) over the whole raster in "
                "overlapping windows blended without seams, and writes landslide polygons (GeoPackage, with "
                "area, perimeter and probability statistics) and a probability raster. Band mapping, tile size, "
                "normalisation and threshold default to the model's metadata. Nodata and areas outside the "
                "EXTENT / AOI get no polygons.")

    def initAlgorithm(self, config=None) -> None:
        self.addParameter(QgsProcessingParameterRasterLayer(self.RASTER, "Scene"))
        self.addParameter(QgsProcessingParameterFile(self.MODEL, "Model (.onnx or .pt)",
                                                     fileFilter="Models (*.onnx *.pt)"))
        self.addParameter(QgsProcessingParameterExtent(self.EXTENT, "Extent", optional=True))
        self.addParameter(QgsProcessingParameterFeatureSource(self.AOI, "Area of interest (polygons)",
                                                              [QgsProcessing.TypeVectorPolygon], optional=True))
        self.addParameter(QgsProcessingParameterNumber(self.OVERLAP, "Overlap (fraction; -1 = the model's)",
                                                       QgsProcessingParameterNumber.Double, -1.0, minValue=-1,
                                                       maxValue=0.95))
        self.addParameter(QgsProcessingParameterNumber(self.THRESHOLD, "Threshold (-1 = the model's)",
                                                       QgsProcessingParameterNumber.Double, -1.0, minValue=-1,
                                                       maxValue=1))
        self.addParameter(QgsProcessingParameterNumber(self.MIN_AREA, "Minimum polygon area (m²; -1 = the model's)",
                                                       QgsProcessingParameterNumber.Double, -1.0, minValue=-1))
        self.addParameter(QgsProcessingParameterNumber(self.FILL_HOLES,
                                                       "Fill holes smaller than (m²; -1 = the model's)",
                                                       QgsProcessingParameterNumber.Double, -1.0, minValue=-1))
        self.addParameter(QgsProcessingParameterNumber(self.SIMPLIFY, "Simplification tolerance (CRS units)",
                                                       QgsProcessingParameterNumber.Double, 0.0, minValue=0))
        self.addParameter(QgsProcessingParameterNumber(self.BATCH_SIZE, "Batch size",
                                                       QgsProcessingParameterNumber.Integer, 8, minValue=1))
        self.addParameter(QgsProcessingParameterEnum(self.PROVIDER, "Provider", PROVIDERS, defaultValue=0))
        self.addParameter(QgsProcessingParameterString(self.BANDS, "Bands, 1-based (empty: from the model)",
                                                       optional=True))
        self.addParameter(QgsProcessingParameterBoolean(
            self.RESAMPLE, "Resample to the model's resolution when it differs", defaultValue=False))
        self.addParameter(QgsProcessingParameterVectorDestination(self.OUTPUT, "Landslides",
                                                                  QgsProcessing.TypeVectorPolygon))
        self.addParameter(QgsProcessingParameterRasterDestination(self.OUTPUT_PROB, "Landslide probability",
                                                                  optional=True, createByDefault=True))
        self.addOutput(QgsProcessingOutputNumber("N_POLYGONS", "Number of polygons"))

    def processAlgorithm(self, parameters, context, feedback):
        from ..core.bands import parse_band_list
        from ..core.detect import DetectOptions, detect
        from ..core.styles import LANDSLIDES_QML, PROBABILITY_QML

        layer = self.parameterAsRasterLayer(parameters, self.RASTER, context)
        out = self.parameterAsOutputLayer(parameters, self.OUTPUT, context)
        if not out.lower().endswith(".gpkg"):
            raise QgsProcessingException(f"OUTPUT must be a GeoPackage (.gpkg), got {out}")
        prob = self.parameterAsOutputLayer(parameters, self.OUTPUT_PROB, context) or None
        if prob and not prob.lower().endswith((".tif", ".tiff")):
            raise QgsProcessingException(f"OUTPUT_PROB must be a GeoTIFF (.tif), got {prob}")
        extent = None
        if parameters.get(self.EXTENT):
            rect = self.parameterAsExtent(parameters, self.EXTENT, context, layer.crs())
            extent = (rect.xMinimum(), rect.yMinimum(), rect.xMaximum(), rect.yMaximum())
        overlap = self.parameterAsDouble(parameters, self.OVERLAP, context)
        threshold = self.parameterAsDouble(parameters, self.THRESHOLD, context)
        with core_errors():
            aoi_source = self.parameterAsSource(parameters, self.AOI, context)
            options = DetectOptions(
                overlap=None if overlap < 0 else overlap, threshold=None if threshold < 0 else threshold,
                batch_size=self.parameterAsInt(parameters, self.BATCH_SIZE, context),
                min_area_m2=_or_model(self.parameterAsDouble(parameters, self.MIN_AREA, context)),
                fill_holes_m2=_or_model(self.parameterAsDouble(parameters, self.FILL_HOLES, context)),
                simplify=self.parameterAsDouble(parameters, self.SIMPLIFY, context),
                provider=PROVIDERS[self.parameterAsEnum(parameters, self.PROVIDER, context)],
                bands=parse_band_list(self.parameterAsString(parameters, self.BANDS, context)),
                extent=extent, aoi=source_polygons(aoi_source, "AOI") if aoi_source is not None else None,
                resample=self.parameterAsBool(parameters, self.RESAMPLE, context))
            result = detect(raster_path(layer), self.parameterAsFile(parameters, self.MODEL, context), out, prob,
                            options, progress=FeedbackProgress(feedback))
        feedback.pushInfo(f"{result.n_polygons} polygons from {result.n_windows} windows of {result.tile} px on "
                          f"{result.provider} in {result.seconds:.1f} s")
        StyleOnLoad.attach(context, out, str(LANDSLIDES_QML))
        if prob:
            StyleOnLoad.attach(context, prob, str(PROBABILITY_QML))
        results = {self.OUTPUT: out, "N_POLYGONS": result.n_polygons}
        if prob:
            results[self.OUTPUT_PROB] = prob
        return results


def _or_model(value: float) -> float | None:
    """-1 (any negative value) asks for the model's default."""
    return None if value < 0 else value
