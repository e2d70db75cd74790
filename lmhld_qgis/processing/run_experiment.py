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
from .child import lmhld_child, run_child
from .common import core_errors
from .outputs import is_temporary, safe_stem


class RunExperiment(LmhldAlgorithm):
    CONFIG = "CONFIG"
    OUTPUT_FOLDER = "OUTPUT_FOLDER"
    REPORT = "REPORT"
    TABLES = "TABLES"

    ALG_ID = "runexperiment"
    CLI_FLAGS = (("out", "OUTPUT_FOLDER"),)
    GROUP_ID = "training"
    ICON = "experiment.svg"
    README_HEADING = "### 6. The paper's experiments — `lmhld:runexperiment`, `lmhld experiment`"

    def displayName(self) -> str:
        return self.tr("Run experiment (paper tables and figures)")

    def shortHelpString(self) -> str:
        return self.tr(
            "Runs the study an experiment file describes: each area exported at each candidate patch size, every "
            "network trained in every mode and evaluated. Writes the paper's Tables 4 to 7 (Markdown and CSV), "
            "figures and report.html into the experiment folder; the report opens in the Results Viewer. An area "
            "may also be a folder of patches already cut and split (an exported dataset, a Landslide4Sense release, "
            "a CAS folder divided into train/, val/ and test/ by Split a patch folder), trained at its own patch "
            "size.\n\n"
            "Runs in a separate Python process that needs torch. Running it again on the same folder reuses the "
            "finished runs and continues a stopped one, so Cancel loses at most the current batch.\n\n"
            "Left at [Save to temporary folder], the experiment folder is created beside the experiment file "
            "instead (the same folder each time, so that a second run continues the first).")

    def initAlgorithm(self, config=None) -> None:
        self.addParameter(QgsProcessingParameterFile(
            self.CONFIG, self.tr("Experiment file (TOML)"), fileFilter=self.tr("Experiment files (*.toml)")))
        self.addParameter(QgsProcessingParameterFolderDestination(
            self.OUTPUT_FOLDER, self.tr("Experiment folder (temporary → beside file)")))
        self.addOutput(QgsProcessingOutputHtml(self.REPORT, self.tr("Experiment report")))
        self.addOutput(QgsProcessingOutputFolder(self.TABLES, self.tr("Tables (Markdown and CSV)")))

    def processAlgorithm(self, parameters, context, feedback):
        config = self.parameterAsFile(parameters, self.CONFIG, context)
        if is_temporary(parameters.get(self.OUTPUT_FOLDER)):  # one fixed name, so that a rerun continues
            out = str(Path(config).with_name(f"{safe_stem(Path(config).stem)}_results"))
        else:
            out = self.parameterAsString(parameters, self.OUTPUT_FOLDER, context)
        with core_errors(self.displayName(), self):
            summary = run_child(lmhld_child("experiment", config, "--out", out), feedback,
                                what=self.tr("experiment"),
                                on_cancel=self.tr("finished runs and the stopped run's last.pt are kept: run it "
                                                  "again on the same folder to continue"), alg=self)
        from ..training.experiment import describe_outcome

        feedback.pushInfo(self.tr("{0}; experiment folder: {1}").format(
            describe_outcome(summary.get("best_patch_size") or {}, summary.get("runs"),
                             summary.get("patch_areas") or ()), out))
        return {self.OUTPUT_FOLDER: out, self.REPORT: str(Path(out) / "report.html"),
                self.TABLES: str(Path(out) / "tables")}
