"""Generated scenes: the "easy" scene is the one it always was; "hard" scenes hold look-alikes that fool a
spectral rule; generated areas differ the way real scenes do."""

from __future__ import annotations

import hashlib
import warnings

import numpy as np
import pytest
import rasterio
from osgeo import gdal, ogr

from lmhld_qgis.core.errors import LmhldError
from lmhld_qgis.core.synthetic import BANDS, Distractors, Domain, make_areas, make_scene


def read(scene):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with rasterio.open(scene.raster) as src:
            image = src.read().astype(np.float64)
            descriptions = src.descriptions
    truth = gdal.Rasterize("", str(scene.inventory), format="MEM", outputType=gdal.GDT_Byte, burnValues=[1],
                           width=image.shape[2], height=image.shape[1],
                           outputBounds=rasterio.open(scene.raster).bounds).ReadAsArray().astype(bool)
    return image, truth, descriptions


def brightness_rule(image):
    """A model that learnt "bright red = landslide" on easy scenes."""
    return image[2] > 1000


def precision(pred, truth):
    return (pred & truth).sum() / max(pred.sum(), 1)


def test_easy_scene_is_the_scene_it_always_was(tmp_path):
    # digest of the pixels make_scene wrote before presets existed (numpy < 2 is pinned: PCG64 streams are stable)
    scene = make_scene(tmp_path, width=300, height=200, n_landslides=12, seed=3, nodata_box=(0, 0, 20, 30))
    with rasterio.open(scene.raster) as src:
        pixels = src.read()
    assert hashlib.sha256(pixels.tobytes()).hexdigest() == \
        "86b49a95ef67aaaec6291961c73b4354d4e51bdae6302c647ed51eb059c3873f"
    assert scene.distractors is None


def test_hard_scene_fools_a_brightness_rule_that_the_easy_one_does_not(tmp_path):
    easy = make_scene(tmp_path / "easy", width=768, height=768, n_landslides=80, seed=5)
    hard = make_scene(tmp_path / "hard", width=768, height=768, n_landslides=80, seed=5, preset="hard")
    (e_img, e_truth, e_bands), (h_img, h_truth, h_bands) = read(easy), read(hard)
    assert e_bands == h_bands == BANDS
    assert np.array_equal(e_truth, h_truth)  # the same landslides: only what surrounds them changed
    assert precision(brightness_rule(e_img), e_truth) > 0.9
    assert precision(brightness_rule(h_img), h_truth) < 0.65  # 0.50: half of what it flags is not a landslide
    # every kind of look-alike is drawn and listed with its kind
    ds = ogr.Open(str(hard.distractors))
    kinds = {f.GetField("kind") for f in ds.GetLayer("distractors")}
    assert {"bare soil", "road", "river sediment", "water", "cloud shadow"} <= kinds
    assert kinds & {"ploughed field", "green field", "stubble field"}


def test_distractors_and_domain_can_be_given_one_by_one(tmp_path):
    shadows = make_scene(tmp_path / "s", width=512, height=512, n_landslides=10, seed=1,
                         distractors=Distractors(cloud_shadows=8))
    plain = make_scene(tmp_path / "p", width=512, height=512, n_landslides=10, seed=1)
    s_img, _, _ = read(shadows)
    p_img, _, _ = read(plain)
    darker = s_img.mean(axis=0) < 0.75 * p_img.mean(axis=0)
    assert 0.02 < darker.mean() < 0.6  # shadow blobs darken a part of the scene
    ds = ogr.Open(str(shadows.distractors))
    assert {f.GetField("kind") for f in ds.GetLayer(0)} == {"cloud shadow"}
    with pytest.raises(LmhldError, match="preset must be one of easy, hard"):
        make_scene(tmp_path / "x", preset="impossible")


def test_generated_areas_differ_like_real_scenes(tmp_path):
    areas = make_areas(tmp_path, 3, width=384, height=384, n_landslides=30)
    assert [a.raster.name for a in areas] == ["area_0.tif", "area_1.tif", "area_2.tif"]
    assert len({a.domain for a in areas}) == 3
    means = []
    for area in areas:
        image, truth, _ = read(area)
        means.append(image[:, ~truth].mean(axis=1))  # the background's mean per band
    means = np.array(means)
    spread = (means.max(axis=0) - means.min(axis=0)) / means.mean(axis=0)
    assert (spread > 0.04).all()  # each band's background moves between areas by more than a few percent
    # and a brightness threshold fitted on one area does not carry over to another unchanged
    img0, truth0, _ = read(areas[0])
    best = max(range(800, 2000, 25), key=lambda t: _f1(img0[2] > t, truth0))
    scores = [_f1(read(a)[0][2] > best, read(a)[1]) for a in areas]
    assert scores[0] > max(scores[1:]) + 0.02


def kinds(scene):
    ds = ogr.Open(str(scene.distractors))  # held while its layer is read
    return sorted(f.GetField("kind") for f in ds.GetLayer(0))


def _f1(pred, truth):
    tp = (pred & truth).sum()
    return 2 * tp / max(pred.sum() + truth.sum(), 1)


def test_domain_strength_zero_is_the_default_look():
    d = Domain.random(4, strength=0.0)
    assert (d.illumination, d.gain, d.haze, d.vegetation, d.shading) == (1.0, (1.0,) * 4, (0.0,) * 4, 1.0, 0.08)


def test_zoom_draws_the_same_ground_with_finer_pixels(tmp_path):
    """zoom=4 at a quarter of the pixel size: the same landslides and look-alikes on the ground, each 4 times larger
    in pixels (16 times the area), as UAV imagery shows a region a satellite sees coarser."""
    coarse = make_scene(tmp_path / "c", width=128, height=128, n_landslides=12, seed=7, preset="hard", pixel=2.0)
    fine = make_scene(tmp_path / "f", width=512, height=512, n_landslides=12, seed=7, preset="hard", pixel=0.5,
                      zoom=4)
    (c_img, c_truth, _), (f_img, f_truth, _) = read(coarse), read(fine)
    assert f_truth.sum() / c_truth.sum() == pytest.approx(16, rel=0.05)  # the same ground, 16 fine pixels each
    # the fine truth averaged back onto the coarse grid is the coarse truth (up to the outlines' pixels)
    pooled = f_truth.reshape(128, 4, 128, 4).mean(axis=(1, 3)) > 0.5
    assert (pooled != c_truth).mean() < 0.02
    assert kinds(fine) == kinds(coarse)
    # the sensor noise stays per pixel: neighbouring fine pixels differ as much as neighbouring coarse ones
    assert np.std(np.diff(f_img[3], axis=1)) == pytest.approx(np.std(np.diff(c_img[3], axis=1)), rel=0.25)
    with pytest.raises(LmhldError, match="zoom must lie between 1 and 16"):
        make_scene(tmp_path / "x", zoom=0.5)


def test_canopy_makes_the_surface_model_a_forest_dsm(tmp_path):
    """canopy=18: trees over part of the ground, none on scars or look-alikes, the same terrain under them; the image
    shows the forest where the surface model has it."""
    options = dict(width=384, height=384, n_landslides=6, seed=3, preset="hard", elevation=900.0, zoom=3, pixel=0.5)
    bare = make_scene(tmp_path / "bare", **options)
    forest = make_scene(tmp_path / "forest", canopy=18.0, **options)
    (b_img, truth, _), (f_img, f_truth, _) = read(bare), read(forest)
    assert (truth == f_truth).all()
    raised = f_img[4] - b_img[4]
    trees = raised > 4  # crowns stand 10-18 m; the DSM's noise is 0.5 m and the terrain is rounded to metres
    assert 0.05 < trees.mean() < 0.9  # stands of forest, a few hundred metres across
    assert not (trees & truth).any()  # the scars are cleared
    assert np.abs(raised[~trees]).max() <= 3  # the same terrain where no tree stands: noise and rounding only
    assert raised[trees].max() <= 20 and np.median(raised[trees]) > 10
    assert f_img[3][trees].mean() != pytest.approx(b_img[3][trees].mean(), rel=0.02)  # the crowns show in the image
    with pytest.raises(LmhldError, match="canopy is a tree height in metres"):
        make_scene(tmp_path / "x", canopy=10.0)
