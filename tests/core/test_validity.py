"""The pixel-validity rule that export and detection share (core.validity), on real GeoTIFFs of each kind GDAL can
declare: nothing, a nodata value, a mask band, an alpha band GDAL applies (Byte) or does not (Float32)."""

from __future__ import annotations

import numpy as np
import pytest
import rasterio
from osgeo import gdal
from rasterio.windows import Window

from lmhld_qgis.core.validity import PixelValidity
from tests.helpers import write_raster

WHOLE = Window(0, 0, 8, 8)


def _validity(path, bands=(1, 2)) -> tuple[PixelValidity, np.ndarray, np.ndarray]:
    with rasterio.open(path) as src:
        rule = PixelValidity(src, bands)
        raw = src.read(list(bands), window=WHOLE)
        return rule, raw, rule.mask(raw, WHOLE)


def test_an_integer_raster_without_a_mask_is_valid_everywhere(tmp_path):
    path = write_raster(tmp_path / "i.tif", np.zeros((2, 8, 8), np.uint16))
    rule, raw, mask = _validity(path)
    assert rule.always_valid and mask.all() and not rule.any_missing(raw, WHOLE)


def test_a_declared_nodata_value_is_missing_in_any_band(tmp_path):
    data = np.ones((2, 8, 8), np.uint16)
    data[1, 2, 3] = 0
    rule, raw, mask = _validity(write_raster(tmp_path / "n.tif", data, nodata=0))
    assert rule.kind == "nodata" and not mask[2, 3] and mask.sum() == 63
    assert rule.any_missing(raw, WHOLE) and not rule.any_missing(raw[:1], WHOLE, [0])  # band 1 alone is whole


@pytest.mark.parametrize("value", [np.nan, np.inf])
def test_nan_and_infinity_are_missing_in_a_float_raster_declared_or_not(tmp_path, value):
    data = np.ones((2, 8, 8), np.float32)
    data[0, 5, 5] = value
    rule, raw, mask = _validity(write_raster(tmp_path / "f.tif", data))
    assert not rule.always_valid and not mask[5, 5] and mask.sum() == 63 and rule.any_missing(raw, WHOLE)


@pytest.mark.parametrize("alpha_type", [gdal.GDT_Byte, gdal.GDT_Float32])
def test_an_alpha_band_masks_its_zeros_whether_gdal_applies_it_or_not(tmp_path, alpha_type):
    """GDAL applies a Byte alpha as the mask, not a Float32 one (gdalwarp -dstalpha on a float scene): both count."""
    path = tmp_path / "a.tif"
    ds = gdal.GetDriverByName("GTiff").Create(str(path), 8, 8, 3, alpha_type)
    for b in (1, 2):
        ds.GetRasterBand(b).Fill(7)
    alpha = np.full((8, 8), 255, np.uint8)
    alpha[:, :3] = 0
    ds.GetRasterBand(3).WriteArray(alpha)
    ds.GetRasterBand(3).SetColorInterpretation(gdal.GCI_AlphaBand)
    ds = None
    _, _, mask = _validity(path)
    assert not mask[:, :3].any() and mask[:, 3:].all()
