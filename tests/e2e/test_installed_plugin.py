"""The plugin as a user has it: installed from its zip into a folder of QGIS's choosing, run by qgis_process.bin
from anywhere, with only the README's setup (PYTHONPATH to the venv's site-packages) or less.

Issue 11: training failed with "No module named lmhld_qgis" because the child process could not import the
installed plugin; the tests did not see it since they ran from the checkout, whose folder `python -m` puts on the
path. Here the working folder is elsewhere and nothing else on the path holds lmhld_qgis."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from osgeo import ogr

from ..conftest import QGIS_PROCESS, QgisProcess

pytestmark = pytest.mark.slow
SITE = Path(sys.prefix) / "lib" / f"python{sys.version_info.major}.{sys.version_info.minor}" / "site-packages"


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> QgisProcess:
    if not QGIS_PROCESS.exists():
        pytest.skip("qgis_process.bin not installed (run make setup)")
    return QgisProcess(tmp_path_factory.mktemp("x") / "QGIS plugins é")  # spaces and non-ASCII in the path


def run(installed: QgisProcess, cwd: Path, pythonpath: str, alg: str, **params) -> subprocess.CompletedProcess:
    env = dict(installed.env, PYTHONPATH=pythonpath)
    env.pop("LMHLD_PYTHON", None)
    args = [str(QGIS_PROCESS), "run", alg, "--json", "--"] + [f"{k}={v}" for k, v in params.items()]
    return subprocess.run(args, env=env, cwd=str(cwd), capture_output=True, text=True, timeout=600)


def test_trainmodel_runs_from_the_installed_zip(installed, areas, tmp_path):
    proc = run(installed, tmp_path, str(SITE), "lmhld:trainmodel", DATA=areas["a32"], EPOCHS=1, BATCH_SIZE=8,
               WIDTH=4, OUTPUT_FOLDER=tmp_path / "run")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert (tmp_path / "run" / "model.onnx").exists()
    assert json.loads(proc.stdout[proc.stdout.index("{"):])["results"]["MODEL_ONNX"] == str(tmp_path / "run" /
                                                                                           "model.onnx")


@pytest.fixture
def onnxruntime_only(tmp_path) -> Path:
    """A site folder with onnxruntime (and what it imports) but no torch and no onnx: a detection-only machine."""
    folder = tmp_path / "site"
    folder.mkdir()
    for name in ("onnxruntime", "flatbuffers", "google"):
        os.symlink(SITE / name, folder / name)
    return folder


def test_without_torch_detection_works_and_training_says_what_to_install(installed, onnxruntime_only,
                                                                         small_onnx_model, tmp_path):
    from lmhld_qgis.core.synthetic import make_scene

    scene = make_scene(tmp_path / "scene", width=128, height=128, n_landslides=6, seed=3)
    proc = run(installed, tmp_path, str(onnxruntime_only), "lmhld:detectlandslides", RASTER=scene.raster,
               MODEL=small_onnx_model, THRESHOLD=0.0, OUTPUT=tmp_path / "l.gpkg")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    ds = ogr.Open(str(tmp_path / "l.gpkg"))  # held: a layer outlives no dataset
    assert [f["f_table_name"] for f in ds.GetLayerByName("layer_styles")] == ["landslides"]  # the style is inside
    ds = None
    proc = run(installed, tmp_path, str(onnxruntime_only), "lmhld:trainmodel", DATA=scene.raster.parent,
               OUTPUT_FOLDER=tmp_path / "run")
    assert proc.returncode != 0
    text = proc.stdout + proc.stderr
    assert "Training needs the Python packages torch, onnx, onnxscript" in text
    assert "Plugins > LMHLD Landslide Detection > Python dependencies" in text and "LMHLD_PYTHON" in text
    assert "Traceback" not in text and not (tmp_path / "run").exists()


def test_without_onnxruntime_detection_says_what_to_install(installed, small_onnx_model, tmp_path):
    """QGIS's own Python and nothing else, as on a fresh install: was a traceback and "failed:
    ModuleNotFoundError"."""
    from lmhld_qgis.core.synthetic import make_scene

    scene = make_scene(tmp_path / "scene", width=64, height=64, n_landslides=2, seed=3)
    (tmp_path / "empty").mkdir()
    proc = run(installed, tmp_path, str(tmp_path / "empty"), "lmhld:detectlandslides", RASTER=scene.raster,
               MODEL=small_onnx_model, OUTPUT=tmp_path / "l.gpkg")
    text = proc.stdout + proc.stderr
    assert proc.returncode != 0 and "Traceback" not in text and "ModuleNotFoundError" not in text, text[-3000:]
    assert "Detect landslides needs the Python package onnxruntime" in text
    assert "Plugins > LMHLD Landslide Detection > Python dependencies" in text and "pip install --target" in text
    assert "LMHLD_PYTHON" not in text  # detection runs in QGIS's own Python: pointing training elsewhere is no help
    assert not (tmp_path / "l.gpkg").exists()
