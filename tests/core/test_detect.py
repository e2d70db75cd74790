"""Detection engine: no seams, nodata and AOI respected, bands checked, positions right, nothing half-written."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
import rasterio
from osgeo import ogr

from lmhld_qgis.core.detect import DetectOptions, detect
from lmhld_qgis.core.errors import CancelledError, LmhldError
from lmhld_qgis.core.modelcard import ModelCard
from lmhld_qgis.core.synthetic import make_scene

from ..helpers import write_polygons, write_raster

BANDS = ["blue", "green", "red", "nir"]


class ConvBackend:
    """A fully convolutional 'model' (two fixed 3x3 convolutions + sigmoid, zero padding): tile edges matter."""

    provider = "test-fcn"

    def __init__(self, tile=64):
        self.card = ModelCard("fcn", 4, bands=BANDS, patch_size=tile, resolution_m=3.0,
                              mean=[600, 900, 750, 2800], std=[400, 300, 450, 500], output="probability")
        rng = np.random.default_rng(0)
        self.k1 = rng.normal(0, 0.5, (4, 4, 3, 3)).astype(np.float32)
        self.k2 = rng.normal(0, 0.5, (1, 4, 3, 3)).astype(np.float32)

    def predict(self, x):
        import torch
        import torch.nn.functional as F

        t = torch.from_numpy(x)
        y = F.conv2d(torch.relu(F.conv2d(t, torch.from_numpy(self.k1), padding=1)), torch.from_numpy(self.k2),
                     padding=1)
        return torch.sigmoid(y)[:, 0].numpy()


class RedBackend:
    """Landslide where the red band looks like bare soil (the synthetic scene's signature)."""

    provider = "test-red"

    def __init__(self, always=False):
        self.card = ModelCard("red-threshold", 4, bands=BANDS, patch_size=64, resolution_m=3.0,
                              mean=[0, 0, 0, 0], std=[1, 1, 1, 1], output="probability")
        self.always = always

    def predict(self, x):
        if self.always:
            return np.full((x.shape[0], x.shape[2], x.shape[3]), 0.9, np.float32)
        return (x[:, 2] > 1000).astype(np.float32)


@pytest.fixture(scope="module")
def scene(tmp_path_factory):
    return make_scene(tmp_path_factory.mktemp("scene"), width=300, height=260, n_landslides=25, seed=4)


def read_prob(path):
    with rasterio.open(path) as ds:
        return ds.read(1), ds


def test_tiled_equals_untiled_away_from_the_border(scene, tmp_path):
    backend = ConvBackend(tile=64)
    res = detect(scene.raster, backend, tmp_path / "o.gpkg", tmp_path / "p.tif", DetectOptions(overlap=0.5))
    assert res.stride == 32 and res.n_windows > 20
    tiled, _ = read_prob(tmp_path / "p.tif")
    with rasterio.open(scene.raster) as src:
        full = src.read().astype(np.float32)
    mean = np.array(backend.card.mean, np.float32)[:, None, None]
    std = np.array(backend.card.std, np.float32)[:, None, None]
    untiled = backend.predict(((full - mean) / std)[None])[0]
    inner = (slice(4, -4), slice(4, -4))
    assert np.abs(tiled[inner] - untiled[inner]).max() < 1e-5


def test_polygons_match_the_scene_in_crs_and_position(scene, tmp_path):
    res = detect(scene.raster, RedBackend(), tmp_path / "o.gpkg", options=DetectOptions(min_area_m2=50))
    assert res.probability is None and res.provider == "test-red"
    ds = ogr.Open(str(tmp_path / "o.gpkg"))
    lyr = ds.GetLayer("landslides")
    names = [lyr.GetLayerDefn().GetFieldDefn(i).GetName() for i in range(lyr.GetLayerDefn().GetFieldCount())]
    assert names == ["id", "area_m2", "perimeter_m", "mean_prob", "max_prob", "source", "model"]
    assert lyr.GetSpatialRef().GetAuthorityCode(None) == "32618"
    detected = ogr.Geometry(ogr.wkbMultiPolygon)
    for f in lyr:
        assert f["area_m2"] >= 50 and 0.99 <= f["max_prob"] <= 1.0 and f["source"] == "scene.tif"
        detected = detected.Union(f.GetGeometryRef())
    truth_ds = ogr.Open(str(scene.inventory))
    truth = ogr.Geometry(ogr.wkbMultiPolygon)
    for f in truth_ds.GetLayer(0):
        truth = truth.Union(f.GetGeometryRef())
    iou = detected.Intersection(truth).GetArea() / detected.Union(truth).GetArea()
    assert iou > 0.85, iou
    assert ds.GetLayerCount() == 1 and (tmp_path / "o.qml").exists()  # one layer, styled by its sidecar in QGIS


def test_nodata_and_outside_aoi_yield_no_polygons(tmp_path):
    scene = make_scene(tmp_path / "s", width=256, height=256, n_landslides=10, nodata_box=(0, 0, 100, 120))
    x0, y0 = 500_000.0, 4_000_000.0  # scene origin; 3 m pixels
    aoi = write_polygons(tmp_path / "aoi.gpkg", [f"POLYGON(({x0} {y0 - 600},{x0 + 600} {y0 - 600},"
                                                  f"{x0 + 600} {y0 - 750},{x0} {y0 - 750},{x0} {y0 - 600}))"])
    detect(scene.raster, RedBackend(always=True), tmp_path / "all.gpkg", tmp_path / "all.tif")
    ds = ogr.Open(str(tmp_path / "all.gpkg"))  # keep the datasource alive while its layer is used
    lyr = ds.GetLayer("landslides")
    union = ogr.Geometry(ogr.wkbMultiPolygon)
    for f in lyr:
        union = union.Union(f.GetGeometryRef())
    hole = ogr.CreateGeometryFromWkt(f"POLYGON(({x0 + 1} {y0 - 1},{x0 + 359} {y0 - 1},{x0 + 359} {y0 - 299},"
                                     f"{x0 + 1} {y0 - 299},{x0 + 1} {y0 - 1}))")
    assert not union.Intersects(hole)
    assert union.GetArea() == pytest.approx(256 * 256 * 9 - 100 * 120 * 9, rel=1e-6)
    prob, _ = read_prob(tmp_path / "all.tif")
    assert (prob[:100, :120] == -1).all() and (prob[100:, :] > 0.5).all()
    res = detect(scene.raster, RedBackend(always=True), tmp_path / "aoi_out.gpkg", tmp_path / "aoi.tif",
                 DetectOptions(aoi=aoi))
    ds = ogr.Open(str(tmp_path / "aoi_out.gpkg"))
    lyr = ds.GetLayer("landslides")
    area = sum(f.GetGeometryRef().GetArea() for f in lyr)
    assert area == pytest.approx(600 * 150, rel=0.02) and res.n_polygons == 1
    with rasterio.open(tmp_path / "aoi.tif") as ds:
        assert ds.width == 200 and ds.height == 50  # only the AOI's bounding box is processed


def test_band_mismatch_and_mapping(tmp_path):
    three = write_raster(tmp_path / "rgb.tif", np.ones((3, 64, 64), np.uint16))
    with pytest.raises(LmhldError, match=r"model expects 4 bands .* has 3; pass --bands"):
        detect(three, RedBackend(), tmp_path / "o.gpkg")
    with pytest.raises(LmhldError, match=r"band\(s\) \[5\] do not exist"):
        detect(three, RedBackend(), tmp_path / "o.gpkg", options=DetectOptions(bands=[1, 2, 3, 5]))
    res = detect(three, RedBackend(), tmp_path / "o.gpkg", options=DetectOptions(bands=[3, 2, 1, 1]))
    assert res.bands == [3, 2, 1, 1]
    assert not (tmp_path / "o.gpkg.part").exists()


def test_cancel_and_failure_leave_no_file(scene, tmp_path):
    class Cancel:
        def set_fraction(self, f): pass
        def info(self, m): pass
        def warn(self, m): pass
        def is_cancelled(self): return True

    (tmp_path / "keep.gpkg").write_bytes(b"previous result")
    with pytest.raises(CancelledError):
        detect(scene.raster, RedBackend(), tmp_path / "keep.gpkg", tmp_path / "p.tif", progress=Cancel())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.gpkg"]
    assert (tmp_path / "keep.gpkg").read_bytes() == b"previous result"


def test_resolution_mismatch_warns_and_resamples(scene, tmp_path):
    backend = RedBackend()
    backend.card.resolution_m = 6.0
    res = detect(scene.raster, backend, tmp_path / "o.gpkg", tmp_path / "p.tif")
    assert any("differs from the model's training resolution" in w for w in res.warnings)
    res = detect(scene.raster, backend, tmp_path / "o2.gpkg", tmp_path / "p2.tif", DetectOptions(resample=True))
    assert any("resampled" in w for w in res.warnings)
    with rasterio.open(tmp_path / "p2.tif") as ds:
        assert ds.res == (6.0, 6.0) and ds.width == 150


def test_probability_raster_is_tiled_compressed_with_overviews_and_style(tmp_path):
    scene = make_scene(tmp_path / "s", width=700, height=600, n_landslides=20)
    detect(scene.raster, RedBackend(), tmp_path / "o.gpkg", tmp_path / "p.tif")
    with rasterio.open(tmp_path / "p.tif") as ds:
        assert ds.profile["tiled"] and ds.profile["compress"] == "deflate" and ds.overviews(1) == [2, 4, 8]
        assert ds.nodata == -1 and ds.dtypes[0] == "float32"
    assert (tmp_path / "p.qml").read_text().startswith("<!DOCTYPE qgis")


def test_real_landslide4sense_patch_with_a_14_band_onnx_model(shared_data, tmp_path):
    from lmhld_qgis.core.datasets.landslide4sense import BAND_NAMES, to_geotiff
    from lmhld_qgis.models import build_model
    from lmhld_qgis.training.onnx_export import export_onnx

    tif = to_geotiff(shared_data / "landslide4sense" / "image_37.h5", tmp_path / "image_37.tif")
    model = build_model("resunet", 14, base_width=4).eval()
    card = ModelCard("resunet", 14, model_options={"base_width": 4}, bands=list(BAND_NAMES), patch_size=128,
                     resolution_m=10.0, mean=[1.0] * 14, std=[1.0] * 14, threshold=0.5)
    onnx_path = export_onnx(model, card, tmp_path / "l4s.onnx")
    res = detect(tif, onnx_path, tmp_path / "o.gpkg", tmp_path / "p.tif", DetectOptions(overlap=0.0))
    assert res.provider == "CPUExecutionProvider" and res.bands == list(range(1, 15)) and res.n_windows == 1
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        prob, _ = read_prob(tmp_path / "p.tif")
    assert prob.shape == (128, 128) and prob.min() >= 0 and prob.max() <= 1
    ds = ogr.Open(str(tmp_path / "o.gpkg"))
    assert ds.GetLayer("landslides").GetFeatureCount() == res.n_polygons
    assert json.loads(json.dumps(res.to_json()))["tile"] == 128


def test_column_chunks_give_the_same_result(scene, tmp_path):
    backend = ConvBackend(tile=64)
    whole = detect(scene.raster, backend, tmp_path / "a.gpkg", tmp_path / "a.tif",
                   DetectOptions(overlap=0.25, chunk_width=0))
    chunked = detect(scene.raster, backend, tmp_path / "b.gpkg", tmp_path / "b.tif",
                     DetectOptions(overlap=0.25, chunk_width=70))  # 300 px wide scene: 5 chunks
    a, _ = read_prob(tmp_path / "a.tif")
    b, _ = read_prob(tmp_path / "b.tif")
    assert np.array_equal(a, b)
    assert whole.n_windows == chunked.n_windows and whole.n_polygons == chunked.n_polygons


def test_fixed_size_model_tiles_at_its_size_and_refuses_another(scene, tmp_path):
    class FixedBackend(RedBackend):
        def __init__(self):
            super().__init__()
            self.card.dynamic_size, self.sizes = False, set()

        def predict(self, x):
            self.sizes.add(x.shape[2:])
            return super().predict(x)

    backend = FixedBackend()
    detect(scene.raster, backend, tmp_path / "l.gpkg", options=DetectOptions(overlap=0.25))
    assert backend.sizes == {(64, 64)}  # edge windows are shifted inside the scene, never padded to another size
    with pytest.raises(LmhldError, match="takes only 64 x 64 tiles, not 96"):
        detect(scene.raster, backend, tmp_path / "m.gpkg", options=DetectOptions(tile=96))
    assert not (tmp_path / "m.gpkg").exists()
