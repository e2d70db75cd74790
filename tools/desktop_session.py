"""Helpers for scripts that run inside the QGIS desktop (see tools/desktop.py): record the message log, answer
modal dialogs nobody would click in a test (saving a picture of each), run an algorithm through its own dialog,
write a JSON result and quit QGIS.

Run an algorithm "through its dialog" = what pressing Run does: processing.createAlgorithmDialog, the parameter
widgets filled, runAlgorithm(), the task on its thread, then Processing's result handling that loads the layers.
"""

from __future__ import annotations

import json
import os
import time
import traceback
from pathlib import Path

from qgis.core import QgsApplication, QgsProject
from qgis.PyQt.QtCore import QEventLoop, QTimer
from qgis.PyQt.QtWidgets import QApplication, QScrollArea, QTextEdit, QWidget


class Session:
    def __init__(self, out: str | Path) -> None:
        self.out = Path(out)
        self.out.mkdir(parents=True, exist_ok=True)
        self.result: dict = {"messages": [], "modals": [], "steps": {}}
        QgsApplication.messageLog().messageReceived.connect(self._message)
        self.watchdog = QTimer()
        self.watchdog.timeout.connect(self._close_modal)
        self.watchdog.start(1000)

    def _message(self, message: str, tag: str, level) -> None:
        self.result["messages"].append([tag, int(level), message])

    def _close_modal(self) -> None:
        widget = QApplication.activeModalWidget()
        if widget is None:
            return
        n = len(self.result["modals"])
        widget.grab().save(str(self.out / f"modal{n}.png"))
        self.result["modals"].append([type(widget).__name__, widget.windowTitle(), _text_of(widget)])
        widget.close()

    def run_dialog(self, alg_id: str, parameters: dict, timeout_s: float = 240) -> dict:
        """Run `alg_id` from its dialog with `parameters` typed in; returns ok, results and the dialog's log."""
        import processing

        dialog = processing.createAlgorithmDialog(alg_id, parameters)
        dialog.show()
        loop, outcome = QEventLoop(), {}

        def finished(ok, results):
            outcome.update(ok=bool(ok), results={k: _plain(v) for k, v in (results or {}).items()})
            loop.quit()

        dialog.algorithmFinished.connect(finished)
        QTimer.singleShot(int(timeout_s * 1000), loop.quit)
        dialog.runAlgorithm()
        if "ok" not in outcome:
            loop.exec_()
        outcome.setdefault("ok", False)
        outcome["log"] = "\n".join(w.toPlainText() for w in dialog.findChildren(QTextEdit))[-6000:]
        dialog.close()
        return outcome

    def step(self, name: str, work) -> None:
        """Record one step's outcome (or its traceback) under `name`."""
        start = time.monotonic()
        try:
            self.result["steps"][name] = work()
        except Exception:
            self.result["steps"][name] = {"ok": False, "error": traceback.format_exc()}
        self.result["steps"][name]["seconds"] = round(time.monotonic() - start, 1)

    def finish(self) -> None:
        """Write result.json and quit QGIS (the project cleared first, so QGIS asks nothing)."""
        self.result["layers"] = layer_tree()
        (self.out / "result.json").write_text(json.dumps(self.result, indent=1, default=str))
        QgsProject.instance().clear()
        QTimer.singleShot(200, QgsApplication.instance().quit)


def layer_tree() -> list[dict]:
    """The project's layers top-down as the Layers panel shows them."""
    rows = []
    for node in QgsProject.instance().layerTreeRoot().findLayers():
        layer = node.layer()
        renderer = layer.renderer() if layer is not None and hasattr(layer, "renderer") else None
        rows.append({"name": node.name(), "source": layer.source() if layer else "",
                     "renderer": renderer.type() if renderer is not None else ""})
    return rows


def _text_of(widget) -> str:
    from qgis.PyQt.QtWidgets import QLabel

    return " | ".join(label.text() for label in widget.findChildren(QLabel) if label.text())[:1000]


def _plain(value):
    return value if isinstance(value, int | float | str | bool | type(None)) else str(value)


def session_from_env() -> Session:
    return Session(os.environ["LMHLD_DESKTOP_OUT"])


def fit_report(dialog) -> dict:
    """Whether the parameters panel scrolls sideways, and which of its widgets would be cut at the right."""
    report = {"size": [dialog.width(), dialog.height()], "h_scroll": False, "cut": []}
    for area in dialog.findChildren(QScrollArea):
        if not area.isVisible() or area.widget() is None:
            continue
        report["h_scroll"] |= area.horizontalScrollBar().isVisible()
        viewport = area.viewport().width()
        for widget in area.widget().findChildren(QWidget):
            right = widget.mapTo(area.widget(), widget.rect().topRight()).x()
            if widget.isVisible() and right > viewport + 1:
                report["cut"].append(f"{type(widget).__name__}:{widget.objectName()} right {right} > {viewport}")
    from qgis.PyQt.QtWidgets import QComboBox, QLabel

    widths = []  # what sets the panel's width: the widest labels and drop-down entries
    for widget in dialog.findChildren(QLabel):
        if widget.isVisible() and widget.text() and not widget.wordWrap():
            widths.append((widget.sizeHint().width(), widget.text()))
    for combo in dialog.findChildren(QComboBox):
        if combo.isVisible():
            widths.append((combo.sizeHint().width(), f"[{combo.currentText()}]"))
    report["widest"] = sorted(widths, reverse=True)[:4]
    return report


def dialog_fits(alg_id: str, parameters: dict) -> dict:
    """Open an algorithm's dialog at its default size with the advanced parameters unfolded; its fit report."""
    import processing
    from qgis.gui import QgsCollapsibleGroupBoxBasic
    from qgis.PyQt import sip
    from qgis.PyQt.QtWidgets import QGroupBox

    dialog = processing.createAlgorithmDialog(alg_id, parameters)
    dialog.show()
    for box in dialog.findChildren(QGroupBox, "grpAdvanced"):
        sip.cast(box, QgsCollapsibleGroupBoxBasic).setCollapsed(False)
    end = time.time() + 0.5
    while time.time() < end:
        QApplication.processEvents()
        time.sleep(0.02)
    report = fit_report(dialog)
    dialog.close()
    return report
