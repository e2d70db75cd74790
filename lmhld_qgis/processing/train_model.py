"""lmhld:trainmodel: training in a child process (`lmhld train --progress-json`), so QGIS never freezes and a CUDA
failure cannot take it down. Progress reaches the feedback; cancel stops the child within one batch and keeps
last.pt; the run's HTML report (with its curves) opens in the results viewer at the end."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

from qgis.core import (
    QgsProcessingException,
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
from .common import folder_list

MODES = ["single", "mix", "part"]


def python_for_child() -> str:
    """The Python that runs the child: LMHLD_PYTHON, else this interpreter when it is a real Python of the same
    installation (a venv's python included), else the installation's own python3.X. Inside QGIS, sys.executable
    is the QGIS binary or whatever `python3` is first on PATH, which may not see QGIS's packages."""
    if os.environ.get("LMHLD_PYTHON"):
        return os.environ["LMHLD_PYTHON"]
    exe = Path(sys.executable) if sys.executable else None
    base = Path(sys.base_exec_prefix).resolve()
    if exe and exe.name.startswith("python") and exe.resolve().is_relative_to(base):
        return str(exe)
    return str(base / "bin" / f"python{sys.version_info.major}.{sys.version_info.minor}")


class TrainModel(LmhldAlgorithm):
    DATA, MODEL_NAME, MODE, EPOCHS, BATCH_SIZE, CONFIG, WIDTH, MODEL_OPTIONS, RESUME, OUTPUT_FOLDER = (
        "DATA", "MODEL_NAME", "MODE", "EPOCHS", "BATCH_SIZE", "CONFIG", "WIDTH", "MODEL_OPTIONS", "RESUME",
        "OUTPUT_FOLDER")

    ALG_ID = "trainmodel"
    TITLE = "Train landslide model"
    GROUP_ID = "training"
    HELP = ("Trains a U-Net family network (or a DeepLab-v3+, LinkNet, PSPNet or FPN baseline) on dataset "
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
        args = [python_for_child(), "-m", "lmhld_qgis", "train", "--progress-json", "--out", out,
                "--model", MODEL_NAMES[self.parameterAsEnum(parameters, self.MODEL_NAME, context)],
                "--mode", MODES[self.parameterAsEnum(parameters, self.MODE, context)],
                "--epochs", str(self.parameterAsInt(parameters, self.EPOCHS, context)),
                "--batch-size", str(self.parameterAsInt(parameters, self.BATCH_SIZE, context))]
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
        feedback.pushInfo("running: " + " ".join(args))
        summary = self._run_child(args, feedback)
        report = str(Path(out) / "report.html")
        return {self.OUTPUT_FOLDER: out, "MODEL_ONNX": summary.get("onnx") or "", "REPORT": report,
                "BEST_F1": summary.get("best_f1")}

    def _run_child(self, args: list[str], feedback) -> dict:
        """Run the training child, relay its JSON progress, stop it on cancel; its errors become ours."""
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        child = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                                 start_new_session=True)
        summary: dict = {}
        cancel_sent = False
        for line in child.stdout:
            if feedback.isCanceled() and not cancel_sent:
                child.send_signal(signal.SIGTERM)  # stops at the next batch, after saving last.pt
                cancel_sent = True
            try:
                event = json.loads(line)
            except json.JSONDecodeError:
                feedback.pushConsoleInfo(line.rstrip())
                continue
            kind = event.get("event")
            if kind == "batch":
                feedback.setProgress(100.0 * event["fraction"])
                feedback.setProgressText(f"epoch {event['epoch']}, batch {event['batch']}/{event['batches']}, "
                                         f"loss {event['loss']:.4f}")
            elif kind == "epoch":
                feedback.pushInfo(f"epoch {event['epoch']} ({event['dataset']}): loss {event['train_loss']:.4f}, "
                                  f"val P {event['val_precision']:.4f} R {event['val_recall']:.4f} "
                                  f"F1 {event['val_f1']:.4f}")
            elif kind in ("info", "warning"):
                (feedback.pushInfo if kind == "info" else feedback.pushWarning)(event["message"])
            elif kind == "done":
                summary = event
        stderr = child.stderr.read()
        code = child.wait()
        if cancel_sent or feedback.isCanceled():
            raise QgsProcessingException("Training cancelled; last.pt is kept in the run folder (tick RESUME to "
                                         "continue)")
        if code != 0:
            message = next((ln for ln in reversed(stderr.splitlines()) if "error:" in ln), stderr[-2000:])
            raise QgsProcessingException(f"training failed (exit {code}): {message}")
        return summary
