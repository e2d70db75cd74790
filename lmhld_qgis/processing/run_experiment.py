"""lmhld:runexperiment: the paper's study from one TOML file (`lmhld experiment`), in a child process like training.
Finished runs are reused and stopped ones resumed, so cancelling and running again loses nothing; the report with
Tables 4-7 and the figures opens in the results viewer."""

from __future__ import annotations

from pathlib import Path

from qgis.core import (
    QgsProcessingOutputFolder,
    QgsProcessingOutputHtml,
    QgsProcessingParameterFile,
    QgsProcessingParameterFolderDestination,
)

from .base import LmhldAlgorithm
from .child import lmhld_child_args, run_child


class RunExperiment(LmhldAlgorithm):
    CONFIG, OUTPUT_FOLDER = "CONFIG", "OUTPUT_FOLDER"

    ALG_ID = "runexperiment"
    TITLE = "Run experiment (paper tables and figures)"
    GROUP_ID = "training"
    HELP = ("Runs the study an experiment file describes (areas x candidate patch sizes x models x modes; see the "
            "README's `lmhld experiment`): exports each area at each size, trains and evaluates every run, and "
            "writes Tables 4-7 (Markdown and CSV), figures and report.html into the output folder. Runs in a "
            "separate process. Running it again on the same folder reuses finished runs and resumes a stopped one, "
            "so Cancel loses at most the current batch.")

    def initAlgorithm(self, config=None) -> None:
        self.addParameter(QgsProcessingParameterFile(self.CONFIG, "Experiment file (TOML)",
                                                     fileFilter="Experiment (*.toml)"))
        self.addParameter(QgsProcessingParameterFolderDestination(self.OUTPUT_FOLDER, "Experiment folder"))
        self.addOutput(QgsProcessingOutputHtml("REPORT", "Experiment report"))
        self.addOutput(QgsProcessingOutputFolder("TABLES", "Tables (Markdown and CSV)"))

    def processAlgorithm(self, parameters, context, feedback):
        config = self.parameterAsFile(parameters, self.CONFIG, context)
        out = self.parameterAsString(parameters, self.OUTPUT_FOLDER, context)
        summary = run_child(lmhld_child_args("experiment", config, "--out", out), feedback, what="experiment",
                            on_cancel="finished runs and the stopped run's last.pt are kept: run it again on the "
                                      "same folder to continue")
        feedback.pushInfo(f"best patch size per area: {summary.get('best_patch_size')}; runs {summary.get('runs')}")
        return {self.OUTPUT_FOLDER: out, "REPORT": str(Path(out) / "report.html"), "TABLES": str(Path(out) / "tables")}
