"""Fine-tuning: a run that starts from a trained network's weights (training/finetune.py)."""

from __future__ import annotations

import json

import pytest
import torch

from lmhld_qgis.core.errors import CancelledError, LmhldError
from lmhld_qgis.training.checkpoint import load_checkpoint
from lmhld_qgis.training.trainer import train

from .test_trainer import StopAfter, config


class Notes(StopAfter):
    """StopAfter that keeps the info lines."""

    def __init__(self, n):
        super().__init__(n)
        self.lines: list[str] = []

    def info(self, m):
        self.lines.append(m)


@pytest.fixture(scope="module")
def trained(areas, tmp_path_factory):
    run = tmp_path_factory.mktemp("finetune") / "base"
    train(config([areas["a32"]], epochs=1), run)
    return run


def test_a_fine_tuning_run_starts_from_the_checkpoint_and_records_it(areas, trained, tmp_path):
    stop = Notes(0)  # stopped before its first batch: last.pt holds the starting weights
    with pytest.raises(CancelledError):
        train(config([areas["b32"]], init_from=str(trained)), tmp_path / "ft", progress=stop)
    start = load_checkpoint(tmp_path / "ft" / "last.pt")["state_dict"]
    base = load_checkpoint(trained / "best.pt")["state_dict"]
    assert start.keys() == base.keys() and all(torch.equal(start[k], base[k]) for k in base)
    assert any(line.startswith("fine-tuning from") and "best.pt" in line for line in stop.lines)
    assert json.loads((tmp_path / "ft" / "config.json").read_text())["init_from"] == str(trained)
    scratch = Notes(0)
    with pytest.raises(CancelledError):
        train(config([areas["b32"]]), tmp_path / "scratch", progress=scratch)
    fresh = load_checkpoint(tmp_path / "scratch" / "last.pt")["state_dict"]
    assert not torch.equal(fresh["encoder.1.1.0.0.weight"], base["encoder.1.1.0.0.weight"])
    result = train(config([areas["b32"]], init_from=str(trained)), tmp_path / "ft", resume=True)
    assert result.onnx.exists()


def test_a_dataset_of_the_same_bands_in_another_order_is_read_in_the_checkpoints_order(areas, trained, tmp_path):
    """The input convolution's weights meet the bands they learnt: a dataset stored as nir, red, green, blue is read
    as the checkpoint's blue, green, red, nir (copying the convolution by position would feed nir to blue's weights);
    bands of other names keep everything but the input convolution, which starts afresh and says why."""
    from ..helpers import reorder_dataset

    shuffled = reorder_dataset(areas["b32"], tmp_path / "b32_nir_first", [3, 2, 1, 0])
    stop = Notes(0)
    with pytest.raises(CancelledError):
        train(config([shuffled], init_from=str(trained)), tmp_path / "ft", progress=stop)
    start = load_checkpoint(tmp_path / "ft" / "last.pt")
    base = load_checkpoint(trained / "best.pt")["state_dict"]
    assert all(torch.equal(start["state_dict"][k], base[k]) for k in base)
    assert start["card"]["bands"] == ["blue", "green", "red", "nir"]
    [note] = [line for line in stop.lines if line.startswith("fine-tuning from")]
    assert "starts afresh" not in note
    renamed = reorder_dataset(areas["b32"], tmp_path / "b32_dsm", [0, 1, 2, 3], names=["red", "green", "blue", "dsm"])
    other = Notes(0)
    with pytest.raises(CancelledError):
        train(config([renamed], init_from=str(trained)), tmp_path / "ft2", progress=other)
    fresh = load_checkpoint(tmp_path / "ft2" / "last.pt")["state_dict"]
    assert not torch.equal(fresh["encoder.0.0.0.weight"], base["encoder.0.0.0.weight"])
    assert torch.equal(fresh["encoder.1.1.0.0.weight"], base["encoder.1.1.0.0.weight"])
    assert any("the input convolution starts afresh: the checkpoint learnt blue, green, red, nir, these data hold "
               "red, green, blue, dsm" in line for line in other.lines)


def test_other_bands_keep_everything_but_the_input_convolution(areas, trained, tmp_path):
    stop = Notes(0)
    with pytest.raises(CancelledError):
        train(config([areas["rgb32"]], init_from=str(trained / "best.pt")), tmp_path / "ft", progress=stop)
    start = load_checkpoint(tmp_path / "ft" / "last.pt")["state_dict"]
    base = load_checkpoint(trained / "best.pt")["state_dict"]
    assert start["encoder.0.0.0.weight"].shape[1] == 3 and base["encoder.0.0.0.weight"].shape[1] == 4
    deeper = [k for k in base if not k.startswith("encoder.0.0.0.")]
    assert all(torch.equal(start[k], base[k]) for k in deeper)
    assert any("input convolution starts afresh: 3 bands here, 4 in the checkpoint" in line for line in stop.lines)


@pytest.mark.parametrize("case, message", [
    ("network", r"is a unet; this run builds unetpp: give --model unet \(model = \"unet\" in a config file\)"),
    # was a Python dict, then --model-option base_width=8 for the --width the README shows
    ("width", r"of another size \(.* differs\); build the same network: --width (\d+) \(base_width = \1 under "
              r"model_options in a config file\)$"),
    ("onnx", "is an ONNX model; fine-tuning starts from the training checkpoint"),
    ("missing", "does not exist; give a checkpoint"),
])
def test_an_unusable_starting_point_is_refused_before_the_run_folder_exists(areas, trained, tmp_path, case,
                                                                             message):
    from lmhld_qgis.models.registry import SMALL_OPTIONS

    cfg = {"network": config([areas["a32"]], model="unetpp", model_options=SMALL_OPTIONS["unetpp"],
                             init_from=str(trained)),
           "width": config([areas["a32"]], model_options={"base_width": 4}, init_from=str(trained)),
           "onnx": config([areas["a32"]], init_from=str(trained / "model.onnx")),
           "missing": config([areas["a32"]], init_from=str(tmp_path / "nothing.pt"))}[case]
    with pytest.raises(LmhldError, match=message):
        train(cfg, tmp_path / "run")
    assert not (tmp_path / "run").exists()
