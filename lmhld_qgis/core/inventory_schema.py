"""A new landslide inventory, ready to digitize: a GeoPackage polygon layer with the project's schema and its QGIS
edit form stored inside (drop-downs for the value maps, defaults, the area shown read-only).

Schema (the contract between the annotator's tools, export and review):

| field | type | values / meaning |
|---|---|---|
| id | integer | landslide number (default: the largest id + 1) |
| type | text | slide, flow, fall, complex, unknown |
| certainty | text | high, medium, low (an accepted detection: medium; one reshaped before acceptance: high) |
| event_date | date | date of the triggering event |
| source | text | manual (digitized), model (an accepted detection), reviewed (a detection reshaped before acceptance) |
| author | text | who digitized or accepted it |
| notes | text | free text |
| model | text | the model of an accepted detection |
| mean_prob | real | the detection's mean probability |
| detection_id | integer | the detection's id in its layer |
| reviewed_on | date | the day a detection was accepted |

`area_m2` is a virtual field of the form (`$area`, in the project's ellipsoid and units): shown, never stored.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

from osgeo import gdal, ogr, osr

from . import qml
from .atomic import atomic_file, scratch_dir
from .errors import LmhldError
from .outputs import check_outputs

ogr.UseExceptions()

INVENTORY_LAYER = "landslides"
SCHEMA_VERSION = "lmhld-inventory/1"
TYPES = (("Slide", "slide"), ("Flow", "flow"), ("Fall", "fall"), ("Complex", "complex"), ("Unknown", "unknown"))
CERTAINTIES = (("High", "high"), ("Medium", "medium"), ("Low", "low"))
SOURCES = (("Manual (digitized)", "manual"), ("Model (accepted detection)", "model"),
           ("Reviewed (detection reshaped)", "reviewed"))
AREA_FIELD = qml.ExpressionField("area_m2", "round($area, 1)", comment="area in the project's units (m² by default)",
                                 alias="Area (m², computed)")
FID_FORM = qml.FormField("fid", widget="Hidden")  # the GeoPackage's own key: nothing to type


@dataclass(frozen=True)
class InventoryField:
    name: str
    ogr_type: int
    form: qml.FormField


def _date_widget() -> dict[str, object]:
    return {"allow_null": True, "calendar_popup": True, "display_format": "yyyy-MM-dd", "field_format": "yyyy-MM-dd",
            "field_iso_format": False}


def inventory_fields(event_date: str | None = None, author: str | None = None) -> tuple[InventoryField, ...]:
    """The inventory's fields in order; `event_date` and `author` become the form's defaults."""
    date_default = f"to_date('{event_date}')" if event_date else ""
    author_default = _quoted(author) if author else "@user_full_name"
    f = qml.FormField
    return (
        InventoryField("id", ogr.OFTInteger, f("id", "ID", "Range", {"AllowNull": True, "Min": 1, "Step": 1,
                                                                  "Style": "SpinBox", "Max": 2147483647},
                                               default='coalesce(maximum("id"), 0) + 1')),
        InventoryField("type", ogr.OFTString, f("type", "Type", value_map=TYPES, default="'unknown'", not_null=True)),
        InventoryField("certainty", ogr.OFTString, f("certainty", "Certainty", value_map=CERTAINTIES,
                                                     default="'high'", not_null=True)),
        InventoryField("event_date", ogr.OFTDate, f("event_date", "Event date", "DateTime", _date_widget(),
                                                    default=date_default)),
        InventoryField("source", ogr.OFTString, f("source", "Source", value_map=SOURCES, default="'manual'",
                                                  not_null=True)),
        InventoryField("author", ogr.OFTString, f("author", "Author", "TextEdit", {"IsMultiline": False},
                                                  default=author_default)),
        InventoryField("notes", ogr.OFTString, f("notes", "Notes", "TextEdit", {"IsMultiline": True},
                                                 default="''")),  # not "NULL" in an empty box
        InventoryField("model", ogr.OFTString, f("model", "Model", editable=False)),
        InventoryField("mean_prob", ogr.OFTReal, f("mean_prob", "Mean probability", editable=False)),
        InventoryField("detection_id", ogr.OFTInteger, f("detection_id", "Detection id", editable=False)),
        InventoryField("reviewed_on", ogr.OFTDate, f("reviewed_on", "Accepted on", "DateTime", _date_widget(),
                                                     editable=False)),
    )


FIELD_NAMES = tuple(f.name for f in inventory_fields())


def _quoted(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def inventory_style(event_date: str | None = None, author: str | None = None) -> str:
    """The inventory's QML: a yellow outline, the edit form and the read-only area field."""
    root = qml.new_style()
    qml.single_renderer(root, qml.FillSymbol(fill="255,221,0,40", outline="255,190,0,255", width_mm=0.6))
    qml.form(root, [FID_FORM] + [f.form for f in inventory_fields(event_date, author)], [AREA_FIELD])
    return qml.to_text(root)


def embed_style(gpkg: str | Path, layer: str, qml_text: str, name: str = "lmhld") -> None:
    """Store `qml_text` as the default style of `layer` in the GeoPackage (QGIS applies it when the layer opens)."""
    from .styles import embed_vector_style

    with scratch_dir("style") as tmp:  # swept if this process is killed: a later run removes it
        path = Path(tmp) / "style.qml"
        path.write_text(qml_text, encoding="utf-8")
        embed_vector_style(gpkg, layer, path, name=name)


def crs_from_user(crs: str | None, raster: str | Path | None) -> osr.SpatialReference:
    """The CRS asked for (EPSG:XXXX, WKT, PROJ string), else the raster's; a clear error when neither is usable."""
    from .raster import assign_crs_fix
    from .vector import srs_from_wkt

    if crs:
        return srs_from_wkt(crs, f"CRS {crs!r}")
    if raster is None:
        raise LmhldError("give the inventory a CRS (e.g. EPSG:32618) or a raster whose CRS it should take")
    try:
        ds = gdal.Open(str(raster))
    except RuntimeError as exc:
        raise LmhldError(f"cannot read raster {raster}: {exc}; give a file GDAL can open") from exc
    return srs_from_wkt(ds.GetProjection() or None, f"raster {Path(raster).name}",
                        fix=f"give the inventory's CRS instead (EPSG:XXXX), or {assign_crs_fix(raster)}")


def check_date(text: str | None, what: str = "event date") -> str | None:
    """An ISO date (YYYY-MM-DD) or None."""
    if not text:
        return None
    try:
        return dt.date.fromisoformat(text).isoformat()
    except ValueError as exc:
        raise LmhldError(f"{what} must be a date as YYYY-MM-DD, got {text!r}") from exc


def create_inventory(path: str | Path, *, crs: str | None = None, raster: str | Path | None = None,
                     layer: str = INVENTORY_LAYER, event_date: str | None = None, author: str | None = None,
                     overwrite: bool = False) -> Path:
    """Write an empty inventory GeoPackage at `path` (atomically) with its edit form; return the path."""
    path = Path(path)
    if path.suffix.lower() != ".gpkg":
        raise LmhldError(f"the inventory must be a GeoPackage (.gpkg), got {path.name}")
    if path.exists() and not overwrite:
        raise LmhldError(f"{path} exists; choose another file, or replace it and lose its polygons (--overwrite; "
                         "in QGIS: Replace an existing file, losing its polygons)")
    # a read-only folder, the raster given as the output, or other layers in the file (overwriting replaces an
    # inventory, not the file's other layers): said before anything is written, as every command does
    check_outputs(inputs={"raster": raster}, files={"inventory": path}, layers={"inventory": [layer]})
    event_date = check_date(event_date)
    srs = crs_from_user(crs, raster)
    with atomic_file(path) as tmp:
        ds = ogr.GetDriverByName("GPKG").CreateDataSource(str(tmp))
        lyr = ds.CreateLayer(layer, srs, ogr.wkbMultiPolygon,
                             ["GEOMETRY_NAME=geom", f"DESCRIPTION=Landslide inventory ({SCHEMA_VERSION})"])
        for f in inventory_fields():
            lyr.CreateField(ogr.FieldDefn(f.name, f.ogr_type))
        lyr.SetMetadataItem("LMHLD_SCHEMA", SCHEMA_VERSION)
        ds = None
        embed_style(tmp, layer, inventory_style(event_date, author))
    return path


NEGATIVES_LAYER = "negatives"
NEGATIVE_FIELDS = (("detection_id", ogr.OFTInteger), ("mean_prob", ogr.OFTReal), ("model", ogr.OFTString),
                   ("reviewed_on", ogr.OFTDate), ("author", ogr.OFTString), ("notes", ogr.OFTString))


def negatives_style() -> str:
    """Rejected detections: a grey hatched outline, so they read as 'not a landslide'."""
    root = qml.new_style()
    qml.single_renderer(root, qml.FillSymbol(fill="90,90,90,90", outline="60,60,60,255", width_mm=0.5,
                                             style="b_diagonal"))
    return qml.to_text(root)


def create_negatives(path: str | Path, srs: osr.SpatialReference | str, layer: str = NEGATIVES_LAYER) -> Path:
    """Add an empty negatives layer (rejected detections: known false positives, for export's hard negatives) to
    the GeoPackage at `path`, creating the file if needed. An existing layer of that name is left as it is."""
    from .vector import srs_from_wkt

    path = Path(path)
    if path.suffix.lower() != ".gpkg":
        raise LmhldError(f"the negatives layer must go into a GeoPackage (.gpkg), got {path.name}")
    srs = srs_from_wkt(srs, "negatives layer") if isinstance(srs, str) else srs
    ds = ogr.Open(str(path), update=1) if path.exists() else ogr.GetDriverByName("GPKG").CreateDataSource(str(path))
    if ds.GetLayerByName(layer) is not None:
        return path
    lyr = ds.CreateLayer(layer, srs, ogr.wkbMultiPolygon,
                         ["GEOMETRY_NAME=geom", "DESCRIPTION=Rejected detections (known false positives)"])
    for name, kind in NEGATIVE_FIELDS:
        lyr.CreateField(ogr.FieldDefn(name, kind))
    ds = None
    embed_style(path, layer, negatives_style())
    return path
