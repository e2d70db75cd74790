"""Runs INSIDE the QGIS desktop (see tools/screenshots.py): opens every dialog of the plugin at its default size,
saves a picture of it, and measures whether its parameters fit without horizontal scrolling; then runs a
detection from its dialog and saves the map with the results and their attribute table."""

import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, os.environ["LMHLD_DESKTOP_TOOLS"])

from desktop_session import fit_report, session_from_env
from qgis.core import QgsApplication, QgsProject, QgsRasterLayer, QgsVectorLayer
from qgis.gui import QgsCollapsibleGroupBoxBasic
from qgis.PyQt import sip
from qgis.PyQt.QtWidgets import QApplication, QGroupBox
from qgis.utils import iface, plugins

session = session_from_env()
out = session.out
data = Path(os.environ["LMHLD_DESKTOP_DATA"])
model = os.environ["LMHLD_SCREENSHOT_MODEL"]
facts = {}


def settle(seconds: float = 0.5) -> None:
    end = time.time() + seconds
    while time.time() < end:
        QApplication.processEvents()
        time.sleep(0.02)


def algorithm_dialog(alg_id: str, name: str, params: dict) -> None:
    import processing

    dialog = processing.createAlgorithmDialog(alg_id, params)
    dialog.show()
    settle()
    dialog.grab().save(str(out / f"{name}.png"))
    facts[name] = fit_report(dialog)
    for box in dialog.findChildren(QGroupBox, "grpAdvanced"):  # the Advanced Parameters group, unfolded
        sip.cast(box, QgsCollapsibleGroupBoxBasic).setCollapsed(False)
    settle()
    facts[name + "_advanced_open"] = fit_report(dialog)
    dialog.resize(dialog.width(), 1500)  # every parameter at once (taller than the screen: only for the picture)
    settle()
    dialog.grab().save(str(out / f"{name}_all_parameters.png"))
    dialog.close()


def dialogs() -> dict:
    scene = QgsRasterLayer(str(data / "scene.tif"), "scene")
    inventory = QgsVectorLayer(str(data / "scene_inventory.gpkg"), "inventory", "ogr")
    QgsProject.instance().addMapLayers([scene, inventory])
    session.scene, session.inventory = scene, inventory
    for alg, name, params in (
            ("lmhld:stackrasters", "0_stack", {"RASTERS": [scene.id()]}),
            ("lmhld:analyseinventory", "1_analyse", {"INVENTORY": inventory.id(), "RASTER": [scene.id()]}),
            ("lmhld:exportpatches", "2_export", {"RASTERS": [scene.id()], "INVENTORY": inventory.id()}),
            ("lmhld:trainmodel", "3_train", {"DATA": str(data.parent / "dataset")}),
            ("lmhld:runexperiment", "4_experiment", {}),
            ("lmhld:evaluatemodel", "5_evaluate", {"MODEL": model}),
            ("lmhld:detectlandslides", "6_detect", {"RASTER": scene.id(), "MODEL": model})):
        algorithm_dialog(alg, name, params)
    return {"ok": True}


def model_info() -> dict:
    from lmhld_qgis.core.modelcard import read_onnx_card
    from lmhld_qgis.ui.model_info import ModelInfoDialog

    dialog = ModelInfoDialog(read_onnx_card(model), model, iface.mainWindow())
    dialog.show()
    dialog.layers.setLayer(session.scene)
    dialog.check_layer()
    settle()
    dialog.grab().save(str(out / "7_model_info.png"))
    facts["7_model_info"] = {"size": [dialog.width(), dialog.height()], "verdict": dialog.verdict.text()}
    dialog.close()
    return {"ok": True}


def dependencies() -> dict:
    dialog = plugins["lmhld_qgis"].show_dependencies()
    end = time.time() + 120
    while (dialog.worker is None or dialog.worker.isRunning()) and time.time() < end:
        settle(0.2)
    settle()
    dialog.grab().save(str(out / "8_dependencies.png"))
    facts["8_dependencies"] = {"size": [dialog.width(), dialog.height()], "summary": dialog.summary.text()}
    dialog.close()
    return {"ok": True}


def map_with_results() -> dict:
    outcome = session.run_dialog("lmhld:detectlandslides", {"RASTER": session.scene.id(), "MODEL": model})
    canvas = iface.mapCanvas()
    canvas.setExtent(session.scene.extent())
    QgsProject.instance().layerTreeRoot().findLayer(session.inventory.id()).setItemVisibilityChecked(False)
    canvas.refresh()
    settle(1.0)
    canvas.waitWhileRendering()
    settle(1.0)
    iface.mainWindow().grab().save(str(out / "9_map_with_results.png"))
    landslides = next(lyr for lyr in QgsProject.instance().mapLayers().values() if lyr.name().startswith("Landslides"))
    table = iface.showAttributeTable(landslides)
    settle(1.0)
    table.grab().save(str(out / "10_attribute_table.png"))
    table.close()
    return outcome


for name, work in (("dialogs", dialogs), ("model_info", model_info), ("dependencies", dependencies),
                   ("map", map_with_results)):
    session.step(name, work)
session.result["dialogs"] = facts
(out / "report.json").write_text(json.dumps(session.result, indent=1, default=str))
QgsApplication.processEvents()
session.finish()
