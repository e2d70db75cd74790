"""Stacking an orthophoto and a surface model as a UAV survey delivers them: an RGBA uint8 orthophoto and a float
DSM of another pixel size, grid and nodata, become one scene that export and detection read."""

from __future__ import annotations

import re
import warnings

import numpy as np
import pytest
import rasterio
from rasterio.enums import ColorInterp
from rasterio.transform import from_origin

from lmhld_qgis.core.bands import elevation_in, match_model_bands, select_bands
from lmhld_qgis.core.errors import LmhldError
from lmhld_qgis.core.modelcard import ModelCard
from lmhld_qgis.core.raster import read_raster_info
from lmhld_qgis.core.scene_check import check_scene
from lmhld_qgis.core.stack import stack_rasters

ORIGIN = (500_000.0, 4_000_000.0)


def plane(x, y):
    """The surface model's terrain: a tilted plane, which bilinear resampling reproduces exactly."""
    return 800 + 0.1 * (x - ORIGIN[0]) + 0.2 * (y - ORIGIN[1])


def write_ortho(path, size=200, pixel=0.5, outside=30):
    rgb = np.random.default_rng(0).integers(1, 255, (3, size, size)).astype("uint8")
    alpha = np.full((size, size), 255, "uint8")
    alpha[:, :outside] = 0  # outside the flight
    with rasterio.open(path, "w", driver="GTiff", width=size, height=size, count=4, dtype="uint8", crs="EPSG:32633",
                       transform=from_origin(*ORIGIN, pixel, pixel)) as dst:
        dst.write(np.concatenate([rgb, alpha[None]]))
        dst.colorinterp = [ColorInterp.red, ColorInterp.green, ColorInterp.blue, ColorInterp.alpha]
    return rgb


def write_dsm(path, size=90, pixel=1.0, shift=(0.3, 5.2), hole=(40, 50), crs="EPSG:32633"):
    transform = from_origin(ORIGIN[0] + shift[0], ORIGIN[1] + shift[1], pixel, pixel)
    cols, rows = np.meshgrid(np.arange(size) + 0.5, np.arange(size) + 0.5)
    z = plane(transform.c + cols * pixel, transform.f - rows * pixel).astype("float32")
    z[hole[0]:hole[1], hole[0]:hole[1]] = -32767
    with rasterio.open(path, "w", driver="GTiff", width=size, height=size, count=1, dtype="float32", crs=crs,
                       transform=transform, nodata=-32767) as dst:
        dst.write(z[None])


def centres(src):
    cols, rows = np.meshgrid(np.arange(src.width) + 0.5, np.arange(src.height) + 0.5)
    return src.transform.c + cols * src.transform.a, src.transform.f + rows * src.transform.e


def test_orthophoto_and_dsm_become_one_scene(tmp_path):
    rgb = write_ortho(tmp_path / "ortho.tif")
    write_dsm(tmp_path / "site3_DSM_1m.tif")
    result = stack_rasters([tmp_path / "ortho.tif", tmp_path / "site3_DSM_1m.tif"], tmp_path / "scene.tif")
    assert result.names == ["red", "green", "blue", "dsm"]  # the alpha is a mask; the DSM named as elevation
    assert result.resampled == {"site3_DSM_1m.tif": "interpolated (bilinear) onto the grid"}
    with rasterio.open(tmp_path / "scene.tif") as src:
        assert (src.width, src.height, src.transform.a, src.crs.to_epsg()) == (200, 200, 0.5, 32633)
        assert src.colorinterp[:3] == (ColorInterp.red, ColorInterp.green, ColorInterp.blue)
        image = src.read()
        x, y = centres(src)
    inside = np.zeros((200, 200), bool)
    inside[:, 30:] = True
    assert np.array_equal(image[:3][:, inside], rgb[:, inside].astype("float32"))  # colours kept exactly
    assert np.isnan(image[:3][:, ~inside]).all()  # outside the flight: nodata in the orthophoto's bands
    dsm = image[3]
    assert not np.isnan(dsm[:, :30]).all()  # the DSM's own coverage, independent of the orthophoto's alpha
    interior = np.zeros_like(inside)
    interior[20:150, 20:150] = True
    interior[60:110, 60:110] = False  # around the DSM's nodata hole
    assert np.abs(dsm[interior] - plane(x, y)[interior]).max() < 1e-3  # bilinear reproduces the plane
    assert np.isnan(dsm[72:88, 83:99]).all()  # the hole (its rows and columns 40-50 at 1 m) stays nodata
    assert np.isnan(dsm[190:, :]).all()  # beyond the DSM's footprint
    style = (tmp_path / "scene.qml").read_text()  # shown in true colour in QGIS, stretched over the valid pixels
    assert "nan" not in style and "<minValue>" in style


@pytest.mark.parametrize(("stem", "name"), [("surface_model", "dsm"), ("uav-Heights", "height"),
                                            ("site_digital_terrain_model_2020", "dtm"), ("flight2_nDSM", "ndsm"),
                                            ("dem_difference", "dem_difference"), ("slope", "slope")])
def test_a_single_band_raster_is_named_as_elevation_when_its_file_name_says_so(tmp_path, stem, name):
    """Surface-model words in any case and with any separators name the band as elevation; a change (a DEM of
    difference) or any other name keeps the file's name, with a warning that points at --names."""
    write_ortho(tmp_path / "ortho.tif")
    write_dsm(tmp_path / f"{stem}.tif")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert stack_rasters([tmp_path / "ortho.tif", tmp_path / f"{stem}.tif"], tmp_path / "scene.tif").names == [
            "red", "green", "blue", name.lower()]
    said = [str(w.message) for w in caught if "not recognised as elevation" in str(w.message)]
    assert len(said) == (name == stem)


def test_a_band_described_as_a_surface_model_feeds_a_model_s_elevation_input():
    for described in ("surface_model", "Surface Model", "heights", "nDSM", "digital-elevation-model"):
        assert match_model_bands(["red", "green", "blue", "dsm"], ["red", "green", "blue", described], "scene.tif",
                                 "fix") == ([0, 1, 2, 3], False), described
    # a DEM of difference is no elevation, and ordinary names keep their own meaning
    with pytest.raises(LmhldError, match="without dsm"):
        match_model_bands(["red", "green", "blue", "dsm"], ["red", "green", "blue", "dem_difference"], "s.tif", "fix")


def test_an_unnamed_band_at_a_missing_band_s_place_feeds_it_by_position():
    """A VRT kept blue, green, red (by colour) and lost nir's description: refused as "without nir", against the
    README's "by position when the counts agree and no band found by name sits elsewhere"."""
    assert match_model_bands(["blue", "green", "red", "nir"], ["blue", "green", "red", None], "s.vrt",
                             "fix") == ([0, 1, 2, 3], True)
    # a named band is no stand-in, nor an unnamed one when a band found by name sits elsewhere
    with pytest.raises(LmhldError, match="without nir"):
        match_model_bands(["blue", "green", "red", "nir"], ["blue", "green", "red", "swir"], "s.tif", "fix")
    with pytest.raises(LmhldError, match="without nir"):
        match_model_bands(["blue", "green", "red", "nir"], ["green", "blue", "red", None], "s.tif", "fix")


def test_two_bands_of_one_name_are_ambiguous():
    """A scene of rg, ndvi_change, brightness_change, rg fed its 4th band as rg, without a word."""
    with pytest.raises(LmhldError, match=r"s.tif has 2 bands named rg \(bands 1, 4\) and the model wants one: which "
                                         r"is meant is ambiguous; .* choose them by number \(--bands\)"):
        match_model_bands(["rg", "ndvi_change", "brightness_change"], ["rg", "ndvi_change", "brightness_change", "rg"],
                          "s.tif", "fix")
    # a name the model does not want may repeat
    assert match_model_bands(["red"], ["red", "x", "x"], "s.tif", "fix") == ([0], False)


def test_pixel_size_averages_finer_rasters(tmp_path):
    write_ortho(tmp_path / "ortho.tif", outside=0)
    write_dsm(tmp_path / "dsm.tif", shift=(0, 0), hole=(0, 0))
    result = stack_rasters([tmp_path / "ortho.tif", tmp_path / "dsm.tif"], tmp_path / "scene.tif", pixel_size=2.0,
                           names=["r", "g", "b", "dsm"])
    assert (result.width, result.height, result.pixel_size) == (50, 50, 2.0)
    assert result.names == ["red", "green", "blue", "dsm"]
    assert set(result.resampled.values()) == {"averaged onto the grid"}
    with rasterio.open(tmp_path / "ortho.tif") as src:
        red = src.read(1).astype(np.float64)
    with rasterio.open(tmp_path / "scene.tif") as src:
        assert np.allclose(src.read(1)[:10, :10], red[:40, :40].reshape(10, 4, 10, 4).mean(axis=(1, 3)), atol=1e-3)


def test_another_crs_is_warped_and_a_distant_raster_refused(tmp_path):
    write_ortho(tmp_path / "ortho.tif")
    write_dsm(tmp_path / "far.tif", shift=(50_000, 0))
    with pytest.raises(LmhldError, match=r"far\.tif does not overlap the first raster"):
        stack_rasters([tmp_path / "ortho.tif", tmp_path / "far.tif"], tmp_path / "a.tif")
    assert not (tmp_path / "a.tif").exists()
    # the same DSM in WGS 84 / UTM 33N described as UTM 32N: 500 km off, refused the same way
    write_dsm(tmp_path / "wrong_crs.tif", crs="EPSG:32632")
    with pytest.raises(LmhldError, match="check that each has the right CRS"):
        stack_rasters([tmp_path / "ortho.tif", tmp_path / "wrong_crs.tif"], tmp_path / "a.tif")
    with pytest.raises(LmhldError, match="2 band name"):
        write_dsm(tmp_path / "dsm.tif")
        stack_rasters([tmp_path / "ortho.tif", tmp_path / "dsm.tif"], tmp_path / "a.tif", names=["a", "b"])
    # a probe's --names 'r,,b,dsm' wrote band 2 without a name, and 'a,a,a,a' became a, a_2, a_3, a_4, unsaid
    with pytest.raises(LmhldError, match=r"band name\(s\) 2 of the names given are empty; give every band a name"):
        stack_rasters([tmp_path / "ortho.tif", tmp_path / "dsm.tif"], tmp_path / "a.tif", names=["r", "", "b", "dsm"])
    with pytest.raises(LmhldError, match=r"band name\(s\) a given more than once; give each band its own name"):
        stack_rasters([tmp_path / "ortho.tif", tmp_path / "dsm.tif"], tmp_path / "a.tif", names=["a"] * 4)
    assert not (tmp_path / "a.tif").exists()
    with pytest.raises(LmhldError, match="is the input raster"):  # refused before any work
        stack_rasters([tmp_path / "ortho.tif", tmp_path / "dsm.tif"], tmp_path / "ortho.tif")
    assert read_raster_info(tmp_path / "ortho.tif").count == 4
    with pytest.raises(LmhldError, match="at least one raster"):
        stack_rasters([], tmp_path / "a.tif")
    with pytest.raises(LmhldError, match=r"ortho\.tif is given twice .*give each file once"):
        stack_rasters([tmp_path / "ortho.tif", tmp_path / "ortho.tif"], tmp_path / "a.tif")
    assert not list(tmp_path.glob("a.*")) and not list(tmp_path.glob(".a.*"))  # nothing half-written


def test_a_band_missing_a_pixel_is_nodata_there_alone(tmp_path):
    """Per-band nodata (a DSM stacked with its slope, say): a pixel is NaN in the band that lacks it, and only there
    (the raster's dataset mask is valid wherever any band is, which would keep -9999 as an elevation)."""
    write_ortho(tmp_path / "ortho.tif", size=8, outside=0)
    terrain = np.array([[[801.0, -9999.0, 803.0, -9999.0]], [[5.0, 6.0, -9999.0, -9999.0]]], "float32")
    with rasterio.open(tmp_path / "terrain.tif", "w", driver="GTiff", width=4, height=1, count=2, dtype="float32",
                       crs="EPSG:32633", transform=from_origin(*ORIGIN, 1.0, 4.0), nodata=-9999) as dst:
        dst.write(terrain)
    stack_rasters([tmp_path / "ortho.tif", tmp_path / "terrain.tif"], tmp_path / "scene.tif")
    with rasterio.open(tmp_path / "scene.tif") as src:
        dsm, slope = src.read(4)[0, ::2], src.read(5)[0, ::2]  # one 0.5 m pixel per 1 m terrain pixel
    assert np.isnan(dsm).tolist() == [False, True, False, True] and dsm[0] == 801.0
    assert np.isnan(slope).tolist() == [False, False, True, True] and slope[1] == 6.0


def test_alpha_is_never_a_data_band(tmp_path):
    """An RGBA orthophoto stacked with a DSM by other tools: export's default takes red, green, blue and the DSM,
    and refuses the alpha when it is named."""
    path = tmp_path / "rgba_dsm.tif"
    with rasterio.open(path, "w", driver="GTiff", width=8, height=8, count=5, dtype="float32", crs="EPSG:32633",
                       transform=from_origin(*ORIGIN, 0.5, 0.5)) as dst:
        dst.write(np.ones((5, 8, 8), "float32"))
        dst.colorinterp = [ColorInterp.red, ColorInterp.green, ColorInterp.blue, ColorInterp.alpha, ColorInterp.gray]
    info = read_raster_info(path)
    assert info.alpha_bands == (4,)
    assert select_bands(info.band_names, info.count, None, "rgba_dsm.tif", info.alpha_bands) == (
        [1, 2, 3, 5], ["red", "green", "blue", "band5"])  # the colours are named by their interpretation
    with pytest.raises(LmhldError, match=r"band\(s\) \[4\] of x.tif are alpha bands"):
        select_bands(info.descriptions, info.count, [1, 2, 3, 4], "x.tif", info.alpha_bands)
    with pytest.raises(LmhldError, match=r"^band\(s\) \[1\] of x.tif are given more than once \(1,1,2\); give each "
                                         "band once$"):  # dataset.json would name a stack that is not there
        select_bands(info.descriptions, info.count, [1, 1, 2], "x.tif", info.alpha_bands)
    # a model trained on those bands finds them by their export names in another unnamed raster of the same layout,
    # and one trained before colours were read (band1, band2, band3) still finds the coloured bands by number
    assert match_model_bands(["band1", "band2", "band3", "band5"], list(info.descriptions), "x", "fix") == (
        [0, 1, 2, 4], False)
    for model in (["red", "green", "blue", "band5"], ["band1", "band2", "band3", "band5"]):
        assert match_model_bands(model, list(info.descriptions), "x", "fix", colours=info.colours) == (
            [0, 1, 2, 4], False)


def test_a_raw_rgba_orthophoto_never_feeds_its_alpha_to_a_model(tmp_path):
    """Detection on the orthophoto instead of its stack with the DSM: the alpha band is not taken by position as the
    model's fourth (elevation) input; the error names the alpha and points to `lmhld stack`."""
    write_ortho(tmp_path / "ortho.tif")
    info = read_raster_info(tmp_path / "ortho.tif")
    alpha = [b - 1 for b in info.alpha_bands]
    assert alpha == [3]
    with pytest.raises(LmhldError, match=r"has 4 \(red, green, blue, band4 \(alpha\)\), without dsm; .*lmhld stack "
                                         r"--raster ORTHO --raster DSM"):
        match_model_bands(["red", "green", "blue", "dsm"], list(info.descriptions), "ortho.tif", "fix", alpha,
                          colours=info.colours)
    # a three-band model reads the colours by position, never the alpha, wherever it lies
    assert match_model_bands(["red", "green", "blue"], list(info.descriptions), "ortho.tif", "fix", alpha) == (
        [0, 1, 2], True)
    assert match_model_bands(["red", "green", "blue"], [None] * 4, "x", "fix", [0]) == ([1, 2, 3], True)


def test_a_stacked_scene_feeds_a_model_by_name_never_by_a_wrong_position():
    stacked = ["red", "green", "blue", "dsm"]
    # another elevation name is the same band; the colours are taken where they are
    assert match_model_bands(["blue", "green", "red", "elevation"], stacked, "scene.tif", "fix") == ([2, 1, 0, 3],
                                                                                                     False)
    # names that exist elsewhere forbid the fallback by position (it would feed red as blue)
    with pytest.raises(LmhldError, match=r"scene\.tif has 4 \(red, green, blue, dsm\), without nir; fix"):
        match_model_bands(["blue", "green", "red", "nir"], stacked, "scene.tif", "fix")
    # some of the model's bands found by name: a missing one is missing, never the band left at its position
    with pytest.raises(LmhldError, match=r"has 4 \(blue, green, red, nir\), without elevation; fix"):
        match_model_bands(["blue", "green", "red", "elevation"], ["blue", "green", "red", "nir"], "scene.tif", "fix")
    # names of another convention say nothing of the model's bands: by position, with the warning flag
    assert match_model_bands(["blue", "green", "red", "nir"], ["Layer_1", "Layer_2", "Layer_3", "Layer_4"],
                             "scene.tif", "fix") == ([0, 1, 2, 3], True)
    # unnamed bands still go by position, with the warning flag
    assert match_model_bands(["blue", "green", "red", "nir"], [None] * 4, "scene.tif", "fix") == ([0, 1, 2, 3], True)


def test_an_orthophoto_alone_becomes_a_named_scene_whose_collar_is_nodata(tmp_path):
    """No surface model: `lmhld stack --raster ORTHO` still makes the RGBA orthophoto a scene of red, green, blue
    (float32) with NaN where the alpha said "no data", which every stage reads like a stacked one."""
    rgb = write_ortho(tmp_path / "ortho.tif", size=64, outside=10)
    result = stack_rasters([tmp_path / "ortho.tif"], tmp_path / "scene.tif")
    assert result.names == ["red", "green", "blue"]
    with rasterio.open(tmp_path / "scene.tif") as src:
        values = src.read()
        assert src.descriptions == ("red", "green", "blue") and src.count == 3
    assert np.isnan(values[:, :, :10]).all() and np.array_equal(values[:, :, 10:], rgb[:, :, 10:].astype("float32"))


def test_a_resampled_or_warped_orthophoto_keeps_its_collar_and_footprint_as_nodata(tmp_path):
    """A probe's: an RGBA orthophoto resampled (--pixel-size, or warped onto a DSM's grid) had 0 in its transparent
    collar and outside its footprint, with nodata NaN: read as black imagery by export and detection. A raster with
    neither alpha nor nodata lost its footprint the same way."""
    write_ortho(tmp_path / "ortho.tif", size=64, pixel=0.5, outside=10)
    stack_rasters([tmp_path / "ortho.tif"], tmp_path / "coarse.tif", pixel_size=1.5)
    with rasterio.open(tmp_path / "coarse.tif") as src:
        red = src.read(1)
    assert not (red == 0).any()  # the colours run 1..254: a 0 is a collar pixel read as imagery
    assert np.isnan(red[:, :3]).all() and not np.isnan(red[:, 4:]).any()  # 10 px of 0.5 m: 3 whole 1.5 m columns
    write_dsm(tmp_path / "dsm.tif", size=60, pixel=1.0, shift=(-10.0, 10.0))  # a grid reaching past the ortho
    stack_rasters([tmp_path / "dsm.tif", tmp_path / "ortho.tif"], tmp_path / "onto_dsm.tif")
    with rasterio.open(tmp_path / "onto_dsm.tif") as src:
        red = src.read(src.descriptions.index("red") + 1)
    # 10 m west and north of the ortho, then its 5 m collar: NaN (GDAL's averaging reaches one row of the edge)
    assert not (red == 0).any() and np.isnan(red[:, :15]).all() and np.isnan(red[:9]).all()
    plain = tmp_path / "plain.tif"
    with rasterio.open(plain, "w", driver="GTiff", width=32, height=32, count=1, dtype="float32", crs="EPSG:32633",
                       transform=from_origin(*ORIGIN, 0.5, 0.5)) as dst:
        dst.write(np.full((1, 32, 32), 7.0, "float32"))  # no nodata, no alpha
    stack_rasters([tmp_path / "dsm.tif", plain], tmp_path / "plain_on_dsm.tif")
    with rasterio.open(tmp_path / "plain_on_dsm.tif") as src:
        band = src.read(2)
    assert not (band == 0).any() and np.isnan(band).sum() > 0.9 * (band.size - 16 * 16)


def test_an_rgb_geotiff_names_its_bands_by_colour_everywhere(tmp_path):
    """Colour interpretation names undescribed bands (an RGB GeoTIFF is red, green, blue in export, detection and
    the scene check, as in stack): a model trained on the orthophoto then reads the ortho + DSM stack by name."""
    write_ortho(tmp_path / "ortho.tif")
    info = read_raster_info(tmp_path / "ortho.tif")
    assert info.colours == ("red", "green", "blue", None) and info.descriptions == (None,) * 4
    assert info.band_names == ("red", "green", "blue", None)
    write_dsm(tmp_path / "dsm.tif")
    stack_rasters([tmp_path / "ortho.tif", tmp_path / "dsm.tif"], tmp_path / "scene.tif")
    scene = read_raster_info(tmp_path / "scene.tif")
    assert match_model_bands(["red", "green", "blue"], list(scene.descriptions), "scene.tif", "fix",
                             colours=scene.colours) == ([0, 1, 2], False)
    # the detect dialog's scene check says the orthophoto's colours match by name (it listed "band 1" ...)
    bands = check_scene(ModelCard("unet", 3, bands=["blue", "green", "red"]), tmp_path / "ortho.tif")[0]
    assert bands.ok and "blue ← blue" in bands.message and "band 1" not in bands.message


def write_untagged_rgba(path, size=64, outside=10, alpha_values=(0, 255), interp=ColorInterp.undefined):
    """An orthophoto as some photogrammetry exports write it: red, green, blue and a 4th band that is an alpha band
    (0 outside the flight, 255 inside) without the tag that says so; its collar is white."""
    rgb = np.random.default_rng(1).integers(1, 255, (3, size, size)).astype("uint8")
    fourth = np.full((size, size), alpha_values[1], "uint8")
    fourth[:, :outside] = alpha_values[0]
    rgb[:, :, :outside] = 255
    with rasterio.open(path, "w", driver="GTiff", width=size, height=size, count=4, dtype="uint8", crs="EPSG:32633",
                       transform=from_origin(*ORIGIN, 0.5, 0.5), photometric="RGB") as dst:
        dst.write(np.concatenate([rgb, fourth[None]]))
        dst.colorinterp = [ColorInterp.red, ColorInterp.green, ColorInterp.blue, interp]
    return rgb


def test_an_untagged_alpha_band_masks_the_colours_with_a_warning(tmp_path):
    """D4: a 4th band of only 0 and 255 after red, green, blue, not tagged as alpha, is read as alpha (its collar is
    nodata, not white imagery, and it is no band of the scene), with a warning that says how to keep it as data."""
    rgb = write_untagged_rgba(tmp_path / "ortho.tif")
    assert read_raster_info(tmp_path / "ortho.tif").alpha_bands == ()  # GDAL calls it undefined
    write_dsm(tmp_path / "dsm.tif", shift=(0, 0), hole=(0, 0))
    with pytest.warns(UserWarning, match=r"band 4 of ortho\.tif holds only 0 and 255 .* not tagged as alpha: read as "
                                         r"an alpha band .*gdal_edit\.py -colorinterp_4 gray ortho\.tif"):
        result = stack_rasters([tmp_path / "ortho.tif", tmp_path / "dsm.tif"], tmp_path / "scene.tif")
    assert result.names == ["red", "green", "blue", "dsm"]
    assert result.masks == [(tmp_path / "ortho.tif", 4)]
    with rasterio.open(tmp_path / "scene.tif") as src:
        values = src.read()
    assert np.isnan(values[:3, :, :10]).all() and not np.isnan(values[3, :, :10]).any()  # the DSM has data there
    assert np.array_equal(values[:3, :, 10:], rgb[:, :, 10:].astype("float32"))
    # a 4th band of other values, or one tagged as data (gray), stays a band, without a word
    for k, (values_, interp) in enumerate((((0, 17), ColorInterp.undefined), ((0, 255), ColorInterp.gray))):
        write_untagged_rgba(tmp_path / f"data{k}.tif", alpha_values=values_, interp=interp)
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            kept = stack_rasters([tmp_path / f"data{k}.tif"], tmp_path / f"s{k}.tif")
        assert kept.names == ["red", "green", "blue", f"data{k}_4"] and not kept.masks


def test_a_default_band_choice_never_leaves_out_the_elevation(tmp_path):
    """D4: an untagged 4th band kept as data (a stack made before) pushed the DSM out of "the first four": refused,
    naming the band left out and the --bands that keep it; the chosen bands are said."""
    names = ["red", "green", "blue", "ortho_4", "dsm"]
    with pytest.raises(LmhldError, match=r"s\.tif has 5 bands \(1 red, 2 green, 3 blue, 4 ortho_4, 5 dsm\); the "
                                         r"default choice \(the first four: 1, 2, 3, 4\) leaves out its elevation "
                                         r"band 5 \(dsm\)\. Choose the bands: e\.g\. --bands 1,2,3,5"):
        select_bands(names, 5, None, "s.tif")
    assert select_bands(names, 5, [1, 2, 3, 5], "s.tif") == ([1, 2, 3, 5], ["red", "green", "blue", "dsm"])
    paper = ["blue", "green", "red", "nir", "elevation"]  # the paper's four by name, an elevation beside them
    with pytest.raises(LmhldError, match=r"leaves out its elevation band 5 \(elevation\)\. .*--bands 1,2,3,4,5"):
        select_bands(paper, 5, None, "s.tif")
    assert select_bands(["red", "green", "blue", "dsm", "slope"], 5, None, "s.tif")[1] == [
        "red", "green", "blue", "dsm"]  # nothing of elevation left out: the first four, as before


@pytest.mark.parametrize(("stem", "name"), [("site_dsm2cm", "dsm"), ("dsm05m", "dsm"), ("sitedsm", "dsm"),
                                            ("DOM_20cm", "dsm"), ("dom1", "dsm"), ("nDOM", "ndsm"),
                                            ("DGM1_32_480_5650", "dtm"), ("heightmap", "height"),
                                            ("uav_HeightMap", "height"), ("dem10", "dem")])
def test_glued_and_german_elevation_names_are_recognised(stem, name):
    assert elevation_in(stem) == name


@pytest.mark.parametrize("stem", ["random", "random_forest", "domain", "domain_2", "kingdom", "freedom1",
                                  "tandem", "demo", "demolition", "document", "condom", "random2cm", "export_2",
                                  "dom_difference"])
def test_words_that_merely_hold_an_elevation_acronym_are_not_elevation(stem):
    assert elevation_in(stem) is None


def test_a_float_band_named_by_a_file_name_that_says_nothing_is_pointed_at_names(tmp_path):
    """D9: `export_2.tif` (a DSM by its content) is named export_2; stack says so and gives the --names that name it
    as elevation; a name recognised as elevation, or names given, need no word."""
    write_ortho(tmp_path / "ortho.tif")
    write_dsm(tmp_path / "export_2.tif")
    with pytest.warns(UserWarning, match=r"band 4 is named export_2 after its file \(export_2\.tif\), not "
                                         r"recognised as elevation: .*--names red,green,blue,dsm"):
        result = stack_rasters([tmp_path / "ortho.tif", tmp_path / "export_2.tif"], tmp_path / "scene.tif")
    assert result.names == ["red", "green", "blue", "export_2"] and len(result.warnings) == 1
    write_dsm(tmp_path / "site_DOM20cm.tif")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert stack_rasters([tmp_path / "ortho.tif", tmp_path / "site_DOM20cm.tif"], tmp_path / "a.tif").names[3] \
            == "dsm"
        assert stack_rasters([tmp_path / "ortho.tif", tmp_path / "export_2.tif"], tmp_path / "b.tif",
                             names=["r", "g", "b", "dsm"]).names[3] == "dsm"


@pytest.mark.parametrize(("fill", "dtype"), [(-32767.0, "float32"), (-9999.0, "float32"), (-10000.0, "float32"),
                                           (float(np.finfo(np.float32).min), "float32"), (-32768.0, "int16"),
                                           (-9999.0, "int32")])
def test_a_surface_model_whose_nodata_tag_was_lost_is_named_with_the_fix(tmp_path, fill, dtype):
    """D3: a DSM (float, or integer as SRTM-like DEMs are) holding its fill value without a nodata tag: stack
    warns, naming the band, the value and the gdal_edit.py that declares it; the same DSM with its tag stacks
    without a word."""
    write_ortho(tmp_path / "ortho.tif")
    z = np.full((90, 90), 812.5).astype(dtype)
    z[:, :20] = fill
    with rasterio.open(tmp_path / "dsm.tif", "w", driver="GTiff", width=90, height=90, count=1, dtype=dtype,
                       crs="EPSG:32633", transform=from_origin(*ORIGIN, 1.0, 1.0)) as dst:
        dst.write(z[None])
    value = f"{fill:.0f}" if fill > -1e38 else repr(fill)
    with pytest.warns(UserWarning, match=rf"band 1 \(dsm\) of dsm\.tif holds {re.escape(value)} as its lowest value, a "
                                         rf"typical fill value that is not declared as nodata: .*gdal_edit\.py "
                                         rf"-a_nodata {re.escape(value)} .*dsm\.tif"):
        stack_rasters([tmp_path / "ortho.tif", tmp_path / "dsm.tif"], tmp_path / "scene.tif")
    with rasterio.open(tmp_path / "dsm.tif", "r+") as dst:
        dst.nodata = fill
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        stack_rasters([tmp_path / "ortho.tif", tmp_path / "dsm.tif"], tmp_path / "tagged.tif")


def test_a_raster_in_a_compound_crs_is_named_shortly_not_by_its_wkt(tmp_path):
    """A DSM in UTM + a vertical datum (as Metashape writes it) is warped onto the orthophoto's grid and said so in
    a few words, not with the compound CRS's whole WKT on one line."""
    write_ortho(tmp_path / "ortho.tif")
    write_dsm(tmp_path / "dsm.tif", crs="EPSG:32633+3855")
    result = stack_rasters([tmp_path / "ortho.tif", tmp_path / "dsm.tif"], tmp_path / "scene.tif")
    how = result.resampled["dsm.tif"]
    assert "from " in how and "EGM2008" in how and "[" not in how and len(how) < 120, how


def test_what_the_stack_would_hide_is_said(tmp_path):
    """From a probe with UAV-like files: the DSM given first averaged the orthophoto onto 1 m, a DSM in feet and one
    covering a quarter of the orthophoto went through, and --pixel-size 0.5 on an EPSG:4326 orthophoto made a
    grid of 1 x 1 px of half a degree, all without a word."""
    write_ortho(tmp_path / "ortho.tif")
    write_dsm(tmp_path / "dsm.tif")
    said = stack_rasters([tmp_path / "dsm.tif", tmp_path / "ortho.tif"], tmp_path / "wrong.tif").warnings
    assert any("ortho.tif's 0.5 pixels are finer than the grid's 1 (those of dsm.tif, the first raster) and were "
               "averaged onto it: to keep their detail give ortho.tif first, or --pixel-size 0.5" in w for w in said)
    write_dsm(tmp_path / "feet.tif")
    with rasterio.open(tmp_path / "feet.tif", "r+") as dst:
        dst.units = ("ft",)
    said = stack_rasters([tmp_path / "ortho.tif", tmp_path / "feet.tif"], tmp_path / "ft.tif",
                         names=["red", "green", "blue", "dsm"]).warnings
    assert any("band 1 (feet) of feet.tif declares its values in 'ft'" in w for w in said), said
    write_dsm(tmp_path / "part_dsm.tif", size=40)
    said = stack_rasters([tmp_path / "ortho.tif", tmp_path / "part_dsm.tif"], tmp_path / "part.tif").warnings
    assert any(w.startswith("part_dsm.tif covers 14% of the grid (ortho.tif's extent)") for w in said), said
    with rasterio.open(tmp_path / "ortho.tif") as src:
        profile, data = src.profile, src.read()
    with rasterio.open(tmp_path / "geo.tif", "w", **{**profile, "crs": "EPSG:4326",
                                                     "transform": from_origin(15.0, 45.0, 5e-6, 5e-6)}) as dst:
        dst.write(data)
    with pytest.raises(LmhldError, match=r"geo.tif is in a geographic CRS \(EPSG:4326\), so --pixel-size 0.5 would "
                                         r"be in degrees; warp it to a metric CRS first"):
        stack_rasters([tmp_path / "geo.tif"], tmp_path / "g.tif", pixel_size=0.5)


def test_a_black_collar_without_nodata_is_said(tmp_path):
    """A common UAV export: black (0, 0, 0) outside the flight and no nodata tag; every stage read it as ground."""
    rgb = np.random.default_rng(0).integers(1, 255, (3, 60, 60)).astype("uint8")
    rgb[:, :10, :] = 0
    rgb[:, -10:, :] = 0
    with rasterio.open(tmp_path / "black.tif", "w", driver="GTiff", width=60, height=60, count=3, dtype="uint8",
                       crs="EPSG:32633", transform=from_origin(*ORIGIN, 0.5, 0.5)) as dst:
        dst.write(rgb)
    said = stack_rasters([tmp_path / "black.tif"], tmp_path / "s.tif").warnings
    assert any(w.startswith("4 corners of black.tif are black (0 in every band) and it declares no nodata") and
               "gdal_edit.py -a_nodata 0" in w for w in said), said


def test_a_single_band_file_named_as_elevation_has_the_same_band_name_in_export_as_in_stack(tmp_path):
    """`lmhld stack` named site_dsm.tif's band dsm and `lmhld export` called it band1: the model card said band1
    and `--relative-bands auto` did not find the DSM."""
    write_dsm(tmp_path / "site_dsm.tif")
    write_dsm(tmp_path / "export_2.tif")
    assert read_raster_info(tmp_path / "site_dsm.tif").band_names == ("dsm",)
    assert stack_rasters([tmp_path / "site_dsm.tif"], tmp_path / "stacked.tif").names == ["dsm"]
    info = read_raster_info(tmp_path / "site_dsm.tif")
    assert select_bands(info.band_names, info.count, None, info.path, info.alpha_bands)[1] == ["dsm"]
    assert read_raster_info(tmp_path / "export_2.tif").band_names == (None,)  # no guess from a name like that


def test_one_raster_given_alone_from_python_is_a_list_of_one(tmp_path):
    """stack_rasters("dsm.tif", ...) and analyse_inventory(..., rasters="dsm.tif") iterated the text: "the raster /
    is given twice (/)"."""
    from lmhld_qgis.core.inventory import analyse_inventory

    from ..helpers import square, write_polygons

    write_dsm(tmp_path / "site_dsm.tif")
    assert stack_rasters(str(tmp_path / "site_dsm.tif"), tmp_path / "stacked.tif").names == ["dsm"]
    inventory = write_polygons(tmp_path / "inv.gpkg", [square(ORIGIN[0] + 20, ORIGIN[1] - 80, 10)], epsg=32633)
    report = analyse_inventory(inventory, rasters=str(tmp_path / "site_dsm.tif"))
    assert len(report.rasters) == 1
