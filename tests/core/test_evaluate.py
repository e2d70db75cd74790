"""Evaluation on dataset splits (micro-averaged, per area) and over a whole scene (error map, objects)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import rasterio

from lmhld_qgis.core.errors import LmhldError
from lmhld_qgis.core.evaluate import evaluate_dataset, evaluate_scene
from lmhld_qgis.core.metrics import Confusion
from lmhld_qgis.core.modelcard import ModelCard
from lmhld_qgis.core.progress import NullProgress
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


def test_python_callers_get_the_checks_the_command_line_makes(areas):
    """A probe's API calls: no folder gave F1, mIoU and OA of 1.0; a threshold of 2 or -1 scored silently; the same
    folder twice counted its pixels twice in the total; names of the wrong length raised a bare ValueError."""
    with pytest.raises(LmhldError, match="no dataset folder given"):
        evaluate_dataset(RedBackend(), [], "test")
    for bad in (2.0, -1.0, float("nan")):
        with pytest.raises(LmhldError, match=r"threshold must be in \[0, 1\]"):
            evaluate_dataset(RedBackend(), areas["a32"], "test", threshold=bad)
    with pytest.raises(LmhldError, match=r"dataset folder .*a32 is given twice .*give each folder once"):
        evaluate_dataset(RedBackend(), [areas["a32"], areas["a32"]], "test")
    with pytest.raises(LmhldError, match=r"1 name\(s\) for 2 dataset folder\(s\)"):
        evaluate_dataset(RedBackend(), [areas["a32"], areas["b32"]], "test", names=["a"])


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
    assert blind["tp"] == 0 and blind["recall"] == 0 and blind["precision"] == 0.0 and blind["n_detected"] == 0


def test_dataset_object_figures_count_regions_per_patch(areas):
    from lmhld_qgis.core.datasets import open_dataset
    from lmhld_qgis.core.metrics import ObjectCounts

    result = evaluate_dataset(RedBackend(), areas["a32"], "test", match=0.5)
    # no minimum area on the card: detection's default, 0.1% of the model's 64 px patch (4 px), as detect applies
    expected, raw = ObjectCounts(), ObjectCounts()
    for s in open_dataset(areas["a32"], "test"):
        expected = expected + ObjectCounts.of(s.image[2] > 1000, s.mask, 0.5, min_pixels=4)
        raw = raw + ObjectCounts.of(s.image[2] > 1000, s.mask, 0.5)
    assert (result["n_inventory"], result["n_detected"]) == (expected.n_inventory, expected.n_detected) > (0, 0)
    assert result["n_detected"] < raw.n_detected  # a probe counted 2706 "detections" on 6 patches, specks and all
    assert result["n_detected_correct"] == expected.n_detected_correct and result["inventory_detected"] > 0.8
    assert result["detected_correct"] == pytest.approx(expected.detected_correct)  # specks of noise lower it
    assert result["per_area"]["a32"]["n_inventory"] == expected.n_inventory
    blind = evaluate_dataset(RedBackend(cut=1e9), areas["a32"], "test")
    assert blind["n_detected"] == 0 and blind["inventory_detected"] == 0.0 and blind["detected_correct"] == 0.0
    # a model whose card holds a minimum landslide area: its object figures leave out the specks detection drops
    # (45 m2 at 3 m: 5 px), its pixel figures do not
    carded = RedBackend()
    carded.card.min_area_m2 = 45.0
    cleaned = evaluate_dataset(carded, areas["a32"], "test", match=0.5)
    expected = ObjectCounts()
    for s in open_dataset(areas["a32"], "test"):
        expected = expected + ObjectCounts.of(s.image[2] > 1000, s.mask, 0.5, min_pixels=5)
    assert cleaned["per_area"]["a32"]["object_min_pixels"] == 5 and result["per_area"]["a32"]["object_min_pixels"] == 4
    assert (cleaned["n_detected"], cleaned["n_detected_correct"]) == (expected.n_detected, expected.n_detected_correct)
    assert cleaned["f1"] == result["f1"]


def test_scene_figures_are_those_of_the_delivered_polygons(tmp_path):
    """Pixel figures count the polygons as written; `raw` counts the probability cut before the cleaning."""
    from lmhld_qgis.core.detect import DetectOptions

    scene = make_scene(tmp_path / "s", width=300, height=300, n_landslides=20, seed=3)
    big = 1e6  # drops every polygon: the delivered inventory is empty, the raw cut is not
    result = evaluate_scene(RedBackend(), scene.raster, scene.inventory, options=DetectOptions(min_area_m2=big))
    assert result["tp"] == 0 and result["n_detected"] == 0 and result["dropped"]["below the minimum area"] > 10
    assert result["raw"]["tp"] > 0 and result["raw"]["f1"] > 0.9
    assert result["tp"] + result["fn"] == result["raw"]["tp"] + result["raw"]["fn"]  # the same truth
    assert json.loads(json.dumps(result))["postprocess"]["min_area_m2"] == big


def test_scene_without_valid_pixels_or_inventory_is_named(tmp_path):
    from lmhld_qgis.core.errors import LmhldError

    from ..helpers import square, write_polygons, write_raster

    raster = write_raster(tmp_path / "nd.tif", np.zeros((4, 64, 64), np.uint16), nodata=0,
                          descriptions=BANDS)
    inventory = write_polygons(tmp_path / "inv.gpkg", [square(500_000.0, 3_999_900.0, 30)])
    with pytest.raises(LmhldError, match="no valid pixel"):
        evaluate_scene(RedBackend(), raster, inventory, error_map=tmp_path / "e.tif", json_out=tmp_path / "r.json")
    assert not (tmp_path / "e.tif").exists() and not (tmp_path / "r.json").exists()

    scene = make_scene(tmp_path / "s", width=128, height=128, n_landslides=5, seed=2)
    far = write_polygons(tmp_path / "far.gpkg", [square(0.0, 0.0, 30)])

    with pytest.raises(LmhldError, match=r"no polygon of the inventory far.gpkg .* overlaps raster"):
        evaluate_scene(RedBackend(), scene.raster, far)  # a wrong file or CRS would otherwise score F1 0 silently


def test_a_scene_cut_from_a_larger_area_is_scored_on_its_own_landslides(tmp_path):
    """The inventory of the whole area, the scene a corner of it: landslides outside are not counted as missed,
    and one across the edge counts by its part inside."""
    from osgeo import gdal

    scene = make_scene(tmp_path / "s", width=400, height=300, n_landslides=30, seed=9)
    whole = evaluate_scene(RedBackend(), scene.raster, scene.inventory)
    corner = tmp_path / "corner.tif"
    gdal.Translate(str(corner), str(scene.raster), srcWin=[0, 0, 200, 150])
    part = evaluate_scene(RedBackend(), corner, scene.inventory)
    assert 0 < part["n_inventory"] < whole["n_inventory"]
    assert part["inventory_detected"] > 0.8  # those inside are found, as over the whole scene


def test_an_inventory_just_created_is_a_landslide_free_reference(tmp_path):
    """`lmhld create-inventory`'s file before any polygon is drawn: the scene is scored as landslide-free (was
    refused: 'is empty ... digitize landslide polygons first'), and the log says what that means."""
    from lmhld_qgis.core.inventory_schema import create_inventory

    scene = make_scene(tmp_path / "s", width=128, height=128, n_landslides=5, seed=2)
    empty = create_inventory(tmp_path / "inventory.gpkg", raster=scene.raster)
    with pytest.warns(UserWarning, match="inventory.gpkg holds no landslide: the scene is scored as landslide-free"):
        result = evaluate_scene(RedBackend(), scene.raster, empty)
    assert result["n_inventory"] == 0 and result["tp"] == result["fn"] == 0
    assert result["fp"] > 0 and result["precision"] == 0.0 and result["f1"] == 0.0


def test_invalid_reference_geometries_are_reported_once_not_as_raw_geos_warnings(tmp_path, capfd):
    """A bow-tie in the reference: one line says it was repaired for scoring; GEOS's own 'Self-intersection at or
    near point' (printed by GDAL to the process's stderr) no longer leaks beside it."""
    from osgeo import ogr

    scene = make_scene(tmp_path / "s", width=128, height=128, n_landslides=5, seed=2)
    ds = ogr.Open(str(scene.inventory), 1)
    layer = ds.GetLayer(0)
    x0, _, _, y1 = layer.GetExtent()
    feat = ogr.Feature(layer.GetLayerDefn())
    feat.SetGeometry(ogr.CreateGeometryFromWkt(
        f"POLYGON(({x0} {y1 - 60},{x0 + 60} {y1},{x0 + 60} {y1 - 60},{x0} {y1},{x0} {y1 - 60}))"))
    layer.CreateFeature(feat)
    ds = layer = feat = None
    with pytest.warns(UserWarning, match=r"1 invalid geometries of inventory \S+ were repaired for scoring"):
        evaluate_scene(RedBackend(), scene.raster, scene.inventory)
    assert "Self-intersection" not in capfd.readouterr().err


def test_landslides_wholly_on_nodata_are_not_counted_as_missed(tmp_path):
    """A scene whose left half is nodata (a swath edge, a cloud mask): the landslides there had no pixel to be
    found on; the object figures score the others and the log says how many were left out."""
    import rasterio

    from lmhld_qgis.core.vector import read_polygons

    scene = make_scene(tmp_path / "s", width=400, height=300, n_landslides=30, seed=9)
    whole = evaluate_scene(RedBackend(), scene.raster, scene.inventory)
    half = tmp_path / "half.tif"
    with rasterio.open(scene.raster) as src:
        data, profile = src.read(), {**src.profile, "nodata": 0}
        cut = src.transform.c + 200 * src.transform.a  # x of the 200th column
    data[:, :, :200] = 0
    with rasterio.open(half, "w", **profile) as dst:
        dst.write(data)
    envelopes = [g.GetEnvelope() for g in read_polygons(scene.inventory).geometries]
    wholly_left = sum(maxx <= cut for _, maxx, _, _ in envelopes)
    assert wholly_left >= 5

    class Said(NullProgress):
        def __init__(self):
            self.lines: list[str] = []

        def info(self, message):
            self.lines.append(message)

    said = Said()
    part = evaluate_scene(RedBackend(), half, scene.inventory, progress=said)
    assert part["n_inventory"] == whole["n_inventory"] - wholly_left
    # every landslide is found over the whole scene, and so on the valid half: those across the nodata's edge
    # by their part on valid pixels (counted by their whole area, 3 of 17 were missed)
    assert whole["inventory_detected"] == part["inventory_detected"] == 1.0
    assert f"{wholly_left} inventory polygon(s) lie wholly on the scene's nodata pixels, where nothing can be " \
           "detected, and are not counted as missed" in said.lines


def test_a_folder_without_splits_is_scored_with_a_warning_and_bands_by_position_are_said(tmp_path):
    """An image/mask folder (as CAS's) has no held-out split: every 'split' is every patch, the model's training ones
    included (a probe found identical 'test' and 'train' figures, said nowhere); bands matched by position were
    silent too, where detection warns."""
    from ..helpers import write_raster

    (tmp_path / "cas" / "images").mkdir(parents=True)
    (tmp_path / "cas" / "masks").mkdir()
    write_raster(tmp_path / "cas" / "images" / "a.tif", np.full((4, 64, 64), 500, np.uint16), epsg=None)
    write_raster(tmp_path / "cas" / "masks" / "a.tif", np.zeros((64, 64), np.uint8), epsg=None)
    said: list[str] = []

    class Warned(NullProgress):
        def warn(self, message):
            said.append(message)

    result = evaluate_dataset(RedBackend(), tmp_path / "cas", "test", progress=Warned())
    assert result["patches"] == 1
    assert any(m.startswith(f"{tmp_path / 'cas'} has no splits: all its 1 patches are scored as 'test', including "
                            "any the model was trained on") for m in said)
    assert any("(band1, band2, band3, band4) are not named as the model's (blue, green, red, nir); using them in "
               "order" in m for m in said)
    # a model whose card names its training data: another folder is not said to hold it (a probe's CAS Luding,
    # scored with a model trained on CAS Hokkaido, was)
    said.clear()
    trained = RedBackend()
    trained.card.training_dataset = "hokkaido"
    evaluate_dataset(trained, tmp_path / "cas", "test", progress=Warned())
    assert any(m == f"{tmp_path / 'cas'} has no splits: all its 1 patches are scored as 'test'; the model card names "
               "hokkaido as its training data, not cas" for m in said), said


def test_two_folders_of_one_name_keep_their_own_per_area_figures(tmp_path):
    """Two Landslide4Sense folders are both 'landslide4sense', two CAS folders of one sub-dataset both its name: the
    second area's figures overwrote the first's in per_area. They are filed by folder then, or by the names given."""
    from ..helpers import write_raster

    roots = []
    for where, value in (("a", 500), ("b", 2000)):  # a: nothing detected; b: every pixel detected
        root = tmp_path / where / "hokkaido"
        for sub in ("images", "masks"):
            (root / sub).mkdir(parents=True)
        write_raster(root / "images" / "p.tif", np.full((4, 64, 64), value, np.uint16), epsg=None)
        write_raster(root / "masks" / "p.tif", np.ones((64, 64), np.uint8), epsg=None)
        roots.append(root)
    result = evaluate_dataset(RedBackend(), roots, "test")
    assert {k: v["recall"] for k, v in result["per_area"].items()} == {str(roots[0]): 0.0, str(roots[1]): 1.0}
    named = evaluate_dataset(RedBackend(), roots, "test", names=["dry", "wet"])
    assert {k: v["recall"] for k, v in named["per_area"].items()} == {"dry": 0.0, "wet": 1.0}


def test_polygons_that_only_touch_are_matched_without_gdal_warnings(capfd):
    """A detection touching a landslide at a corner: their intersection is a point, whose GetArea made GDAL print
    'OGR_G_Area() called against non-surface geometry type' (six times in one probe's evaluate); it covers nothing."""
    from osgeo import ogr

    from lmhld_qgis.core.evaluate import _covered_count, _within_scene
    from lmhld_qgis.core.vector import surface_area

    square = ogr.CreateGeometryFromWkt("POLYGON((0 0,10 0,10 10,0 10,0 0))")
    beside = ogr.CreateGeometryFromWkt("POLYGON((10 10,20 10,20 20,10 20,10 10))")  # touches the corner (10, 10)
    overlapping = ogr.CreateGeometryFromWkt("POLYGON((5 0,15 0,15 10,5 10,5 0))")
    corner = ogr.CreateGeometryFromWkt("MULTILINESTRING((0 0,1 1))")
    assert surface_area(corner) == 0.0 and surface_area(square) == 100.0
    assert _covered_count([square], [beside], 0.5) == 0
    assert _covered_count([square], [beside, overlapping], 0.5) == 1
    inside, outside = _within_scene([beside], square)  # a landslide touching the scene's edge from outside
    assert (inside, outside) == ([], 1)
    assert "OGR_G_Area" not in capfd.readouterr().err


def test_missing_pixels_of_a_patch_are_left_out_of_the_scores_and_said(tmp_path):
    """A Landslide4Sense patch with a NaN block was scored pixel for pixel, its NaN pixels included, without a word
    (training refuses such data by name; scene evaluation leaves nodata out)."""
    from ..helpers import write_raster

    (tmp_path / "d" / "images").mkdir(parents=True)
    (tmp_path / "d" / "masks").mkdir()
    image = np.full((4, 64, 64), 500, np.float32)
    image[2, :32] = 2000  # the top half looks like a landslide to RedBackend, and is one
    image[:, :10, :10] = np.nan  # a gap in the top-left corner, on the landslide
    mask = np.zeros((64, 64), np.uint8)
    mask[:32] = 1
    write_raster(tmp_path / "d" / "images" / "a.tif", image, epsg=None)
    write_raster(tmp_path / "d" / "masks" / "a.tif", mask, epsg=None)
    said: list[str] = []

    class Warned(NullProgress):
        def warn(self, message):
            said.append(message)

    result = evaluate_dataset(RedBackend(), tmp_path / "d", "test", progress=Warned())
    assert (result["tp"], result["fp"], result["fn"]) == (32 * 64 - 100, 0, 0)
    assert result["tn"] == 32 * 64 and result["f1"] == 1.0
    assert result["per_area"]["d"]["missing_pixels"] == 100
    assert any("100 pixel(s) of 1 'test' patch(es) are missing (NaN, infinite or nodata in a band) and are left "
               "out of the scores" in m for m in said)


def test_patches_scaled_otherwise_than_the_training_imagery_are_said(areas):
    """A model trained on 8-bit patches scored on a 16-bit copy of them called nearly every pixel a landslide, and
    its F1 of 0.24 (0.38 on the 8-bit patches) read as a poor model's: detection warns of such a scene, evaluation
    said nothing. Now it warns alike, naming the bands."""
    from lmhld_qgis.core.datasets import open_dataset

    images = np.concatenate([s.image.reshape(4, -1) for s in open_dataset(areas["a32"], "test")], axis=1)
    said: list[str] = []

    class Warned(NullProgress):
        def warn(self, message):
            said.append(message)

    backend = RedBackend()
    backend.card.mean, backend.card.std = images.mean(axis=1).tolist(), images.std(axis=1).tolist()
    evaluate_dataset(backend, areas["a32"], "test", progress=Warned())
    assert not [m for m in said if "training imagery" in m], said
    backend.card.mean = [m / 257 for m in backend.card.mean]  # trained on an 8-bit copy
    backend.card.std = [s / 257 for s in backend.card.std]
    evaluate_dataset(backend, areas["a32"], "test", progress=Warned())
    far = [m for m in said if "typical values far from the training imagery's" in m]
    assert len(far) == 1 and far[0].startswith(f"{areas['a32']} ('test' split): "), said
    assert "band 3 (red)" in far[0] and "The patches are scaled otherwise" in far[0] and "the scores may mean" in far[0]


def test_delivered_polygons_are_scored_as_they_are_now_without_the_model(tmp_path):
    """An analyst's reviewed detections could only be scored by running the model again, over the polygons as
    detection first wrote them. evaluate_detections scores the file as it is now, on the probability raster's grid;
    a detection the review rejected is left out."""
    from osgeo import ogr

    from lmhld_qgis.core.detect import DetectOptions
    from lmhld_qgis.core.evaluate import evaluate_detections

    scene = make_scene(tmp_path / "s", width=400, height=300, n_landslides=30, seed=9, nodata_box=(0, 0, 50, 50))
    polys, prob = tmp_path / "det.gpkg", tmp_path / "prob.tif"
    delivered = evaluate_scene(RedBackend(), scene.raster, scene.inventory, polygons_out=polys, prob_out=prob,
                               options=DetectOptions(min_area_m2=50))
    again = evaluate_detections(polys, prob, scene.inventory, json_out=tmp_path / "r.json")
    keys = ("tp", "fp", "fn", "tn", "f1", "n_detected", "n_inventory", "n_detected_correct", "inventory_detected")
    assert {k: again[k] for k in keys} == {k: delivered[k] for k in keys} and again["raw"] == delivered["raw"]
    assert json.loads((tmp_path / "r.json").read_text())["f1"] == pytest.approx(again["f1"])
    ds = ogr.Open(str(polys), 1)  # the review dock's decision on one detection
    layer = ds.GetLayer("landslides")
    layer.CreateField(ogr.FieldDefn("review", ogr.OFTString))
    first = layer.GetNextFeature()
    first.SetField("review", "rejected")
    layer.SetFeature(first)
    ds = layer = first = None
    said: list[str] = []

    class Said(NullProgress):
        def info(self, message):
            said.append(message)

    reviewed = evaluate_detections(polys, prob, scene.inventory, progress=Said())
    assert reviewed["n_detected"] == delivered["n_detected"] - 1 and reviewed["rejected_left_out"] == 1
    assert "1 detection(s) of det.gpkg rejected in a review are left out" in said
    with pytest.raises(LmhldError, match=r"scene\.tif is not a probability raster: band 1 holds values"):
        evaluate_detections(polys, scene.raster, scene.inventory)  # the scene given for its probability raster
