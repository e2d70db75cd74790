"""The `lmhld` Processing provider."""

from __future__ import annotations

import os

from qgis.core import QgsProcessingProvider
from qgis.PyQt.QtGui import QIcon

import lmhld_qgis

# algorithm id -> menu title (the plugin menu and the tests read this)
ALGORITHM_IDS = {
    "analyseinventory": "Analyse landslide inventory (patch sizes)",
    "exportpatches": "Export training patches",
    "trainmodel": "Train landslide model",
    "evaluatemodel": "Evaluate landslide model",
    "detectlandslides": "Detect landslides",
}


class LmhldProvider(QgsProcessingProvider):
    def id(self) -> str:
        return "lmhld"

    def name(self) -> str:
        return "LMHLD landslide detection"

    def longName(self) -> str:
        return f"LMHLD landslide detection {lmhld_qgis.__version__}"

    def icon(self) -> QIcon:
        return QIcon(os.path.join(os.path.dirname(lmhld_qgis.__file__), "icon.svg"))

    def versionInfo(self) -> str:
        return lmhld_qgis.__version__

    def loadAlgorithms(self) -> None:
        from .analyse_inventory import AnalyseInventory
        from .detect_landslides import DetectLandslides
        from .evaluate_model import EvaluateModel
        from .export_patches import ExportPatches
        from .train_model import TrainModel

        for alg in (AnalyseInventory(), ExportPatches(), TrainModel(), EvaluateModel(), DetectLandslides()):
            self.addAlgorithm(alg)
