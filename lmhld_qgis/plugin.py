"""The QGIS plugin object: the Processing provider in initProcessing, a menu in initGui, a clean unload."""

from __future__ import annotations

from qgis.core import QgsApplication


class LmhldPlugin:
    def __init__(self, iface) -> None:
        self.iface = iface
        self.provider = None
        self.actions: list = []

    def initProcessing(self) -> None:
        from .processing.provider import LmhldProvider

        if self.provider is None:
            self.provider = LmhldProvider()
            QgsApplication.processingRegistry().addProvider(self.provider)

    def initGui(self) -> None:
        self.initProcessing()
        if self.iface is None or not hasattr(self.iface, "addPluginToMenu"):
            return
        from qgis.PyQt.QtWidgets import QAction

        from .processing.provider import algorithm_classes

        for cls in algorithm_classes():
            action = QAction(cls.TITLE, self.iface.mainWindow())
            action.triggered.connect(lambda _=False, a=cls.ALG_ID: self._open(a))
            self.iface.addPluginToMenu("&LMHLD landslides", action)
            self.actions.append(action)
        info = QAction("Model information…", self.iface.mainWindow())
        info.triggered.connect(self._model_info)
        self.iface.addPluginToMenu("&LMHLD landslides", info)
        self.actions.append(info)

    def _model_info(self) -> None:
        from .ui.model_info import show_model_info

        show_model_info(self.iface.mainWindow())

    def _open(self, alg_id: str) -> None:
        import processing

        processing.execAlgorithmDialog(f"lmhld:{alg_id}")

    def unload(self) -> None:
        for action in self.actions:
            if self.iface is not None and hasattr(self.iface, "removePluginMenu"):
                self.iface.removePluginMenu("&LMHLD landslides", action)
        self.actions.clear()
        if self.provider is not None:
            QgsApplication.processingRegistry().removeProvider(self.provider)
            self.provider = None
