"""ONNX export: torch/onnxruntime parity for every network at two sizes, one file, metadata round trip."""

from __future__ import annotations

import json

import numpy as np
import onnx
import pytest
import torch

from lmhld_qgis.core.modelcard import ModelCard, read_onnx_card
from lmhld_qgis.models import MODEL_NAMES, build_model
from lmhld_qgis.models.registry import SMALL_OPTIONS
from lmhld_qgis.training.onnx_export import export_onnx


def cpu_session(path):
    import onnxruntime as ort

    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])


@pytest.mark.slow
@pytest.mark.parametrize("name", MODEL_NAMES)
def test_logits_match_torch_at_two_sizes(name, tmp_path):
    torch.manual_seed(1)
    model = build_model(name, 4, **SMALL_OPTIONS[name]).eval()
    card = ModelCard(name, 4, model_options=SMALL_OPTIONS[name], patch_size=64)
    path = export_onnx(model, card, tmp_path / "m.onnx", output="logits")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.onnx"]  # one file, no external data
    session = cpu_session(path)
    card = read_onnx_card(path)
    assert card.size_multiple == model.size_multiple and card.dynamic_size is True
    for size, batch in ((64, 2), (128, 1)):
        x = torch.randn(batch, 4, size, size)
        with torch.no_grad():
            expected = model(x).numpy()
        got = session.run(None, {"image": x.numpy()})[0]
        assert got.shape == expected.shape
        assert np.abs(got - expected).max() <= 1e-4


class PooledNet(torch.nn.Module):
    """Built-in adaptive pooling to 3x3: torch.export turns it into indices fixed to the traced size."""

    size_multiple = 16

    def __init__(self) -> None:
        super().__init__()
        self.conv = torch.nn.Conv2d(4, 1, 1)

    def forward(self, x):
        pooled = torch.nn.functional.adaptive_avg_pool2d(x, 3)
        return self.conv(torch.nn.functional.interpolate(pooled, size=x.shape[-2:], mode="bilinear"))


def test_a_graph_wrong_at_other_sizes_is_exported_at_a_fixed_size(tmp_path):
    card = ModelCard("pooled", 4, patch_size=68)
    with pytest.warns(UserWarning, match="dynamic-size export does not hold"):
        path = export_onnx(PooledNet(), card, tmp_path / "m.onnx")
    back = read_onnx_card(path)
    assert back.dynamic_size is False and back.patch_size == 64  # 68 rounded down to the multiple of 16
    meta = {p.key: json.loads(p.value) for p in onnx.load(str(path)).metadata_props}
    assert meta["tile_size"] == 64
    session = cpu_session(path)  # the batch stays dynamic
    assert session.run(None, {"image": np.zeros((3, 4, 64, 64), np.float32)})[0].shape == (3, 1, 64, 64)


def test_patch_of_one_size_multiple_still_exports_dynamic_sizes(tmp_path):
    """torch.export fixes a dimension traced at 1 (32 px / 32): the export traces at two multiples at least."""
    torch.manual_seed(0)
    model = build_model("linknet", 4, **SMALL_OPTIONS["linknet"]).eval()
    path = export_onnx(model, ModelCard("linknet", 4, model_options=SMALL_OPTIONS["linknet"], patch_size=32),
                       tmp_path / "m.onnx", output="logits")
    card = read_onnx_card(path)
    assert card.dynamic_size is True and card.patch_size == 32 and card.size_multiple == 32
    x = torch.randn(1, 4, 96, 160)
    with torch.no_grad():
        expected = model(x).numpy()
    assert np.abs(cpu_session(path).run(None, {"image": x.numpy()})[0] - expected).max() <= 1e-4


def test_metadata_round_trips_with_deepness_keys(tmp_path):
    model = build_model("unet", 4, base_width=4).eval()
    card = ModelCard("unet", 4, model_options={"base_width": 4}, bands=["blue", "green", "red", "nir"],
                     patch_size=128, resolution_m=3.0, mean=[1.0, 2.0, 3.0, 4.0], std=[5.0, 6.0, 7.0, 8.0],
                     threshold=0.4, training_dataset="wenchuan-224", version="0.1.0")
    path = export_onnx(model, card, tmp_path / "m.onnx")
    proto = onnx.load(str(path))
    assert proto.opset_import[0].version >= 17
    meta = {p.key: p.value for p in proto.metadata_props}
    assert json.loads(meta["model_type"]) == "Segmentor"
    assert json.loads(meta["class_names"]) == {"0": "background", "1": "landslide"}
    assert json.loads(meta["resolution"]) == pytest.approx(300.0)  # cm/px
    assert json.loads(meta["tile_size"]) == 128 and json.loads(meta["seg_thresh"]) == pytest.approx(0.4)
    assert json.loads(meta["standardization_mean"]) == [1.0, 2.0, 3.0, 4.0]
    back = read_onnx_card(path)
    assert back == card and back.output == "probability"
    probs = cpu_session(path).run(None, {"image": np.zeros((1, 4, 32, 32), np.float32)})[0]
    assert probs.min() >= 0 and probs.max() <= 1


def test_file_without_our_metadata_is_explained(tmp_path):
    model = build_model("unet", 3, base_width=4).eval()
    path = export_onnx(model, ModelCard("unet", 3, model_options={"base_width": 4}), tmp_path / "m.onnx")
    proto = onnx.load(str(path))
    del proto.metadata_props[:]
    onnx.save(proto, str(tmp_path / "bare.onnx"))
    from lmhld_qgis.core.errors import LmhldError

    with pytest.raises(LmhldError, match="carries no lmhld metadata"):
        read_onnx_card(tmp_path / "bare.onnx")
