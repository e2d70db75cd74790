"""The onnxruntime backend feeds each input convention right: files from before the raw convention (standardized,
symbolic sizes, no `lmhld.input` key) and today's (raw pixels, declared at the patch size) give the same result."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
import rasterio
import torch

from lmhld_qgis.core.backends import OnnxBackend
from lmhld_qgis.core.detect import DetectOptions, detect
from lmhld_qgis.core.errors import LmhldError
from lmhld_qgis.core.modelcard import ModelCard
from lmhld_qgis.core.synthetic import make_scene
from lmhld_qgis.models import build_model
from lmhld_qgis.training.onnx_export import export_onnx

NEW_KEYS = ("lmhld.input", "lmhld.nodata", "lmhld.fixed_input", "lmhld.deepness_keys")


def small_card() -> ModelCard:
    return ModelCard("unet", 4, model_options={"base_width": 4}, bands=["blue", "green", "red", "nir"],
                     patch_size=64, resolution_m=3.0, mean=[600.0, 900.0, 750.0, 2800.0],
                     std=[400.0, 300.0, 450.0, 500.0], nodata=0.0)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """One network written as today's default file and as a file of the old kind."""
    base = tmp_path_factory.mktemp("files")
    torch.manual_seed(0)
    net = build_model("unet", 4, base_width=4).eval()
    new = export_onnx(net, small_card(), base / "new.onnx")
    export_onnx(net, small_card(), base / "old.onnx", input="standardized", fixed_input=False)
    proto = onnx.load(str(base / "old.onnx"))  # what `lmhld export-onnx` wrote before: none of the new keys
    kept = [p for p in proto.metadata_props if p.key not in NEW_KEYS]
    del proto.metadata_props[:]
    proto.metadata_props.extend(kept)
    onnx.save(proto, str(base / "old.onnx"))
    return net, new, base / "old.onnx"


def test_old_and_new_files_predict_like_the_network(files):
    net, new, old = files
    x = np.random.default_rng(0).normal(size=(2, 4, 96, 128)).astype(np.float32)  # not the declared 64 x 64
    x[0, :, :8, :8] = 0.0  # invalid pixels as detection hands them over: at the band mean
    with torch.no_grad():
        expected = torch.sigmoid(net(torch.from_numpy(x)))[:, 0].numpy()
    old_backend, new_backend = OnnxBackend(old, "cpu"), OnnxBackend(new, "cpu")
    assert old_backend.card.input == "standardized" and old_backend.card.fixed_input is False
    assert new_backend.card.input == "raw" and new_backend.card.declared_size == 64
    assert np.abs(old_backend.predict(x) - expected).max() < 1e-5
    raw = new_backend.predict(x)  # the raw graph is handed invalid pixels as missing, and answers background there
    valid = np.ones(x.shape[:1] + x.shape[2:], bool)
    valid[0, :8, :8] = False
    assert np.abs(raw - expected)[valid].max() < 1e-5 and raw[~valid].max() < 1e-6


def test_old_and_new_files_detect_the_same_scene_alike(files, tmp_path):
    _, new, old = files
    scene = make_scene(tmp_path / "scene", width=200, height=170, n_landslides=12, seed=3,
                       nodata_box=(0, 150, 60, 200))
    for name, model in (("old", old), ("new", new)):
        detect(scene.raster, model, tmp_path / f"{name}.gpkg", tmp_path / f"{name}.tif", DetectOptions(tile=96))
    with rasterio.open(tmp_path / "old.tif") as a, rasterio.open(tmp_path / "new.tif") as b:
        p_old, p_new = a.read(1), b.read(1)
    valid = p_old >= 0
    assert (valid == (p_new >= 0)).all() and 0 < valid.mean() < 1  # the nodata box is left out alike
    assert np.abs(p_old[valid] - p_new[valid]).max() < 1e-5
    assert p_new[valid].std() > 1e-3  # not a constant answer


def test_a_card_that_lies_about_the_band_count_is_refused(files, tmp_path):
    _, new, _ = files
    proto = onnx.load(str(new))
    for p in proto.metadata_props:
        if p.key == "lmhld.in_channels":
            p.value = "3"
        elif p.key in ("lmhld.bands", "lmhld.mean", "lmhld.std"):
            p.value = p.value.rsplit(",", 1)[0] + "]"
    onnx.save(proto, str(tmp_path / "liar.onnx"))
    with pytest.raises(LmhldError, match="its graph takes 4 bands but its card lists 3"):
        OnnxBackend(tmp_path / "liar.onnx", "cpu")


def test_a_run_folder_given_as_the_model_names_the_file_in_it(files, tmp_path):
    from lmhld_qgis.core.backends import load_backend

    _, new, _ = files
    run = tmp_path / "run"
    run.mkdir()
    with pytest.raises(LmhldError, match=r"is a folder; give the model file \(model.onnx in a run folder\)"):
        load_backend(run)
    (run / "model.onnx").write_bytes(new.read_bytes())
    with pytest.raises(LmhldError, match=r"is a folder; give the model file: .*run/model.onnx"):
        load_backend(run)
