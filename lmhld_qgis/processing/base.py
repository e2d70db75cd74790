"""What every lmhld algorithm shares: identity, toolbox group, help and instance creation."""

from __future__ import annotations

from qgis.core import QgsProcessingAlgorithm

GROUPS = {"inventory": "1 - Inventory and patches", "training": "2 - Training and evaluation",
          "detection": "3 - Detection"}


class LmhldAlgorithm(QgsProcessingAlgorithm):
    """Subclasses set ALG_ID, TITLE, GROUP_ID (a key of GROUPS) and HELP, and add parameters and processAlgorithm."""

    ALG_ID = TITLE = GROUP_ID = HELP = ""

    def name(self) -> str:
        return self.ALG_ID

    def displayName(self) -> str:
        return self.TITLE

    def group(self) -> str:
        return GROUPS[self.GROUP_ID]

    def groupId(self) -> str:
        return self.GROUP_ID

    def shortHelpString(self) -> str:
        return self.HELP

    def createInstance(self):
        return type(self)()
