"""Evaluation on dataset splits (micro-averaged, per area) and over a whole scene (error map, objects)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import rasterio

from lmhld_qgis.core.evaluate import evaluate_dataset, evaluate_scene
from lmhld_qgis.core.metrics import Confusion
from lmhld_qgis.core.modelcard import ModelCard
from lmhld_qgis.core.synthetic import make_scene

BANDS = ["blue", "green", "red", "nir"]


class RedBackend:
    """Landslide where red looks like bare soil: near-perfect on the synthetic scenes."""

    provider = "test-red"

    def __init__(self, cut=1000.0):
        self.card = ModelCard("red", 4, bands=BANDS, patch_size=64, resolution_m=3.0, output="probability")
        self.cut = cut

    def predict(self, x):
        return (x[:, 2] > self.cut).astype(np.float32)


def test_dataset_metrics_are_micro_averaged_per_area(areas):
    from lmhld_qgis.core.datasets import open_dataset

    backend = RedBackend()
    result = evaluate_dataset(backend, [areas["a32"], areas["b32"]], "test")
    assert set(result["per_area"]) == {"a32", "b32"}
    total = Confusion()
    for root in (areas["a32"], areas["b32"]):  # independent recomputation
        for s in open_dataset(root, "test"):
            total = total + Confusion.of(s.image[2] > 1000, s.mask)
    assert (result["tp"], result["fp"], result["fn"], result["tn"]) == (total.tp, total.fp, total.fn, total.tn)
    assert result["f1"] == pytest.approx(total.f1) and result["f1"] > 0.9
    for key in ("precision", "recall", "f1", "iou", "miou", "oa", "f1_mean_2class"):
        assert 0 <= result[key] <= 1


def test_scene_error_map_and_objects(tmp_path):
    scene = make_scene(tmp_path / "s", width=400, height=300, n_landslides=30, seed=9, nodata_box=(0, 0, 50, 50))
    from lmhld_qgis.core.detect import DetectOptions

    result = evaluate_scene(RedBackend(), scene.raster, scene.inventory, error_map=tmp_path / "e.tif",
                            json_out=tmp_path / "r.json", options=DetectOptions(min_area_m2=50))
    assert json.loads((tmp_path / "r.json").read_text())["f1"] == pytest.approx(result["f1"])
    assert result["f1"] > 0.9 and result["inventory_detected"] > 0.8 and result["detected_correct"] > 0.8
    with rasterio.open(tmp_path / "e.tif") as ds:
        codes = ds.read(1)
    assert (codes[:50, :50] == 0).all()  # nodata stays out of the counts
    counts = {k: int((codes == v).sum()) for k, v in {"tp": 1, "fp": 2, "fn": 3, "tn": 4}.items()}
    assert counts == {k: result[k] for k in counts}
    assert (tmp_path / "e.qml").exists()
    blind = evaluate_scene(RedBackend(cut=1e9), scene.raster, scene.inventory)  # detects nothing
    assert blind["tp"] == 0 and blind["recall"] == 0 and blind["precision"] == 1.0 and blind["n_detected"] == 0
