"""Styles travel with the outputs as sidecar .qml files (QGIS loads `<name>.qml` beside a raster or a GeoPackage
as its default style), so results open styled from the CLI as from QGIS. A sidecar keeps a GeoPackage to its one
layer: a `layer_styles` table inside it would make QGIS ask which of two tables to add when the file is dropped.

Multi-band imagery with bands named blue, green and red carries that as the bands' colour interpretation, and
gets a true-colour sidecar where QGIS would otherwise paint bands 1, 2, 3 as red, green, blue."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from .atomic import gdal_checked, write_text_atomic

if TYPE_CHECKING:
    from osgeo import gdal  # untyped: gdal.Dataset is Any to the checker, but names what is meant

STYLES_DIR = Path(__file__).resolve().parent.parent / "styles"
LANDSLIDES_QML = STYLES_DIR / "landslides.qml"
PROBABILITY_QML = STYLES_DIR / "probability.qml"
ERRORS_QML = STYLES_DIR / "errors.qml"
PATCHES_QML = STYLES_DIR / "patches.qml"
COLOURS = ("red", "green", "blue")


def write_raster_style(raster: str | Path, qml: Path = PROBABILITY_QML) -> Path:
    """Write `<raster stem>.qml` beside the raster."""
    return write_text_atomic(Path(raster).with_suffix(".qml"), qml.read_text())


def write_vector_style(gpkg: str | Path, qml: Path = LANDSLIDES_QML) -> Path:
    """Write `<gpkg stem>.qml` beside a single-layer GeoPackage (QGIS applies it when the file is added)."""
    return write_raster_style(gpkg, qml)


@gdal_checked
def embed_vector_style(gpkg: str | Path, layer: str, qml: Path = LANDSLIDES_QML, name: str = "lmhld") -> None:
    """Store `qml` as the default style of `layer` in the GeoPackage's layer_styles table: for files whose style
    must travel inside them (an inventory's edit form), where a sidecar could be lost on a copy."""
    from osgeo import ogr

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
    quoted = layer.replace("'", "''")  # a style of this name stored before (the layer written again) is replaced
    styles.SetAttributeFilter(f"f_table_name = '{quoted}' AND styleName = '{name.replace(chr(39), chr(39) * 2)}'")
    for fid in [f.GetFID() for f in styles]:
        styles.DeleteFeature(fid)
    styles.SetAttributeFilter(None)
    feat = ogr.Feature(styles.GetLayerDefn())
    for key, value in (("f_table_catalog", ""), ("f_table_schema", ""), ("f_table_name", layer),
                       ("f_geometry_column", lyr.GetGeometryColumn() or "geom"), ("styleName", name),
                       ("styleQML", qml.read_text()), ("styleSLD", ""), ("useAsDefault", 1),
                       ("description", "lmhld_qgis default style"), ("owner", ""), ("ui", "")):
        feat.SetField(key, value)
    styles.CreateFeature(feat)
    ds = None


def colour_bands(descriptions: list[str | None]) -> dict[str, int]:
    """{"red": 1-based band, ...} for the bands described as red, green and blue (case-insensitive)."""
    found = {}
    for i, text in enumerate(descriptions, start=1):
        name = (text or "").strip().lower()
        if name in COLOURS and name not in found:
            found[name] = i
    return found


def tag_band_colours(dataset: str | Path | gdal.Dataset) -> dict[str, int]:
    """Set the colour interpretation of the bands of an open GDAL dataset (or a raster path, opened for update)
    from their descriptions; returns the colour bands found."""
    from osgeo import gdal

    ds = gdal.Open(str(dataset), gdal.GA_Update) if isinstance(dataset, str | Path) else dataset
    descriptions = [ds.GetRasterBand(i).GetDescription() for i in range(1, ds.RasterCount + 1)]
    found = colour_bands(descriptions)
    if len(found) == 3:
        codes = {"red": gdal.GCI_RedBand, "green": gdal.GCI_GreenBand, "blue": gdal.GCI_BlueBand}
        for colour, band in found.items():
            ds.GetRasterBand(band).SetColorInterpretation(codes[colour])
    return found


def write_true_colour_style(raster: str | Path,
                            samples: dict[str, Any] | None = None) -> Path | None:
    """A sidecar .qml that shows a raster with bands described as red, green and blue in true colour, each band
    stretched between its 2nd and 98th percentiles (None when the raster has no such bands). `samples` (colour ->
    values) are pixels the writer kept while writing, so the raster is not read again; else a decimated read."""
    import numpy as np
    from osgeo import gdal

    ds = gdal.Open(str(raster))
    found = colour_bands([ds.GetRasterBand(i).GetDescription() for i in range(1, ds.RasterCount + 1)])
    if len(found) < 3:
        return None
    step = sample_step(ds.RasterXSize, ds.RasterYSize)
    xml = []
    for colour in COLOURS:
        band = ds.GetRasterBand(found[colour])
        if samples is not None:
            data = np.asarray(samples[colour])
        else:
            data = band.ReadAsArray(buf_xsize=max(1, ds.RasterXSize // step),
                                    buf_ysize=max(1, ds.RasterYSize // step))
        nodata = band.GetNoDataValue()
        keep = np.isfinite(data) if np.issubdtype(data.dtype, np.floating) else np.ones(data.shape, bool)
        valid = data[keep & (data != nodata)] if nodata is not None else data[keep]  # NaN nodata: not a colour
        low, high = (np.percentile(valid, [2, 98]) if valid.size else (0.0, 1.0))
        xml.append(f'   <{colour}ContrastEnhancement><minValue>{low:g}</minValue><maxValue>{high:g}</maxValue>'
                   f'<algorithm>StretchToMinimumMaximum</algorithm></{colour}ContrastEnhancement>')
    target = Path(raster).with_suffix(".qml")
    target.write_text(_TRUE_COLOUR.format(red=found["red"], green=found["green"], blue=found["blue"],
                                          enhancements="\n".join(xml)))
    return target


def sample_step(width: int, height: int) -> int:
    """Every how many pixels a colour stretch samples a raster: about 512 along its longer side is enough."""
    return max(1, max(width, height) // 512)


_TRUE_COLOUR = """<!DOCTYPE qgis PUBLIC 'http://mrcc.com/qgis.dtd' 'SYSTEM'>
<qgis version="3.22.16" styleCategories="Symbology">
 <pipe>
  <rasterrenderer type="multibandcolor" redBand="{red}" greenBand="{green}" blueBand="{blue}" opacity="1"
                  alphaBand="-1" nodataColor="">
{enhancements}
  </rasterrenderer>
 </pipe>
</qgis>
"""
