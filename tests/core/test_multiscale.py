"""Detection's coarse context pass: when it runs, what it fuses, and that it finds landslides larger than a tile."""

from __future__ import annotations

import json

import numpy as np
import pytest
import rasterio

from lmhld_qgis.core.context import choose_context
from lmhld_qgis.core.detect import DetectOptions, detect
from lmhld_qgis.core.errors import LmhldError
from lmhld_qgis.core.inventory import large_landslide_area_m2
from lmhld_qgis.core.modelcard import ModelCard

from ..helpers import write_polygons, write_raster
from .test_detect import IdentityBackend


class OutlineBackend:
    """Sees a landslide only with its outline: bright pixels are landslide (0.9) in a tile that also holds dark
    ground, else background (0.1), as a network that learnt bare fields as background treats a scar's interior."""

    provider = "test-outline"

    def __init__(self, tile=32):
        self.card = ModelCard("outline", 1, bands=["p"], patch_size=tile, resolution_m=3.0, output="probability",
                              tiles_overlap=0.0)

    def predict(self, x):
        out = np.full((x.shape[0], x.shape[2], x.shape[3]), 0.1, np.float32)
        for i, tile in enumerate(x[:, 0]):
            if tile.min() < 0.5:
                out[i][tile >= 0.5] = 0.9
        return out


def read(path):
    with rasterio.open(path) as ds:
        return ds.read(1)


def big_scar(tmp_path, nodata_corner=False):
    """A 160 x 160 scene with one bright 100 x 100 px scar (bright 1, ground 0)."""
    p = np.zeros((160, 160), np.float32)
    p[30:130, 30:130] = 1.0
    if nodata_corner:
        p[:16, :16] = -9999
    return write_raster(tmp_path / "scar.tif", p, descriptions=["p"], nodata=-9999 if nodata_corner else None)


def test_a_landslide_larger_than_a_tile_is_found_whole_with_the_coarse_pass(tmp_path):
    raster = big_scar(tmp_path)
    off = detect(raster, OutlineBackend(), tmp_path / "off.gpkg", tmp_path / "off.tif",
                 DetectOptions(context="off", min_area_m2=0))
    on = detect(raster, OutlineBackend(), tmp_path / "on.gpkg", tmp_path / "on.tif",
                DetectOptions(context="4", min_area_m2=0))
    scar = np.zeros((160, 160), bool)
    scar[30:130, 30:130] = True
    p_off, p_on = read(tmp_path / "off.tif"), read(tmp_path / "on.tif")
    recall_off, recall_on = (p_off[scar] >= 0.5).mean(), (p_on[scar] >= 0.5).mean()
    assert recall_off <= 0.1  # the nine tiles inside the scar see no outline: its core is missed
    # seen with pixels four times larger every tile over the scar holds its outline; the erosion of the coarse view
    # leaves out a strip of a coarse pixel along the outline that these fine tiles happen not to cover
    assert recall_on >= 0.99
    assert (p_on[~scar] >= 0.5).sum() <= 0.05 * (~scar).sum()  # the ground stays ground (a rim of blur at most)
    assert (off.n_polygons, on.n_polygons) == (1, 1)  # a ring around a missed core, then the scar whole
    assert off.context == "off" and on.context.startswith("a coarse pass at 1/4")
    assert on.n_windows == off.n_windows + 4  # the coarse pass: 40 x 40 px in 32 px tiles
    assert json.loads(json.dumps(on.to_json()))["context"] == on.context


def test_fusion_is_the_maximum_where_the_fine_pass_saw_the_pixel_and_nodata_elsewhere(tmp_path):
    rng = np.random.default_rng(3)
    p = rng.uniform(0, 1, (96, 128)).astype(np.float32)
    p[:8, :8] = -9999
    raster = write_raster(tmp_path / "p.tif", p, descriptions=["p"], nodata=-9999)
    options = {"overlap": 0, "min_area_m2": 0}
    detect(raster, IdentityBackend(tile=32), tmp_path / "a.gpkg", tmp_path / "a.tif",
           DetectOptions(context="off", **options))
    detect(raster, IdentityBackend(tile=32), tmp_path / "b.gpkg", tmp_path / "b.tif",
           DetectOptions(context="2", **options))
    detect(raster, IdentityBackend(tile=32), tmp_path / "c.gpkg", tmp_path / "c.tif",
           DetectOptions(context="2", chunk_width=48, **options))
    fine, fused, chunked = read(tmp_path / "a.tif"), read(tmp_path / "b.tif"), read(tmp_path / "c.tif")
    valid = p != -9999
    assert np.array_equal(fine[valid], p[valid])
    assert (fused[valid] >= fine[valid]).all() and (fused[valid] > fine[valid]).mean() > 0.05  # the max, not a copy
    assert (fused[~valid] == -1).all()  # nodata stays nodata
    assert np.array_equal(fused, chunked)  # column chunks give the same raster


def test_the_coarse_pass_adds_no_rim_around_what_the_fine_pass_found(tmp_path):
    p = np.zeros((128, 128), np.float32)
    p[37:91, 29:77] = 0.9  # off the coarse grid: its coarse pixels straddle the outline
    raster = write_raster(tmp_path / "p.tif", p, descriptions=["p"])
    detect(raster, IdentityBackend(tile=32), tmp_path / "b.gpkg", tmp_path / "b.tif",
           DetectOptions(context="2", overlap=0, min_area_m2=0))
    fused = read(tmp_path / "b.tif")
    assert np.array_equal(fused >= 0.5, p >= 0.5)  # the eroded coarse view widens nothing


def test_erosion_is_the_minimum_of_the_valid_neighbours_across_block_rows(tmp_path):
    from lmhld_qgis.core.multiscale import erode

    rng = np.random.default_rng(5)
    p = rng.uniform(0, 1, (300, 40)).astype(np.float32)  # taller than a block row (256)
    p[100:103, 10:13] = -1
    raster = write_raster(tmp_path / "p.tif", p, nodata=-1)
    erode(raster, tmp_path / "e.tif")
    got = read(tmp_path / "e.tif")
    padded = np.pad(np.where(p == -1, np.inf, p), 1, constant_values=np.inf)
    expected = np.min([padded[r:r + 300, c:c + 40] for r in range(3) for c in range(3)], axis=0)
    expected[p == -1] = -1
    assert np.array_equal(got, expected)


def test_extent_and_area_of_interest_hold_in_the_coarse_pass(tmp_path):
    raster = big_scar(tmp_path, nodata_corner=True)
    x0, y0 = 500000.0, 4000000.0
    extent = (x0 + 20 * 3, y0 - 160 * 3, x0 + 160 * 3, y0 - 20 * 3)  # columns and rows 20..160
    res = detect(raster, OutlineBackend(), tmp_path / "e.gpkg", tmp_path / "e.tif",
                 DetectOptions(context="4", extent=extent, min_area_m2=0))
    p = read(tmp_path / "e.tif")
    assert p.shape == (140, 140) and res.n_polygons == 1
    assert (p[10:110, 10:110] >= 0.5).mean() >= 0.99  # the scar (rows and columns 30..130 of the scene)
    left = f"POLYGON(({x0} {y0},{x0 + 80 * 3} {y0},{x0 + 80 * 3} {y0 - 160 * 3},{x0} {y0 - 160 * 3},{x0} {y0}))"
    aoi = write_polygons(tmp_path / "aoi.gpkg", [left])
    detect(raster, OutlineBackend(), tmp_path / "a.gpkg", tmp_path / "a.tif", DetectOptions(context="4", aoi=aoi))
    p = read(tmp_path / "a.tif")
    assert p.shape == (160, 80)  # the area of interest's bounding box
    assert (p[30:130, 30:80] >= 0.5).mean() >= 0.98 and (p[p != -1] < 0.5).sum() > 0  # its part of the scar


def test_auto_runs_the_coarse_pass_when_the_training_landslides_are_large_for_the_tile():
    card = ModelCard("unet", 3, patch_size=64, resolution_m=3.0)
    assert choose_context("auto", card, 9.0, 64).factor is None  # nothing known: one pass
    card.large_landslide_area_m2 = 0.1 * 64 * 64 * 9.0  # covers 10% of a tile
    choice = choose_context("auto", card, 9.0, 64)
    assert choice.factor is None and "10% of a tile" in choice.reason
    card.large_landslide_area_m2 = 0.5 * 64 * 64 * 9.0
    choice = choose_context("auto", card, 9.0, 64)
    assert choice.factor == 2.0 and "50% of a 64 px tile" in choice.reason
    assert choose_context("auto", card, 9.0, 128).factor is None  # a larger tile holds them
    card.relative_bands, card.relative_scale, card.relative_surface = [2], [3.0], "plane"  # RGB + DSM
    choice = choose_context("auto", card, 9.0, 64)
    assert choice.factor is None and "relative-level bands" in choice.reason
    assert choose_context("2", card, 9.0, 64).factor == 2.0  # asked for, it still runs
    card.relative_surface = "level"  # a model from before planes: measured to gain from it (bench/valley.toml)
    assert choose_context("auto", card, 9.0, 64).factor == 2.0
    assert choose_context("off", card, 9.0, 64).factor is None
    assert choose_context("3", ModelCard("unet", 3), 9.0, 64).factor == 3.0
    with pytest.raises(LmhldError, match="context must be one of auto, off, 2, 3, 4, got '5'"):
        choose_context("5", card, 9.0, 64)


def test_an_unknown_context_is_refused_before_any_output(tmp_path):
    raster = big_scar(tmp_path)
    with pytest.raises(LmhldError, match="context must be one of auto, off, 2, 3, 4"):
        detect(raster, OutlineBackend(), tmp_path / "x.gpkg", tmp_path / "x.tif", DetectOptions(context="x2"))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["scar.tif"]


def test_the_large_landslide_area_is_the_90th_percentile_of_the_inventory():
    assert large_landslide_area_m2(np.zeros(0)) is None
    areas = np.array([10.0] * 9 + [1000.0] * 1 + [20.0] * 90)
    assert large_landslide_area_m2(areas) == pytest.approx(20.0)  # one giant does not set it
    assert large_landslide_area_m2(np.arange(1, 101, dtype=float)) == pytest.approx(90.1)


@pytest.mark.parametrize("cancel_after", [0.65, 0.8])  # in the coarse pass; in the fusion
def test_a_cancel_in_the_coarse_pass_or_the_fusion_leaves_the_previous_result(tmp_path, cancel_after):
    from lmhld_qgis.core.errors import CancelledError

    class CancelLate:
        fraction = 0.0

        def set_fraction(self, f):
            self.fraction = max(self.fraction, f)

        def info(self, m):
            pass

        def warn(self, m):
            pass

        def is_cancelled(self):
            return self.fraction >= cancel_after

    raster = big_scar(tmp_path)
    (tmp_path / "keep.gpkg").write_bytes(b"previous result")
    progress = CancelLate()
    with pytest.raises(CancelledError):
        detect(raster, OutlineBackend(), tmp_path / "keep.gpkg", tmp_path / "p.tif",
               DetectOptions(context="2", batch_size=1), progress=progress)
    assert progress.fraction >= cancel_after  # it got that far before stopping
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.gpkg", "scar.tif"]
    assert (tmp_path / "keep.gpkg").read_bytes() == b"previous result"
