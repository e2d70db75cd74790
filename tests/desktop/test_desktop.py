"""The plugin in the real QGIS desktop: built with `make package`, installed from its zip into a fresh profile,
QGIS started (under Xvfb) the way the README says, and the whole workflow run through the algorithms' dialogs."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest

from ..helpers import ROOT

sys.path.insert(0, str(ROOT / "tools"))

pytestmark = pytest.mark.slow
HERE = Path(__file__).resolve().parent


@pytest.fixture(scope="module")
def workflow(tmp_path_factory) -> dict:
    from desktop import QGIS, DesktopProfile, build_plugin_zip, desktop_env, run_desktop

    if not QGIS.exists() or shutil.which("xvfb-run") is None:
        pytest.skip("QGIS desktop or xvfb-run not installed (make setup)")
    from lmhld_qgis.core.synthetic import make_scene

    base = tmp_path_factory.mktemp("desktop")
    data = base / "data"
    make_scene(data, width=384, height=384, n_landslides=70, seed=1, name="scene")
    from ..training.test_experiment import tiny_config

    (data / "tiny.toml").write_text(tiny_config(data / "exp", epochs=1).read_text())
    profile = DesktopProfile(base / "profiles")
    profile.install(build_plugin_zip(base / "lmhld_qgis.zip"))
    out = base / "out"
    proc = run_desktop(profile, HERE / "workflow_in_qgis.py", timeout=600,
                       env=desktop_env({"LMHLD_DESKTOP_OUT": str(out), "LMHLD_DESKTOP_DATA": str(data)}))
    result_file = out / "result.json"
    assert result_file.exists(), proc.stdout[-3000:] + proc.stderr[-3000:]
    result = json.loads(result_file.read_text())
    result["profile"], result["data"] = profile, data
    return result


def step(workflow: dict, name: str) -> dict:
    outcome = workflow["steps"].get(name)
    assert outcome is not None, f"step {name} did not run: {json.dumps(workflow['steps'], indent=1)[-3000:]}"
    assert outcome.get("ok"), json.dumps(outcome, indent=1)[-4000:]
    return outcome


def test_plugin_loads_from_its_zip_without_warnings(workflow):
    loaded = step(workflow, "loaded")
    assert Path(loaded["plugin_file"]).is_relative_to(workflow["profile"].plugins)  # the installed copy
    assert loaded["algorithms"] == sorted(f"lmhld:{a}" for a in (
        "stackrasters", "createinventory", "validateinventory", "analyseinventory", "previewpatches", "exportpatches",
        "splitpatches", "trainmodel", "exportonnx", "runexperiment", "evaluatemodel", "scoredetections",
        "detectlandslides", "ranktiles"))
    warnings = [m for m in workflow["messages"] if m[1] >= 1]  # Qgis.Warning and above, from any source
    assert not warnings, warnings
    assert not workflow["modals"], workflow["modals"]


def test_every_dialog_fits_at_its_default_size(workflow):
    reports = step(workflow, "dialogs")["reports"]
    assert len(reports) == 14
    scrolling = {alg: report["widest"] for alg, report in reports.items() if report["h_scroll"] or report["cut"]}
    assert not scrolling, scrolling  # no horizontal scroll bar, no widget cut at the right, advanced ones open


def test_scene_shows_in_true_colour(workflow):
    assert step(workflow, "layers")["scene_rgb"] == [3, 2, 1]  # bands blue, green, red, nir


def test_analyse_and_export_write_beside_the_inventory(workflow):
    report = Path(step(workflow, "analyse")["results"]["OUTPUT_JSON"])
    assert report.parent == workflow["data"] and json.loads(report.read_text())["n_landslides"] == 70
    dataset = Path(step(workflow, "export")["results"]["OUTPUT_FOLDER"])
    card = json.loads((dataset / "dataset.json").read_text())
    assert dataset.parent == workflow["data"] and card["patch_size"] == json.loads(report.read_text())[
        "recommended_patch_sizes"][0]
    patches = [row for row in workflow["layers"] if row["name"].startswith("Patches — ")]
    assert len(patches) == 1 and patches[0]["renderer"] == "categorizedSymbol"


def test_a_preview_export_would_refuse_is_loaded_styled_with_the_refusal(workflow):
    """QGIS 3.22 loads a Processing result without the style stored in its GeoPackage: the preview is styled on
    loading, so its categories (kept windows grey when too few to split) show in the legend."""
    preview = step(workflow, "preview")
    assert "Export would refuse this" in preview["log"]
    layers = [row for row in preview["layers"] if row["name"].startswith("Patch preview")]
    assert len(layers) == 1 and layers[0]["renderer"] == "categorizedSymbol", layers


def test_train_from_the_dialog_writes_the_model(workflow):
    train = step(workflow, "train")
    model = Path(train["results"]["MODEL_ONNX"])
    assert model.exists() and model.parent.parent.name == "runs"
    assert (model.parent / "metrics.csv").exists() and "epoch 1" in train["log"]


def test_evaluate_and_detect_from_their_dialogs(workflow):
    metrics = Path(step(workflow, "evaluate")["results"]["OUTPUT_JSON"])
    assert metrics.exists() and "f1" in json.loads(metrics.read_text())
    detect = step(workflow, "detect")
    assert Path(detect["results"]["OUTPUT"]).parent == workflow["data"]
    names = [row["name"] for row in workflow["layers"]]
    model = Path(workflow["steps"]["train"]["results"]["MODEL_ONNX"]).parent.name  # the run, not "model"
    polygons, probability = f"Landslides — scene ({model})", f"Landslide probability — scene ({model})"
    assert names.index(polygons) + 1 == names.index(probability) and names.index(probability) + 1 == \
        names.index("scene")  # polygons above the probability raster, both just above the scene


def test_experiment_from_its_dialog(workflow):
    experiment = step(workflow, "experiment")
    assert Path(experiment["results"]["REPORT"]).exists()
    assert Path(experiment["results"]["OUTPUT_FOLDER"]).parent == workflow["data"]
