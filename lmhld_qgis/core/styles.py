"""Styles travel with the outputs: a sidecar .qml for rasters (QGIS loads it by name) and a default style inside
GeoPackages (the layer_styles table QGIS reads), so results open styled from the CLI as from QGIS."""

from __future__ import annotations

from pathlib import Path

from osgeo import ogr

from .atomic import gdal_checked, write_text_atomic

STYLES_DIR = Path(__file__).resolve().parent.parent / "styles"
LANDSLIDES_QML = STYLES_DIR / "landslides.qml"
PROBABILITY_QML = STYLES_DIR / "probability.qml"
ERRORS_QML = STYLES_DIR / "errors.qml"


def write_raster_style(raster: str | Path, qml: Path = PROBABILITY_QML) -> Path:
    """Write `<raster stem>.qml` beside the raster."""
    return write_text_atomic(Path(raster).with_suffix(".qml"), qml.read_text())


@gdal_checked
def embed_vector_style(gpkg: str | Path, layer: str, qml: Path = LANDSLIDES_QML, name: str = "lmhld") -> None:
    """Store `qml` as the default style of `layer` in the GeoPackage's layer_styles table."""
    ds = ogr.Open(str(gpkg), update=1)
    styles = ds.GetLayerByName("layer_styles")
    if styles is None:
        styles = ds.CreateLayer("layer_styles", geom_type=ogr.wkbNone)
        for fname, ftype in (("f_table_catalog", ogr.OFTString), ("f_table_schema", ogr.OFTString),
                             ("f_table_name", ogr.OFTString), ("f_geometry_column", ogr.OFTString),
                             ("styleName", ogr.OFTString), ("styleQML", ogr.OFTString), ("styleSLD", ogr.OFTString),
                             ("useAsDefault", ogr.OFTInteger), ("description", ogr.OFTString),
                             ("owner", ogr.OFTString), ("ui", ogr.OFTString), ("update_time", ogr.OFTDateTime)):
            defn = ogr.FieldDefn(fname, ftype)
            if fname == "useAsDefault":
                defn.SetSubType(ogr.OFSTBoolean)
            styles.CreateField(defn)
    lyr = ds.GetLayerByName(layer)
    feat = ogr.Feature(styles.GetLayerDefn())
    for key, value in (("f_table_catalog", ""), ("f_table_schema", ""), ("f_table_name", layer),
                       ("f_geometry_column", lyr.GetGeometryColumn() or "geom"), ("styleName", name),
                       ("styleQML", qml.read_text()), ("styleSLD", ""), ("useAsDefault", 1),
                       ("description", "lmhld_qgis default style"), ("owner", ""), ("ui", "")):
        feat.SetField(key, value)
    styles.CreateFeature(feat)
    ds = None
