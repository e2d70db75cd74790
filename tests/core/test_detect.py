"""Detection engine: no seams, nodata and AOI respected, bands checked, positions right, nothing half-written."""

from __future__ import annotations

import json
import re
import warnings

import numpy as np
import pytest
import rasterio
from osgeo import ogr, osr

from lmhld_qgis.core.detect import DetectOptions, detect
from lmhld_qgis.core.errors import CancelledError, LmhldError
from lmhld_qgis.core.modelcard import ModelCard
from lmhld_qgis.core.postprocess import PostProcess, resolve_postprocess
from lmhld_qgis.core.progress import NullProgress
from lmhld_qgis.core.synthetic import make_scene
from lmhld_qgis.core.vector import srs_from_epsg

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
                              mean=[0, 0, 0, 0], std=[1000] * 4, output="probability")  # the scene's scale
        self.always = always

    def predict(self, x):
        if self.always:
            return np.full((x.shape[0], x.shape[2], x.shape[3]), 0.9, np.float32)
        return (x[:, 2] > 1.0).astype(np.float32)  # red above 1000


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
        assert f["model"] == RedBackend().card.architecture  # a backend object: its network alone
        detected = detected.Union(f.GetGeometryRef())
    truth_ds = ogr.Open(str(scene.inventory))
    truth = ogr.Geometry(ogr.wkbMultiPolygon)
    for f in truth_ds.GetLayer(0):
        truth = truth.Union(f.GetGeometryRef())
    iou = detected.Intersection(truth).GetArea() / detected.Union(truth).GetArea()
    assert iou > 0.85, iou
    styles = [f["f_table_name"] for f in ds.GetLayerByName("layer_styles")]
    assert styles == ["landslides"] and not (tmp_path / "o.qml").exists()  # styled from inside the GeoPackage


def test_a_south_up_scene_is_detected_as_its_north_up_twin(scene, tmp_path):
    """A south-up GeoTIFF (rows from south to north, positive pixel height): the network saw the scene upside down
    and every polygon's probability statistics were NULL, so the default filter dropped them all. It is read
    turned north-up, said, and gives the north-up scene's polygons and probabilities."""
    from rasterio.transform import Affine

    with rasterio.open(scene.raster) as src:
        t, profile = src.transform, src.profile
        profile.update(transform=Affine(t.a, 0, t.c, 0, -t.e, t.f + t.e * src.height))
        south = tmp_path / "south_up.tif"
        with rasterio.open(south, "w", **profile) as dst:
            dst.write(src.read()[:, ::-1, :])
            dst.descriptions = src.descriptions
    said: list[str] = []

    class Said(NullProgress):
        def info(self, message):
            said.append(message)

    runs = {}
    for name, raster in (("north", scene.raster), ("south", south)):
        res = detect(raster, ConvBackend(), tmp_path / f"{name}.gpkg", tmp_path / f"{name}.tif",
                     DetectOptions(min_mean_prob=0.0), progress=Said())
        prob, grid = read_prob(tmp_path / f"{name}.tif")
        runs[name] = (res.n_polygons, prob, grid.transform,
                      [(a, p, g.ExportToWkt()) for a, p, g in polygons_of(tmp_path / f"{name}.gpkg")])
    assert runs["south"][0] == runs["north"][0] > 0
    assert runs["south"][2] == runs["north"][2] and np.array_equal(runs["south"][1], runs["north"][1])
    assert runs["south"][3] == runs["north"][3]
    assert any("the raster's rows run from south to north (positive pixel height): detection reads it turned "
               "north-up" in m for m in said)


def test_nodata_and_outside_aoi_yield_no_polygons(tmp_path):
    scene = make_scene(tmp_path / "s", width=256, height=256, n_landslides=10, nodata_box=(0, 0, 100, 120))
    x0, y0 = 500_000.0, 4_000_000.0  # scene origin; 3 m pixels
    band = f"POLYGON(({x0} {y0 - 600},{x0 + 600} {y0 - 600},{x0 + 600} {y0 - 750},{x0} {y0 - 750},{x0} {y0 - 600}))"
    aoi = write_polygons(tmp_path / "aoi.gpkg", [band])
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
    assert not res.doubts  # 100% of an area of interest drawn around a landslide is no doubt (it said so)
    with rasterio.open(tmp_path / "aoi.tif") as ds:
        assert ds.width == 200 and ds.height == 50  # only the AOI's bounding box is processed
    # a project GeoPackage with the area of interest second: its first layer was used without a word
    two = write_polygons(tmp_path / "two.gpkg", [f"POLYGON(({x0} {y0},{x0 + 90} {y0},{x0 + 90} {y0 - 90},"
                                                 f"{x0} {y0 - 90},{x0} {y0}))"], layer="zone_west")
    write_polygons(two, [band], layer="aoi", append=True)
    said: list[str] = []

    class Said(NullProgress):
        def warn(self, message):
            said.append(message)

        info = warn

    first = detect(scene.raster, RedBackend(always=True), tmp_path / "first.gpkg", options=DetectOptions(aoi=two),
                   progress=Said())
    assert first.n_polygons == 0  # zone_west lies in the nodata corner
    assert any(m.startswith("two.gpkg holds 2 layers (zone_west, aoi) and its first, 'zone_west', was read: name "
                            "the one to use (") and m.endswith(("(--aoi-layer)", "(aoi_layer)")) for m in said), said
    named = detect(scene.raster, RedBackend(always=True), tmp_path / "named.gpkg",
                   options=DetectOptions(aoi=two, aoi_layer="aoi"))
    assert named.n_polygons == 1
    empty = write_polygons(tmp_path / "empty.gpkg", [])
    with pytest.raises(LmhldError, match=r"area of interest empty.gpkg is empty: it holds no features; draw its "
                                         r"polygon\(s\) first, or leave it out"):  # was: digitize landslides
        detect(scene.raster, RedBackend(always=True), tmp_path / "e.gpkg", options=DetectOptions(aoi=empty))


def test_band_mismatch_and_mapping(tmp_path):
    three = write_raster(tmp_path / "rgb.tif", np.ones((3, 64, 64), np.uint16))
    with pytest.raises(LmhldError, match=r"expects 4 bands .* has 3 \(band1, band2, band3\), without .*; use "
                                         r"imagery that has these bands, or a model trained on this imagery's"):
        detect(three, RedBackend(), tmp_path / "o.gpkg")  # no band numbers can make up for a missing band
    renamed = write_raster(tmp_path / "named.tif", np.ones((4, 64, 64), np.uint16),
                           descriptions=["blue", "green", "red", "swir"])
    with pytest.raises(LmhldError, match=r"without nir; give 4 band numbers in the model's order \(--bands"):
        detect(renamed, RedBackend(), tmp_path / "o.gpkg")
    with pytest.raises(LmhldError, match=r"band\(s\) 5 do not exist"):
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


def test_an_interrupt_between_two_outputs_keeps_the_old_pair_from_python(scene, tmp_path, monkeypatch):
    """From Python (no command around it), a Ctrl-C after the probability raster was replaced and before the
    polygons were left a new raster beside old polygons, each saying another threshold."""
    import lmhld_qgis.core.atomic as atomic

    out, prob = tmp_path / "l.gpkg", tmp_path / "p.tif"
    detect(scene.raster, RedBackend(), out, prob, DetectOptions(threshold=0.3))
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    assert set(before) == {"l.gpkg", "p.tif", "p.qml"}
    sync = atomic._sync

    def interrupted(path):
        if str(path).endswith(".gpkg"):
            raise KeyboardInterrupt  # the user's Ctrl-C lands while the polygons are synced
        sync(path)

    monkeypatch.setattr(atomic, "_sync", interrupted)
    with pytest.raises(KeyboardInterrupt):
        detect(scene.raster, RedBackend(), out, prob, DetectOptions(threshold=0.6))
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before  # both old, nothing beside them


@pytest.mark.parametrize(("out", "prob", "message"), [
    ("l.shp", "p.tif", r"polygons .*l\.shp is written as GPKG: give a name ending in \.gpkg"),
    ("l.gpkg", "p.png", r"probability raster .*p\.png is written as GeoTIFF: give a name ending in \.tif or \.tiff")])
def test_an_output_name_of_another_format_is_refused_from_python(scene, tmp_path, out, prob, message):
    """The command line refused these names; from Python a GeoPackage was written under a .shp name, a GeoTIFF
    under .png, files no program opens as what their names say."""
    with pytest.raises(LmhldError, match=message):
        detect(scene.raster, RedBackend(), tmp_path / out, tmp_path / prob)
    assert not list(tmp_path.iterdir())


def test_a_geographic_scene_of_stretched_pixels_is_warned_of(tmp_path):
    """A scene in EPSG:4326 near Kaikoura (42 deg S) has pixels square in degrees, 8.9 x 12 m on the ground: every
    shape reaches the network stretched, and nothing said so (the pixel's area matched the model's)."""
    data = np.full((4, 64, 64), 1200.0, np.float32)
    degrees = 3.0 / 111_195  # about 3 m of latitude
    raster = write_raster(tmp_path / "geo.tif", data, epsg=4326, origin=(173.5, -42.0), pixel=(degrees, -degrees),
                          descriptions=BANDS)
    res = detect(raster, RedBackend(always=True), tmp_path / "o.gpkg")
    (said,) = [w for w in res.warnings if "geographic" in w]
    assert said.startswith("the raster geo.tif's CRS is geographic and its pixels are 2.23 x 3 m on the ground")
    from lmhld_qgis.core.scene_check import check_scene

    # Model information's check says it too (it showed every row passed, then detection warned)
    [(ok, grid)] = [(c.ok, c.message) for c in check_scene(RedBackend().card, raster) if c.what == "grid"]
    assert ok is None and said.startswith(grid) and grid.endswith("to detect on square pixels")
    square = write_raster(tmp_path / "equator.tif", data, epsg=4326, origin=(10.0, 0.1), pixel=(degrees, -degrees),
                          descriptions=BANDS)
    assert not any("stretched" in w for w in detect(square, RedBackend(always=True), tmp_path / "e.gpkg").warnings)
    # stretched and at another resolution than the model's: the stretch hid that it ran unresampled at 2.6 m
    coarse = RedBackend(always=True)
    coarse.card.resolution_m = 10.0
    (said,) = [w for w in detect(raster, coarse, tmp_path / "c.gpkg").warnings if "geographic" in w]
    assert "reaches the network stretched" in said and ("m pixels are 3.86x finer than the model's 10 m and were not "
                                                         "resampled: the raster's CRS is geographic") in said, said


def test_resolution_mismatch_resamples_by_default_and_warns_when_told_not_to(scene, tmp_path):
    backend = RedBackend()
    backend.card.resolution_m = 6.0
    res = detect(scene.raster, backend, tmp_path / "o.gpkg", tmp_path / "p.tif")
    assert res.resampled == ("the raster's 3 m pixels are 2x finer than the model's 6 m: detection runs on the scene "
                             "resampled to 6 m (150 x 130 px; the outputs are on that grid)") and not res.warnings
    with rasterio.open(tmp_path / "p.tif") as ds:
        assert ds.res == (6.0, 6.0) and ds.width == 150
    res = detect(scene.raster, backend, tmp_path / "o2.gpkg", tmp_path / "p2.tif", DetectOptions(resample=False))
    assert res.resampled is None and any("2x finer than the model's 6 m and were not resampled, as asked" in w
                                         for w in res.warnings)
    with rasterio.open(tmp_path / "p2.tif") as ds, rasterio.open(scene.raster) as src:
        assert ds.res == src.res and ds.width == src.width


def test_a_finer_scene_is_averaged_onto_the_model_grid(tmp_path):
    """A scene three times finer than the model goes onto its grid as the mean of each 3 x 3 block (texture and
    sensor noise average out as in the training's own imagery), not as interpolated samples."""
    from lmhld_qgis.core.detect import _at_model_scale
    from lmhld_qgis.core.raster import read_raster_info

    path = tmp_path / "fine.tif"
    rng = np.random.default_rng(0)
    fine = rng.integers(0, 2000, size=(60, 60)).astype("float32")
    with rasterio.open(path, "w", driver="GTiff", width=60, height=60, count=1, dtype="float32", crs="EPSG:32633",
                       transform=rasterio.transform.from_origin(500000, 5000000, 2, 2)) as ds:
        ds.write(fine, 1)
    card = ModelCard("unet", 1, bands=["red"], patch_size=16, resolution_m=6.0)
    source, warning, note = _at_model_scale(read_raster_info(path), card, True, tmp_path)
    assert warning is None and note is not None and "3x finer" in note
    with rasterio.open(source.path) as ds:
        values = ds.read(1)
    block_means = fine.reshape(20, 3, 20, 3).mean(axis=(1, 3))
    assert values.shape == (20, 20) and np.allclose(values, block_means, atol=0.01)


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


def test_a_model_that_gives_nan_is_refused_or_its_unscored_pixels_said(scene, tmp_path):
    """A model with weights damaged to NaN wrote a probability raster of NaN and said "0 landslide polygons" (exit
    0). Such a model is refused at its first batch; a model that leaves some pixels NaN gets them said, not
    landslides, and nodata where no other window scored them."""
    from ..helpers import SaidLines

    class NaNBackend(RedBackend):
        def __init__(self, where):
            super().__init__()
            self.where = where

        def predict(self, x):
            out = super().predict(x)
            out[self.where(out)] = np.nan
            return out

    with pytest.raises(LmhldError, match=r"the model gave no probability \(NaN\) for any pixel"):
        detect(scene.raster, NaNBackend(lambda p: np.ones(p.shape, bool)), tmp_path / "all.gpkg", tmp_path / "a.tif")
    assert not (tmp_path / "all.gpkg").exists() and not (tmp_path / "a.tif").exists()

    def left_columns(p):
        where = np.zeros(p.shape, bool)
        where[..., :3] = True
        return where

    said = SaidLines()
    detect(scene.raster, NaNBackend(left_columns), tmp_path / "some.gpkg", tmp_path / "s.tif",
           DetectOptions(overlap=0.0), progress=said)
    prob, ds = read_prob(tmp_path / "s.tif")
    assert np.all(prob[:, :3] == ds.nodata) and np.isfinite(prob).all()  # the scene's first columns: no window scored
    assert any(line.startswith("the model gave no probability (NaN) for ") for line in said.lines), said.lines


def test_a_detection_marking_most_of_the_scene_is_called_doubtful_at_the_end(scene, tmp_path):
    """A probe's weak model covered 67 % of a scene with 26 polygons (and a scene scaled 10000 times its training
    imagery loaded as a normal inventory), with nothing said at the end of the run, where the analyst looks."""
    from ..helpers import SaidLines

    said = SaidLines()
    result = detect(scene.raster, RedBackend(always=True), tmp_path / "all.gpkg", progress=said)
    assert result.doubts and result.doubts[0].startswith("the probability cut marks 100% of the scene's valid pixels")
    assert said.lines[-1].startswith("these detections are doubtful: the probability cut marks 100%"), said.lines
    assert not detect(scene.raster, RedBackend(), tmp_path / "red.gpkg").doubts


def test_a_tile_rounded_up_to_the_model_s_multiple_is_said_once(scene, tmp_path):
    class Listen(NullProgress):
        def __init__(self):
            self.warnings = []

        def warn(self, message):
            self.warnings.append(message)

    listen = Listen()
    res = detect(scene.raster, RedBackend(), tmp_path / "o.gpkg", options=DetectOptions(tile=7), progress=listen)
    note = "tile 7 px rounded up to 16 px: the model needs multiples of 16"
    assert res.tile == 16 and res.warnings == [note] and listen.warnings == [note]
    res = detect(scene.raster, RedBackend(), tmp_path / "p.gpkg", options=DetectOptions(tile=32))
    assert res.tile == 32 and not res.warnings
    # a step of a few pixels is said with its cost (a probe's 0.99 on 50 px tiles ran 8 minutes for 1 second)
    res = detect(scene.raster, RedBackend(), tmp_path / "q.gpkg", options=DetectOptions(tile=32, overlap=0.9))
    assert res.warnings == ["overlap 0.9 steps 32 px windows by 3 px: about 114 times the windows of no overlap, and "
                            "as much longer to run; 0.25 to 0.5 is usual"]
    # a tile past the scene ran as one window that large (a probe's --tile 5000 on 1024 px: 14.5 GB, 30 times the
    # time), and a chunk narrower than a tile read each window alone (50 times the time)
    res = detect(scene.raster, RedBackend(), tmp_path / "r.gpkg", options=DetectOptions(tile=5000, chunk_width=1))
    assert res.tile == 304 and res.n_windows == 1  # the 300 x 260 px scene, up to a multiple of 16
    assert res.warnings == ["tile 5008 px is larger than the area to detect (300 x 260 px): tiles of 304 px cover it; "
                            "chunk width 1 px is narrower than a tile: chunks of 304 px"]


def test_an_extent_in_another_crs_is_reprojected_when_named_and_refused_with_both_crss_when_not(tmp_path):
    raster = write_raster(tmp_path / "s.tif", np.full((4, 64, 64), 500, np.uint16), descriptions=BANDS)
    to_degrees = osr.CoordinateTransformation(srs_from_epsg(32618), srs_from_epsg(4326))
    (lon0, lat0, _), (lon1, lat1, _) = (to_degrees.TransformPoint(500000.0 + 30, 4000000.0 - 150),
                                        to_degrees.TransformPoint(500000.0 + 90, 4000000.0 - 30))
    with pytest.raises(LmhldError) as err:
        detect(raster, RedBackend(), tmp_path / "o.gpkg", options=DetectOptions(extent=(lon0, lat0, lon1, lat1)))
    assert ("does not overlap the raster: it is read in the raster's CRS, and raster s.tif covers "
            "x 500000 to 500192, y 3999808 to 4000000 in EPSG:32618 (WGS 84 / UTM zone 18N); give the extent in "
            "EPSG:32618; these numbers look like longitude/latitude: if so, name their CRS after the four numbers: "
            "[EPSG:4326]") in str(err.value)
    # the numbers are named by axis, never written back in one tool's order: QGIS reads xmin,xmax,ymin,ymax and the
    # command line xmin,ymin,xmax,ymax, and an extent pasted from the other's order ran on the whole scene
    assert f"the extent (x {lon0:.10g} to {lon1:.10g}, y {lat0:.10g} to {lat1:.10g})" in str(err.value)
    assert not (tmp_path / "o.gpkg").exists()
    detect(raster, RedBackend(), tmp_path / "o.gpkg", tmp_path / "p.tif",
           DetectOptions(extent=(lon0, lat0, lon1, lat1), extent_crs="EPSG:4326"))
    with rasterio.open(tmp_path / "p.tif") as ds:  # columns 10..30, rows 10..50: the degrees' box holds them
        b = ds.bounds
        assert 500024 <= b.left <= 500030 and 500090 <= b.right <= 500096
        assert 3999850 - 6 <= b.bottom <= 3999850 and 3999970 <= b.top <= 3999970 + 6
    with pytest.raises(LmhldError, match=r"the extent \(x 1 to 3, y 2 to 4 in EPSG:3857\) is .* in the raster's CRS "
                                         r"and does not overlap it: raster s.tif covers .* in EPSG:32618"):
        detect(raster, RedBackend(), tmp_path / "o.gpkg", options=DetectOptions(extent=(1, 2, 3, 4),
                                                                                extent_crs="EPSG:3857"))


class IdentityBackend:
    """The probability is the raster's single band itself: post-processing can be tested on a drawn image."""

    provider = "test-identity"

    def __init__(self, tile=64):
        self.card = ModelCard("identity", 1, bands=["p"], patch_size=tile, resolution_m=3.0, output="probability")

    def predict(self, x):
        return x[:, 0].copy()


def polygons_of(path):
    ds = ogr.Open(str(path))
    feats = [(f["area_m2"], f["max_prob"], f.GetGeometryRef().Clone()) for f in ds.GetLayer("landslides")]
    return feats


def drawn_scene(tmp_path):
    """Two 10 x 10 px landslides (one with a 1-pixel hole) and 12 single-pixel specks, all at 0.9."""
    p = np.zeros((128, 160), np.float32)
    p[10:20, 10:20] = 0.9
    p[40:50, 60:70] = 0.9
    p[44, 64] = 0.0  # a hole of one pixel (9 m2)
    for k in range(12):
        p[90 + 3 * (k % 4), 20 + 11 * k] = 0.9
    return write_raster(tmp_path / "drawn.tif", p, descriptions=["p"])


def test_specks_are_dropped_and_holes_filled_by_default_and_reported(tmp_path):
    raster = drawn_scene(tmp_path)
    raw = detect(raster, IdentityBackend(), tmp_path / "raw.gpkg", options=DetectOptions(
        overlap=0, min_area_m2=0, fill_holes_m2=0))
    assert raw.n_polygons == 14 and raw.dropped == {} and raw.holes_filled == 0
    assert raw.postprocess["min_area_m2"] == 0 and "min_area_m2" not in raw.postprocess["sources"]  # the user's

    res = detect(raster, IdentityBackend(), tmp_path / "clean.gpkg", options=DetectOptions(overlap=0))
    assert res.n_polygons == 2 and res.dropped == {"below the minimum area": 12} and res.holes_filled == 1
    # no minimum area on the card: 0.1% of the model's 64 px patch = 4 px of 9 m2, and holes up to that are filled
    assert res.postprocess["min_area_m2"] == pytest.approx(36.0)
    assert res.postprocess["sources"]["min_area_m2"].startswith("default: 4 px, 0.1% of the model's 64 px patch")
    # a tile chosen for speed does not change which polygons survive (it gave 2 px at tile 16, 43 px at 200)
    small = detect(raster, IdentityBackend(), tmp_path / "small.gpkg", options=DetectOptions(overlap=0, tile=32))
    assert small.postprocess["min_area_m2"] == pytest.approx(36.0) and small.n_polygons == 2
    assert res.postprocess["sources"]["threshold"] == "model, default"
    kept = polygons_of(tmp_path / "clean.gpkg")
    assert [a for a, _, _ in kept] == pytest.approx([900, 900], rel=0.01)  # true areas; the hole is filled
    assert all(g.GetGeometryRef(0).GetGeometryCount() == 1 for _, _, g in kept)  # no interior ring left
    summary = res.to_json()
    assert json.loads(json.dumps(summary))["dropped"] == {"below the minimum area": 12}


def test_model_card_post_processing_is_the_default_and_the_user_overrides_it(tmp_path):
    raster = drawn_scene(tmp_path)
    backend = IdentityBackend()
    backend.card.min_area_m2, backend.card.fill_holes_m2 = 1000.0, 5.0
    backend.card.threshold, backend.card.threshold_source = 0.8, "validation"
    res = detect(raster, backend, tmp_path / "card.gpkg", options=DetectOptions(overlap=0))
    assert res.n_polygons == 0 and res.dropped == {"below the minimum area": 14}  # 900 m2 < 1000 m2
    assert res.threshold == 0.8 and res.postprocess["sources"] == {
        "threshold": "model, calibrated on validation", "min_area_m2": "model", "fill_holes_m2": "model",
        "min_mean_prob": "default: midway to the surest polygon; no polygon was left to decide it"}
    res = detect(raster, backend, tmp_path / "user.gpkg", options=DetectOptions(overlap=0, min_area_m2=100,
                                                                                threshold=0.95))
    assert res.threshold == 0.95 and res.n_polygons == 0 and res.dropped == {}  # nothing reaches 0.95
    res = detect(raster, backend, tmp_path / "user2.gpkg", options=DetectOptions(overlap=0, min_area_m2=100))
    assert res.n_polygons == 2 and res.holes_filled == 0  # the 9 m2 hole is above the card's 5 m2


def test_hysteresis_keeps_weak_rims_of_strong_regions_and_drops_weak_regions(tmp_path):
    p = np.zeros((96, 96), np.float32)
    p[20:40, 20:40] = 0.4  # a weak rim ...
    p[25:35, 25:35] = 0.9  # ... around a strong core
    p[60:80, 60:80] = 0.4  # a weak region with no strong pixel
    raster = write_raster(tmp_path / "h.tif", p, descriptions=["p"])
    plain = detect(raster, IdentityBackend(), tmp_path / "plain.gpkg", options=DetectOptions(overlap=0))
    assert [a for a, _, _ in polygons_of(tmp_path / "plain.gpkg")] == pytest.approx([900], rel=0.01)  # the core
    grown = detect(raster, IdentityBackend(), tmp_path / "grown.gpkg",
                   options=DetectOptions(overlap=0, grow_threshold=0.3))
    assert [a for a, _, _ in polygons_of(tmp_path / "grown.gpkg")] == pytest.approx([3600], rel=0.01)  # and rim
    assert grown.dropped == {"no pixel at the threshold": 1} and plain.dropped == {}
    assert grown.postprocess["grow_threshold"] == 0.3


def test_the_default_floor_drops_the_polygons_the_model_is_lukewarm_about(tmp_path):
    p = np.zeros((96, 96), np.float32)
    p[10:40, 10:40] = 0.3  # an under-confident rim ...
    p[15:35, 15:35] = 0.9  # ... around a landslide: mean 0.567 over 900 px
    p[60:80, 60:80] = 0.35  # a look-alike the model is lukewarm about: mean 0.35
    raster = write_raster(tmp_path / "u.tif", p, descriptions=["p"])
    backend = IdentityBackend()
    backend.card.threshold, backend.card.threshold_source = 0.25, "validation"  # a low calibrated cut
    res = detect(raster, backend, tmp_path / "default.gpkg", options=DetectOptions(overlap=0))
    assert [a for a, _, _ in polygons_of(tmp_path / "default.gpkg")] == pytest.approx([8100], rel=0.01)  # with rim
    assert res.dropped == {"mean probability below the minimum": 1}
    surest = (500 * 0.3 + 400 * 0.9) / 900
    assert res.postprocess["min_mean_prob"] == pytest.approx((0.25 + surest) / 2, abs=1e-4)
    assert res.postprocess["sources"]["min_mean_prob"] == (
        "default: midway between the threshold 0.25 and the surest polygon's mean probability 0.567; 0 keeps every "
        "polygon")
    assert "minimum mean probability 0.408 (default: midway" in res.summary()
    kept = detect(raster, backend, tmp_path / "all.gpkg", options=DetectOptions(overlap=0, min_mean_prob=0))
    assert kept.n_polygons == 2 and kept.dropped == {}
    strict = detect(raster, backend, tmp_path / "strict.gpkg", options=DetectOptions(overlap=0, min_mean_prob=0.7))
    assert strict.n_polygons == 0 and strict.dropped == {"mean probability below the minimum": 2}
    assert strict.postprocess["min_mean_prob"] == 0.7 and "min_mean_prob" not in strict.postprocess["sources"]
    grown = detect(raster, backend, tmp_path / "grown.gpkg",
                   options=DetectOptions(overlap=0, threshold=0.8, grow_threshold=0.25))
    assert grown.n_polygons == 1 and grown.postprocess["min_mean_prob"] == 0  # the seeds decide under hysteresis
    with pytest.raises(LmhldError, match="minimum mean probability must be in"):
        detect(raster, backend, tmp_path / "bad.gpkg", options=DetectOptions(min_mean_prob=1.5))


def test_the_default_floor_follows_how_sure_the_model_is(tmp_path):
    """A weak model's landslides (all lukewarm) are kept; beside a sure landslide, the same region is dropped."""
    lukewarm = np.zeros((96, 96), np.float32)
    lukewarm[10:30, 10:30] = 0.72
    lukewarm[60:80, 60:80] = 0.70
    sure = lukewarm.copy()
    sure[60:80, 60:80] = 0.98  # polygonized after the lukewarm one: held, then dropped once the floor rises
    backend = IdentityBackend()
    backend.card.threshold, backend.card.threshold_source = 0.55, "validation"
    weak = detect(write_raster(tmp_path / "weak.tif", lukewarm, descriptions=["p"]), backend,
                  tmp_path / "weak.gpkg", options=DetectOptions(overlap=0))
    assert weak.n_polygons == 2 and weak.postprocess["min_mean_prob"] == pytest.approx(0.635)
    sharp = detect(write_raster(tmp_path / "sharp.tif", sure, descriptions=["p"]), backend,
                   tmp_path / "sharp.gpkg", options=DetectOptions(overlap=0))
    assert sharp.n_polygons == 1 and sharp.postprocess["min_mean_prob"] == pytest.approx(0.765)
    planned = resolve_postprocess(backend.card, threshold=None, min_area_m2=None, fill_holes_m2=None, simplify=0,
                                  grow_threshold=None, pixel_area_m2=9.0)
    assert planned.floor_from_scene and PostProcess(**planned.to_json()) == planned  # a plan's record reads back
    assert "midway between the threshold and the surest polygon" in planned.describe()
    assert [m for _, m, _ in polygons_of(tmp_path / "sharp.gpkg")] == pytest.approx([0.98])
    with pytest.raises(LmhldError, match=r"grow threshold 0.7 must be below the threshold 0.55 \(model, calibrated "
                                         r"on validation\)"):  # was dropped without a word
        resolve_postprocess(backend.card, threshold=None, min_area_m2=None, fill_holes_m2=None, simplify=0,
                            grow_threshold=0.7, pixel_area_m2=9.0)


def test_test_time_augmentation_averages_the_dihedral_predictions(scene, tmp_path):
    from lmhld_qgis.core.tta import TtaBackend

    backend = ConvBackend(tile=64)
    x = np.random.default_rng(1).normal(size=(2, 4, 64, 64)).astype(np.float32)
    views = [np.rot90(v, k, axes=(2, 3)) for v in (x, x[..., ::-1]) for k in range(4)]
    undo = [np.rot90(backend.predict(np.ascontiguousarray(v)), -k, axes=(1, 2)) for v, k in
            zip(views, [0, 1, 2, 3] * 2, strict=True)]
    undo = undo[:4] + [u[..., ::-1] for u in undo[4:]]
    expected = np.mean(undo, axis=0)
    assert np.abs(TtaBackend(backend, "d4").predict(x) - expected).max() < 1e-6
    assert np.abs(TtaBackend(backend, "d4").predict(x) - backend.predict(x)).max() > 1e-3  # it is not a no-op
    res = detect(scene.raster, backend, tmp_path / "t.gpkg", tmp_path / "t.tif", DetectOptions(tta="flips"))
    assert res.tta == "flips" and res.to_json()["tta"] == "flips"
    with pytest.raises(LmhldError, match="test-time augmentation must be one of none, flips, d4"):
        detect(scene.raster, backend, tmp_path / "u.gpkg", options=DetectOptions(tta="rot"))


@pytest.mark.parametrize(("options", "message"), [
    (DetectOptions(threshold=2.0), r"threshold must be in \[0, 1\], got 2.0"),
    (DetectOptions(threshold=-1.0), r"threshold must be in \[0, 1\]"),
    (DetectOptions(min_area_m2=-5.0), r"minimum area must be >= 0, got -5.0"),
    (DetectOptions(overlap=1.0), r"overlap must be in \[0, 1\)"),
    (DetectOptions(tile=0), r"tile must be an integer >= 1, got 0"),
    (DetectOptions(batch_size=0), r"batch size must be an integer >= 1"),
])
def test_options_out_of_range_are_refused_before_any_output(scene, tmp_path, options, message):
    with pytest.raises(LmhldError, match=message):
        detect(scene.raster, RedBackend(), tmp_path / "o.gpkg", tmp_path / "p.tif", options)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("epsg", [None, 32759])
def test_a_raster_without_a_geotransform_is_refused_naming_the_fix_with_no_warning_and_no_output(tmp_path, epsg):
    """A dataset patch (CAS: a TIFF with no geotransform) given as a scene: refused in words before anything is
    written, also once a CRS was assigned to it (gdal_edit.py -a_srs, the fix a missing CRS asks for), which reached
    GDAL's "Unable to compute a transformation" with a traceback; rasterio's NotGeoreferencedWarning is not passed
    on (in QGIS it reached the log with a traceback)."""
    out = tmp_path / "out"
    out.mkdir()
    patch = write_raster(tmp_path / "patch.tif", np.zeros((4, 64, 64), np.uint16), georeferenced=False, epsg=epsg,
                         descriptions=BANDS)
    with warnings.catch_warnings(record=True) as caught, pytest.raises(LmhldError) as refused:
        warnings.simplefilter("always")
        detect(patch, RedBackend(), out / "o.gpkg", out / "p.tif", DetectOptions())
    assert str(refused.value).startswith(f"raster {patch} is not georeferenced: it has no geotransform"
                                         f"{' and no CRS' if epsg is None else ''}, so its pixels have no place")
    assert "gdal_translate -a_srs EPSG:XXXX -a_ullr ULX ULY LRX LRY" in str(refused.value)
    assert [str(w.message) for w in caught] == []
    assert list(out.iterdir()) == []


def test_overviews_are_averages_of_the_valid_pixels_and_equal_across_chunks(tmp_path):
    p = 0.45 * np.random.default_rng(5).random((600, 700)).astype(np.float32)  # below the threshold: no polygon
    p[:100, :150] = -1  # nodata corner
    raster = write_raster(tmp_path / "r.tif", p, nodata=-1, descriptions=["p"])
    outs = {}
    for cw in (0, 256, 70):  # one chunk; aligned chunks (overviews reduced on the way); unaligned (built by GDAL)
        detect(raster, IdentityBackend(), tmp_path / f"o{cw}.gpkg", tmp_path / f"p{cw}.tif",
               DetectOptions(overlap=0.25, chunk_width=cw, min_area_m2=0))
        with rasterio.open(tmp_path / f"p{cw}.tif") as ds:
            assert ds.overviews(1) == [2, 4, 8]
            outs[cw] = [ds.read(1)] + [ds.read(1, out_shape=(ds.height // f + (ds.height % f > 0),
                                                             ds.width // f + (ds.width % f > 0))) for f in (2, 4, 8)]
    base = outs[0][0]
    assert np.array_equal(base[:100, :150], np.full((100, 150), -1, np.float32))
    assert np.abs(base[100:, :] - p[100:, :]).max() < 1e-6  # the identity model gives back its input
    for level in range(4):
        assert np.array_equal(outs[0][level], outs[256][level])  # aligned chunks: the same bytes at every level
    assert np.array_equal(outs[0][0], outs[70][0])
    level2 = outs[0][1]
    block = p[200:202, 300:302]
    assert level2[100, 150] == pytest.approx(block.mean(), abs=1e-6)
    assert level2[10, 10] == -1  # wholly in the nodata corner
    edge = p[96:100, 148:152]  # straddles the nodata corner's edge: only its valid half counts
    assert outs[0][2][24, 37] == pytest.approx(edge[:, 2:].mean(), abs=1e-6)


def test_cuda_provider_runs_on_a_gpu_or_names_the_fix(scene, tmp_path):
    """`--provider cuda` for an ONNX model (onnxruntime's CUDA provider) and a .pt checkpoint (torch on CUDA): on a
    machine with a GPU detection runs there, elsewhere it stops before any output with the fix."""
    import onnxruntime as ort
    import torch

    from lmhld_qgis.models import build_model
    from lmhld_qgis.training.checkpoint import save_checkpoint
    from lmhld_qgis.training.onnx_export import export_onnx

    card = ModelCard("unet", 4, model_options={"base_width": 4}, bands=BANDS, patch_size=64, resolution_m=3.0,
                     mean=[600, 900, 750, 2800], std=[400, 300, 450, 500])
    torch.manual_seed(0)
    net = build_model("unet", 4, base_width=4).eval()
    models = {"onnx": export_onnx(net, card, tmp_path / "m.onnx"), "pt": save_checkpoint(tmp_path / "m.pt", net, card)}
    has_gpu = {"onnx": "CUDAExecutionProvider" in ort.get_available_providers() and torch.cuda.is_available(),
               "pt": torch.cuda.is_available()}
    for kind, model in models.items():
        out = tmp_path / f"{kind}.gpkg"
        if has_gpu[kind]:
            res = detect(scene.raster, model, out, options=DetectOptions(provider="cuda", min_area_m2=0))
            assert res.provider in ("CUDAExecutionProvider", "torch-cuda")
            continue
        with pytest.raises(LmhldError, match=r"CUDA was asked for .*use --provider auto or --provider cpu"):
            detect(scene.raster, model, out, options=DetectOptions(provider="cuda"))
        assert not out.exists()
        res = detect(scene.raster, model, out, options=DetectOptions(provider="auto", min_area_m2=0))
        assert res.provider in ("CPUExecutionProvider", "torch-cpu")


def test_nan_without_a_declared_nodata_is_nodata_in_the_probability(tmp_path):
    """A float scene that declares no nodata but holds NaN (outside an orthophoto's footprint): no probability
    there, as export and training take it, rather than a confident 'no landslide'."""
    data = np.full((4, 96, 96), 1200.0, np.float32)
    data[:, :, :40] = np.nan
    raster = write_raster(tmp_path / "float.tif", data, descriptions=BANDS)
    res = detect(raster, RedBackend(always=True), tmp_path / "o.gpkg", tmp_path / "p.tif")
    with rasterio.open(tmp_path / "p.tif") as ds:
        prob = ds.read(1)
    assert np.all(prob[:, :40] == ds.nodata) and np.all(prob[:, 40:] > 0.5) and res.n_polygons == 1


def test_a_float_alpha_band_masks_the_collar(tmp_path):
    """gdalwarp -dstalpha on a float scene writes a Float32 alpha band, which GDAL does not apply as the mask: the
    collar was detected on (5,099 polygon pixels where alpha is 0), without a word."""
    from osgeo import gdal

    data = np.full((5, 96, 96), 1200.0, np.float32)
    data[4] = 255.0
    data[4, :, :40] = 0.0  # the collar
    raster = write_raster(tmp_path / "alpha.tif", data, descriptions=[*BANDS, "alpha"])
    ds = gdal.Open(str(raster), gdal.GA_Update)
    ds.GetRasterBand(5).SetColorInterpretation(gdal.GCI_AlphaBand)
    ds = None
    res = detect(raster, RedBackend(always=True), tmp_path / "o.gpkg", tmp_path / "p.tif")
    with rasterio.open(tmp_path / "p.tif") as out:
        prob = out.read(1)
    assert np.all(prob[:, :40] == out.nodata) and np.all(prob[:, 40:] > 0.5) and res.n_polygons == 1


def test_a_scene_without_one_valid_pixel_says_so(tmp_path):
    raster = write_raster(tmp_path / "empty.tif", np.zeros((4, 64, 64), np.uint16), nodata=0, descriptions=BANDS)
    res = detect(raster, RedBackend(always=True), tmp_path / "o.gpkg")
    assert res.n_polygons == 0 and any("no valid pixel was read" in w for w in res.warnings)


def test_a_fill_value_not_declared_as_nodata_is_warned_of(tmp_path):
    """D3: a scene whose band holds -9999 without a nodata tag: detection says which band, the value and the fix (the
    model would read it as data); the same scene with the value declared runs without a word."""
    data = np.full((4, 64, 64), 500.0, np.float32)
    data[3, :, :8] = -9999.0
    raster = write_raster(tmp_path / "s.tif", data, descriptions=BANDS)
    res = detect(raster, RedBackend(), tmp_path / "o.gpkg")
    assert [w for w in res.warnings if "-9999" in w] == [
        f"band 4 (nir) of s.tif holds -9999 as its lowest value, a typical fill value that is not declared as nodata: "
        f"its holes and edges are read as real values; declare it (gdal_edit.py -a_nodata -9999 {raster}); the model "
        "reads it as data"]
    declared = write_raster(tmp_path / "d.tif", data, descriptions=BANDS, nodata=-9999.0)
    assert not detect(declared, RedBackend(), tmp_path / "p.gpkg").warnings


def test_a_scene_scaled_otherwise_than_the_training_imagery_is_warned_of(scene, tmp_path):
    """A probe fed a model trained on 0-1 values the same bands as integers (x100): 96 % of the pixels came out
    landslide, in one polygon over the whole scene, without a word."""
    from lmhld_qgis.core.raster import read_raster_info
    from lmhld_qgis.core.scene_check import SceneValues, check_scene, values_far_from_training

    backend = ConvBackend()
    own = detect(scene.raster, backend, tmp_path / "own.gpkg")
    assert not any("standard deviations" in w for w in own.warnings)
    scaled = tmp_path / "scaled.tif"
    with rasterio.open(scene.raster) as src:
        data, profile = src.read().astype(np.float32) * 100, {**src.profile, "dtype": "float32"}
    with rasterio.open(scaled, "w", **profile) as dst:
        dst.write(data)
        dst.descriptions = tuple(BANDS)
    result = detect(scaled, backend, tmp_path / "scaled.gpkg")
    # one warning for the four bands, each with its figures, and the advice once (it ran past Model information's
    # dialog, repeated band by band)
    far = [w for w in result.warnings if "standard deviations from the training mean" in w]
    assert len(far) == 1 and far[0].startswith("typical values far from the training imagery's: band 1 (blue) ")
    assert far[0].count("band ") == 4 and far[0].count("The scene is scaled otherwise than the training imagery") == 1
    assert check_scene(backend.card, scaled)[-1].message == "; ".join(far)  # Model information's check says it too
    assert "declares a scale" not in far[0]
    with rasterio.open(scaled, "r+") as dst:  # a file that declares its scale, which lmhld reads as stored
        dst.scales = (0.01,) * dst.count
    (declared,) = values_far_from_training(backend.card, SceneValues.sample(read_raster_info(scaled), [1, 2, 3, 4]))[:1]
    assert "the file declares a scale of 0.01 and an offset of 0, which lmhld does not apply" in declared
    # a tenth of the values (reflectance 0-1 where the training imagery was DN over 1000) stays within 10 standard
    # deviations of these spreads, and a probe's went without a word: the scale is told
    def rescaled(name: str, factors: list[float]) -> list[str]:
        """The scene with each band multiplied by its factor, and what values_far_from_training says of it."""
        with rasterio.open(scene.raster) as src:
            data, profile = src.read().astype(np.float32), {**src.profile, "dtype": "float32"}
        with rasterio.open(tmp_path / name, "w", **profile) as dst:
            dst.write(data * np.asarray(factors, np.float32)[:, None, None])
            dst.descriptions = tuple(BANDS)
        return values_far_from_training(backend.card, SceneValues.sample(read_raster_info(tmp_path / name),
                                                                         [1, 2, 3, 4]))

    [scaled_down] = rescaled("tenth.tif", [0.1] * 4)
    assert re.match(r"the scene's values are about 0\.(09|1)\d* times the training imagery's, band by band: the "
                    r"scene is scaled otherwise", scaled_down), scaled_down
    # one band far off and the others scaled down: both are said (a probe's reflectance bands at 0.06 times went
    # unsaid beside one far slope band)
    [both] = rescaled("mixed.tif", [100.0, 0.1, 0.1, 0.1])
    assert re.search(r"band 1 \(blue\) [\d.e+]+ is \d+ standard deviations .*; and the other bands' values "
                     r"\(green, nir\) are about 0\.(09|1)\d* times the training imagery's\. The scene", both), both
    info = read_raster_info(scene.raster)
    assert check_scene(backend.card, scene.raster)[-1].ok and values_far_from_training(
        backend.card, SceneValues.sample(info, [1, 2, 3, 4])) == []


def test_a_model_trained_on_divided_values_divides_a_scene_in_the_imagery_s_units(scene, tmp_path):
    """A model trained on a Landslide4Sense release takes each band divided by the release's published divisor: a
    raw Sentinel-2 scene was fed as it is (the README told the user to run gdal_calc.py first). The card records
    the divisor, and detection divides a scene in the imagery's own units, not one divided already."""
    from dataclasses import replace

    from lmhld_qgis.core.raster import read_raster_info
    from lmhld_qgis.core.scene_check import check_scene

    divisor = [10.0, 20.0, 40.0, 80.0]
    own = ConvBackend()
    # the same network, told its training data were the imagery divided by `divisor`: its mean and std are so too
    divided = ConvBackend()
    divided.card = replace(own.card, mean=[m / d for m, d in zip(own.card.mean, divisor, strict=True)],
                           std=[s / d for s, d in zip(own.card.std, divisor, strict=True)], input_divisor=divisor)
    reference = detect(scene.raster, own, tmp_path / "own.gpkg", tmp_path / "own.tif")
    raw = detect(scene.raster, divided, tmp_path / "raw.gpkg", tmp_path / "raw.tif")
    assert raw.input_divisor == divisor and not any("standard deviations" in w for w in raw.warnings)
    with rasterio.open(tmp_path / "own.tif") as a, rasterio.open(tmp_path / "raw.tif") as b:
        np.testing.assert_allclose(a.read(1), b.read(1), atol=1e-5)  # the same inputs reached the network
    assert raw.n_polygons == reference.n_polygons
    units = {c.what: c for c in check_scene(divided.card, scene.raster)}["units"]
    assert units.message.startswith("the model was trained on values divided per band") and "blue / 10" in units.message
    # the scene divided beforehand (the README's old gdal_calc.py advice) is read as it is, not divided twice
    pre = tmp_path / "divided.tif"
    with rasterio.open(scene.raster) as src:
        data, profile = src.read().astype(np.float32), {**src.profile, "dtype": "float32"}
    with rasterio.open(pre, "w", **profile) as dst:
        dst.write(data / np.asarray(divisor, np.float32)[:, None, None])
        dst.descriptions = tuple(BANDS)
    again = detect(pre, divided, tmp_path / "pre.gpkg", tmp_path / "pre.tif")
    assert again.input_divisor is None and not any("standard deviations" in w for w in again.warnings)
    with rasterio.open(tmp_path / "own.tif") as a, rasterio.open(tmp_path / "pre.tif") as b:
        np.testing.assert_allclose(a.read(1), b.read(1), atol=1e-4)
    assert "already in the units of the model's training patches" in check_scene(divided.card, pre)[-2].message
    assert read_raster_info(pre).count == 4


def test_the_model_field_tells_two_runs_of_one_network_apart(tmp_path):
    """A batch of detections with two U-Net runs wrote `unet` in both outputs' model field: the run folder and the
    file name now come with it."""
    from lmhld_qgis.core.detect import model_label

    a, b = tmp_path / "k69_unet" / "model.onnx", tmp_path / "k70_unet" / "model.onnx"
    assert model_label("unet", a) == "unet (k69_unet/model.onnx)" != model_label("unet", str(b))
    assert model_label("unet", RedBackend()) == "unet"


def test_detection_options_from_python_as_a_dict(scene, tmp_path):
    result = detect(scene.raster, RedBackend(), tmp_path / "l.gpkg", None, {"threshold": 0.3, "min_mean_prob": 0.0})
    assert result.threshold == 0.3
    with pytest.raises(LmhldError, match=r"bands must be a list of the raster's band numbers"):
        detect(scene.raster, RedBackend(), tmp_path / "m.gpkg", None, {"bands": [0, 1, 2, 3]})


def test_windows_without_a_valid_pixel_are_not_run_through_the_model(tmp_path, monkeypatch):
    """A scene 99.9 % nodata ran the model on every window (an hour for a 30000 px square holding 1024 px of
    imagery); the windows all on nodata are skipped now, with the same probabilities everywhere else."""
    scene = make_scene(tmp_path / "s", width=320, height=320, n_landslides=25, seed=4, nodata_box=(0, 0, 200, 320))

    class Counting(ConvBackend):
        windows = 0

        def predict(self, x):
            Counting.windows += len(x)
            return super().predict(x)

    res = detect(scene.raster, Counting(), tmp_path / "o.gpkg", tmp_path / "p.tif")
    assert 0 < Counting.windows < res.n_windows
    from lmhld_qgis.core import detect as detection

    monkeypatch.setattr(detection, "_predict_valid", lambda backend, batch: backend.predict(batch.pixels))
    full = detect(scene.raster, ConvBackend(), tmp_path / "o2.gpkg", tmp_path / "p2.tif")  # every window
    assert full.n_windows == res.n_windows
    np.testing.assert_array_equal(read_prob(tmp_path / "p.tif")[0], read_prob(tmp_path / "p2.tif")[0])
