"""lmhld:exportonnx: a training checkpoint (best.pt, last.pt) as the ONNX model file every tool runs
(`lmhld export-onnx`, in a child process as training is: it needs torch, which QGIS's own Python may lack).

A cancelled or stopped training keeps best.pt and last.pt but writes no model.onnx; this is how a QGIS user gets
one from the best epoch so far, as `lmhld export-onnx` gives it on the command line."""

from __future__ import annotations

from pathlib import Path

from qgis.core import (
    QgsProcessingException,
    QgsProcessingOutputFile,
    QgsProcessingParameterFile,
    QgsProcessingParameterFileDestination,
)

from .base import LmhldAlgorithm
from .child import lmhld_child, run_child
from .common import core_errors
from .outputs import default_output, is_temporary


class ExportOnnx(LmhldAlgorithm):
    CHECKPOINT, OUTPUT = "CHECKPOINT", "OUTPUT"
    MODEL_ONNX = "MODEL_ONNX"

    ALG_ID = "exportonnx"
    CLI_FLAGS = (("out", "OUTPUT"),)
    TITLE = "Export a training checkpoint as a model file (ONNX)"
    GROUP_ID = "training"
    ICON = "export_onnx.svg"
    README_HEADING = "### Models and model files"
    HELP = ("Writes the model file that detection, evaluation and the Deepness plugin run (ONNX, with the model "
            "card inside: bands, normalisation, patch size, resolution, threshold) from a training checkpoint. "
            "Training writes model.onnx when it ends; a run that was cancelled or stopped keeps best.pt (its best "
            "epoch so far) and last.pt but no model.onnx: export best.pt here to detect with it now, and continue "
            "the run later.\n\n"
            "Left at [Save to temporary file], the model file is written beside the checkpoint instead (model.onnx, "
            "or model_2.onnx where one is there already).")

    def initAlgorithm(self, config=None) -> None:
        self.addParameter(QgsProcessingParameterFile(
            self.CHECKPOINT, self.tr("Training checkpoint (best.pt)"),
            fileFilter=self.tr("Training checkpoints (*.pt)")))
        self.addParameter(QgsProcessingParameterFileDestination(
            self.OUTPUT, self.tr("Model file (temporary → beside the checkpoint)"),
            self.tr("ONNX models (*.onnx)")))
        self.addOutput(QgsProcessingOutputFile(self.MODEL_ONNX, self.tr("Model (ONNX)")))

    def processAlgorithm(self, parameters, context, feedback):
        checkpoint = Path(self.parameterAsFile(parameters, self.CHECKPOINT, context))
        if not checkpoint.is_file():
            raise QgsProcessingException(self.tr("Training checkpoint {0} does not exist: choose best.pt in a run "
                                                 "folder").format(checkpoint))
        if is_temporary(parameters.get(self.OUTPUT)):
            out = str(default_output(checkpoint.with_name("model.onnx"), context))
        else:  # a file the user chose (QGIS's file dialog asked before replacing it)
            out = self.parameterAsFileOutput(parameters, self.OUTPUT, context)
        with core_errors(self.displayName(), self):
            summary = run_child(lmhld_child("export-onnx", str(checkpoint), "--out", out, "--overwrite"), feedback,
                                what=self.tr("the export"), alg=self, on_cancel=self.tr("no model file was written"))
        model = summary.get("onnx") or out
        feedback.pushInfo(self.tr("Model file: {0}").format(model))
        return {self.OUTPUT: model, self.MODEL_ONNX: model}
