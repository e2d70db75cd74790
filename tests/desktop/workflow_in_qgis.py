"""Runs INSIDE the QGIS desktop (qgis --code), started by tests/desktop/test_desktop.py: the whole workflow through
the algorithms' own dialogs, on the plugin installed from its zip. Writes result.json into LMHLD_DESKTOP_OUT.

Every destination is left at its default (as a new user would), so the durable defaults are exercised too.
"""

import os
import sys
from pathlib import Path

sys.path.insert(0, os.environ["LMHLD_DESKTOP_TOOLS"])

from desktop_session import dialog_fits, layer_tree, session_from_env
from qgis.core import QgsApplication, QgsProject, QgsRasterLayer, QgsVectorLayer
from qgis.utils import iface, plugins

session = session_from_env()
data = Path(os.environ["LMHLD_DESKTOP_DATA"])


def loaded() -> dict:
    import lmhld_qgis

    provider = QgsApplication.processingRegistry().providerById("lmhld")
    menu = [a.text() for a in iface.pluginMenu().actions()]
    return {"ok": "lmhld_qgis" in plugins and provider is not None, "plugin_file": lmhld_qgis.__file__,
            "algorithms": sorted(a.id() for a in provider.algorithms()) if provider else [],
            "menu": menu}


def add_layers() -> dict:
    scene = QgsRasterLayer(str(data / "scene.tif"), "scene")
    inventory = QgsVectorLayer(str(data / "scene_inventory.gpkg"), "inventory", "ogr")
    QgsProject.instance().addMapLayers([scene, inventory])
    session.scene_id, session.inventory_id = scene.id(), inventory.id()
    renderer = scene.renderer()
    return {"ok": scene.isValid() and inventory.isValid(),
            "scene_rgb": [renderer.redBand(), renderer.greenBand(), renderer.blueBand()]}


def analyse() -> dict:
    return session.run_dialog("lmhld:analyseinventory", {"INVENTORY": session.inventory_id,
                                                         "RASTER": [session.scene_id]})


def export() -> dict:
    report = session.result["steps"]["analyse"]["results"]["OUTPUT_JSON"]
    return session.run_dialog("lmhld:exportpatches", {
        "RASTERS": [session.scene_id], "INVENTORY": session.inventory_id, "ANALYSIS": report, "QUARTILE": 0,
        "MIN_FRACTION": 0.05, "TOLERANCE": 0.05})


def preview() -> dict:
    """Export's windows at a size so large that export would refuse (too few kept): the preview is still written
    and loaded, styled by split."""
    outcome = session.run_dialog("lmhld:previewpatches", {
        "RASTERS": [session.scene_id], "INVENTORY": session.inventory_id, "PATCH_SIZE": 256, "RECIPE": 1})
    outcome["layers"] = layer_tree()  # as the Layers panel shows them now (later steps rebuild the tree's view)
    return outcome


def train() -> dict:
    dataset = session.result["steps"]["export"]["results"]["OUTPUT_FOLDER"]
    return session.run_dialog("lmhld:trainmodel", {"DATA": dataset, "EPOCHS": 1, "BATCH_SIZE": 8, "WIDTH": 4})


def evaluate() -> dict:
    return session.run_dialog("lmhld:evaluatemodel", {
        "MODEL": session.result["steps"]["train"]["results"]["MODEL_ONNX"],
        "DATA": session.result["steps"]["export"]["results"]["OUTPUT_FOLDER"]})


def detect() -> dict:
    return session.run_dialog("lmhld:detectlandslides", {
        "RASTER": session.scene_id, "MODEL": session.result["steps"]["train"]["results"]["MODEL_ONNX"]})


def experiment() -> dict:
    return session.run_dialog("lmhld:runexperiment", {"CONFIG": str(data / "tiny.toml")})


def dialogs_fit() -> dict:
    """Every algorithm's dialog, advanced parameters open, at its default size: what scrolls sideways."""
    provider = QgsApplication.processingRegistry().providerById("lmhld")
    reports = {alg.id(): dialog_fits(alg.id(), {}) for alg in provider.algorithms()}
    return {"ok": True, "reports": reports}


for name, work in (("loaded", loaded), ("dialogs", dialogs_fit), ("layers", add_layers), ("analyse", analyse),
                   ("export", export), ("preview", preview), ("train", train), ("evaluate", evaluate),
                   ("detect", detect), ("experiment", experiment)):
    session.step(name, work)
    if not session.result["steps"][name].get("ok"):
        break
session.finish()
