"""Relative-level bands (elevation): chosen by name or spread, the same operation in training, ONNX and torch, and a
trained model that no longer cares at which altitude an area lies."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lmhld_qgis.core.datasets.base import PatchDataset, Sample
from lmhld_qgis.core.errors import LmhldError
from lmhld_qgis.training.relative import RelativeLevels, choose, measure_spread


class Patches(PatchDataset):
    """In-memory patches with given band names (the smallest PatchDataset)."""

    def __init__(self, images: list[np.ndarray], names: list[str]) -> None:
        self.images, self.names = images, names

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int) -> Sample:
        return Sample(self.images[i], np.zeros(self.images[i].shape[1:], np.uint8))

    @property
    def band_names(self) -> list[str]:
        return self.names


def patches(level_step: float, names: list[str], n: int = 12, seed: int = 0) -> Patches:
    """Band 0 spectral-like (same level everywhere), band 1 a surface whose level moves by `level_step` per patch."""
    rng = np.random.default_rng(seed)
    images = []
    for i in range(n):
        spectral = rng.normal(500, 120, (16, 16))
        surface = 1000 + level_step * i + rng.normal(0, 3, (16, 16))
        images.append(np.stack([spectral, surface]).astype(np.float32))
    return Patches(images, names)


def test_apply_removes_the_level_of_relative_bands_only_and_ignores_missing_pixels():
    levels = RelativeLevels((1,), (2.0,))
    x = torch.randn(2, 3, 8, 8)
    missing = torch.zeros(2, 1, 8, 8, dtype=torch.bool)
    missing[:, :, :3] = True
    y = levels.apply(x, missing)
    shifted = x.clone()
    shifted[:, 1] += 7.5  # another altitude
    shifted[:, 1, :3] = -40.0  # whatever the missing pixels hold
    assert torch.allclose(levels.apply(shifted, missing), y, atol=1e-5)
    assert torch.equal(y[:, [0, 2]], x[:, [0, 2]])
    assert torch.allclose(y[:, 1] / 2.0, (x[:, 1] - x[:, 1, 3:].mean(dim=(1, 2), keepdim=True)) * ~missing[:, 0],
                          atol=1e-5)
    assert y[:, 1][missing[:, 0]].abs().max() == 0  # missing pixels stay at 0
    assert torch.equal(RelativeLevels().apply(x), x)


def test_a_plane_removes_the_hillslope_and_keeps_the_scar():
    """Whatever the tile's tilt and level, the plane-relative band is the same: the scar against its slope."""
    rows, cols = torch.meshgrid(torch.arange(16.0), torch.arange(16.0), indexing="ij")
    ground = torch.zeros(1, 2, 16, 16)
    ground[0, 0] = torch.randn(16, 16)
    ground[0, 1, 5:9, 6:10] = -2.0  # a scar 2 deep
    missing = torch.zeros(1, 1, 16, 16, dtype=torch.bool)
    missing[..., :4, :3] = True
    slope = ground.clone()
    slope[0, 1] += 40.0 + 0.9 * cols - 1.3 * rows  # a valley side: 30 m across the tile
    slope[0, 1, :4, :3] = 999.0  # whatever the missing pixels hold
    plane, level = RelativeLevels((1,), (1.0,), "plane"), RelativeLevels((1,), (1.0,), "level")
    assert torch.allclose(plane.apply(slope, missing), plane.apply(ground, missing), atol=1e-3)
    assert not torch.allclose(level.apply(slope, missing), level.apply(ground, missing), atol=1.0)
    kept = plane.apply(slope, missing)[0, 1]
    assert kept[5:9, 6:10].mean() < kept[10:, 10:].mean() - 1.5  # the scar stays a depression
    # a tile whose valid pixels lie on one column has no plane: it keeps its level only, and nothing is NaN
    line = torch.ones(1, 1, 16, 16, dtype=torch.bool)
    line[..., 7] = False
    assert torch.isfinite(plane.apply(slope, line)).all()
    with pytest.raises(LmhldError, match="relative surface must be one of plane, level"):
        RelativeLevels((1,), (1.0,), "bowl")


def _forest_tile(share: float, seed: int = 0) -> torch.Tensor:
    """A 128 px DSM (0.5 m pixels) on a valley side: crowns of 10-18 m over the first `share` of the columns, an
    open field at ground level and a scar 4 m deep in the open, 0.5 m of noise rounded to the metre."""
    rows, cols = torch.meshgrid(torch.arange(128.0), torch.arange(128.0), indexing="ij")
    z = torch.round(0.5 * torch.randn(128, 128, generator=torch.Generator().manual_seed(seed)))
    crowns = (torch.sin(cols / 0.95) * torch.sin(rows / 0.95)).abs()
    z = z + torch.where(cols < 128 * share, 18 * (0.55 + 0.45 * crowns), torch.zeros_like(z))
    z[80:96, 100:116] -= 4.0  # the scar
    return (z + 0.9 * cols - 0.5 * rows + 300)[None, None]


def test_a_ground_plane_puts_zero_on_the_ground_whatever_share_of_forest_a_tile_holds():
    """With the plane through every pixel, the same open field reads 1.3 m above or 4.6 m below it as the forest
    covers a tenth or three quarters of the tile (the plane follows the crowns); the ground plane leaves the field
    at 0 and the scar 4 m below it in each."""
    missing = torch.zeros(1, 1, 128, 128, dtype=torch.bool)
    plane, ground = RelativeLevels((0,), (1.0,), "plane"), RelativeLevels((0,), (1.0,), "ground", (1.0,))
    fields = []
    for share in (0.1, 0.5, 0.75):
        tile = _forest_tile(share)
        kept = ground.apply(tile, missing)[0, 0]
        assert abs(float(kept[20:36, 100:116].mean())) < 0.3  # the field
        assert float(kept[80:96, 100:116].mean()) == pytest.approx(-4.0, abs=0.3)  # the scar
        fields.append(float(plane.apply(tile, missing)[0, 0, 20:36, 100:116].mean()))
        tilted = tile + 7.0 + 0.4 * torch.arange(128.0)  # another level and hillslope change nothing
        assert torch.allclose(ground.apply(tilted, missing), ground.apply(tile, missing), atol=1e-3)
    assert max(fields) - min(fields) > 3.0
    # a tile under canopy everywhere has no ground to fit: it keeps the plane through every pixel
    forest = _forest_tile(1.0)
    assert torch.allclose(ground.apply(forest, missing), plane.apply(forest, missing), atol=1e-4)
    with pytest.raises(LmhldError, match="roughness limit per relative band"):
        RelativeLevels((0,), (1.0,), "ground")


def test_apply_without_a_mask_takes_pixels_at_zero_in_every_band_as_missing():
    x = torch.randn(1, 2, 4, 4)
    x[:, :, 0, 0] = 0.0  # how the detection path writes a missing pixel
    levels = RelativeLevels((0,), (1.0,))
    y = levels.apply(x)
    assert y[0, 0, 0, 0] == 0 and y[0, 0].sum().abs() < 1e-4  # the other 15 pixels average to 0


def test_auto_chooses_a_band_whose_level_moves_between_patches():
    ds = patches(40.0, ["band1", "band2"])
    levels, note = choose(ds, "auto", [120.0, 140.0])
    assert levels.bands == (1,) and note is not None and "band 2" in note and "as elevation does" in note
    spread = measure_spread(ds)
    assert levels.surface == "plane"  # the default: the spread around each patch's plane sets the scale
    assert levels.scale[0] == pytest.approx(140.0 / measure_spread(ds, surface="plane").around[1])
    assert choose(ds, "auto", [120.0, 140.0], "level")[0].scale[0] == pytest.approx(140.0 / spread.within[1])
    assert spread.ratio[0] > 0.9 and spread.ratio[1] < 0.1


def test_auto_surface_is_the_ground_plane_for_a_fine_dsm_and_the_plane_for_a_coarse_dem():
    from lmhld_qgis.training.relative import resolve_surface

    assert resolve_surface("auto", 0.5) == "ground" and resolve_surface("auto", 2.0) == "ground"
    assert resolve_surface("auto", 10.0) == "plane" and resolve_surface("auto", None) == "plane"
    assert resolve_surface("level", 0.5) == "level"
    ds = patches(140.0, ["red", "dsm"])
    ds.resolution_m = 0.5
    levels, note = choose(ds, "auto", [120.0, 140.0])
    assert levels.surface == "ground" and levels.rough == (pytest.approx(1.0 / 140.0),)
    assert note is not None and "ground plane" in note and "chosen for pixels of 0.5 m" in note


def test_auto_chooses_by_name_and_keeps_spectral_bands_absolute():
    assert choose(patches(0.0, ["red", "DSM"]), "auto", [1.0, 1.0])[0].bands == (1,)
    for name in ("surface_model", "Heights", "nDSM", "Digital-Elevation-Model"):  # any case and separators
        assert choose(patches(0.0, ["red", name]), "auto", [1.0, 1.0])[0].bands == (1,), name
    levels, note = choose(patches(0.0, ["red", "nir"]), "auto", [1.0, 1.0])
    assert not levels and note is None


def test_explicit_choice_and_none():
    ds = patches(40.0, ["band1", "band2"])
    assert choose(ds, [0], [1.0, 1.0])[0].bands == (0,)
    assert choose(ds, [], [1.0, 1.0]) == (RelativeLevels(), None)
    # said both ways (a probe's relative_bands = [7] in a config file was told as band [8])
    with pytest.raises(LmhldError, match=r"relative band\(s\) 3 \(relative_bands = \[2\] in a config file, which "
                                         r"counts from 0\) do not exist: the data have 2 band"):
        choose(ds, [2], [1.0, 1.0])


def test_a_relative_band_counted_from_1_in_a_config_file_is_warned_of():
    """--relative-bands counts from 1 and a config file's relative_bands from 0: 4 copied from one to the other
    made the band after the DSM relative, without a word."""
    from lmhld_qgis.training.relative import off_by_one

    names = ["red", "green", "dsm", "nir"]
    assert off_by_one(names, [3]) == (
        "relative band 4 (nir) is not named as elevation, and band 3 before it is (dsm): a config file's "
        "relative_bands counts from 0, so relative_bands = [2] is dsm (--relative-bands 3 on the command line); "
        "training goes on with nir as asked")
    assert off_by_one(names, [2]) is None and off_by_one(names, "auto") is None and off_by_one(names, []) is None
    assert off_by_one(names, [2, 3]) is None  # both chosen: on purpose


def _trained_with_elevation(tmp_path, relative, surface="plane"):
    from lmhld_qgis.core.export import ExportOptions, export_patches
    from lmhld_qgis.core.synthetic import make_scene
    from lmhld_qgis.training.config import TrainConfig
    from lmhld_qgis.training.trainer import train

    canopy = 18.0 if surface == "ground" else 0.0  # a DSM with trees for the ground plane
    scene = make_scene(tmp_path / "scene", width=256, height=256, n_landslides=30, seed=5, elevation=1200.0,
                       canopy=canopy)
    data = export_patches([scene.raster], scene.inventory, tmp_path / f"data_{relative}",
                          ExportOptions(patch_size=32, bands=[1, 2, 3, 5], recipe="paper", min_fraction=0.05,
                                        tolerance=0.1)).out_dir
    cfg = TrainConfig(model="unet", model_options={"base_width": 4}, data=[str(data)], epochs=1, batch_size=8,
                      device="cpu", relative_bands=relative, relative_surface=surface)
    return scene, train(cfg, tmp_path / f"run_{relative}")


@pytest.mark.parametrize("surface", ["plane", "ground"])
def test_a_model_trained_with_a_relative_dsm_answers_the_same_at_any_altitude(tmp_path, surface):
    """The ONNX graph (raw pixels, nodata inside the tile) and the .pt backend agree, and adding 300 m to the DSM
    or another hillslope changes nothing, whichever surface the tiles lose; with the band kept absolute it
    does."""
    import onnxruntime as ort
    import rasterio

    from lmhld_qgis.core.backends import load_backend
    from lmhld_qgis.core.modelcard import read_onnx_card
    from lmhld_qgis.training.backend import TorchBackend

    scene, result = _trained_with_elevation(tmp_path, "auto", surface)
    card = read_onnx_card(result.onnx)
    assert card.bands == ["blue", "green", "red", "elevation"] and card.relative_bands == [3]
    assert card.relative_surface == surface
    assert len(card.relative_rough) == (1 if surface == "ground" else 0)
    with rasterio.open(scene.raster) as src:
        tile = src.read([1, 2, 3, 5], window=((0, 32), (0, 32))).astype(np.float32)[None]
    tile[0, :, :5, :5] = np.nan
    session = ort.InferenceSession(str(result.onnx))

    def run(x):
        return session.run(None, {session.get_inputs()[0].name: x})[0]

    higher = tile.copy()
    higher[:, 3] += 300.0
    base = run(tile)
    assert np.allclose(run(higher), base, atol=1e-5)
    tilted = higher.copy()
    tilted[0, 3] += np.add.outer(np.arange(32.0), -0.7 * np.arange(32.0)).astype(np.float32)  # another hillslope
    assert np.allclose(run(tilted), base, atol=1e-4)
    mean = np.asarray(card.mean, np.float32)[:, None, None]
    std = np.asarray(card.std, np.float32)[:, None, None]
    standardized = np.nan_to_num((tile - mean) / std, nan=0.0)
    standardized[:, :, :5, :5] = 0.0
    torch_prob = TorchBackend(result.out_dir / "best.pt").predict(standardized)
    assert np.allclose(torch_prob.reshape(base.shape)[..., 5:, 5:], base[..., 5:, 5:], atol=1e-4)
    # detection's own backend, fed as detection feeds it (standardised, missing pixels at 0): missing pixels stay
    # out of the plane (at the band mean they counted as valid ground at the training areas' mean altitude)
    onnx_prob = load_backend(result.onnx, "cpu").predict(standardized)
    assert np.allclose(onnx_prob.reshape(base.shape)[..., 5:, 5:], base[..., 5:, 5:], atol=1e-4)

    if surface != "plane":
        return
    _, absolute = _trained_with_elevation(tmp_path, [])
    assert read_onnx_card(absolute.onnx).relative_bands == []
    plain = ort.InferenceSession(str(absolute.onnx))
    feed = plain.get_inputs()[0].name
    assert not np.allclose(plain.run(None, {feed: higher})[0], plain.run(None, {feed: tile})[0], atol=1e-3)


def test_a_card_refuses_relative_bands_it_does_not_have():
    from lmhld_qgis.core.modelcard import ModelCard

    with pytest.raises(LmhldError, match="relative bands"):
        ModelCard("unet", 4, relative_bands=[4], relative_scale=[1.0])
    with pytest.raises(LmhldError, match="relative bands"):
        ModelCard("unet", 4, relative_bands=[3], relative_scale=[])
    with pytest.raises(LmhldError, match="relative surface must be one of plane, level"):
        ModelCard("unet", 4, relative_bands=[3], relative_scale=[1.0], relative_surface="bowl")
    assert ModelCard("unet", 4).relative_surface == "level"  # a card from before planes
    with pytest.raises(LmhldError, match="a ground surface needs a roughness limit per relative band"):
        ModelCard("unet", 4, relative_bands=[3], relative_scale=[1.0], relative_surface="ground")
    assert ModelCard("unet", 4, relative_bands=[3], relative_scale=[1.0], relative_surface="ground",
                     relative_rough=[0.05]).relative_rough == [0.05]


def test_resuming_a_run_from_before_relative_levels_keeps_every_band_absolute():
    from lmhld_qgis.training.config import migrate

    assert migrate({"model": "unet", "recipe": "default"})["relative_bands"] == []
    assert migrate({"model": "unet", "recipe": "default", "relative_bands": "auto"})["relative_bands"] == "auto"
    assert migrate({"model": "unet", "recipe": "default", "relative_bands": "auto"})["relative_surface"] == "level"


def test_command_line_takes_auto_none_or_one_based_bands():
    import argparse

    from lmhld_qgis.cli.train import relative_bands

    assert relative_bands("auto") == "auto" and relative_bands("none") == [] and relative_bands("4,5") == [3, 4]
    for bad in ("0", "x", ""):
        with pytest.raises(argparse.ArgumentTypeError, match="1-based band numbers"):
            relative_bands(bad)
