"""The Deepness QGIS plugin runs a model from `lmhld train` as it is: its dock loads the file and its default
parameters without an error popup, its map processor runs over a real GeoTIFF layer holding nodata, and its mask
agrees with `lmhld detect` on the same scene; its probabilities equal ours tile by tile."""

from __future__ import annotations

import gc
import importlib.util
import json
import subprocess
import sys

import numpy as np
import pytest
import rasterio

from lmhld_qgis.core.modelcard import read_onnx_card

from .deepness_client import DEEPNESS, run_deepness, watch_popups

pytestmark = [pytest.mark.slow,  # trains a model, runs QGIS tasks
              pytest.mark.skipif(not (DEEPNESS / "src" / "deepness").is_dir(),
                                 reason=f"the Deepness plugin's source is not at {DEEPNESS} (../shared/clients)"),
              pytest.mark.skipif(importlib.util.find_spec("cv2") is None,
                                 reason="Deepness needs opencv-python-headless (pinned in requirements.txt)")]

NODATA_BOX = (20, 200, 90, 260)  # row0, col0, row1, col1 of the unseen scene, all bands 0 (its nodata)


def lmhld(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "lmhld_qgis", *args], capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def trained(areas, tmp_path_factory):
    """A tiny U-Net trained by `lmhld train` on one generated area; model.onnx is what a user hands to Deepness."""
    run = tmp_path_factory.mktemp("deepness") / "run"
    proc = lmhld("train", "--model", "unet", "--width", "8", "--data", str(areas["a32"]), "--epochs", "4",
                 "--batch-size", "8", "--optimizer", "adam", "--lr", "0.003", "--seed", "0", "--out", str(run))
    assert proc.returncode == 0, proc.stderr
    return run / "model.onnx"


@pytest.fixture(scope="module")
def unseen(tmp_path_factory, trained):
    """Another generated scene (other seed), with a nodata box; `lmhld detect`'s probabilities over it."""
    from lmhld_qgis.core.synthetic import make_scene

    base = tmp_path_factory.mktemp("unseen")
    scene = make_scene(base, width=300, height=260, n_landslides=30, seed=11, nodata_box=NODATA_BOX)
    proc = lmhld("detect", "--model", str(trained), "--raster", str(scene.raster), "--out", str(base / "ours.gpkg"),
                 "--prob", str(base / "ours.tif"), "--provider", "cpu")
    assert proc.returncode == 0, proc.stderr
    with rasterio.open(base / "ours.tif") as ds:
        return scene.raster, ds.read(1)


@pytest.fixture
def layer(unseen):
    from qgis.core import QgsProject, QgsRasterLayer

    raster_layer = QgsRasterLayer(str(unseen[0]), "unseen scene")
    assert raster_layer.isValid()
    QgsProject.instance().addMapLayer(raster_layer)
    yield raster_layer
    QgsProject.instance().clear()
    gc.collect()


def test_deepness_loads_the_model_and_agrees_with_lmhld_detect(qgis_iface, monkeypatch, trained, unseen, layer):
    popups = watch_popups(monkeypatch)
    result = run_deepness(qgis_iface, layer, trained)
    card = read_onnx_card(trained)
    assert popups.errors == [] and qgis_iface.messageBar().get_messages(2) == []  # Qgis.Critical
    assert "Error" not in result.model_info and f"{card.patch_size}, {card.patch_size}" in result.model_info
    assert result.tile_size == card.patch_size and result.resolution_cm == pytest.approx(card.resolution_m * 100)
    assert result.threshold == pytest.approx(card.threshold, abs=0.005)  # its box shows 2 decimals
    assert result.overlap_percent == 25 and popups.results and "landslide" in popups.results[0]
    _, prob = unseen
    valid = prob >= 0
    assert result.mask.shape == prob.shape and (~valid).sum() >= 70 * 60
    theirs, ours = result.mask == 2, prob >= card.threshold
    agreement = float((theirs == ours)[valid].mean())
    print(f"Deepness vs lmhld detect: {agreement:.4%} of {valid.sum()} valid pixels agree; landslide share "
          f"{theirs[valid].mean():.2%} vs {ours[valid].mean():.2%}")
    assert agreement >= 0.97 and 0.02 < ours[valid].mean() < 0.6  # a real mask, not an empty or full one
    r0, c0, r1, c1 = NODATA_BOX
    assert not theirs[r0:r1, c0:c1].any()  # no landslide reported on nodata


def test_deepness_probabilities_equal_ours_tile_by_tile(qgis_iface, monkeypatch, trained, unseen, layer):
    """Deepness's own tile reading and preprocessing (divide by 255, standardise) into the model, against our
    backend on the same window read by rasterio, on tiles holding nodata and a tile without."""
    watch_popups(monkeypatch)
    from deepness.processing import processing_utils
    from deepness.processing.tile_params import TileParams

    from lmhld_qgis.core.backends import OnnxBackend

    processor = run_deepness(qgis_iface, layer, trained).processor
    backend = OnnxBackend(trained, "cpu")
    card, size = backend.card, backend.card.patch_size
    mean, std = np.array(card.mean, np.float32)[:, None, None], np.array(card.safe_std, np.float32)[:, None, None]
    with rasterio.open(unseen[0]) as src:
        for row, col in ((0, 180), (64, 220), (150, 40)):  # two cross the nodata box
            params = TileParams(x_bin_number=0, y_bin_number=0, x_bins_number=1, y_bins_number=1,
                                params=processor.params, rlayer_units_per_pixel=processor.rlayer_units_per_pixel,
                                processing_extent=_pixel_extent(layer, row, col, size))
            tile = processing_utils.get_tile_image(layer, params.extent, processor.params)
            theirs = processor.model.process(tile[None])[0][0, 0]
            window = rasterio.windows.Window(col, row, size, size)
            raw = src.read(window=window).astype(np.float32)
            valid = (src.read_masks(window=window) > 0).all(axis=0)
            ours = backend.predict(np.where(valid, (raw - mean) / std, 0)[None])[0]
            assert np.array_equal(tile.transpose(2, 0, 1), raw)  # Deepness read the same pixels
            assert np.abs(theirs[valid] - ours[valid]).max() < 1e-4
            assert (theirs[~valid] == 0).all()


def _pixel_extent(layer, row: int, col: int, size: int):
    from qgis.core import QgsRectangle

    ext, px = layer.extent(), layer.rasterUnitsPerPixelX()
    x0, y1 = ext.xMinimum() + col * px, ext.yMaximum() - row * px
    return QgsRectangle(x0, y1 - size * px, x0 + size * px, y1)


def test_a_symbolic_size_file_is_what_deepness_cannot_load(qgis_iface, monkeypatch, trained, layer, tmp_path):
    """Why the default file declares its size: with symbolic height and width Deepness shows its error box (and
    the popup watch above would have caught that)."""
    from lmhld_qgis.training.checkpoint import model_from_checkpoint
    from lmhld_qgis.training.onnx_export import export_onnx

    model, card = model_from_checkpoint(trained.parent / "best.pt")
    export_onnx(model, card, tmp_path / "any.onnx", fixed_input=False)
    assert "not Deepness" in dict(card.usage_rows())["runs in"]
    popups = watch_popups(monkeypatch)
    run_deepness(qgis_iface, layer, tmp_path / "any.onnx", process=False)
    assert any("Failed to load the model" in e for e in popups.errors), popups.errors


def test_the_file_deepness_reads_keeps_its_promises(trained):
    """The keys Deepness reads, in its units, and ours saying which tool uses the file."""
    import onnx

    meta = {p.key: json.loads(p.value) for p in onnx.load(str(trained)).metadata_props}
    card = read_onnx_card(trained)
    assert card.input == "raw" and card.nodata == 0 and card.deepness_keys and card.dynamic_size
    assert meta["standardization_std"] == [1 / 255] * 4 and meta["tile_size"] == card.patch_size == 32
    assert dict(card.usage_rows())["runs in"].startswith("lmhld detect, QGIS Processing and Deepness")
