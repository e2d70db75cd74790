"""lmhld:exportpatches: training patches from rasters and a landslide inventory (LMHLD sec. 2.3)."""

from __future__ import annotations

from qgis.core import (
    QgsProcessing,
    QgsProcessingContext,
    QgsProcessingException,
    QgsProcessingOutputFile,
    QgsProcessingOutputVectorLayer,
    QgsProcessingParameterBoolean,
    QgsProcessingParameterEnum,
    QgsProcessingParameterFeatureSource,
    QgsProcessingParameterFolderDestination,
    QgsProcessingParameterMultipleLayers,
    QgsProcessingParameterNumber,
    QgsProcessingParameterString,
)

from .base import LmhldAlgorithm
from .common import FeedbackProgress, core_errors, raster_path, source_polygons

SPLIT_METHODS = ["balanced", "block"]


class ExportPatches(LmhldAlgorithm):
    RASTERS, INVENTORY, PATCH_SIZE, STRIDE, BANDS, MIN_FRACTION = (
        "RASTERS", "INVENTORY", "PATCH_SIZE", "STRIDE", "BANDS", "MIN_FRACTION")
    SPLIT, SPLIT_METHOD, SEED, NAME, SENSOR, DATE, OVERWRITE = (
        "SPLIT", "SPLIT_METHOD", "SEED", "NAME", "SENSOR", "DATE", "OVERWRITE")
    OUTPUT_FOLDER, OUTPUT_FOOTPRINTS, OUTPUT_JSON = "OUTPUT_FOLDER", "OUTPUT_FOOTPRINTS", "OUTPUT_JSON"

    ALG_ID = "exportpatches"
    TITLE = "Export training patches"
    GROUP_ID = "inventory"
    HELP = (
            "Rasterizes the inventory on each raster's grid, cuts non-overlapping windows and keeps patches with at "
            "least MIN_FRACTION landslide pixels, no nodata and no image boundary. Splits them train/val/test so "
            "that the landslide-pixel proportions agree within 1 point (or by spatial blocks, which avoids "
            "leakage between neighbouring patches). Writes dataset.json, img/, mask/, splits/ and patches.gpkg."
        )

    def initAlgorithm(self, config=None) -> None:
        self.addParameter(QgsProcessingParameterMultipleLayers(self.RASTERS, "Rasters", QgsProcessing.TypeRaster))
        self.addParameter(QgsProcessingParameterFeatureSource(
            self.INVENTORY, "Landslide inventory (polygons)", [QgsProcessing.TypeVectorPolygon]))
        self.addParameter(QgsProcessingParameterNumber(self.PATCH_SIZE, "Patch size (pixels)",
                                                       QgsProcessingParameterNumber.Integer, 128, minValue=8))
        self.addParameter(QgsProcessingParameterNumber(self.STRIDE, "Stride (0 = patch size, no overlap)",
                                                       QgsProcessingParameterNumber.Integer, 0, minValue=0))
        self.addParameter(QgsProcessingParameterString(
            self.BANDS, "Bands, 1-based (empty: blue,green,red,nir by name, else the first four)", optional=True))
        self.addParameter(QgsProcessingParameterNumber(self.MIN_FRACTION, "Minimum landslide fraction",
                                                       QgsProcessingParameterNumber.Double, 0.10, minValue=0,
                                                       maxValue=1))
        self.addParameter(QgsProcessingParameterString(self.SPLIT, "Split ratios train,val,test",
                                                       defaultValue="0.7,0.2,0.1"))
        self.addParameter(QgsProcessingParameterEnum(self.SPLIT_METHOD, "Split method", SPLIT_METHODS,
                                                     defaultValue=0))
        self.addParameter(QgsProcessingParameterNumber(self.SEED, "Random seed", QgsProcessingParameterNumber.Integer,
                                                       0))
        for key, label in ((self.NAME, "Area name"), (self.SENSOR, "Sensor"), (self.DATE, "Image date")):
            self.addParameter(QgsProcessingParameterString(key, label, optional=True))
        self.addParameter(QgsProcessingParameterBoolean(self.OVERWRITE, "Replace a non-empty output folder",
                                                        defaultValue=False))
        self.addParameter(QgsProcessingParameterFolderDestination(self.OUTPUT_FOLDER, "Dataset folder"))
        self.addOutput(QgsProcessingOutputVectorLayer(self.OUTPUT_FOOTPRINTS, "Patch footprints",
                                                      QgsProcessing.TypeVectorPolygon))
        self.addOutput(QgsProcessingOutputFile(self.OUTPUT_JSON, "Dataset card (dataset.json)"))

    def processAlgorithm(self, parameters, context, feedback):
        from ..core.bands import parse_band_list
        from ..core.export import ExportOptions, export_patches
        from ..core.splits import parse_ratios

        layers = self.parameterAsLayerList(parameters, self.RASTERS, context)
        if not layers:
            raise QgsProcessingException("RASTERS: give at least one raster layer")
        out = self.parameterAsString(parameters, self.OUTPUT_FOLDER, context)
        with core_errors():
            rasters = [raster_path(layer) for layer in layers]
            polygons = source_polygons(self.parameterAsSource(parameters, self.INVENTORY, context), "INVENTORY")
            options = ExportOptions(
                patch_size=self.parameterAsInt(parameters, self.PATCH_SIZE, context),
                stride=self.parameterAsInt(parameters, self.STRIDE, context) or None,
                bands=parse_band_list(self.parameterAsString(parameters, self.BANDS, context)),
                min_fraction=self.parameterAsDouble(parameters, self.MIN_FRACTION, context),
                split=parse_ratios(self.parameterAsString(parameters, self.SPLIT, context)),
                split_method=SPLIT_METHODS[self.parameterAsEnum(parameters, self.SPLIT_METHOD, context)],
                seed=self.parameterAsInt(parameters, self.SEED, context),
                name=self.parameterAsString(parameters, self.NAME, context),
                sensor=self.parameterAsString(parameters, self.SENSOR, context),
                date=self.parameterAsString(parameters, self.DATE, context),
                overwrite=self.parameterAsBool(parameters, self.OVERWRITE, context))
            report = export_patches(rasters, polygons, out, options, progress=FeedbackProgress(feedback))
        footprints = str(report.out_dir / "patches.gpkg") + "|layername=patches"
        if context.project() is not None:
            context.addLayerToLoadOnCompletion(footprints, QgsProcessingContext.LayerDetails(
                f"Patches {report.card['name']}", context.project(), self.OUTPUT_FOOTPRINTS))
        return {self.OUTPUT_FOLDER: str(report.out_dir), self.OUTPUT_FOOTPRINTS: footprints,
                self.OUTPUT_JSON: str(report.out_dir / "dataset.json")}
