"""lmhld:trainmodel: a child process with progress in the feedback; cancel keeps last.pt."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from qgis.core import QgsProcessingException, QgsProcessingFeedback

pytestmark = pytest.mark.slow


def test_processing_run_trains_in_a_child_process(qgis_processing, lmhld_provider, areas, tmp_path):
    import processing

    class Feedback(QgsProcessingFeedback):
        def __init__(self):
            super().__init__()
            self.texts = []

        def setProgressText(self, text):
            self.texts.append(text)
            super().setProgressText(text)

    feedback = Feedback()
    seen = []
    feedback.progressChanged.connect(seen.append)
    result = processing.run("lmhld:trainmodel", {
        "DATA": str(areas["a32"]), "MODEL_NAME": 0, "MODE": 0, "EPOCHS": 2, "BATCH_SIZE": 8, "WIDTH": 8,
        "RECIPE": 1, "AUGMENT": 2, "EARLY_STOPPING": 5, "SCHEDULE": 0, "LOSS": 3,
        "OUTPUT_FOLDER": str(tmp_path / "run")}, feedback=feedback)
    config = json.loads((tmp_path / "run" / "config.json").read_text())  # the dialog's choices reach the run
    assert (config["recipe"], config["optimizer"], config["augment"], config["early_stopping"], config["schedule"],
            config["loss"], config["batch_size"]) == ("paper", "sgd", "flips", 5, "cosine", "focal", 8)
    assert result["BEST_F1"] > 0.5
    assert Path(result["MODEL_ONNX"]).exists() and Path(result["REPORT"]).read_text().count("<img") >= 1
    assert Path(result["BEST_CHECKPOINT"]) == tmp_path / "run" / "best.pt" and Path(result["BEST_CHECKPOINT"]).exists()
    assert seen and max(seen) == pytest.approx(100.0)
    # a stopped run has best.pt and no model.onnx: Export a training checkpoint as a model file makes it
    from lmhld_qgis.core.modelcard import read_onnx_card

    trained = read_onnx_card(result["MODEL_ONNX"])
    Path(result["MODEL_ONNX"]).unlink()
    exported = processing.run("lmhld:exportonnx", {"CHECKPOINT": result["BEST_CHECKPOINT"],
                                                   "OUTPUT": "TEMPORARY_OUTPUT"})
    assert Path(exported["MODEL_ONNX"]) == tmp_path / "run" / "model.onnx" == Path(exported["OUTPUT"])
    assert read_onnx_card(exported["MODEL_ONNX"]).to_dict() == trained.to_dict()
    again = processing.run("lmhld:exportonnx", {"CHECKPOINT": result["BEST_CHECKPOINT"], "OUTPUT": "TEMPORARY_OUTPUT"})
    assert Path(again["MODEL_ONNX"]).name == "model_2.onnx"  # beside, never over a model file
    with pytest.raises(QgsProcessingException, match=r"Training checkpoint .*nope\.pt does not exist"):
        processing.run("lmhld:exportonnx", {"CHECKPOINT": str(tmp_path / "nope.pt"), "OUTPUT": "TEMPORARY_OUTPUT"})
    log = feedback.textLog()
    assert "stage 1/1 (a32) epoch 2/2" in log and "epoch 2 (a32):" not in log  # each epoch said once, not twice
    assert 2 <= len(feedback.texts) <= 4  # each epoch's, not a text a batch (QGIS's dialog logs each: they buried
    # the warnings)


def test_cancel_stops_the_child_and_keeps_last_checkpoint(qgis_processing, lmhld_provider, areas, tmp_path):
    import processing

    feedback = QgsProcessingFeedback()
    feedback.progressChanged.connect(lambda p: feedback.cancel() if p > 0 else None)
    with pytest.raises(QgsProcessingException, match=r"cancelled; last\.pt is kept in the run folder .*run: tick "
                                                     r"\"Continue the stopped run in the folder\" to go on$"):
        processing.run("lmhld:trainmodel", {
            "DATA": str(areas["a32"]), "EPOCHS": 50, "BATCH_SIZE": 8, "WIDTH": 8,
            "OUTPUT_FOLDER": str(tmp_path / "run")}, feedback=feedback)
    assert (tmp_path / "run" / "last.pt").exists() and not (tmp_path / "run" / "model.onnx").exists()
    from lmhld_qgis.training.checkpoint import load_checkpoint

    state = load_checkpoint(tmp_path / "run" / "last.pt")["training_state"]
    assert state["epoch"] == 0 and 1 <= state["batch"] <= 3  # stopped within a batch or two of the request


def test_bad_configuration_is_reported(qgis_processing, lmhld_provider, tmp_path):
    import processing

    with pytest.raises(QgsProcessingException, match="missing does not exist: choose a folder written by Export"):
        processing.run("lmhld:trainmodel", {"DATA": str(tmp_path / "missing"), "EPOCHS": 1,
                                            "OUTPUT_FOLDER": str(tmp_path / "run")})
    assert not (tmp_path / "run").exists()


def test_a_dataset_json_given_for_its_folder_is_told_so(qgis_processing, lmhld_provider, areas, tmp_path):
    """Export's dataset.json (which the modeler offers for Datasets) was called missing; Evaluate said it right."""
    import processing

    given = areas["a32"] / "dataset.json"
    with pytest.raises(QgsProcessingException, match=rf"dataset\.json is a file; give the dataset folder that holds it "
                                                     rf"\({re.escape(str(areas['a32']))}\)"):
        processing.run("lmhld:trainmodel", {"DATA": str(given), "EPOCHS": 1, "OUTPUT_FOLDER": str(tmp_path / "run")})
    assert not (tmp_path / "run").exists()


def test_baseline_with_network_options(qgis_processing, lmhld_provider, areas, tmp_path):
    import processing

    from lmhld_qgis.core.modelcard import read_onnx_card
    from lmhld_qgis.models.registry import MODEL_NAMES

    params = {"DATA": str(areas["a32"]), "MODEL_NAME": MODEL_NAMES.index("pspnet"), "EPOCHS": 1,
              "MODEL_OPTIONS": "encoder=resnet18; psp_out_channels=32", "OUTPUT_FOLDER": str(tmp_path / "run")}
    result = processing.run("lmhld:trainmodel", params)
    card = read_onnx_card(result["MODEL_ONNX"])
    assert card.architecture == "pspnet" and card.model_options == {"encoder": "resnet18", "psp_out_channels": 32}
    assert card.dynamic_size is True and card.size_multiple == 8 and card.patch_size == 32
    assert json.loads((tmp_path / "run" / "config.json").read_text())["batch_size"] == "auto"  # not set: automatic
    with pytest.raises(QgsProcessingException,
                       match=r"bad options for pspnet: depth \(not an option of pspnet\); valid options: encoder"):
        processing.run("lmhld:trainmodel", {**params, "MODEL_OPTIONS": "depth=3",
                                            "OUTPUT_FOLDER": str(tmp_path / "run2")})


def test_continue_keeps_the_runs_network_mode_and_epochs(qgis_processing, lmhld_provider, areas, tmp_path):
    """Continue from a fresh dialog passed its Epochs default (50) and extended a 3-epoch run without a word; another
    Network got the command line's advice "leave it out", which a required field cannot follow."""
    import processing

    from lmhld_qgis.models.registry import MODEL_NAMES

    run = {"DATA": str(areas["a32"]), "BATCH_SIZE": 8, "WIDTH": 4, "OUTPUT_FOLDER": str(tmp_path / "run")}
    processing.run("lmhld:trainmodel", {**run, "EPOCHS": 1, "CHECKPOINT_EVERY": 1})
    with pytest.raises(QgsProcessingException, match=r"trains with Network unet, not resunet: a run keeps what it "
                                                     r"was started with; choose unet to continue it"):
        processing.run("lmhld:trainmodel", {**run, "RESUME": True, "MODEL_NAME": MODEL_NAMES.index("resunet")})
    feedback = QgsProcessingFeedback()
    try:
        processing.run("lmhld:trainmodel", {**run, "RESUME": True}, feedback=feedback)  # Epochs left at 50
    except QgsProcessingException as exc:  # a finished run may be refused; never with the command line's prefix
        assert "lmhld train: error:" not in str(exc) and str(exc).startswith("Training failed: "), str(exc)
    assert "Continuing the run's own 1 epochs" in feedback.textLog()
    assert json.loads((tmp_path / "run" / "config.json").read_text())["epochs"] == 1


def test_processes_train_on_several_devices_from_the_dialog(qgis_processing, lmhld_provider, areas, tmp_path):
    """Processes (advanced) runs the child as `lmhld train --processes N`: DDP from QGIS, progress relayed from rank
    0; a GPU number beside it (one process's GPU) is refused with the way out."""
    import processing

    params = {"DATA": str(areas["a32"]), "EPOCHS": 1, "BATCH_SIZE": 8, "WIDTH": 8, "PROCESSES": 2,
              "OUTPUT_FOLDER": str(tmp_path / "run")}
    with pytest.raises(QgsProcessingException, match="clear GPU number, or set Processes to 1"):
        processing.run("lmhld:trainmodel", {**params, "DEVICE": 2, "GPU": 1})
    feedback = QgsProcessingFeedback()
    result = processing.run("lmhld:trainmodel", params, feedback=feedback)
    assert "--processes 2" in feedback.textLog() and Path(result["MODEL_ONNX"]).exists()
    assert feedback.textLog().count("stage 1/1 (a32) epoch 1/1") == 1


def test_a_folder_without_validation_returns_no_best_f1(qgis_processing, lmhld_provider, tmp_path):
    """A probe's 2-patch folder trained without validation: Best validation F1 came back as nan, which a graphical
    model passes on as a number; it is empty now, and the log says why before training."""
    import processing

    from ..helpers import write_cas_splits

    write_cas_splits(tmp_path / "two", per_split=(2, 0, 0))
    feedback = QgsProcessingFeedback()
    result = processing.run("lmhld:trainmodel", {"DATA": str(tmp_path / "two" / "train"), "EPOCHS": 1, "WIDTH": 4,
                                                 "OUTPUT_FOLDER": str(tmp_path / "run")}, feedback=feedback)
    assert result["BEST_F1"] is None and Path(result["MODEL_ONNX"]).exists()
    assert "trains without validation: its 2 patches are too few to hold a fifth out" in feedback.textLog()


def test_a_configuration_files_network_mode_epochs_and_data_hold_where_the_dialog_has_its_defaults(
        qgis_processing, lmhld_provider, areas, tmp_path):
    """A file's resunet for 1 epoch trained a U-Net for 50 (with the file's recipe and width): Network, Mode and
    Epochs must have a value in the dialog, and their defaults were passed on over the file's; and the file's
    dataset folders could not be used, Dataset folders being required."""
    import processing

    (tmp_path / "cfg").mkdir()
    config = tmp_path / "cfg" / "train.toml"
    relative = Path(*[".."] * len(config.parent.parts[1:])) / str(areas["a32"]).lstrip("/")  # relative to the file
    config.write_text(f'[train]\nmodel = "resunet"\nepochs = 1\nbatch_size = 8\ndata = ["{relative}"]\n'
                      '[train.model_options]\nbase_width = 4\n')
    feedback = QgsProcessingFeedback()
    processing.run("lmhld:trainmodel", {"CONFIG": str(config), "OUTPUT_FOLDER": str(tmp_path / "run")},
                   feedback=feedback)
    stored = json.loads((tmp_path / "run" / "config.json").read_text())
    assert (stored["model"], stored["epochs"], stored["model_options"]) == ("resunet", 1, {"base_width": 4})
    assert [Path(d).resolve() for d in stored["data"]] == [areas["a32"].resolve()]
    log = feedback.textLog()
    assert "Network: resunet, from the configuration file" in log and "Epochs: 1, from the configuration file" in log
    # a value chosen in the dialog holds over the file's, and says so
    feedback = QgsProcessingFeedback()
    processing.run("lmhld:trainmodel", {"CONFIG": str(config), "EPOCHS": 2, "OUTPUT_FOLDER": str(tmp_path / "run2")},
                   feedback=feedback)
    assert json.loads((tmp_path / "run2" / "config.json").read_text())["epochs"] == 2
    assert "Epochs: 2, set in the dialog over the configuration file's 1" in feedback.textLog()
