"""ONNX export: torch/onnxruntime parity for every network at two sizes, one file, metadata round trip, the raw
input convention (standardisation and missing pixels inside the graph), the declared fixed size."""

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
def test_default_file_matches_torch_at_two_sizes(name, tmp_path):
    """Every network in the default file (raw input, declared at the patch size): onnxruntime at the declared
    size and, through the backend, at another size and batch equals torch."""
    from lmhld_qgis.core.backends import OnnxBackend

    torch.manual_seed(1)
    model = build_model(name, 4, **SMALL_OPTIONS[name]).eval()
    card = ModelCard(name, 4, model_options=SMALL_OPTIONS[name], patch_size=64, mean=[100.0, 200.0, 300.0, 400.0],
                     std=[10.0, 20.0, 30.0, 40.0], nodata=0.0)
    path = export_onnx(model, card, tmp_path / "m.onnx")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.onnx"]  # one file, no external data
    session = cpu_session(path)
    assert session.get_inputs()[0].shape == ["batch", 4, 64, 64]
    card = read_onnx_card(path)
    assert card.size_multiple == model.size_multiple and card.dynamic_size is True
    backend = OnnxBackend(path, "cpu")
    mean, std = np.array(card.mean, np.float32)[:, None, None], np.array(card.std, np.float32)[:, None, None]
    for size, batch in ((64, 2), (128, 1)):
        x = torch.randn(batch, 4, size, size)
        with torch.no_grad():
            expected = torch.sigmoid(model(x))[:, 0].numpy()
        assert np.abs(backend.predict(x.numpy()) - expected).max() <= 1e-5
        if size == 64:
            raw = (x.numpy() * std + mean).astype(np.float32)
            assert np.abs(session.run(None, {"image": raw})[0][:, 0] - expected).max() <= 1e-5


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
                       tmp_path / "m.onnx", output="logits", input="standardized", fixed_input=False)
    card = read_onnx_card(path)
    assert card.dynamic_size is True and card.patch_size == 32 and card.size_multiple == 32
    x = torch.randn(1, 4, 96, 160)
    with torch.no_grad():
        expected = model(x).numpy()
    assert np.abs(cpu_session(path).run(None, {"image": x.numpy()})[0] - expected).max() <= 1e-4


def test_metadata_round_trips_with_deepness_keys_in_its_units(tmp_path):
    model = build_model("unet", 4, base_width=4).eval()
    card = ModelCard("unet", 4, model_options={"base_width": 4}, bands=["blue", "green", "red", "nir"],
                     patch_size=128, resolution_m=3.0, mean=[1.0, 2.0, 3.0, 4.0], std=[5.0, 6.0, 7.0, 8.0],
                     threshold=0.4, training_dataset="wenchuan-224", version="0.1.0", nodata=0.0)
    path = export_onnx(model, card, tmp_path / "m.onnx")
    proto = onnx.load(str(path))
    assert proto.opset_import[0].version >= 17
    meta = {p.key: json.loads(p.value) for p in proto.metadata_props}
    assert None not in meta.values()
    assert meta["model_type"] == "Segmentor" and meta["class_names"] == {"0": "background", "1": "landslide"}
    assert meta["resolution"] == pytest.approx(300.0)  # cm/px
    assert meta["tile_size"] == 128 and meta["seg_thresh"] == pytest.approx(0.4) and meta["tiles_overlap"] == 25
    # Deepness divides by 255, then standardises: these keys hand the raw values to the graph.
    assert meta["standardization_mean"] == [0.0] * 4 and meta["standardization_std"] == [1 / 255] * 4
    back = read_onnx_card(path)
    assert back == card and back.output == "probability" and back.input == "raw" and back.nodata == 0.0
    assert back.fixed_input and back.dynamic_size and back.deepness_keys
    session = cpu_session(path)
    assert session.get_inputs()[0].shape == ["batch", 4, 128, 128]  # what Deepness reads its tile size from
    probs = session.run(None, {"image": np.full((3, 4, 128, 128), 2.0, np.float32)})[0]
    assert probs.shape == (3, 1, 128, 128) and probs.min() >= 0 and probs.max() <= 1


def test_raw_graph_standardises_and_treats_missing_pixels_as_the_mean(tmp_path):
    """The raw file on raw pixels equals the standardized file on (x - mean) / std with missing pixels at 0, and
    says background (probability 0) at missing pixels: NaN anywhere, the nodata value in any band."""
    torch.manual_seed(0)
    model = build_model("unet", 4, base_width=4).eval()
    mean, std = [400.0, 700.0, 500.0, 3000.0], [100.0, 120.0, 90.0, 0.0]  # a constant band: std 0 divides by 1

    def card():
        return ModelCard("unet", 4, model_options={"base_width": 4}, patch_size=64, mean=mean, std=std, nodata=0.0)

    raw = cpu_session(export_onnx(model, card(), tmp_path / "raw.onnx"))
    standardized = cpu_session(export_onnx(model, card(), tmp_path / "std.onnx", input="standardized"))
    rng = np.random.default_rng(1)
    x = (rng.normal(size=(2, 4, 64, 64)) * 100 + np.array(mean)[:, None, None]).astype(np.float32)
    x[0, 1, 10:20, 10:20] = 0.0
    x[1, :, 40:, :8] = 0.0
    x[1, 3, 5, 5] = np.nan
    missing = ~np.isfinite(x).all(axis=1) | (x == 0).any(axis=1)
    s = np.array([100.0, 120.0, 90.0, 1.0], np.float32)[:, None, None]
    z = np.where(missing[:, None], 0, (x - np.array(mean, np.float32)[:, None, None]) / s).astype(np.float32)
    got, want = raw.run(None, {"image": x})[0][:, 0], standardized.run(None, {"image": z})[0][:, 0]
    assert np.abs(got[~missing] - want[~missing]).max() < 1e-5
    assert (got[missing] == 0).all() and missing.sum() == 100 + 24 * 8 + 1


def test_logits_and_symbolic_size_files_carry_no_deepness_keys(tmp_path):
    model = build_model("unet", 3, base_width=4).eval()
    for name, kwargs in (("logits", {"output": "logits"}), ("any", {"fixed_input": False})):
        card = ModelCard("unet", 3, model_options={"base_width": 4}, patch_size=64)  # resolution unknown
        path = export_onnx(model, card, tmp_path / f"{name}.onnx", **kwargs)
        keys = {p.key for p in onnx.load(str(path)).metadata_props}
        assert not keys & {"model_type", "tile_size", "standardization_mean", "resolution"}, name
        assert "lmhld.resolution_m" not in keys and read_onnx_card(path).deepness_keys is False
    assert cpu_session(tmp_path / "any.onnx").get_inputs()[0].shape == ["batch", 3, "height", "width"]  # symbolic
    card = ModelCard("unet", 3, model_options={"base_width": 4}, patch_size=64)
    keys = {p.key for p in onnx.load(str(export_onnx(model, card, tmp_path / "d.onnx"))).metadata_props}
    assert "model_type" in keys and "resolution" not in keys  # unknown resolution: left out, never null


def test_files_that_are_not_lmhld_models_are_explained(tmp_path):
    from lmhld_qgis.core.errors import LmhldError

    model = build_model("unet", 3, base_width=4).eval()
    path = export_onnx(model, ModelCard("unet", 3, model_options={"base_width": 4}), tmp_path / "m.onnx")
    proto = onnx.load(str(path))
    deepness_only = [p for p in proto.metadata_props if not p.key.startswith("lmhld.")]
    del proto.metadata_props[:]
    onnx.save(proto, str(tmp_path / "bare.onnx"))
    with pytest.raises(LmhldError, match=r"is not an lmhld model \(it carries no model card"):
        read_onnx_card(tmp_path / "bare.onnx")
    proto.metadata_props.extend(deepness_only)
    onnx.save(proto, str(tmp_path / "deepness.onnx"))
    with pytest.raises(LmhldError, match="Deepness metadata only"):
        read_onnx_card(tmp_path / "deepness.onnx")
    entry = proto.metadata_props.add()
    entry.key, entry.value = "lmhld.architecture", "{unet"
    onnx.save(proto, str(tmp_path / "broken.onnx"))
    with pytest.raises(LmhldError, match=r"lmhld\.architecture is not valid JSON"):
        read_onnx_card(tmp_path / "broken.onnx")
    (tmp_path / "text.onnx").write_text("not a model")
    with pytest.raises(LmhldError, match=r"cannot read .*text\.onnx as an ONNX model \(it is damaged, or not an "
                                         r"\.onnx file\): give an \.onnx file written by lmhld's training"):
        read_onnx_card(tmp_path / "text.onnx")  # was "(DecodeError): is it an .onnx file ...?"
    (tmp_path / "best.pt").write_bytes(b"PK\x03\x04 a zip")  # a checkpoint given to Model information
    with pytest.raises(LmhldError, match=r"best\.pt is a training checkpoint, not an ONNX model: give its run "
                                         r"folder's model\.onnx, or export one from it"):
        read_onnx_card(tmp_path / "best.pt")
    with pytest.raises(LmhldError, match="does not exist"):
        read_onnx_card(tmp_path / "missing.onnx")
    (tmp_path / "empty.onnx").write_bytes(b"")  # was "not an lmhld model (it carries no model card)"
    with pytest.raises(LmhldError, match=r"empty\.onnx is empty \(0 bytes\): a copy or a download that did not"):
        read_onnx_card(tmp_path / "empty.onnx")
