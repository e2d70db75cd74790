"""`lmhld demo` completes on the CPU and its outputs open in QGIS (styled)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from qgis.core import QgsProject, QgsRasterLayer, QgsVectorLayer

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo") / "demo_out"
    proc = subprocess.run([sys.executable, "-m", "lmhld_qgis", "demo", "--out", str(out), "--epochs", "4"],
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "open in QGIS" in proc.stdout and "synthetic" in proc.stdout
    return out


def test_demo_outputs_open_in_qgis(qgis_app, demo, tmp_path):
    summary = json.loads((demo / "demo.json").read_text())
    files = summary["files"]
    assert summary["facts"]["scene_f1"] > 0.7 and summary["facts"]["polygons"] > 10
    evaluation = json.loads((demo / "evaluation.json").read_text())  # scores the polygons the demo delivered
    assert evaluation["n_detected"] == summary["facts"]["polygons"]
    scene = QgsRasterLayer(files["event_scene"], "scene")
    prob = QgsRasterLayer(files["probability"], "probability")
    polys = QgsVectorLayer(files["landslides"], "landslides", "ogr")
    patches = QgsVectorLayer(files["footprints"], "patches", "ogr")
    errors = QgsRasterLayer(files["error_map"], "errors")
    for layer in (scene, prob, polys, patches, errors):
        assert layer.isValid(), layer.name()
    assert prob.renderer().type() == "singlebandpseudocolor"  # the sidecar .qml was applied
    assert errors.renderer().type() == "paletted"
    assert polys.renderer().symbol().symbolLayer(0).strokeColor().name() == "#d7191c"
    assert polys.featureCount() == summary["facts"]["polygons"]
    _render([polys, prob, scene], tmp_path / "demo_map.png")
    assert (tmp_path / "demo_map.png").stat().st_size > 10_000
    QgsProject.instance().clear()


def _render(layers, path):
    from qgis.core import QgsMapRendererParallelJob, QgsMapSettings
    from qgis.PyQt.QtCore import QSize

    settings = QgsMapSettings()
    settings.setLayers(layers)
    settings.setDestinationCrs(layers[-1].crs())
    settings.setExtent(layers[-1].extent())
    settings.setOutputSize(QSize(800, 800))
    job = QgsMapRendererParallelJob(settings)
    job.start()
    job.waitForFinished()
    job.renderedImage().save(str(path))
