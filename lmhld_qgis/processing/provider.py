"""The `lmhld` Processing provider."""

from __future__ import annotations

import os

from qgis.core import QgsProcessingProvider
from qgis.PyQt.QtCore import QCoreApplication
from qgis.PyQt.QtGui import QIcon

import lmhld_qgis


def algorithm_classes() -> tuple[type, ...]:
    """Every lmhld algorithm, in the order of the workflow (imports only qgis; the core loads when one runs)."""
    from .analyse_inventory import AnalyseInventory
    from .create_inventory import CreateInventory
    from .detect_landslides import DetectLandslides
    from .evaluate_model import EvaluateModel
    from .export_onnx import ExportOnnx
    from .export_patches import ExportPatches
    from .preview_patches import PreviewPatches
    from .rank_tiles import RankTiles
    from .run_experiment import RunExperiment
    from .score_detections import ScoreDetections
    from .split_patches import SplitPatches
    from .stack_rasters import StackRasters
    from .train_model import TrainModel
    from .validate_inventory import ValidateInventory

    return (StackRasters, CreateInventory, ValidateInventory, AnalyseInventory, PreviewPatches, ExportPatches,
            SplitPatches, TrainModel, ExportOnnx, RunExperiment, EvaluateModel, ScoreDetections, DetectLandslides,
            RankTiles)


class LmhldProvider(QgsProcessingProvider):
    def id(self) -> str:
        return "lmhld"

    def name(self) -> str:
        return QCoreApplication.translate("LmhldProvider", lmhld_qgis.PLUGIN_NAME)

    def longName(self) -> str:
        return f"{self.name()} {lmhld_qgis.__version__}"

    def icon(self) -> QIcon:
        return QIcon(self.svgIconPath())

    def svgIconPath(self) -> str:
        return os.path.join(os.path.dirname(lmhld_qgis.__file__), "icon.svg")

    def versionInfo(self) -> str:
        return lmhld_qgis.__version__

    def loadAlgorithms(self) -> None:
        from .batch_fix import supply_batch_timestamp

        supply_batch_timestamp()  # QGIS 3.22's batch dialog fails after a batch of an algorithm with HTML outputs
        for cls in algorithm_classes():
            self.addAlgorithm(cls())
