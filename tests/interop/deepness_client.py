"""Drive the real Deepness QGIS plugin headless, as a user would: its plugin class, its dock (model path, Reload,
Load default parameters, Run), its map processor as a QGIS task. Its source is read from ../shared/clients/deepness
at test time (Apache-2.0, never copied into the project). Every error popup and critical message is recorded."""

from __future__ import annotations

import re
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..helpers import ROOT

DEEPNESS = ROOT.parent / "shared" / "clients" / "deepness"


def deepness_commit() -> str:
    """The Deepness commit the shared copy holds (CLIENT.md names it)."""
    found = re.search(r"commit ([0-9a-f]{40})", (DEEPNESS / "CLIENT.md").read_text())
    return found.group(1) if found else "unknown"


def import_deepness():
    """The `deepness` package from the shared copy (the caller skips when it is absent)."""
    src = str(DEEPNESS / "src")
    if src not in sys.path:
        sys.path.insert(0, src)
    import deepness

    return deepness


@dataclass
class Popups:
    """What Deepness showed the user: error boxes, message-bar lines, its result box."""

    errors: list[str] = field(default_factory=list)
    results: list[str] = field(default_factory=list)


def watch_popups(monkeypatch) -> Popups:
    """Record QMessageBox.critical/warning and Deepness's result box instead of blocking on them."""
    import_deepness()
    from deepness.dialogs.resizable_message_box import ResizableMessageBox
    from qgis.PyQt.QtWidgets import QMessageBox

    popups = Popups()

    def error(_parent, title, text, *args, **kwargs):
        popups.errors.append(f"{title}: {text}")
        return QMessageBox.Ok

    monkeypatch.setattr(QMessageBox, "critical", staticmethod(error))
    monkeypatch.setattr(QMessageBox, "warning", staticmethod(error))
    monkeypatch.setattr(ResizableMessageBox, "exec", lambda box: popups.results.append(box.text()) or 0)
    monkeypatch.setattr(ResizableMessageBox, "exec_", lambda box: popups.results.append(box.text()) or 0)
    return popups


@dataclass
class DeepnessRun:
    mask: np.ndarray  # (H, W) uint8 over the raster: 1 background, 2 landslide (Deepness's own codes)
    model_info: str  # the dock's model information label
    tile_size: int
    resolution_cm: float
    threshold: float
    overlap_percent: int
    processor: object  # the map processor (its model, parameters, extents)


def run_deepness(iface, raster_layer, model: Path, threshold: float | None = None, process: bool = True,
                 timeout_s: float = 300) -> DeepnessRun:
    """Open the plugin, load `model` with its default parameters (the threshold changed in the dock when given),
    process the whole layer (unless not `process`), return the mask."""
    from qgis.core import QgsApplication
    from qgis.PyQt.QtCore import QCoreApplication

    deepness = import_deepness()
    plugin = deepness.classFactory(iface)  # also Deepness's own check that its packages import
    plugin.initGui()
    plugin.run()
    dock = plugin.dockwidget
    dock.mMapLayerComboBox_inputLayer.setLayer(raster_layer)
    dock.comboBox_processedAreaSelection.setCurrentText("Entire layer")
    dock.lineEdit_modelPath.setText(str(model))
    dock.pushButton_reloadModel.click()
    dock.pushButton_loadDefaultModelParameters.click()
    if threshold is not None:
        dock.doubleSpinBox_probabilityThreshold.setValue(threshold)
    finished: list = []
    if process:
        dock.pushButton_runInference.click()
    processor = plugin._map_processor
    if processor is None:  # not asked to process, or refused before starting (the popups say why)
        return DeepnessRun(np.zeros((0, 0), np.uint8), dock.label_modelInfo.text(), 0, 0.0, 0.0, 0, None)
    processor.finished_signal.connect(finished.append)
    deadline = time.monotonic() + timeout_s
    while not finished and time.monotonic() < deadline:
        QCoreApplication.processEvents()
        time.sleep(0.02)
    QgsApplication.taskManager().cancelAll()
    if not finished:
        raise TimeoutError(f"Deepness did not finish within {timeout_s} s")
    mask = processor.get_result_img()[0] if type(finished[0]).__name__ == "MapProcessingResultSuccess" else None
    return DeepnessRun(np.asarray(mask) if mask is not None else np.zeros((0, 0), np.uint8),
                       dock.label_modelInfo.text(), dock.spinBox_tileSize_px.value(),
                       dock.doubleSpinBox_resolution_cm_px.value(), dock._get_pixel_classification_threshold(),
                       dock.spinBox_processingTileOverlapPercentage.value(), processor)
