"""The parameters that decide which windows a dataset holds, declared once for lmhld:previewpatches and
lmhld:exportpatches (same names, labels and ranges as `lmhld preview` / `lmhld export`), so that a preview shows
exactly what the export with the same values writes."""

from __future__ import annotations

from typing import Any

from qgis.core import (
    QgsProcessing,
    QgsProcessingContext,
    QgsProcessingException,
    QgsProcessingParameterEnum,
    QgsProcessingParameterFeatureSource,
    QgsProcessingParameterFile,
    QgsProcessingParameterMultipleLayers,
    QgsProcessingParameterNumber,
    QgsProcessingParameterString,
)

from .common import (
    layer_origin,
    optional_number,
    polygon_source,
    raster_path,
    required_source,
    source_polygons,
)

RECIPES = ("generalise", "paper")
SPLIT_METHODS = (None, "balanced", "block")  # None: the recipe's
EVERY_LANDSLIDE = (None, True, False)  # None: the recipe's
QUARTILES = ("q1", "q2", "q3")


class PatchPlanParameters:
    """Mixin for an LmhldAlgorithm: `add_plan_parameters()` in initAlgorithm, `plan_inputs()` in processAlgorithm."""

    RASTERS, INVENTORY, PATCH_SIZE, ANALYSIS, QUARTILE, RECIPE = (
        "RASTERS", "INVENTORY", "PATCH_SIZE", "ANALYSIS", "QUARTILE", "RECIPE")
    STRIDE, MIN_FRACTION, EVERY_LANDSLIDE, BACKGROUND_SHARE, LOOKALIKE_SHARE, NEGATIVES, BANDS = (
        "STRIDE", "MIN_FRACTION", "EVERY_LANDSLIDE", "BACKGROUND_SHARE", "LOOKALIKE_SHARE", "NEGATIVES", "BANDS")
    TRAIN_SHARE, VAL_SHARE, TEST_SHARE, SPLIT_METHOD, BLOCK, TOLERANCE, SEED = (
        "TRAIN_SHARE", "VAL_SHARE", "TEST_SHARE", "SPLIT_METHOD", "BLOCK", "TOLERANCE", "SEED")

    PLAN_HELP = (
        "Recipe: 'generalise' (the default) keeps windows with at least 10% landslide pixels and the window of "
        "every smaller landslide, adds background patches (no landslide; half of them where the imagery looks most "
        "like the landslides: bare soil, sediment, fields, tracks) and, for training, five patches on and "
        "around each negative, "
        "overlaps training windows while there are few, and splits by spatial blocks so that neighbouring "
        "patches never sit in different sets. 'paper' is the LMHLD recipe (section 2.3): non-overlapping "
        "windows with at least 10% landslide pixels, split per patch with landslide shares within the "
        "tolerance. Any advanced value that is set replaces the recipe's.\n\n"
        "Patch size: type it, or choose the report of Analyse landslide inventory and a quartile.\n\n"
        "Bands, when not set, are those named blue, green, red and nir, else the first four.")

    def add_plan_parameters(self: Any) -> None:
        tr, integer, double = self.tr, QgsProcessingParameterNumber.Integer, QgsProcessingParameterNumber.Double
        self.addParameter(QgsProcessingParameterMultipleLayers(self.RASTERS, tr("Imagery"), QgsProcessing.TypeRaster))
        self.addParameter(QgsProcessingParameterFeatureSource(
            self.INVENTORY, tr("Landslide inventory (polygons)"), [QgsProcessing.TypeVectorPolygon]))
        self.addParameter(QgsProcessingParameterNumber(
            self.PATCH_SIZE, tr("Patch size, px (or from the report)"), integer, optional=True, minValue=8))
        self.addParameter(QgsProcessingParameterFile(
            self.ANALYSIS, tr("Analysis report (JSON)"), optional=True, fileFilter=tr("Analysis reports (*.json)")))
        self.addParameter(QgsProcessingParameterEnum(
            self.QUARTILE, tr("Report's patch size for"),
            [tr("Q1: small landslides"), tr("Q2: the median landslide"), tr("Q3: large landslides")], defaultValue=1))
        self.addParameter(QgsProcessingParameterEnum(
            self.RECIPE, tr("Recipe"), [tr("Generalise to unseen areas (default)"), tr("The LMHLD paper's")],
            defaultValue=0))
        self.addAdvancedParameter(QgsProcessingParameterNumber(
            self.MIN_FRACTION, tr("Minimum landslide share"), double,
            optional=True, minValue=0.0, maxValue=1.0))
        self.addAdvancedParameter(QgsProcessingParameterEnum(
            self.EVERY_LANDSLIDE, tr("Keep each smaller landslide's window too"),
            [tr("The recipe's choice"), tr("Yes"), tr("No")], defaultValue=0))
        self.addAdvancedParameter(QgsProcessingParameterNumber(
            self.BACKGROUND_SHARE, tr("Background share"), double,
            optional=True, minValue=0.0, maxValue=0.99))
        self.addAdvancedParameter(QgsProcessingParameterNumber(
            self.LOOKALIKE_SHARE, tr("Look-alike share of background"), double,
            optional=True, minValue=0.0, maxValue=1.0))
        self.addAdvancedParameter(QgsProcessingParameterFeatureSource(
            self.NEGATIVES, tr("Negatives: rejected detections"),
            [QgsProcessing.TypeVectorPolygon], optional=True))
        self.addAdvancedParameter(QgsProcessingParameterNumber(
            self.STRIDE, tr("Training window step, px"), integer, optional=True,
            minValue=1))
        self.addAdvancedParameter(QgsProcessingParameterString(
            self.BANDS, tr("Bands in order, e.g. 3,2,1,4"), optional=True))
        for key, label, share in ((self.TRAIN_SHARE, tr("Training share"), 0.7),
                                  (self.VAL_SHARE, tr("Validation share"), 0.2),
                                  (self.TEST_SHARE, tr("Test share"), 0.1)):
            self.addAdvancedParameter(QgsProcessingParameterNumber(key, label, double, share, minValue=0.0,
                                                                   maxValue=1.0))
        self.addAdvancedParameter(QgsProcessingParameterEnum(
            self.SPLIT_METHOD, tr("Split"), [tr("The recipe's choice"), tr("Balanced, per patch (paper)"),
                                             tr("Spatial blocks (no leakage)")], defaultValue=0))
        self.addAdvancedParameter(QgsProcessingParameterNumber(
            self.BLOCK, tr("Block side, patches"), integer, 4, minValue=1))
        self.addAdvancedParameter(QgsProcessingParameterNumber(
            self.TOLERANCE, tr("Tolerance of landslide shares"), double, 0.01, minValue=0.0, maxValue=1.0))
        self.addAdvancedParameter(QgsProcessingParameterNumber(
            self.SEED, tr("Random seed of the split"), integer, 0, minValue=0))

    def check_patch_size(self: Any, parameters: dict[str, Any]) -> tuple[bool, str]:
        if parameters.get(self.PATCH_SIZE) in (None, "") and not parameters.get(self.ANALYSIS):
            return False, self.tr("Give a patch size, or an analysis report to take it from.")
        return True, ""

    def plan_inputs(self: Any, parameters: dict[str, Any], context: QgsProcessingContext,
                    **export_only: Any) -> tuple[list[str], Any, Any]:
        """(raster paths, inventory PolygonSet, ExportOptions) from the parameters; call inside core_errors()."""
        from ..core.bands import parse_band_list
        from ..core.export import patch_size_from_report
        from ..core.export_options import ExportOptions
        from ..core.splits import parse_ratios

        layers = self.parameterAsLayerList(parameters, self.RASTERS, context)
        if not layers:
            raise QgsProcessingException(self.tr("Choose at least one raster layer of imagery."))
        polygons = source_polygons(required_source(self, parameters, self.INVENTORY, context), "inventory",
                                   origin=layer_origin(self, parameters, self.INVENTORY, context))
        negatives = polygon_source(self, parameters, self.NEGATIVES, context)
        size = optional_number(self, parameters, self.PATCH_SIZE, context)
        if size is None:
            size = patch_size_from_report(self.parameterAsFile(parameters, self.ANALYSIS, context),
                                          QUARTILES[self.parameterAsEnum(parameters, self.QUARTILE, context)])
        stride = optional_number(self, parameters, self.STRIDE, context)
        options = ExportOptions(
            patch_size=int(size), recipe=RECIPES[self.parameterAsEnum(parameters, self.RECIPE, context)],
            stride=None if stride is None else int(stride),
            min_fraction=optional_number(self, parameters, self.MIN_FRACTION, context),
            every_landslide=EVERY_LANDSLIDE[self.parameterAsEnum(parameters, self.EVERY_LANDSLIDE, context)],
            background_share=optional_number(self, parameters, self.BACKGROUND_SHARE, context),
            lookalike_share=optional_number(self, parameters, self.LOOKALIKE_SHARE, context),
            negatives=None if negatives is None else source_polygons(negatives, "negatives", origin=layer_origin(
                self, parameters, self.NEGATIVES, context)),
            bands=parse_band_list(self.parameterAsString(parameters, self.BANDS, context)),
            split=parse_ratios([self.parameterAsDouble(parameters, key, context)
                                for key in (self.TRAIN_SHARE, self.VAL_SHARE, self.TEST_SHARE)]),
            split_method=SPLIT_METHODS[self.parameterAsEnum(parameters, self.SPLIT_METHOD, context)],
            block=self.parameterAsInt(parameters, self.BLOCK, context),
            tolerance=self.parameterAsDouble(parameters, self.TOLERANCE, context),
            seed=self.parameterAsInt(parameters, self.SEED, context), **export_only)
        return [raster_path(layer) for layer in layers], polygons, options

