"""What validation writes: the problems layer (one feature per problem, styled by severity) and a repaired copy of
the inventory (never the input itself)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from osgeo import ogr

from . import qml
from .atomic import atomic_file
from .errors import LmhldError
from .outputs import check_other_layers
from .validate import (
    DUPLICATE,
    EMPTY,
    INVALID,
    NONE_ON_IMAGERY,
    NOT_POLYGON,
    OFF_IMAGERY,
    SELF_INTERSECTION,
    ValidationReport,
    repair,
)
from .vector import open_layer

ogr.UseExceptions()

PROBLEMS_LAYER = "problems"
PROBLEM_FIELDS = (("kind", ogr.OFTString), ("feature_id", ogr.OFTInteger64), ("other_id", ogr.OFTInteger64),
                  ("severity", ogr.OFTString), ("message", ogr.OFTString), ("fix", ogr.OFTString))


def problems_style() -> str:
    root = qml.new_style()
    qml.categorized_renderer(root, "severity", [
        ("blocking", "blocking (export refuses)", qml.FillSymbol("230,0,0,70", "200,0,0,255", 0.8)),
        ("warning", "warning", qml.FillSymbol("255,150,0,50", "255,120,0,255", 0.6)),
    ])
    return qml.to_text(root)


def write_problems(report: ValidationReport, path: str | Path, layer: str = PROBLEMS_LAYER) -> Path:
    """Write the problems as a styled GeoPackage layer (geometries in the inventory's CRS), atomically."""
    from .inventory_schema import embed_style

    path = Path(path)
    if path.suffix.lower() != ".gpkg":
        raise LmhldError(f"the problems layer must be a GeoPackage (.gpkg), got {path.name}")
    check_other_layers("problems layer", path, [layer])  # --overwrite replaces lmhld's layer, not the user's
    with atomic_file(path) as tmp:
        ds = ogr.GetDriverByName("GPKG").CreateDataSource(str(tmp))
        lyr = ds.CreateLayer(layer, report.srs, ogr.wkbMultiPolygon, ["GEOMETRY_NAME=geom"])
        for name, kind in PROBLEM_FIELDS:
            lyr.CreateField(ogr.FieldDefn(name, kind))
        lyr.StartTransaction()
        for p in report.problems:
            feat = ogr.Feature(lyr.GetLayerDefn())
            if p.geometry is not None:
                feat.SetGeometry(ogr.ForceToMultiPolygon(p.geometry))
            for name, value in (("kind", p.kind), ("feature_id", p.fid), ("other_id", p.other_fid),
                                ("severity", "blocking" if p.blocking else "warning"), ("message", p.message),
                                ("fix", p.fix)):
                if value is not None:
                    feat.SetField(name, value)
            lyr.CreateFeature(feat)
        lyr.CommitTransaction()
        ds = None
        embed_style(tmp, layer, problems_style())
    return path


def repair_plan(report: ValidationReport) -> tuple[set[int | None], dict[int | None, str]]:
    """(features whose geometry `repair` makes valid, features to leave out of the copy with the reason)."""
    to_fix = {p.fid for p in report.problems if p.kind in (INVALID, SELF_INTERSECTION)}
    to_drop = {p.fid: p.kind for p in report.problems if p.kind in (EMPTY, NOT_POLYGON, DUPLICATE)}
    return to_fix, to_drop


@dataclass
class RepairReport:
    path: Path
    n_written: int
    repaired: int  # invalid geometries and self-intersections made valid
    dropped: dict[str, int]  # kind -> features left out (empty, not polygons, duplicates, unrepairable)


def write_repaired(report: ValidationReport, path: str | Path) -> RepairReport:
    """A copy of the inventory with invalid geometries made valid and empty, non-polygon and duplicate features
    dropped, in the report's CRS (the one assigned, if any); overlaps, slivers, small polygons and raster issues are
    left to the annotator (the problems layer lists them). Fields and the layer's stored style (its edit form) are
    kept."""
    from .inventory_schema import embed_style

    path = Path(path)
    if path.suffix.lower() != ".gpkg":
        raise LmhldError(f"the repaired copy must be a GeoPackage (.gpkg), got {path.name}")
    if path.resolve() == Path(report.inventory).resolve():
        raise LmhldError("the repaired copy must not replace the inventory: give another file")
    check_other_layers("repaired copy", path, [report.layer])
    to_fix, to_drop = repair_plan(report)
    style = _stored_style(report.inventory, report.layer)
    dropped: Counter[str] = Counter()
    written = repaired = 0
    src_ds, src = open_layer(report.inventory, report.layer)
    with atomic_file(path) as tmp:
        ds = ogr.GetDriverByName("GPKG").CreateDataSource(str(tmp))
        out = ds.CreateLayer(report.layer, report.srs, ogr.wkbMultiPolygon, ["GEOMETRY_NAME=geom"])
        defn = src.GetLayerDefn()
        for i in range(defn.GetFieldCount()):
            out.CreateField(defn.GetFieldDefn(i))
        out.StartTransaction()
        for feat in src:
            fid = feat.GetFID()
            if fid in to_drop:
                dropped[to_drop[fid]] += 1
                continue
            geom = feat.GetGeometryRef()
            if fid in to_fix:
                geom = repair(geom)
                if geom is None:
                    dropped["unrepairable"] += 1
                    continue
                repaired += 1
            copy = ogr.Feature(out.GetLayerDefn())
            copy.SetFrom(feat)
            copy.SetGeometry(ogr.ForceToMultiPolygon(geom))
            out.CreateFeature(copy)
            written += 1
        out.CommitTransaction()
        ds = None
        if style:
            embed_style(tmp, report.layer, style)
    del src_ds
    return RepairReport(path, written, repaired, dict(dropped))


def _stored_style(path: str | Path, layer: str) -> str | None:
    """The default QML stored for `layer` in a GeoPackage's layer_styles table, if any."""
    try:
        ds = ogr.Open(str(path))
    except RuntimeError:
        return None
    styles = ds.GetLayerByName("layer_styles") if ds is not None else None
    if styles is None:
        return None
    styles.SetAttributeFilter(f"f_table_name = '{layer.replace(chr(39), chr(39) * 2)}'")
    best = None
    for feat in styles:
        if best is None or feat.GetField("useAsDefault"):
            best = feat.GetField("styleQML")
    return best


def summary_line(report: ValidationReport) -> str:
    counts = {k: n for k, n in report.counts().items() if n}
    ready = "inventory ready for export, imagery not" if report.raster_warnings else "ready for export"
    others = [p for p in report.blocking if p.kind != NONE_ON_IMAGERY]
    state = (ready if report.ok_for_export else OFF_IMAGERY if report.off_imagery and not others
             else f"{len(report.blocking)} blocking (export refuses)" if report.blocking
             else "no polygon to export (export refuses)")
    found = ", ".join(f"{n} {k.replace('_', ' ')}" for k, n in counts.items()) or "no problem"
    skipped = f"; not checked: {', '.join(report.not_checked)}" if report.not_checked else ""
    if report.raster_warnings:  # the inventory may be fine; export still refuses the imagery
        state += f"; imagery: {len(report.raster_warnings)} band(s) hold a fill value not declared as nodata " \
                 "(export refuses it until it is declared)"
    return f"{report.n_features} features: {found}; {state}{skipped}"

