"""Screenshots of the annotator's tools in the real QGIS desktop (under Xvfb), written as PNGs to screenshots/.

Installs the packaged plugin into a fresh profile, generates a sample (synthetic scene, an inventory created by
lmhld:createinventory's core, detections with probabilities), starts `qgis --code` with a script that opens the
review dock, the new inventory's attribute form, the three new algorithm dialogs and their results on the map,
grabs each, and quits. Look at the PNGs before calling a change to these tools done.

    python tools/annotator_screenshots.py [--out screenshots]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tools"))

# What runs inside QGIS (`qgis --code`): every step waits for the event loop, grabs, and goes on.
DESKTOP_SCRIPT = r'''
import json, os, traceback
from qgis.PyQt.QtCore import QTimer, Qt
from qgis.PyQt.QtWidgets import QApplication
from qgis.core import QgsProject, QgsRasterLayer, QgsVectorLayer, QgsFeature, QgsGeometry, QgsVectorLayerUtils
from qgis.utils import iface, plugins
import processing

CFG = json.loads(os.environ["LMHLD_SHOTS"])
OUT = CFG["out"]
steps, log = [], open(os.path.join(OUT, "desktop.log"), "w")

def grab(widget, name):
    QApplication.processEvents()
    iface.mapCanvas().waitWhileRendering()
    ok = widget.grab().save(os.path.join(OUT, name))
    log.write(f"{name}: {ok}\n"); log.flush()

def add(uri, name, kind="ogr"):
    layer = QgsRasterLayer(uri, name) if kind == "raster" else QgsVectorLayer(uri, name, kind)
    QgsProject.instance().addMapLayer(layer)
    return layer

def step(fn):
    steps.append(fn)
    return fn

def natural_colours(layer):
    r = layer.renderer()
    r.setRedBand(3); r.setGreenBand(2); r.setBlueBand(1)
    layer.triggerRepaint()
    return layer

@step
def load():
    iface.mainWindow().resize(1600, 1000)
    natural_colours(add(CFG["scene"], "event scene (synthetic)", "raster"))
    step.prob = add(CFG["prob"], "probability", "raster")
    step.inv = add(CFG["inventory"] + "|layername=landslides", "inventory")
    step.det = add(CFG["detections"] + "|layername=landslides", "detections")
    iface.mapCanvas().setExtent(step.det.extent().buffered(150))

@step
def dock():
    plugins["lmhld_qgis"].show_review_dock()
    d = plugins["lmhld_qgis"].review_dock
    d.detections_combo.setLayer(step.det)
    d.inventory_combo.setLayer(step.inv)
    d.probability_combo.setLayer(step.prob)
    d.start_button.click()
    d.accept(); d.reject(); d.accept()
    step.dock = d

@step
def dock_shot():
    grab(iface.mainWindow(), "review_dock.png")
    grab(step.dock, "review_dock_panel.png")

@step
def edit_shot():
    step.dock.edit()

@step
def edit_grab():
    grab(iface.mainWindow(), "review_edit_shape.png")
    step.dock.skip()
    step.dock.stop()
    step.dock.hide()

@step
def form():
    layer = step.inv
    layer.startEditing()
    feat = QgsVectorLayerUtils.createFeature(layer, QgsGeometry.fromWkt(CFG["form_wkt"]), {},
                                             layer.createExpressionContext())
    step.form = iface.getFeatureForm(layer, feat)
    step.form.resize(900, 640)
    step.form.show()

@step
def form_grab():
    grab(step.form, "inventory_form.png")
    step.form.close()
    step.inv.rollBack()

def dialog(alg, params, name):
    def open_it():
        step.dlg = processing.createAlgorithmDialog(alg, params)
        step.dlg.resize(900, 700)
        step.dlg.show()
    def grab_it():
        grab(step.dlg, name)
        step.dlg.close()
    steps.extend([open_it, grab_it])

dialog("lmhld:createinventory", {"RASTER": CFG["scene"], "EVENT_DATE": "2019-12-24"}, "dialog_createinventory.png")
dialog("lmhld:validateinventory", {"INVENTORY": CFG["crafted"], "RASTER": CFG["reference"]},
       "dialog_validateinventory.png")
dialog("lmhld:ranktiles", {"PROBABILITY": CFG["prob"], "WINDOW": 64, "TOP": 8}, "dialog_ranktiles.png")

@step
def results():
    QgsProject.instance().removeAllMapLayers()
    add(CFG["reference"], "reference imagery", "raster")
    add(CFG["crafted"], "crafted inventory")
    res = processing.runAndLoadResults("lmhld:validateinventory", {
        "INVENTORY": CFG["crafted"], "RASTER": CFG["reference"], "OUTPUT": os.path.join(OUT, "problems.gpkg")})
    log.write(f"validate: {res}\n")
    iface.mapCanvas().setExtent(QgsRasterLayer(CFG["reference"], "r").extent().buffered(60))

@step
def results_grab():
    grab(iface.mainWindow(), "validation_problems.png")
    QgsProject.instance().removeAllMapLayers()
    natural_colours(add(CFG["scene"], "event scene (synthetic)", "raster"))
    add(CFG["prob"], "probability", "raster")
    processing.runAndLoadResults("lmhld:ranktiles", {"PROBABILITY": CFG["prob"], "WINDOW": 64, "TOP": 8,
                                                     "OUTPUT": os.path.join(OUT, "tiles.gpkg")})
    iface.mapCanvas().setExtent(QgsRasterLayer(CFG["prob"], "p").extent())

@step
def tiles_grab():
    grab(iface.mainWindow(), "ranked_tiles.png")

def close_modal():
    """A modal box would stop the script: log what it says and dismiss it."""
    box = QApplication.activeModalWidget()
    if box is not None:
        log.write(f"dismissed a modal {type(box).__name__}: {getattr(box, 'text', lambda: '')()}\n"); log.flush()
        box.reject()

modal_timer = QTimer()
modal_timer.timeout.connect(close_modal)
modal_timer.start(2000)

def run_next():
    if not steps:
        log.write("done\n"); log.close()
        QgsProject.instance().clear()
        os._exit(0)
    fn = steps.pop(0)
    log.write(f"step {fn.__name__}\n"); log.flush()
    try:
        fn()
    except Exception:
        log.write(f"{fn.__name__} failed:\n{traceback.format_exc()}\n"); log.flush()
    QTimer.singleShot(1500, run_next)

QTimer.singleShot(3000, run_next)
'''


def sample(folder: Path) -> dict[str, str]:
    """A synthetic scene, its probability, detections with probabilities, a new inventory, a crafted one."""
    import numpy as np
    import rasterio
    from osgeo import ogr

    from lmhld_qgis.core.inventory_schema import create_inventory
    from lmhld_qgis.core.synthetic import make_scene
    from lmhld_qgis.core.vector import read_polygons
    from lmhld_qgis.core.vectorize import FIELDS
    from tests.inventories import crafted_inventory

    scene = make_scene(folder, width=512, height=512, n_landslides=25, seed=3, name="event_scene")
    polygons = read_polygons(scene.inventory)
    rng = np.random.default_rng(0)
    with rasterio.open(scene.raster) as src:
        profile = src.profile | {"count": 1, "dtype": "float32", "nodata": -1}
        from lmhld_qgis.core.grid import Window
        from lmhld_qgis.core.rasterize import InventoryBurner

        mask = InventoryBurner(polygons, polygons.srs, tuple(src.transform)[:6]).burn(Window(0, 0, 512, 512))
    prob = np.clip(np.where(mask > 0, 0.75, 0.08) + rng.normal(0, 0.12, mask.shape), 0, 1).astype(np.float32)
    prob[300:400, 60:200] = np.clip(0.5 + rng.normal(0, 0.1, (100, 140)), 0, 1)  # where the model hesitates
    with rasterio.open(folder / "probability.tif", "w", **profile) as dst:
        dst.write(prob[None])
    shutil.copy(ROOT / "lmhld_qgis" / "styles" / "probability.qml", folder / "probability.qml")
    ds = ogr.GetDriverByName("GPKG").CreateDataSource(str(folder / "detections.gpkg"))
    lyr = ds.CreateLayer("landslides", polygons.srs, ogr.wkbMultiPolygon, ["GEOMETRY_NAME=geom"])
    for name, kind in FIELDS:
        lyr.CreateField(ogr.FieldDefn(name, kind))
    for i, geom in enumerate(polygons.geometries, start=1):
        feat = ogr.Feature(lyr.GetLayerDefn())
        feat.SetGeometry(ogr.ForceToMultiPolygon(geom))
        for name, value in (("id", i), ("area_m2", geom.GetArea()), ("perimeter_m", geom.Boundary().Length()),
                            ("mean_prob", float(rng.uniform(0.35, 0.95))), ("max_prob", 0.99),
                            ("source", "event_scene.tif"), ("model", "unet")):
            feat.SetField(name, value)
        lyr.CreateFeature(feat)
    ds = None
    from lmhld_qgis.core.styles import embed_vector_style

    embed_vector_style(folder / "detections.gpkg", "landslides")
    inventory = create_inventory(folder / "inventory.gpkg", raster=scene.raster, event_date="2019-12-24",
                                 author="Annotator")
    crafted, reference = crafted_inventory(folder)
    x0, y0 = polygons.geometries[0].Centroid().GetX(), polygons.geometries[0].Centroid().GetY()
    return {"scene": str(scene.raster), "prob": str(folder / "probability.tif"),
            "detections": str(folder / "detections.gpkg"), "inventory": str(inventory), "crafted": str(crafted),
            "reference": str(reference),
            "form_wkt": f"POLYGON(({x0} {y0},{x0 + 40} {y0},{x0 + 40} {y0 + 30},{x0} {y0 + 30},{x0} {y0}))"}


def install_plugin(base: Path) -> dict[str, str]:
    """The packaged zip unpacked as QGIS's 'Install from ZIP' does, enabled in a fresh profile."""
    from package import build_zip

    plugins = base / "plugins"
    with zipfile.ZipFile(build_zip(base / "lmhld_qgis.zip")) as zf:
        zf.extractall(plugins)
    ini = base / "profiles" / "profiles" / "default" / "QGIS" / "QGIS3.ini"
    ini.parent.mkdir(parents=True, exist_ok=True)
    ini.write_text("[PythonPlugins]\nlmhld_qgis=true\n[qgis]\nshowTips322=false\n")
    site = Path(sys.prefix) / "lib" / f"python{sys.version_info.major}.{sys.version_info.minor}" / "site-packages"
    return {"QGIS_PLUGINPATH": str(plugins), "PYTHONPATH": str(site), "profiles": str(base / "profiles")}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=ROOT / "screenshots")
    parser.add_argument("--timeout", type=int, default=240)
    args = parser.parse_args()
    out = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="lmhld-shots-") as tmp:
        base = Path(tmp)
        cfg = sample(base / "data") | {"out": str(out)}
        env_extra = install_plugin(base)
        script = base / "shots.py"
        script.write_text(DESKTOP_SCRIPT)
        env = {k: v for k, v in os.environ.items() if k not in ("QT_QPA_PLATFORM", "PYTHONPATH")}
        env.update(QGIS_PLUGINPATH=env_extra["QGIS_PLUGINPATH"], PYTHONPATH=env_extra["PYTHONPATH"],
                   LMHLD_SHOTS=json.dumps(cfg))
        cmd = ["xvfb-run", "-a", "-s", "-screen 0 1600x1000x24", "qgis", "--nologo", "--noversioncheck",
               "--profiles-path", env_extra["profiles"], "--code", str(script)]
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=args.timeout)
    shots = sorted(out.glob("*.png"))
    print((out / "desktop.log").read_text() if (out / "desktop.log").exists() else proc.stderr[-3000:])
    print(f"{len(shots)} screenshots in {out}: {', '.join(s.name for s in shots)}")
    return 0 if shots else 1


if __name__ == "__main__":
    raise SystemExit(main())
