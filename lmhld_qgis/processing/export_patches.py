"""lmhld:exportpatches: training patches from rasters and a landslide inventory (LMHLD sec. 2.3)."""

from __future__ import annotations

from pathlib import Path

from qgis.core import (
    QgsProcessing,
    QgsProcessingContext,
    QgsProcessingException,
    QgsProcessingOutputFile,
    QgsProcessingOutputVectorLayer,
    QgsProcessingParameterBoolean,
    QgsProcessingParameterDateTime,
    QgsProcessingParameterEnum,
    QgsProcessingParameterFeatureSource,
    QgsProcessingParameterFile,
    QgsProcessingParameterFolderDestination,
    QgsProcessingParameterMultipleLayers,
    QgsProcessingParameterNumber,
    QgsProcessingParameterString,
)

from .base import LmhldAlgorithm
from .common import FeedbackProgress, core_errors, raster_path, required_source, source_polygons
from .outputs import folder_destination, safe_stem
from .styling import ResultLayer

SPLIT_METHODS = ("balanced", "block")
QUARTILES = ("q1", "q2", "q3")


class ExportPatches(LmhldAlgorithm):
    RASTERS = "RASTERS"
    INVENTORY = "INVENTORY"
    PATCH_SIZE = "PATCH_SIZE"
    ANALYSIS = "ANALYSIS"
    QUARTILE = "QUARTILE"
    BANDS = "BANDS"
    MIN_FRACTION = "MIN_FRACTION"
    TRAIN_SHARE = "TRAIN_SHARE"
    VAL_SHARE = "VAL_SHARE"
    TEST_SHARE = "TEST_SHARE"
    SPLIT_METHOD = "SPLIT_METHOD"
    BLOCK = "BLOCK"
    TOLERANCE = "TOLERANCE"
    STRIDE = "STRIDE"
    SEED = "SEED"
    NAME = "NAME"
    SENSOR = "SENSOR"
    DATE = "DATE"
    OVERWRITE = "OVERWRITE"
    OUTPUT_FOLDER = "OUTPUT_FOLDER"
    OUTPUT_FOOTPRINTS = "OUTPUT_FOOTPRINTS"
    OUTPUT_JSON = "OUTPUT_JSON"

    ALG_ID = "exportpatches"
    GROUP_ID = "patches"
    ICON = "export.svg"
    README_HEADING = "### 2. Patch export — `lmhld:exportpatches`, `lmhld export`"

    def displayName(self) -> str:
        return self.tr("Export training patches")

    def shortHelpString(self) -> str:
        return self.tr(
            "Cuts training patches from the imagery where the inventory has landslides (LMHLD paper, section 2.3): "
            "non-overlapping windows that hold at least the minimum share of landslide pixels, no nodata and no "
            "image edge. The patches are split into training, validation and test sets whose landslide shares "
            "agree within the tolerance, or by spatial blocks, which keeps neighbouring patches in one set.\n\n"
            "Patch size: type it, or choose the report of Analyse landslide inventory and a quartile.\n\n"
            "Advanced: the bands, when not set, are those named blue, green, red and nir, else the first four; "
            "the window step, when not set, is the patch size (no overlap).\n\n"
            "The dataset folder holds dataset.json, img/, mask/, splits/ and patches.gpkg (the patch outlines, "
            "coloured by set, loaded on the map). Left at [Save to temporary folder], it is created beside the "
            "inventory instead, since a temporary folder is deleted when QGIS closes.")

    def initAlgorithm(self, config=None) -> None:
        self.addParameter(QgsProcessingParameterMultipleLayers(
            self.RASTERS, self.tr("Imagery"), QgsProcessing.TypeRaster))
        self.addParameter(QgsProcessingParameterFeatureSource(
            self.INVENTORY, self.tr("Landslide inventory (polygons)"), [QgsProcessing.TypeVectorPolygon]))
        self.addParameter(QgsProcessingParameterNumber(
            self.PATCH_SIZE, self.tr("Patch size, px (or from the report)"),
            QgsProcessingParameterNumber.Integer, optional=True, minValue=8))
        self.addParameter(QgsProcessingParameterFile(
            self.ANALYSIS, self.tr("Analysis report (JSON)"), optional=True,
            fileFilter=self.tr("Analysis reports (*.json)")))
        self.addParameter(QgsProcessingParameterEnum(
            self.QUARTILE, self.tr("Report's patch size for"),
            [self.tr("Q1: small landslides"), self.tr("Q2: the median landslide"), self.tr("Q3: large landslides")],
            defaultValue=1))
        self._add_split_parameters()
        self._add_advanced_parameters()
        self.addParameter(QgsProcessingParameterFolderDestination(
            self.OUTPUT_FOLDER, self.tr("Dataset folder (temporary → beside inventory)")))
        self.addOutput(QgsProcessingOutputVectorLayer(self.OUTPUT_FOOTPRINTS, self.tr("Patch outlines"),
                                                      QgsProcessing.TypeVectorPolygon))
        self.addOutput(QgsProcessingOutputFile(self.OUTPUT_JSON, self.tr("Dataset card (dataset.json)")))

    def _add_split_parameters(self) -> None:
        for key, label, share in ((self.TRAIN_SHARE, self.tr("Training share"), 0.7),
                                  (self.VAL_SHARE, self.tr("Validation share"), 0.2),
                                  (self.TEST_SHARE, self.tr("Test share"), 0.1)):
            self.addAdvancedParameter(QgsProcessingParameterNumber(
                key, label, QgsProcessingParameterNumber.Double, share, minValue=0.0, maxValue=1.0))
        self.addAdvancedParameter(QgsProcessingParameterEnum(
            self.SPLIT_METHOD, self.tr("Split"),
            [self.tr("Balanced, per patch (paper)"),
             self.tr("Spatial blocks (no leakage)")], defaultValue=0))
        self.addAdvancedParameter(QgsProcessingParameterNumber(
            self.BLOCK, self.tr("Block side, patches"), QgsProcessingParameterNumber.Integer,
            4, minValue=1))
        self.addAdvancedParameter(QgsProcessingParameterNumber(
            self.TOLERANCE, self.tr("Tolerance of landslide shares"),
            QgsProcessingParameterNumber.Double, 0.01, minValue=0.0, maxValue=1.0))

    def _add_advanced_parameters(self) -> None:
        self.addAdvancedParameter(QgsProcessingParameterString(
            self.BANDS, self.tr("Bands in order, e.g. 3,2,1,4"), optional=True))
        self.addAdvancedParameter(QgsProcessingParameterNumber(
            self.MIN_FRACTION, self.tr("Minimum landslide share of a patch"),
            QgsProcessingParameterNumber.Double, 0.10, minValue=0.0, maxValue=1.0))
        self.addAdvancedParameter(QgsProcessingParameterNumber(
            self.STRIDE, self.tr("Window step, px (not set: no overlap)"),
            QgsProcessingParameterNumber.Integer, optional=True, minValue=1))
        self.addAdvancedParameter(QgsProcessingParameterNumber(
            self.SEED, self.tr("Random seed of the split"), QgsProcessingParameterNumber.Integer, 0, minValue=0))
        self.addAdvancedParameter(QgsProcessingParameterString(
            self.NAME, self.tr("Area name"), optional=True))
        self.addAdvancedParameter(QgsProcessingParameterString(self.SENSOR, self.tr("Sensor"), optional=True))
        self.addAdvancedParameter(QgsProcessingParameterDateTime(
            self.DATE, self.tr("Image date"), QgsProcessingParameterDateTime.Date, optional=True))
        self.addAdvancedParameter(QgsProcessingParameterBoolean(
            self.OVERWRITE, self.tr("Replace a non-empty dataset folder"), defaultValue=False))

    def checkParameterValues(self, parameters, context):
        if parameters.get(self.PATCH_SIZE) in (None, "") and not parameters.get(self.ANALYSIS):
            return False, self.tr("Give a patch size, or an analysis report to take it from.")
        return super().checkParameterValues(parameters, context)

    def processAlgorithm(self, parameters, context, feedback):
        layers = self.parameterAsLayerList(parameters, self.RASTERS, context)
        if not layers:
            raise QgsProcessingException(self.tr("Choose at least one raster layer of imagery."))
        source = required_source(self, parameters, self.INVENTORY, context)
        with core_errors(self.displayName()):
            options = self._options(parameters, context)
            out = folder_destination(self, parameters, self.OUTPUT_FOLDER, context,
                                     self._default_folder(parameters, context, source, options.patch_size)).path
            from ..core.export import export_patches

            report = export_patches([raster_path(layer) for layer in layers], source_polygons(source, "inventory"),
                                    out, options, progress=FeedbackProgress(feedback))
        feedback.pushInfo(self.tr("Dataset: {0}").format(report.out_dir))
        footprints = str(report.out_dir / "patches.gpkg") + "|layername=patches"
        self._load_footprints(context, footprints, report.card["name"])
        return {self.OUTPUT_FOLDER: str(report.out_dir), self.OUTPUT_FOOTPRINTS: footprints,
                self.OUTPUT_JSON: str(report.out_dir / "dataset.json")}

    def _options(self, parameters, context):
        from ..core.bands import parse_band_list
        from ..core.export import ExportOptions, patch_size_from_report
        from ..core.splits import parse_ratios

        size = self.parameterAsInt(parameters, self.PATCH_SIZE, context) \
            if parameters.get(self.PATCH_SIZE) not in (None, "") else \
            patch_size_from_report(self.parameterAsFile(parameters, self.ANALYSIS, context),
                                   QUARTILES[self.parameterAsEnum(parameters, self.QUARTILE, context)])
        stride = self.parameterAsInt(parameters, self.STRIDE, context) \
            if parameters.get(self.STRIDE) not in (None, "") else None
        date = self.parameterAsDateTime(parameters, self.DATE, context)
        return ExportOptions(
            patch_size=size, stride=stride,
            bands=parse_band_list(self.parameterAsString(parameters, self.BANDS, context)),
            min_fraction=self.parameterAsDouble(parameters, self.MIN_FRACTION, context),
            split=parse_ratios([self.parameterAsDouble(parameters, key, context)
                                for key in (self.TRAIN_SHARE, self.VAL_SHARE, self.TEST_SHARE)]),
            split_method=SPLIT_METHODS[self.parameterAsEnum(parameters, self.SPLIT_METHOD, context)],
            block=self.parameterAsInt(parameters, self.BLOCK, context),
            tolerance=self.parameterAsDouble(parameters, self.TOLERANCE, context),
            seed=self.parameterAsInt(parameters, self.SEED, context),
            name=self.parameterAsString(parameters, self.NAME, context),
            sensor=self.parameterAsString(parameters, self.SENSOR, context),
            date=date.date().toString("yyyy-MM-dd") if date.isValid() else "",
            overwrite=self.parameterAsBool(parameters, self.OVERWRITE, context))

    def _default_folder(self, parameters, context, source, patch_size: int) -> Path:
        """Beside the inventory file: <inventory>_patches_<size>px (or in the home folder for a non-file layer)."""
        layer = self.parameterAsVectorLayer(parameters, self.INVENTORY, context)
        path = Path(layer.source().split("|")[0]) if layer is not None and layer.providerType() == "ogr" else None
        folder = path.parent if path is not None and path.parent.is_dir() else Path.home()
        stem = safe_stem(path.stem if path is not None else source.sourceName())
        return folder / f"{stem}_patches_{patch_size}px"

    def _load_footprints(self, context, footprints: str, name: str) -> None:
        from ..core.styles import PATCHES_QML

        if context.project() is None:
            return
        context.addLayerToLoadOnCompletion(footprints, QgsProcessingContext.LayerDetails(
            self.tr("Patches — {0}").format(name), context.project(), self.OUTPUT_FOOTPRINTS))
        ResultLayer.attach(context, footprints, self.tr("Patches — {0}").format(name), str(PATCHES_QML))
