"""The QGIS plugin object: the Processing provider in initProcessing, a menu in initGui, a clean unload.

At start the plugin appends its own package folder (in the QGIS profile, see lmhld_qgis.deps) to the path, so
packages installed from its "Python dependencies" dialog are found; and, when onnxruntime is missing, offers that
dialog in the message bar (once per session, without importing anything heavy)."""

from __future__ import annotations

import contextlib
import importlib.util
from pathlib import Path

from qgis.core import Qgis, QgsApplication, QgsProject
from qgis.PyQt.QtCore import QCoreApplication

from . import PLUGIN_NAME, deps
from .core.terms import speak

speak("flags")  # QGIS turns the core's flags into its dialogs' parameters (processing/common.in_dialog_terms)
MENU = f"&{PLUGIN_NAME}"


def tr(text: str) -> str:
    return QCoreApplication.translate("LmhldPlugin", text)


class LmhldPlugin:
    def __init__(self, iface) -> None:
        self.iface = iface
        self.provider = None
        self.actions: list = []
        self.review_dock = None
        self.dialogs: list = []  # modeless dialogs stay alive while shown
        self.deps_folder = deps.deps_dir(QgsApplication.qgisSettingsDirPath())
        deps.activate(self.deps_folder)

    def initProcessing(self) -> None:
        from .processing.provider import LmhldProvider

        if self.provider is None:
            provider = LmhldProvider()
            # refused (and deleted by the registry) when a provider "lmhld" is there already: keep none then
            if QgsApplication.processingRegistry().addProvider(provider):
                self.provider = provider

    def initGui(self) -> None:
        self.initProcessing()
        if self.iface is None or not hasattr(self.iface, "addPluginToMenu"):
            return
        from qgis.PyQt.QtWidgets import QAction

        from .processing.provider import algorithm_classes

        for cls in algorithm_classes():
            algorithm = cls()
            action = QAction(algorithm.icon(), algorithm.displayName(), self.iface.mainWindow())
            action.triggered.connect(lambda _=False, a=cls.ALG_ID: self._open(a))
            self._add(action)
        separator = QAction(self.iface.mainWindow())
        separator.setSeparator(True)
        self._add(separator)
        from qgis.PyQt.QtGui import QIcon

        icons = Path(__file__).resolve().parent / "icons"
        for text, slot, icon in ((tr("Model information…"), self._model_info, "model_info.svg"),
                                 (tr("Review detections…"), self.show_review_dock, "review.svg"),
                                 (tr("Python dependencies…"), self.show_dependencies, "dependencies.svg")):
            action = QAction(QIcon(str(icons / icon)), text, self.iface.mainWindow())
            action.triggered.connect(slot)
            self._add(action)
        QgsProject.instance().layersAdded.connect(self._layers_added)
        self._offer_dependencies()

    def _add(self, action) -> None:
        self.iface.addPluginToMenu(MENU, action)
        self.actions.append(action)

    def _offer_dependencies(self) -> None:
        """The first-run check: without onnxruntime nothing can be detected, so say so and offer the installer."""
        if importlib.util.find_spec("onnxruntime") is not None:
            return
        from qgis.PyQt.QtWidgets import QPushButton

        bar = self.iface.messageBar()
        item = bar.createMessage(PLUGIN_NAME,
                                 tr("detection needs the Python package onnxruntime."))
        button = QPushButton(tr("Install…"), item)
        button.clicked.connect(self.show_dependencies)
        item.layout().addWidget(button)
        bar.pushWidget(item, Qgis.Info, 0)

    def show_dependencies(self):
        from .ui.dependencies import show_dependencies

        dialog = show_dependencies(self.deps_folder, self.iface.mainWindow())
        self.dialogs = [d for d in self.dialogs if d.isVisible()] + [dialog]
        return dialog

    def _layers_added(self, layers) -> None:
        from .ui.true_colour import apply_true_colour

        apply_true_colour(layers)

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

        show_model_info(self.iface)

    def _open(self, alg_id: str) -> None:
        import processing

        processing.execAlgorithmDialog(f"lmhld:{alg_id}")

    def unload(self) -> None:
        for action in self.actions:
            if self.iface is not None and hasattr(self.iface, "removePluginMenu"):
                self.iface.removePluginMenu(MENU, action)
        self.actions.clear()
        if self.review_dock is not None:
            self.review_dock.release()
            self.iface.removeDockWidget(self.review_dock)
            self.review_dock.deleteLater()
            self.review_dock = None
        if self.iface is not None and hasattr(self.iface, "addPluginToMenu"):
            with contextlib.suppress(TypeError):  # never connected (no GUI)
                QgsProject.instance().layersAdded.disconnect(self._layers_added)
        if self.provider is not None:
            QgsApplication.processingRegistry().removeProvider(self.provider)
            self.provider = None
