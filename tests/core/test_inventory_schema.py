"""A new inventory: the schema in the GeoPackage, the CRS from the user or the imagery, the form stored with it,
and refusals that protect existing work."""

from __future__ import annotations

import numpy as np
import pytest
from osgeo import ogr

from lmhld_qgis.core.errors import LmhldError
from lmhld_qgis.core.inventory_schema import FIELD_NAMES, create_inventory

from ..helpers import write_raster


def _layer_facts(path):
    ds = ogr.Open(str(path))
    lyr = ds.GetLayerByName("landslides")
    defn = lyr.GetLayerDefn()
    fields = {defn.GetFieldDefn(i).GetName(): defn.GetFieldDefn(i).GetTypeName() for i in range(defn.GetFieldCount())}
    styles = ds.GetLayerByName("layer_styles")
    qml = [(f["f_table_name"], f["useAsDefault"], f["styleQML"]) for f in styles]
    return lyr.GetSpatialRef().GetAuthorityCode(None), ogr.GeometryTypeToName(lyr.GetGeomType()), fields, qml


def test_schema_crs_and_stored_form(tmp_path):
    path = create_inventory(tmp_path / "inv.gpkg", crs="EPSG:32618", event_date="2019-12-24", author="Ana O'Neil")
    epsg, geom_type, fields, qml = _layer_facts(path)
    assert epsg == "32618" and geom_type == "Multi Polygon"
    assert list(fields)[:7] == ["id", "type", "certainty", "event_date", "source", "author", "notes"]
    assert tuple(fields) == FIELD_NAMES and fields["event_date"] == "Date" and fields["id"] == "Integer"
    (table, default, text), = qml
    assert table == "landslides" and default == 1
    for expected in ('<editWidget type="ValueMap">', 'value="flow"', 'value="complex"', 'value="reviewed"',
                     "to_date('2019-12-24')", "'Ana O''Neil'", 'name="area_m2" expression="round($area, 1)"',
                     '<field name="area_m2" editable="0"'):
        assert expected in text, expected


def test_crs_from_the_imagery(tmp_path):
    raster = write_raster(tmp_path / "scene.tif", np.ones((1, 8, 8), np.uint8), epsg=32759)
    epsg, *_ = _layer_facts(create_inventory(tmp_path / "inv.gpkg", raster=raster))
    assert epsg == "32759"


def test_refusals(tmp_path):
    with pytest.raises(LmhldError, match="give the inventory a CRS"):
        create_inventory(tmp_path / "a.gpkg")
    with pytest.raises(LmhldError, match="YYYY-MM-DD"):
        create_inventory(tmp_path / "a.gpkg", crs="EPSG:4326", event_date="24/12/2019")
    with pytest.raises(LmhldError, match="GeoPackage"):
        create_inventory(tmp_path / "a.shp", crs="EPSG:4326")
    with pytest.raises(LmhldError, match="no CRS"):
        create_inventory(tmp_path / "a.gpkg", raster=write_raster(tmp_path / "r.tif", np.ones((1, 4, 4)), epsg=None))
    assert not list(tmp_path.glob("a.*"))
    path = create_inventory(tmp_path / "a.gpkg", crs="EPSG:4326")
    with pytest.raises(LmhldError, match="exists"):
        create_inventory(path, crs="EPSG:4326")
    create_inventory(path, crs="EPSG:32618", overwrite=True)
    assert _layer_facts(path)[0] == "32618"
