"""lmhld:previewpatches: the windows patch export would cut, kept or dropped and why, without writing a patch.

Also home of the parameters that decide which windows a dataset holds (`PatchPlanParameters`), which
lmhld:exportpatches declares too, so that the preview and the export take the same options."""

from __future__ import annotations

from typing import Any

from qgis.core import (
    QgsProcessing,
    QgsProcessingContext,
    QgsProcessingException,
    QgsProcessingOutputVectorLayer,
    QgsProcessingParameterEnum,
    QgsProcessingParameterFeatureSource,
    QgsProcessingParameterFileDestination,
    QgsProcessingParameterMultipleLayers,
    QgsProcessingParameterNumber,
    QgsProcessingParameterString,
)

from .base import LmhldAlgorithm
from .common import FeedbackProgress, core_errors, raster_path, source_polygons

RECIPES = ["generalise", "paper"]
SPLIT_METHODS = ["recipe's choice", "balanced", "block"]
EVERY_LANDSLIDE = ["recipe's choice", "yes", "no"]


class PatchPlanParameters:
    """Parameters shared by the preview and the export (same names, same ranges as `lmhld export`)."""

    RASTERS, INVENTORY, PATCH_SIZE, RECIPE, STRIDE, MIN_FRACTION = (
        "RASTERS", "INVENTORY", "PATCH_SIZE", "RECIPE", "STRIDE", "MIN_FRACTION")
    BACKGROUND_SHARE, NEGATIVES, BANDS, SPLIT, SPLIT_METHOD, BLOCK, TOLERANCE, SEED = (
        "BACKGROUND_SHARE", "NEGATIVES", "BANDS", "SPLIT", "SPLIT_METHOD", "BLOCK", "TOLERANCE", "SEED")
    EVERY_LANDSLIDE = "EVERY_LANDSLIDE"

    def add_plan_parameters(self: Any) -> None:
        integer, double = QgsProcessingParameterNumber.Integer, QgsProcessingParameterNumber.Double
        self.addParameter(QgsProcessingParameterMultipleLayers(self.RASTERS, "Rasters", QgsProcessing.TypeRaster))
        self.addParameter(QgsProcessingParameterFeatureSource(
            self.INVENTORY, "Landslide inventory (polygons)", [QgsProcessing.TypeVectorPolygon]))
        self.addParameter(QgsProcessingParameterNumber(self.PATCH_SIZE, "Patch size (pixels)", integer, 128,
                                                       minValue=8))
        self.addParameter(QgsProcessingParameterEnum(
            self.RECIPE, "Recipe (generalise: >= 10% landslide or a landslide's window, background patches, "
                         "spatial blocks, overlapping training windows when few; paper: LMHLD sec. 2.3)", RECIPES,
            defaultValue=0))
        self.addParameter(QgsProcessingParameterNumber(
            self.STRIDE, "Step between training windows (0 = the recipe's: half a patch while fewer than 100 "
                         "training patches; at most the patch size)", integer, 0, minValue=0))
        self.addParameter(QgsProcessingParameterNumber(
            self.MIN_FRACTION, "Minimum landslide fraction of a landslide patch (empty = the recipe's)", double,
            optional=True, minValue=0, maxValue=1))
        self.addParameter(QgsProcessingParameterEnum(
            self.EVERY_LANDSLIDE, "Also keep the window holding each landslide, below the minimum fraction",
            EVERY_LANDSLIDE, defaultValue=0))
        self.addParameter(QgsProcessingParameterNumber(
            self.BACKGROUND_SHARE, "Share of background patches, no landslide pixel (empty = the recipe's)",
            double, optional=True, minValue=0, maxValue=0.99))
        self.addParameter(QgsProcessingParameterFeatureSource(
            self.NEGATIVES, "Negatives: rejected detections / known false positives (a patch centred on each)",
            [QgsProcessing.TypeVectorPolygon], optional=True))
        self.addParameter(QgsProcessingParameterString(
            self.BANDS, "Bands, 1-based (empty: blue,green,red,nir by name, else the first four)", optional=True))
        self.addParameter(QgsProcessingParameterString(self.SPLIT, "Split ratios train,val,test",
                                                       defaultValue="0.7,0.2,0.1"))
        self.addParameter(QgsProcessingParameterEnum(self.SPLIT_METHOD, "Split method", SPLIT_METHODS,
                                                     defaultValue=0))
        self.addParameter(QgsProcessingParameterNumber(self.BLOCK, "Block side in patches (block split)", integer,
                                                       4, minValue=1))
        self.addParameter(QgsProcessingParameterNumber(
            self.TOLERANCE, "Largest difference of landslide proportions between splits", double, 0.01,
            minValue=0))
        self.addParameter(QgsProcessingParameterNumber(self.SEED, "Random seed", integer, 0, minValue=0))

    def plan_inputs(self: Any, parameters: dict[str, Any], context: QgsProcessingContext,
                    **export_only: Any) -> tuple[list[str], Any, Any]:
        """(raster paths, inventory PolygonSet, ExportOptions) from the parameters; call inside core_errors()."""
        from ..core.bands import parse_band_list
        from ..core.export_options import ExportOptions
        from ..core.splits import parse_ratios

        layers = self.parameterAsLayerList(parameters, self.RASTERS, context)
        if not layers:
            raise QgsProcessingException("RASTERS: give at least one raster layer")
        rasters = [raster_path(layer) for layer in layers]
        polygons = source_polygons(self.parameterAsSource(parameters, self.INVENTORY, context), "INVENTORY")
        negatives_source = self.parameterAsSource(parameters, self.NEGATIVES, context)
        method = SPLIT_METHODS[self.parameterAsEnum(parameters, self.SPLIT_METHOD, context)]
        every = self.parameterAsEnum(parameters, self.EVERY_LANDSLIDE, context)
        options = ExportOptions(
            patch_size=self.parameterAsInt(parameters, self.PATCH_SIZE, context),
            recipe=RECIPES[self.parameterAsEnum(parameters, self.RECIPE, context)],
            stride=self.parameterAsInt(parameters, self.STRIDE, context) or None,
            min_fraction=_optional_number(self, parameters, self.MIN_FRACTION, context),
            every_landslide=None if every == 0 else every == 1,
            background_share=_optional_number(self, parameters, self.BACKGROUND_SHARE, context),
            negatives=None if negatives_source is None else source_polygons(negatives_source, "NEGATIVES"),
            bands=parse_band_list(self.parameterAsString(parameters, self.BANDS, context)),
            split=parse_ratios(self.parameterAsString(parameters, self.SPLIT, context)),
            split_method=None if method == SPLIT_METHODS[0] else method,
            block=self.parameterAsInt(parameters, self.BLOCK, context),
            tolerance=self.parameterAsDouble(parameters, self.TOLERANCE, context),
            seed=self.parameterAsInt(parameters, self.SEED, context), **export_only)
        return rasters, polygons, options


def _optional_number(alg: Any, parameters: dict[str, Any], name: str, context: QgsProcessingContext) -> float | None:
    value = parameters.get(name)
    if value is None or value == "":
        return None
    return float(alg.parameterAsDouble(parameters, name, context))


class PreviewPatches(PatchPlanParameters, LmhldAlgorithm):
    OUTPUT, OUTPUT_LAYER = "OUTPUT", "OUTPUT_LAYER"

    ALG_ID = "previewpatches"
    TITLE = "Preview training patches"
    GROUP_ID = "inventory"
    HELP = (
        "Computes every window that 'Export training patches' would consider with the same parameters, without "
        "writing any patch: kept or dropped and the reason (boundary, no landslide, below the minimum fraction, "
        "nodata, overlaps another split), landslide fraction, kind (landslide, background, negative), placement "
        "(grid, overlapping training window, centred on a negative) and the split each kept window goes to. The "
        "layer is styled by split (dropped overlapping windows are hidden: tick them in the legend), so it shows "
        "at a glance where the training data comes from. The export then writes exactly the kept windows."
    )

    def initAlgorithm(self, config: dict[str, Any] | None = None) -> None:
        self.add_plan_parameters()
        self.addParameter(QgsProcessingParameterFileDestination(self.OUTPUT, "Patch preview",
                                                                "GeoPackage (*.gpkg)"))
        self.addOutput(QgsProcessingOutputVectorLayer(self.OUTPUT_LAYER, "Patch windows",
                                                      QgsProcessing.TypeVectorPolygon))

    def processAlgorithm(self, parameters: dict[str, Any], context: QgsProcessingContext,
                         feedback: Any) -> dict[str, Any]:
        from ..core.export import plan_patches
        from ..core.patch_layer import write_preview

        out = self.parameterAsFileOutput(parameters, self.OUTPUT, context)
        with core_errors():
            rasters, polygons, options = self.plan_inputs(parameters, context)
            plan = plan_patches(rasters, polygons, options, progress=FeedbackProgress(feedback))
            layers = write_preview(out, plan)
        feedback.pushInfo(f"{len(plan.windows)} windows: kept {plan.counts()} by kind {plan.counts_by_kind()}; "
                          f"dropped {plan.dropped()}")
        uris = [f"{out}|layername={name}" for name in layers]
        if context.project() is not None:
            for uri, name in zip(uris, layers, strict=True):
                context.addLayerToLoadOnCompletion(uri, QgsProcessingContext.LayerDetails(
                    f"Patch preview {name}", context.project(), self.OUTPUT_LAYER))
        return {self.OUTPUT: out, self.OUTPUT_LAYER: uris[0]}
