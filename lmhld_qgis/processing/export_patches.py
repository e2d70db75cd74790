"""lmhld:exportpatches: training patches from rasters and a landslide inventory (LMHLD sec. 2.3)."""

from __future__ import annotations

from qgis.core import (
    QgsProcessing,
    QgsProcessingContext,
    QgsProcessingOutputFile,
    QgsProcessingOutputVectorLayer,
    QgsProcessingParameterBoolean,
    QgsProcessingParameterFolderDestination,
    QgsProcessingParameterString,
)

from .base import LmhldAlgorithm
from .common import FeedbackProgress, core_errors
from .preview_patches import PatchPlanParameters


class ExportPatches(PatchPlanParameters, LmhldAlgorithm):
    NAME, SENSOR, DATE, OVERWRITE = "NAME", "SENSOR", "DATE", "OVERWRITE"
    OUTPUT_FOLDER, OUTPUT_FOOTPRINTS, OUTPUT_JSON = "OUTPUT_FOLDER", "OUTPUT_FOOTPRINTS", "OUTPUT_JSON"

    ALG_ID = "exportpatches"
    TITLE = "Export training patches"
    GROUP_ID = "inventory"
    HELP = (
            "Rasterizes the inventory on each raster's grid and cuts patches by a recipe. generalise (default): "
            "windows with >= 10% landslide pixels and the window holding each landslide, background patches at a "
            "share, split by spatial blocks, and while the training split is small (< 100 patches) training "
            "windows overlapping by half (never overlapping a validation or test window). paper (LMHLD sec. "
            "2.3): >= 10% landslide pixels, no overlap, per-patch split. Negatives (rejected detections) add a "
            "patch centred on each. No patch holds nodata or runs past the image; the split keeps landslide "
            "proportions within the tolerance. Writes dataset.json, img/, mask/, splits/ and patches.gpkg; "
            "'Preview training patches' shows the same windows without writing them."
        )

    def initAlgorithm(self, config=None) -> None:
        self.add_plan_parameters()
        for key, label in ((self.NAME, "Area name"), (self.SENSOR, "Sensor"), (self.DATE, "Image date")):
            self.addParameter(QgsProcessingParameterString(key, label, optional=True))
        self.addParameter(QgsProcessingParameterBoolean(self.OVERWRITE, "Replace a non-empty output folder",
                                                        defaultValue=False))
        self.addParameter(QgsProcessingParameterFolderDestination(self.OUTPUT_FOLDER, "Dataset folder"))
        self.addOutput(QgsProcessingOutputVectorLayer(self.OUTPUT_FOOTPRINTS, "Patch footprints",
                                                      QgsProcessing.TypeVectorPolygon))
        self.addOutput(QgsProcessingOutputFile(self.OUTPUT_JSON, "Dataset card (dataset.json)"))

    def processAlgorithm(self, parameters, context, feedback):
        from ..core.export import export_patches

        out = self.parameterAsString(parameters, self.OUTPUT_FOLDER, context)
        with core_errors():
            rasters, polygons, options = self.plan_inputs(
                parameters, context, name=self.parameterAsString(parameters, self.NAME, context),
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
