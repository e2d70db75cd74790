"""lmhld:previewpatches: the windows patch export would cut, kept or dropped and why, without writing a patch."""

from __future__ import annotations

from typing import Any

from qgis.core import (
    QgsProcessing,
    QgsProcessingContext,
    QgsProcessingOutputVectorLayer,
    QgsProcessingParameterFileDestination,
)

from .base import LmhldAlgorithm
from .common import FeedbackProgress, core_errors
from .patch_parameters import PatchPlanParameters
from .styling import ResultLayer


class PreviewPatches(PatchPlanParameters, LmhldAlgorithm):
    OUTPUT, OUTPUT_LAYER = "OUTPUT", "OUTPUT_LAYER"

    ALG_ID = "previewpatches"
    CLI_FLAGS = (("out", "OUTPUT"), ("raster", "RASTERS"))
    TITLE = "Preview training patches"
    GROUP_ID = "patches"
    ICON = "preview.svg"
    README_HEADING = ("### 2. Patch export — `lmhld:exportpatches`, `lmhld export`; preview — `lmhld:previewpatches`, "
                      "`lmhld preview`")
    HELP = (
        "Computes every window that Export training patches would consider with the same parameters, without "
        "writing any patch: kept or dropped and the reason (boundary, no landslide, below the minimum fraction, "
        "nodata, overlaps another split), landslide fraction, kind (landslide, background, negative), placement "
        "(grid, overlapping training window, centred on a negative) and the split each kept window goes to. The "
        "layer is styled by split (dropped overlapping windows are hidden: tick them in the legend), so it shows "
        "at a glance where the training data comes from. The export then writes exactly the kept windows.\n\n"
    )

    def shortHelpString(self) -> str:
        return self.tr(self.HELP) + self.tr(self.PLAN_HELP)

    def checkParameterValues(self, parameters: dict[str, Any], context: QgsProcessingContext) -> tuple[bool, str]:
        ok, message = self.check_patch_size(parameters)
        return (ok, message) if not ok else super().checkParameterValues(parameters, context)

    def initAlgorithm(self, config: dict[str, Any] | None = None) -> None:
        self.add_plan_parameters()
        self.addParameter(QgsProcessingParameterFileDestination(self.OUTPUT, self.tr("Patch preview"),
                                                                "GeoPackage (*.gpkg)"))
        self.addOutput(QgsProcessingOutputVectorLayer(self.OUTPUT_LAYER, self.tr("Patch windows"),
                                                      QgsProcessing.TypeVectorPolygon))

    def processAlgorithm(self, parameters: dict[str, Any], context: QgsProcessingContext,
                         feedback: Any) -> dict[str, Any]:
        from ..core.export import plan_patches
        from ..core.patch_layer import write_preview

        out = self.parameterAsFileOutput(parameters, self.OUTPUT, context)
        with core_errors(self.displayName(), self):
            rasters, polygons, options = self.plan_inputs(parameters, context)
            plan = plan_patches(rasters, polygons, options, progress=FeedbackProgress(feedback, self), refuse_few=False)
            layers = write_preview(out, plan)
        # what would be kept and dropped, plan_patches has logged
        feedback.pushInfo(f"{len(plan.windows)} windows of {plan.settings.patch_size} px previewed")
        if plan.refusal:  # the layer shows why
            feedback.pushWarning(f"Export would refuse this: {plan.refusal}. The preview layer shows every window "
                                 "and why it was dropped")
        from ..core.patch_layer import PREVIEW_QML

        uris = [f"{out}|layername={name}" for name in layers]
        if context.project() is not None:
            for uri, name in zip(uris, layers, strict=True):
                context.addLayerToLoadOnCompletion(uri, QgsProcessingContext.LayerDetails(
                    f"Patch preview {name}", context.project(), self.OUTPUT_LAYER))
                # QGIS 3.22 loads a result without the style stored in its GeoPackage: apply it on loading
                ResultLayer.attach(context, uri, f"Patch preview {name}", str(PREVIEW_QML))
        return {self.OUTPUT: out, self.OUTPUT_LAYER: uris[0]}
