"""The algorithms as a QGIS user meets them: help that links to the README, an icon each, the workflow's order,
parameters with real ranges (those of the command line), labels without sentinels, outputs that outlive QGIS."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import pytest
from qgis.core import QgsProcessingParameterNumber

from lmhld_qgis.processing.base import github_anchor
from lmhld_qgis.processing.provider import algorithm_classes

from ..helpers import ROOT

NO_MIN = -1.7e308

# (algorithm, parameter): (low, high) as the command line accepts them (cli/argtypes); None = open
RANGES = {
    ("detectlandslides", "THRESHOLD"): (0.0, 1.0), ("detectlandslides", "OVERLAP"): (0.0, 0.99),
    ("detectlandslides", "TILE"): (1, None), ("detectlandslides", "BATCH_SIZE"): (1, None),
    ("detectlandslides", "MIN_AREA"): (0.0, None), ("detectlandslides", "FILL_HOLES"): (0.0, None),
    ("detectlandslides", "SIMPLIFY"): (0.0, None),
    ("exportpatches", "MIN_FRACTION"): (0.0, 1.0), ("exportpatches", "TOLERANCE"): (0.0, 1.0),
    ("exportpatches", "BLOCK"): (1, None), ("exportpatches", "STRIDE"): (1, None), ("exportpatches", "SEED"): (0, None),
    ("exportpatches", "PATCH_SIZE"): (8, None), ("exportpatches", "TRAIN_SHARE"): (0.0, 1.0),
    ("trainmodel", "EPOCHS"): (1, None), ("trainmodel", "BATCH_SIZE"): (1, None), ("trainmodel", "WORKERS"): (0, None),
    ("trainmodel", "WIDTH"): (1, None), ("trainmodel", "CHECKPOINT_EVERY"): (1, None),
    ("trainmodel", "SEED"): (0, None),
    ("evaluatemodel", "THRESHOLD"): (0.0, 1.0), ("analyseinventory", "FRACTION"): (0.001, 1.0),
    ("detectlandslides", "GROW_THRESHOLD"): (0.0, 1.0), ("trainmodel", "EARLY_STOPPING"): (0, None),
    ("detectlandslides", "MIN_MEAN_PROB"): (0.0, 1.0),
    ("trainmodel", "THRESHOLD"): (0.0, 1.0), ("exportpatches", "BACKGROUND_SHARE"): (0.0, 0.99),
    ("exportpatches", "LOOKALIKE_SHARE"): (0.0, 1.0),
    ("previewpatches", "STRIDE"): (1, None), ("previewpatches", "TOLERANCE"): (0.0, 1.0),
    ("splitpatches", "TOLERANCE"): (0.0, 1.0), ("splitpatches", "SEED"): (0, None),
    ("splitpatches", "TRAIN_SHARE"): (0.0, 1.0),
}


def algorithms():
    return [cls() for cls in algorithm_classes()]


def readme_anchors() -> set[str]:
    return {github_anchor(line) for line in (ROOT / "README.md").read_text().splitlines() if line.startswith("#")}


@pytest.mark.parametrize("alg", algorithms(), ids=lambda a: a.name())
def test_help_icon_and_translated_strings(qgis_app, alg):
    alg.initAlgorithm()
    assert alg.helpUrl().split("#")[1] in readme_anchors()
    assert Path(alg.svgIconPath()).is_file() and Path(alg.svgIconPath()).name != "icon.svg"
    text = alg.shortHelpString()
    assert "`" not in text and not re.search(r"--[a-z]", text)  # no command-line talk
    keys = {p.name() for p in alg.parameterDefinitions()}
    assert not any(re.search(rf"\b{k}\b", text) for k in keys if len(k) > 3)  # labels, not ids
    for parameter in alg.parameterDefinitions():
        assert "-1" not in parameter.description() and "0 =" not in parameter.description()  # no sentinels
    outputs = {o.name() for o in alg.outputDefinitions()}
    assert outputs and all(getattr(type(alg), name) == name for name in outputs)  # keys are class constants


@pytest.mark.parametrize("alg", algorithms(), ids=lambda a: a.name())
def test_numbers_have_the_command_line_ranges(qgis_app, alg):
    alg.initAlgorithm()
    for parameter in alg.parameterDefinitions():
        if not isinstance(parameter, QgsProcessingParameterNumber):
            continue
        assert parameter.minimum() > NO_MIN, f"{alg.name()} {parameter.name()} has no lower bound"
        expected = RANGES.get((alg.name(), parameter.name()))
        if expected is not None:
            low, high = expected
            assert math.isclose(parameter.minimum(), low), (parameter.name(), parameter.minimum())
            assert (parameter.maximum() >= 1e300) if high is None else math.isclose(parameter.maximum(), high)


def test_decimal_fields_show_the_decimals_their_values_need(qgis_app):
    shown = {}
    for alg in algorithms():
        alg.initAlgorithm()
        for parameter in alg.parameterDefinitions():
            if isinstance(parameter, QgsProcessingParameterNumber) \
                    and parameter.dataType() == QgsProcessingParameterNumber.Double:
                shown[(alg.name(), parameter.name())] = parameter.metadata()["widget_wrapper"]["decimals"]
    assert shown[("detectlandslides", "THRESHOLD")] == 2  # 0.50, not QGIS's 0.500000
    assert shown[("analyseinventory", "FRACTION")] == 3  # its least value is 0.001
    assert shown[("trainmodel", "LEARNING_RATE")] == 6  # learning rates are small
    assert all(2 <= d <= 6 for d in shown.values())


def test_toolbox_groups_follow_the_workflow(qgis_app):
    groups = [alg.group() for alg in algorithms()]
    assert groups == sorted(groups)  # the toolbox sorts groups by name: numbered in workflow order
    assert [g.split(" - ")[0] for g in groups] == ["0", "1", "1", "1", "2", "2", "2", "3", "3", "3", "4", "4",
                                                      "5", "5"]


def test_outputs_left_temporary_are_written_beside_the_input(qgis_processing, lmhld_provider, tmp_path,
                                                            small_onnx_model):
    import processing

    from lmhld_qgis.core.synthetic import make_scene

    scene = make_scene(tmp_path / "data", width=320, height=320, n_landslides=40, seed=4)
    analysed = processing.run("lmhld:analyseinventory", {
        "INVENTORY": str(scene.inventory), "RASTER": str(scene.raster), "OUTPUT_JSON": "TEMPORARY_OUTPUT",
        "OUTPUT_HTML": "TEMPORARY_OUTPUT"})  # as the dialog leaves them
    report = analysed["OUTPUT_JSON"]
    assert Path(report) == tmp_path / "data" / "scene_inventory_analysis.json"
    assert Path(analysed["OUTPUT_HTML"]) == tmp_path / "data" / "scene_inventory_analysis.html"  # not in QGIS's temp
    assert Path(analysed["OUTPUT_HTML"]).stat().st_size > 10_000
    result = processing.run("lmhld:exportpatches", {"RASTERS": [str(scene.raster)], "INVENTORY": str(scene.inventory),
                                                    "ANALYSIS": report, "QUARTILE": 0, "MIN_FRACTION": 0.05,
                                                    "TOLERANCE": 0.1, "OUTPUT_FOLDER": "TEMPORARY_OUTPUT"})
    size = json.loads(Path(report).read_text())["recommended_patch_sizes"][0]
    assert Path(result["OUTPUT_FOLDER"]) == tmp_path / "data" / f"scene_inventory_patches_{size}px"
    assert (Path(result["OUTPUT_FOLDER"]) / "patches.qml").exists()  # the outlines are styled by split
    detected = processing.run("lmhld:detectlandslides", {"RASTER": str(scene.raster), "MODEL": str(small_onnx_model),
                                                         "OUTPUT": "TEMPORARY_OUTPUT",
                                                         "OUTPUT_PROB": "TEMPORARY_OUTPUT"})
    assert Path(detected["OUTPUT"]) == tmp_path / "data" / "scene_landslides.gpkg"
    assert Path(detected["OUTPUT_PROB"]) == tmp_path / "data" / "scene_probability.tif"
    again = processing.run("lmhld:detectlandslides", {"RASTER": str(scene.raster), "MODEL": str(small_onnx_model),
                                                      "OUTPUT": "TEMPORARY_OUTPUT", "OUTPUT_PROB": "TEMPORARY_OUTPUT"})
    assert Path(again["OUTPUT"]) == tmp_path / "data" / "scene_landslides_2.gpkg"  # nothing is overwritten
    (tmp_path / "data" / "scene_probability_3.tif").write_bytes(b"")  # a file of the user's, say
    third = processing.run("lmhld:detectlandslides", {"RASTER": str(scene.raster), "MODEL": str(small_onnx_model),
                                                      "OUTPUT": "TEMPORARY_OUTPUT", "OUTPUT_PROB": "TEMPORARY_OUTPUT"})
    assert (Path(third["OUTPUT"]).name, Path(third["OUTPUT_PROB"]).name) == (  # a pair keeps one number
        "scene_landslides_4.gpkg", "scene_probability_4.tif")


def test_optional_outputs_left_blank_in_batch_mode_are_not_written(qgis_processing, lmhld_provider, tmp_path,
                                                                    small_onnx_model):
    """The batch dialog hands a blank cell over as an empty path: QGIS's algorithms skip such an output. Analyse
    failed ("Could not create destination layer"), detect and evaluate wrote a probability raster and an error map
    beside the scene that nobody asked for."""
    import processing
    from qgis.core import QgsProcessingOutputLayerDefinition as Blank

    from lmhld_qgis.core.synthetic import make_scene

    scene = make_scene(tmp_path / "data", width=160, height=160, n_landslides=8, seed=4)
    before = set((tmp_path / "data").iterdir())
    analysed = processing.run("lmhld:analyseinventory", {
        "INVENTORY": str(scene.inventory), "RASTER": str(scene.raster), "OUTPUT_JSON": str(tmp_path / "a.json"),
        "OUTPUT_HTML": "", "OUTPUT": Blank("")})
    assert set(analysed) >= {"OUTPUT_JSON", "PATCH_Q2"} and "OUTPUT" not in analysed and "OUTPUT_HTML" not in analysed
    detected = processing.run("lmhld:detectlandslides", {
        "RASTER": str(scene.raster), "MODEL": str(small_onnx_model), "OUTPUT": Blank(str(tmp_path / "l.gpkg")),
        "OUTPUT_PROB": Blank("")})
    assert Path(detected["OUTPUT"]).exists() and not detected.get("OUTPUT_PROB")
    evaluated = processing.run("lmhld:evaluatemodel", {
        "RASTER": str(scene.raster), "INVENTORY": str(scene.inventory), "MODEL": str(small_onnx_model),
        "OUTPUT_JSON": str(tmp_path / "e.json"), "OUTPUT_ERROR_MAP": Blank("")})
    assert "OUTPUT_ERROR_MAP" not in evaluated
    report = json.loads(Path(evaluated["OUTPUT_JSON"]).read_text())  # which scene, model and inventory it scored
    assert report["inputs"] == {"model": str(small_onnx_model), "scene": str(scene.raster),
                                "inventory": str(scene.inventory)}  # the file, not the layer's name
    assert {p.name for p in set((tmp_path / "data").iterdir()) - before if not p.name.endswith(".aux.xml")} == set()


def test_a_models_steps_keep_their_outputs_beside_the_input(qgis_processing, lmhld_provider, tmp_path):
    """A model gives the outputs of its steps that are not the model's own a path in Processing's temporary folder,
    which QGIS deletes when it closes: a training step's run folder (its model.onnx) went with it. Such outputs go
    where the step's "temporary" goes: beside the input."""
    from qgis.core import (
        QgsProcessingContext,
        QgsProcessingFeedback,
        QgsProcessingModelAlgorithm,
        QgsProcessingModelChildAlgorithm,
        QgsProcessingModelParameter,
        QgsProcessingParameterFile,
        QgsProcessingUtils,
    )
    from qgis.core import (
        QgsProcessingModelChildParameterSource as Source,
    )

    from lmhld_qgis.core.synthetic import make_scene

    scene = make_scene(tmp_path / "data", width=320, height=320, n_landslides=40, seed=4)
    model = QgsProcessingModelAlgorithm("chain", "tests")
    for name in ("raster", "inventory"):
        model.addModelParameter(QgsProcessingParameterFile(name, name), QgsProcessingModelParameter(name))
    analyse = QgsProcessingModelChildAlgorithm("lmhld:analyseinventory")
    analyse.setChildId("analyse")
    analyse.addParameterSources("INVENTORY", [Source.fromModelParameter("inventory")])
    analyse.addParameterSources("RASTER", [Source.fromModelParameter("raster")])
    export = QgsProcessingModelChildAlgorithm("lmhld:exportpatches")
    export.setChildId("export")
    export.addParameterSources("RASTERS", [Source.fromModelParameter("raster")])
    export.addParameterSources("INVENTORY", [Source.fromModelParameter("inventory")])
    export.addParameterSources("ANALYSIS", [Source.fromChildOutput("analyse", "OUTPUT_JSON")])
    export.addParameterSources("MIN_FRACTION", [Source.fromStaticValue(0.05)])
    model.addChildAlgorithm(analyse)
    model.addChildAlgorithm(export)
    context, feedback = QgsProcessingContext(), QgsProcessingFeedback()
    _, ok = model.run({"raster": str(scene.raster), "inventory": str(scene.inventory)}, context, feedback)
    assert ok, feedback.textLog()
    log = feedback.textLog()
    assert str(tmp_path / "data" / "scene_inventory_analysis.json") in log
    folders = [p for p in (tmp_path / "data").iterdir() if p.name.startswith("scene_inventory_patches_")]
    assert len(folders) == 1 and (folders[0] / "dataset.json").exists()
    temp = Path(QgsProcessingUtils.tempFolder())
    assert not any(p.name == "dataset.json" for p in temp.rglob("*"))


def test_dataset_folders_given_as_a_list_are_all_read(qgis_processing, lmhld_provider, areas, small_onnx_model,
                                                      tmp_path):
    """qgis_process DATA=a DATA=b and a model's several sources hand a list over, which QGIS's text conversion
    turned into nothing: 'Choose at least one dataset folder'."""
    import processing

    result = processing.run("lmhld:evaluatemodel", {"DATA": [str(areas["a32"]), str(areas["b32"])],
                                                     "MODEL": str(small_onnx_model), "SPLIT": 2,
                                                     "OUTPUT_JSON": str(tmp_path / "e.json")})
    report = json.loads(Path(result["OUTPUT_JSON"]).read_text())
    assert set(report["per_area"]) == {"a32", "b32"}
    assert report["inputs"]["data"] == [str(areas["a32"]), str(areas["b32"])]


def test_outputs_left_temporary_beside_a_read_only_input_go_to_the_home_folder(qgis_processing, lmhld_provider,
                                                                               tmp_path, small_onnx_model,
                                                                               monkeypatch):
    """Shared data on a read-only mount: the outputs left at temporary were put beside it and the run failed
    ("folder ... is read-only"), in a folder the user never chose."""
    import os

    from lmhld_qgis.core.synthetic import make_scene

    scene = make_scene(tmp_path / "data", width=128, height=128, n_landslides=6, seed=4)
    before = sorted(p.name for p in (tmp_path / "data").iterdir())
    os.chmod(tmp_path / "data", 0o555)  # a real read-only folder (was: access() mocked; as root it let QGIS in)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    try:
        _detect_and_analyse_beside_read_only(scene, small_onnx_model, tmp_path)
    finally:
        os.chmod(tmp_path / "data", 0o755)
    after = sorted(p.name for p in (tmp_path / "data").iterdir() if not p.name.endswith(".aux.xml"))  # QGIS's own
    assert after == before


def _detect_and_analyse_beside_read_only(scene, small_onnx_model, tmp_path):
    import processing
    from qgis.core import QgsProcessingFeedback

    class Infos(QgsProcessingFeedback):
        def __init__(self):
            super().__init__()
            self.said: list[str] = []

        def pushInfo(self, text):
            self.said.append(text)

    infos = Infos()
    detected = processing.run("lmhld:detectlandslides", {"RASTER": str(scene.raster), "MODEL": str(small_onnx_model),
                                                         "OUTPUT": "TEMPORARY_OUTPUT"}, feedback=infos)
    assert Path(detected["OUTPUT"]) == tmp_path / "home" / "lmhld_outputs" / "scene_landslides.gpkg"
    assert f"{tmp_path / 'data'} is read-only: scene_landslides.gpkg goes to {tmp_path / 'home' / 'lmhld_outputs'} " \
           "instead" in infos.said
    analysed = processing.run("lmhld:analyseinventory", {"INVENTORY": str(scene.inventory), "RASTER": str(scene.raster),
                                                         "OUTPUT_JSON": "TEMPORARY_OUTPUT"})
    assert Path(analysed["OUTPUT_JSON"]).exists()
    assert Path(analysed["OUTPUT_JSON"]).parent == tmp_path / "home" / "lmhld_outputs"


def test_analyse_whose_layer_cannot_be_made_leaves_no_report(qgis_processing, lmhld_provider, tmp_path):
    """The report was written, then QGIS could not make the layer and the run failed, leaving the report."""
    import processing
    from qgis.core import QgsProcessingException

    from lmhld_qgis.core.synthetic import make_scene

    scene = make_scene(tmp_path / "data", width=128, height=128, n_landslides=6, seed=4)
    with pytest.raises(QgsProcessingException):
        processing.run("lmhld:analyseinventory", {"INVENTORY": str(scene.inventory), "RASTER": str(scene.raster),
                                                  "OUTPUT_JSON": str(tmp_path / "r.json"),
                                                  "OUTPUT": "/proc/nowhere/x.gpkg"})
    assert not (tmp_path / "r.json").exists()


def test_export_needs_a_patch_size_or_a_report(qgis_processing, lmhld_provider, tmp_path):
    import processing
    from qgis.core import QgsProcessingException

    from lmhld_qgis.core.synthetic import make_scene

    scene = make_scene(tmp_path / "data", width=128, height=128, n_landslides=5, seed=4)
    with pytest.raises(QgsProcessingException, match="Give a patch size, or an analysis report"):
        processing.run("lmhld:exportpatches", {"RASTERS": [str(scene.raster)], "INVENTORY": str(scene.inventory)})


def test_a_missing_source_is_named_the_qgis_way(qgis_processing, lmhld_provider, tmp_path):
    import processing
    from qgis.core import QgsProcessingException

    with pytest.raises(QgsProcessingException, match="INVENTORY"):
        processing.run("lmhld:analyseinventory", {"INVENTORY": str(tmp_path / "nothing.gpkg"), "PIXEL_SIZE": 1,
                                                  "OUTPUT_JSON": str(tmp_path / "r.json")})


def test_choice_lists_are_the_cores_own_values():
    """The Processing modules spell out their choices (the provider must load without the core's heavy imports);
    each list must stay the set of values the core accepts, so a choice added or renamed there shows here."""
    from typing import get_args

    from lmhld_qgis.core.backends import Provider
    from lmhld_qgis.core.context import CONTEXT_MODES
    from lmhld_qgis.core.export_options import RECIPE_NAMES
    from lmhld_qgis.core.splits import SPLIT_METHODS
    from lmhld_qgis.core.tta import TTA_MODES
    from lmhld_qgis.processing import detection_parameters, patch_parameters, train_model
    from lmhld_qgis.training import config

    pairs = [(train_model.MODES, get_args(config.Mode)), (train_model.OPTIMIZERS, get_args(config.Optimizer)),
             (train_model.LOSSES, get_args(config.Loss)), (train_model.SCHEDULES, get_args(config.Schedule)),
             (train_model.AUGMENTS[1:], get_args(config.Augment)), (train_model.AMP, get_args(config.Amp)),
             (train_model.RECIPES, get_args(config.Recipe)), (detection_parameters.TTA, TTA_MODES),
             (detection_parameters.PROVIDERS, get_args(Provider)), (detection_parameters.CONTEXT, CONTEXT_MODES),
             (patch_parameters.RECIPES, RECIPE_NAMES), (patch_parameters.SPLIT_METHODS[1:], SPLIT_METHODS)]
    for shown, accepted in pairs:
        assert tuple(shown) == tuple(accepted)
    assert train_model.AUGMENTS[0] is None and patch_parameters.SPLIT_METHODS[0] is None  # "the recipe's"


def test_evaluate_scores_a_scene_with_detections_settings(qgis_processing, lmhld_provider, small_onnx_model,
                                                          tmp_path):
    """In a model, Detect with its own settings chained to Evaluate: Evaluate ran detection at the defaults and
    scored other polygons than the ones delivered. It takes Detect's advanced parameters."""
    import processing

    from lmhld_qgis.core.synthetic import make_scene

    scene = make_scene(tmp_path / "data", width=192, height=192, n_landslides=8, seed=3)
    settings = {"MIN_MEAN_PROB": 0.0, "MIN_AREA": 0.0}
    detected = processing.run("lmhld:detectlandslides", {"RASTER": str(scene.raster), "MODEL": str(small_onnx_model),
                                                         "OUTPUT": str(tmp_path / "d.gpkg"), **settings})
    counts = {}
    for name, extra in (("same", settings), ("defaults", {})):
        result = processing.run("lmhld:evaluatemodel", {
            "RASTER": str(scene.raster), "INVENTORY": str(scene.inventory), "MODEL": str(small_onnx_model),
            "OUTPUT_JSON": str(tmp_path / f"{name}.json"), **extra})
        report = json.loads(Path(result["OUTPUT_JSON"]).read_text())
        counts[name] = report["n_detected"]
        assert (result["OBJECT_F1"], result["INVENTORY_DETECTED"]) == (report["object_f1"],
                                                                      report["inventory_detected"])
    assert counts["same"] == detected["N_POLYGONS"] > counts["defaults"]


@pytest.mark.parametrize("alg", algorithms(), ids=lambda a: a.name())
def test_each_parameter_tells_qgis_process_whether_it_is_optional_and_its_default(qgis_app, alg):
    """qgis_process help printed a label and a type: not what may be left out, the default (Epochs 50) or the range,
    which a script writer then learnt from a failed run. Each parameter's help says them."""
    from qgis.core import QgsProcessingParameterDefinition, QgsProcessingParameterEnum

    alg.initAlgorithm()
    for p in alg.parameterDefinitions():
        said = p.help()
        optional = bool(p.flags() & QgsProcessingParameterDefinition.FlagOptional)
        assert said.startswith("Optional") == optional, (p.name(), said)
        if isinstance(p, QgsProcessingParameterEnum) and p.defaultValue() is not None:
            index = int(p.defaultValue())
            assert f"Default: {index} ({p.options()[index]})" in said, (p.name(), said)
        elif isinstance(p, QgsProcessingParameterNumber):
            if p.defaultValue() is not None:
                assert f"Default: {p.defaultValue()}" in said, (p.name(), said)
            if p.minimum() > NO_MIN:
                assert f"least {p.minimum():g}" in said, (p.name(), said)
    if alg.name() == "trainmodel":
        assert alg.parameterDefinition("EPOCHS").help() == "Default: 50. At least 1"
        assert "DATA=a;b" in alg.parameterDefinition("DATA").help()
