"""The QGIS plugin object: the Processing provider in initProcessing, a menu in initGui, a clean unload."""

from __future__ import annotations

from qgis.core import QgsApplication


class LmhldPlugin:
    def __init__(self, iface) -> None:
        self.iface = iface
        self.provider = None
        self.actions: list = []
        self.review_dock = None

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
        review = QAction("Review detections…", self.iface.mainWindow())
        review.triggered.connect(self.show_review_dock)
        self.iface.addPluginToMenu("&LMHLD landslides", review)
        self.actions.append(review)

    def show_review_dock(self) -> None:
        from qgis.PyQt.QtCore import Qt

        from .ui.review_dock import ReviewDock

        if self.review_dock is None:
            self.review_dock = ReviewDock(self.iface, self.iface.mainWindow())
            self.iface.addDockWidget(Qt.RightDockWidgetArea, self.review_dock)
        self.review_dock.show()
        self.review_dock.raise_()

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
        if self.review_dock is not None:
            self.review_dock.stop()
            self.iface.removeDockWidget(self.review_dock)
            self.review_dock.deleteLater()
            self.review_dock = None
        if self.provider is not None:
            QgsApplication.processingRegistry().removeProvider(self.provider)
            self.provider = None
