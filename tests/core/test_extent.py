"""The extent's syntax: four numbers in the raster's CRS, or followed by their own CRS in brackets."""

from __future__ import annotations

import pytest

from lmhld_qgis.core.errors import LmhldError
from lmhld_qgis.core.extent import crs_label, parse_extent
from lmhld_qgis.core.vector import srs_from_epsg


def test_an_extent_may_name_its_crs_in_brackets():
    assert parse_extent("1,2,3,4") == ((1.0, 2.0, 3.0, 4.0), None)
    assert parse_extent(" 1, 2 ,3,4  [EPSG:4326] ") == ((1.0, 2.0, 3.0, 4.0), "EPSG:4326")
    with pytest.raises(LmhldError, match=r"optionally followed by its CRS: 'xmin,ymin,xmax,ymax \[EPSG:4326\]'"):
        parse_extent("1,2,3,4 [EPSG:4326")
    with pytest.raises(LmhldError, match="cannot read the extent's CRS 'meters'"):
        parse_extent("1,2,3,4 [meters]")


def test_a_crs_is_named_by_its_epsg_code_and_name():
    assert crs_label(srs_from_epsg(32759)) == "EPSG:32759 (WGS 84 / UTM zone 59S)"
