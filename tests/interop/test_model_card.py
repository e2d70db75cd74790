"""What a model file says about itself: the nodata value training learns from the rasters, the export options of
`lmhld export-onnx`, and the rows that tell a user which tool runs the file."""

from __future__ import annotations

import json
import subprocess
import sys

import onnx
import pytest

from lmhld_qgis.core.modelcard import ModelCard, read_onnx_card


def lmhld(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "lmhld_qgis", *args], capture_output=True, text=True, timeout=600)


def test_a_dataset_knows_its_rasters_nodata(tmp_path):
    from lmhld_qgis.core.datasets.lmhld import LmhldDataset
    from lmhld_qgis.core.export import ExportOptions, export_patches
    from lmhld_qgis.core.synthetic import make_scene

    scene = make_scene(tmp_path / "scene", width=160, height=160, n_landslides=25, seed=2)  # uint16, nodata 0
    out = export_patches([scene.raster], scene.inventory, tmp_path / "ds",
                         ExportOptions(patch_size=32, min_fraction=0.05, tolerance=0.2, seed=2)).out_dir
    assert LmhldDataset(out, "train").nodata == 0
    card = json.loads((out / "dataset.json").read_text())
    (out / "dataset.json").write_text(json.dumps({**card, "nodata": None}))  # a card that says: none
    assert LmhldDataset(out, "train").nodata is None


def test_export_onnx_options_reach_the_file(tmp_path):
    import torch

    from lmhld_qgis.models import build_model
    from lmhld_qgis.training.checkpoint import save_checkpoint

    torch.manual_seed(0)
    save_checkpoint(tmp_path / "best.pt", build_model("unet", 4, base_width=4),
                    ModelCard("unet", 4, model_options={"base_width": 4}, patch_size=64, mean=[10.0] * 4,
                              std=[2.0] * 4, nodata=0.0))
    proc = lmhld("export-onnx", str(tmp_path / "best.pt"), "--out", str(tmp_path / "m.onnx"), "--input",
                 "standardized", "--nodata", "none")
    assert proc.returncode == 0, proc.stderr
    card = read_onnx_card(tmp_path / "m.onnx")
    assert card.input == "standardized" and card.nodata is None and card.declared_size == 64
    meta = {p.key: json.loads(p.value) for p in onnx.load(str(tmp_path / "m.onnx")).metadata_props}
    assert meta["standardization_mean"] == [10 / 255] * 4 and meta["standardization_std"] == [2 / 255] * 4
    assert "input shape: N x 4 x 64 x 64 (lmhld detect also runs it at any multiple of 16)" in proc.stdout
    assert "runs in: lmhld detect, QGIS Processing and Deepness" in proc.stdout
    bad = lmhld("export-onnx", str(tmp_path / "best.pt"), "--out", str(tmp_path / "x.onnx"), "--nodata", "nan")
    assert bad.returncode == 2 and "NaN and infinite values always count as missing" in bad.stderr
    assert not (tmp_path / "x.onnx").exists()


@pytest.mark.parametrize(("card", "expected"), [
    (ModelCard("unet", 4), ("standardized values", "N x 4 x H x W", "not Deepness")),  # a file of the old kind
    (ModelCard("unet", 4, input="raw", nodata=0.0, fixed_input=True, deepness_keys=True, patch_size=128),
     ("treats non-finite values and 0 (in any band) as missing", "N x 4 x 128 x 128 (lmhld detect also runs",
      "then set the resolution to the raster's pixel size")),
    (ModelCard("pspnet", 4, input="raw", dynamic_size=False, output="logits", resolution_m=3.0),
     ("treats non-finite values as missing", "N x 4 x 128 x 128", "not Deepness")),
])
def test_rows_say_which_tool_runs_the_file(card, expected):
    rows = dict(card.usage_rows())
    for text, row in zip(expected, ("input values", "input shape", "runs in"), strict=True):
        assert text in rows[row], (row, rows[row])
    assert card.runs_in_deepness is (card.output == "probability" and card.declared_size is not None)
def test_a_model_is_named_after_its_run_when_its_file_name_is_trainings_own():
    from lmhld_qgis.core.modelcard import model_display_name

    assert model_display_name("/runs/valley_unet/model.onnx") == "valley_unet"
    assert model_display_name("/runs/valley_unet/best.pt") == "valley_unet"
    assert model_display_name("/models/kaikoura_v2.onnx") == "kaikoura_v2"
