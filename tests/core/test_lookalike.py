"""Look-alike background: the pixel model, the order of candidates, and what export keeps on a hard scene."""

from __future__ import annotations

import numpy as np
import pytest

from lmhld_qgis.core.errors import LmhldError
from lmhld_qgis.core.export_options import ExportOptions
from lmhld_qgis.core.lookalike import MIN_LANDSLIDE_PIXELS, LookalikeModel, PixelSampler, pick

SCAR = np.array([1250.0, 1350.0, 1550.0, 2050.0])
FOREST = np.array([420.0, 760.0, 540.0, 3100.0])


def window(spectrum, rng, size=16):
    return (spectrum[:, None, None] + rng.normal(0, 60, (4, size, size))).astype(np.float32)


def test_model_puts_bare_ground_on_the_landslide_side_and_forest_on_the_other():
    rng = np.random.default_rng(0)
    sampler = PixelSampler(seed=0)
    for i in range(16):  # landslide windows of one raster, side by side: a scar in the forest
        image = window(FOREST, rng)
        mask = np.zeros((16, 16), np.uint8)
        mask[4:12, 4:12] = 1
        image[:, 4:12, 4:12] = window(SCAR, rng, 8)
        sampler.add(image, mask, (0, 0, 16 * i))
    assert sampler.landslide_pixels == 16 * 64
    model = sampler.fit()
    assert model is not None
    bare_soil = window(SCAR * 1.05, rng)
    assert model.score(bare_soil) > 0.9 and model.score(window(FOREST, rng)) < 0.05
    image = window(FOREST, rng)
    image[:, :, :8] = np.nan  # missing pixels are not scored
    assert model.score(image) < 0.05


def test_model_needs_pixels_of_both_kinds():
    assert PixelSampler(0).fit() is None
    assert LookalikeModel.fit(np.ones((3, 4)), np.ones((50, 4))) is None


def test_model_needs_enough_distinct_landslide_pixels():
    """Overlapping windows count a landslide pixel once; below MIN_LANDSLIDE_PIXELS (a few small landslides, as
    on Kaikoura) there is no model, so the background stays a random sample."""
    rng = np.random.default_rng(0)
    sampler = PixelSampler(seed=0)
    mask = np.zeros((16, 16), np.uint8)
    mask[:, :12] = 1  # 192 landslide pixels per window
    for shift in range(0, 40, 4):  # ten windows overlapping by 12 of 16 columns
        sampler.add(window(SCAR, rng), mask, (0, 0, shift))
    assert sampler.landslide_pixels == 16 * (36 + 12)
    assert sampler.fit() is None and sampler.fit(min_landslide_pixels=700) is not None
    sampler.add(window(SCAR, rng), mask, (1, 0, 0))  # another raster: other pixels
    assert sampler.landslide_pixels == 16 * 48 + 192
    assert MIN_LANDSLIDE_PIXELS == 1000


def test_pick_tries_the_most_landslide_like_first_then_the_rest_at_random():
    candidates = list(range(100, 110))
    scores = [0.0, 0.9, 0.1, 0.0, 0.5, 0.0, 0.0, 0.0, 0.7, 0.0]
    order = pick(candidates, scores, wanted=6, lookalike_share=0.5, rng=np.random.default_rng(1))
    assert order[:3] == [101, 108, 104] and sorted(order) == candidates
    assert pick(candidates, scores, 6, 0.5, np.random.default_rng(1)) == order  # seeded
    only_one = pick(candidates, [0.0] * 9 + [0.2], wanted=6, lookalike_share=1.0, rng=np.random.default_rng(1))
    assert only_one[0] == 109 and sorted(only_one) == candidates  # no look-alike without a landslide-like pixel
    assert pick([], [], 3, 0.5, np.random.default_rng(0)) == []


def test_share_is_checked():
    with pytest.raises(LmhldError, match=r"look-alike share must lie in \[0, 1\]"):
        ExportOptions(patch_size=32, lookalike_share=1.5).validate()
    assert ExportOptions(patch_size=32).settings().lookalike_share == 0.5  # the generalise recipe
    assert ExportOptions(patch_size=32, recipe="paper").settings().lookalike_share == 0.0


def _background_lookalike_cover(scene, out, share) -> tuple[float, dict]:
    """Mean share of the kept background patches covered by the scene's bright look-alikes."""
    import json

    from osgeo import gdal, ogr

    from lmhld_qgis.core.export import export_patches

    report = export_patches([scene.raster], scene.inventory, out,
                            ExportOptions(patch_size=64, lookalike_share=share))
    raster = gdal.Open(str(scene.raster))
    burnt = gdal.GetDriverByName("MEM").Create("", raster.RasterXSize, raster.RasterYSize, 1, gdal.GDT_Byte)
    burnt.SetGeoTransform(raster.GetGeoTransform())
    burnt.SetProjection(raster.GetProjection())
    looks = ogr.Open(str(scene.distractors))
    layer = looks.GetLayer()
    layer.SetAttributeFilter("kind IN ('bare soil', 'river sediment', 'ploughed field', 'road', 'track')")
    gdal.RasterizeLayer(burnt, [1], layer, burn_values=[1])
    cover = burnt.ReadAsArray().astype(bool)
    patches_file = ogr.Open(str(report.out_dir / "patches.gpkg"))  # held: a layer dies with its dataset
    patches = patches_file.GetLayer()
    x0, px, _, y0, _, py = raster.GetGeoTransform()
    shares = []
    for feature in patches:
        left, _, _, top = feature.GetGeometryRef().GetEnvelope()
        row, col = round((top - y0) / py), round((left - x0) / px)
        # every patch holds its own window's pixels: scoring candidates reads windows while patches wait to be written
        written = gdal.Open(str(report.out_dir / "img" / f"{feature.GetField('id')}.tif")).ReadAsArray()
        assert np.array_equal(written, raster.ReadAsArray(col, row, 64, 64)), feature.GetField("id")
        if feature.GetField("kind") == "background":
            shares.append(cover[row:row + 64, col:col + 64].mean())
    card = json.loads((report.out_dir / "dataset.json").read_text())
    return float(np.mean(shares)), card


def test_export_keeps_more_look_alikes_among_its_background_patches(tmp_path):
    """On a hard generated scene (bare soil, sediment bars, ploughed fields, tracks), the default recipe's
    background patches hold clearly more look-alike ground than a random sample of the same size."""
    from lmhld_qgis.core.synthetic import make_scene

    scene = make_scene(tmp_path / "scene", width=768, height=768, n_landslides=50, seed=21, preset="hard")
    random_cover, random_card = _background_lookalike_cover(scene, tmp_path / "random", 0.0)
    chosen_cover, card = _background_lookalike_cover(scene, tmp_path / "lookalike", None)
    assert card["recipe"]["lookalike_share"] == 0.5 and random_card["recipe"]["lookalike_share"] == 0.0
    # the same share of background (the split, and so the training-only windows, may differ by a few)
    assert abs(card["counts_by_kind"]["background"] - random_card["counts_by_kind"]["background"]) <= 4
    assert chosen_cover > 1.5 * random_cover, (chosen_cover, random_cover)


def test_few_small_landslides_keep_the_background_random(shared_data):
    """Kaikoura scene 70 (real, 10 m): 9 landslides of 20 pixels in all. No look-alike model, and the plan says
    why; the background windows are those a random draw gives (lookalike_share 0)."""
    from lmhld_qgis.core.export import plan_patches

    root = shared_data / "kaikoura"
    raster, inventory = root / "diff_landslide_70.tif", root / "label_landslide_70.shp"
    options = {"patch_size": 32, "min_fraction": 0.0, "stride": 8, "tolerance": 0.5}
    plan = plan_patches([raster], inventory, ExportOptions(**options))
    assert any("look-alike background off" in w and "fewer than the 1000 needed" in w for w in plan.warnings), \
        plan.warnings
    random = plan_patches([raster], inventory, ExportOptions(**options, lookalike_share=0.0))
    assert plan.counts_by_kind()["background"] > 0
    assert [(w.row, w.col, w.kind, w.split) for w in plan.kept()] == \
        [(w.row, w.col, w.kind, w.split) for w in random.kept()]
    assert [w for w in random.warnings if "look-alike" in w] == []
