"""lmhld:trainmodel: training in a child process (`lmhld train --progress-json`, see `child`). Progress reaches the
feedback; cancel stops the child within one batch and keeps last.pt; the run's HTML report (with its curves) opens
in the results viewer at the end."""

from __future__ import annotations

from pathlib import Path

from qgis.core import (
    QgsProcessingOutputFile,
    QgsProcessingOutputHtml,
    QgsProcessingOutputNumber,
    QgsProcessingParameterBoolean,
    QgsProcessingParameterEnum,
    QgsProcessingParameterFile,
    QgsProcessingParameterFolderDestination,
    QgsProcessingParameterNumber,
    QgsProcessingParameterString,
)

from .base import LmhldAlgorithm
from .child import lmhld_child_args, run_child
from .common import folder_list

MODES = ["single", "mix", "part"]


class TrainModel(LmhldAlgorithm):
    DATA, MODEL_NAME, MODE, EPOCHS, BATCH_SIZE, CONFIG, WIDTH, MODEL_OPTIONS, RESUME, OUTPUT_FOLDER = (
        "DATA", "MODEL_NAME", "MODE", "EPOCHS", "BATCH_SIZE", "CONFIG", "WIDTH", "MODEL_OPTIONS", "RESUME",
        "OUTPUT_FOLDER")

    ALG_ID = "trainmodel"
    TITLE = "Train landslide model"
    GROUP_ID = "training"
    HELP = ("Trains a U-Net family network (or an FCN-8s, DeepLab-v3+, LinkNet, PSPNet or FPN baseline) on dataset "
            "folders (lmhld export, Landslide4Sense, CAS or image/mask folders) in single, mix or part mode "
            "(LMHLD's serialized training). Runs in a separate process; cancel stops within one batch and keeps "
            "last.pt (tick RESUME to continue). Network options (KEY=VALUE) reach the network: a baseline's "
            "encoder=resnet50 or encoder_weights=/path/resnet50.pth (nothing is downloaded). Writes metrics.csv, "
            "curves.png, best.pt, last.pt, model.onnx and report.html into the output folder.")

    def initAlgorithm(self, config=None) -> None:
        from ..models.registry import MODEL_NAMES, TITLES

        self.names = [f"{TITLES[n]} — {n}" for n in MODEL_NAMES]  # the title, and the name the CLI and configs use
        self.addParameter(QgsProcessingParameterString(
            self.DATA, "Dataset folders (one per line or separated by ;)", multiLine=True))
        self.addParameter(QgsProcessingParameterEnum(self.MODEL_NAME, "Network", self.names, defaultValue=0))
        self.addParameter(QgsProcessingParameterEnum(self.MODE, "Mode", MODES, defaultValue=0))
        self.addParameter(QgsProcessingParameterNumber(self.EPOCHS, "Epochs (per stage in part mode)",
                                                       QgsProcessingParameterNumber.Integer, 50, minValue=1))
        self.addParameter(QgsProcessingParameterNumber(self.BATCH_SIZE, "Batch size",
                                                       QgsProcessingParameterNumber.Integer, 16, minValue=1))
        self.addParameter(QgsProcessingParameterNumber(self.WIDTH, "Base width (0 = the paper's 64)",
                                                       QgsProcessingParameterNumber.Integer, 0, minValue=0))
        self.addParameter(QgsProcessingParameterString(
            self.MODEL_OPTIONS, "Network options (KEY=VALUE, separated by ; e.g. encoder=resnet50)", optional=True))
        self.addParameter(QgsProcessingParameterFile(self.CONFIG, "Configuration file (TOML/YAML)", optional=True,
                                                     fileFilter="Config (*.toml *.yaml *.yml)"))
        self.addParameter(QgsProcessingParameterBoolean(self.RESUME, "Resume the run in the output folder",
                                                        defaultValue=False))
        self.addParameter(QgsProcessingParameterFolderDestination(self.OUTPUT_FOLDER, "Run folder"))
        self.addOutput(QgsProcessingOutputFile("MODEL_ONNX", "Model (ONNX)"))
        self.addOutput(QgsProcessingOutputHtml("REPORT", "Training report"))
        self.addOutput(QgsProcessingOutputNumber("BEST_F1", "Best validation F1"))

    def processAlgorithm(self, parameters, context, feedback):
        from ..models.registry import MODEL_NAMES

        data = folder_list(self.parameterAsString(parameters, self.DATA, context))
        out = self.parameterAsString(parameters, self.OUTPUT_FOLDER, context)
        args = lmhld_child_args(
            "train", "--out", out, "--model", MODEL_NAMES[self.parameterAsEnum(parameters, self.MODEL_NAME, context)],
            "--mode", MODES[self.parameterAsEnum(parameters, self.MODE, context)],
            "--epochs", str(self.parameterAsInt(parameters, self.EPOCHS, context)),
            "--batch-size", str(self.parameterAsInt(parameters, self.BATCH_SIZE, context)))
        for d in data:
            args += ["--data", d]
        width = self.parameterAsInt(parameters, self.WIDTH, context)
        if width:
            args += ["--width", str(width)]
        for option in folder_list(self.parameterAsString(parameters, self.MODEL_OPTIONS, context)):
            args += ["--model-option", option]
        cfg = self.parameterAsFile(parameters, self.CONFIG, context)
        if cfg:
            args += ["--config", cfg]
        if self.parameterAsBool(parameters, self.RESUME, context):
            args.append("--resume")
        summary = run_child(args, feedback, what="training",
                            on_cancel="last.pt is kept in the run folder (tick RESUME to continue)")
        report = str(Path(out) / "report.html")
        return {self.OUTPUT_FOLDER: out, "MODEL_ONNX": summary.get("onnx") or "", "REPORT": report,
                "BEST_F1": summary.get("best_f1")}
