"""Patch windows as polygon layers: export's footprints (patches.gpkg, the kept patches) and the patch preview
(every window considered, kept or dropped with the reason, styled by split so the origin of the training data
shows at a glance). One writer serves both; one layer per source CRS."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from osgeo import ogr

from .atomic import atomic_file, gdal_checked
from .patch_plan import PatchPlan
from .patch_windows import PlannedWindow
from .styles import STYLES_DIR, embed_vector_style
from .vector import srs_from_wkt

PREVIEW_QML = STYLES_DIR / "patch_preview.qml"
Getter = Callable[[PlannedWindow], Any]
Field = tuple[str, int, Getter]


def _common_fields(plan: PatchPlan) -> list[Field]:
    names = [Path(s.info.path).name for s in plan.sources]
    return [("landslide_fraction", ogr.OFTReal, lambda w: w.landslide_fraction),
            ("source", ogr.OFTString, lambda w: names[w.source]),
            ("row", ogr.OFTInteger, lambda w: w.row), ("col", ogr.OFTInteger, lambda w: w.col)]


def write_footprints(path: Path, plan: PatchPlan) -> None:
    """patches.gpkg: one footprint per kept patch (id, split, landslide_fraction, source, row, col, kind)."""
    fields: list[Field] = [("id", ogr.OFTString, lambda w: w.id), ("split", ogr.OFTString, lambda w: w.split),
                           *_common_fields(plan), ("kind", ogr.OFTString, lambda w: w.kind)]
    _write_windows(path, plan, plan.kept(), fields, "patches")


def preview_category(window: PlannedWindow) -> str:
    """What the preview's style colours: the split of a kept window ('kept' when too few were kept to split),
    else 'dropped' (an overlapping training window that was dropped: 'dropped overlap', hidden by default so the
    grid stays readable)."""
    if window.kept:
        return str(window.split or "kept")
    return "dropped overlap" if window.placement == "overlap" else "dropped"


def write_preview(path: str | Path, plan: PatchPlan) -> list[str]:
    """Every window the plan considered as a styled GeoPackage (written atomically); returns its layer names."""
    fields: list[Field] = [
        ("id", ogr.OFTString, lambda w: w.id), ("status", ogr.OFTString, lambda w: "kept" if w.kept else "dropped"),
        ("reason", ogr.OFTString, lambda w: w.reason or ""), ("kind", ogr.OFTString, lambda w: w.kind),
        ("placement", ogr.OFTString, lambda w: w.placement), ("split", ogr.OFTString, lambda w: w.split or ""),
        *_common_fields(plan), ("category", ogr.OFTString, preview_category)]
    with atomic_file(path) as tmp:
        layers = _write_windows(tmp, plan, plan, fields, "windows")
        for name in layers:
            embed_vector_style(tmp, name, PREVIEW_QML, name="lmhld patch preview")
    return layers


@gdal_checked
def _write_windows(path: Path, plan: PatchPlan, windows: Iterable[PlannedWindow], fields: list[Field],
                   prefix: str) -> list[str]:
    ds = ogr.GetDriverByName("GPKG").CreateDataSource(str(path))
    ds.StartTransaction()  # one for the file: a GeoPackage allows one at a time (there is a layer per CRS)
    layers: dict[int, Any] = {}
    names: list[str] = []
    by_crs: dict[str, Any] = {}
    for w in windows:
        lyr = layers.get(w.source)
        if lyr is None:
            wkt = plan.sources[w.source].info.crs_wkt or ""
            lyr = by_crs.get(wkt)
            if lyr is None:
                names.append(prefix if not names else f"{prefix}_{len(names)}")
                lyr = _new_layer(ds, names[-1], wkt, fields)
                by_crs[wkt] = lyr
            layers[w.source] = lyr
        feat = ogr.Feature(lyr.GetLayerDefn())
        feat.SetGeometry(_footprint(plan.sources[w.source].info.transform, w))
        for name, _, getter in fields:
            feat.SetField(name, getter(w))
        lyr.CreateFeature(feat)
    ds.CommitTransaction()
    ds = None
    return names


def _new_layer(ds: Any, name: str, wkt: str, fields: list[Field]) -> Any:
    lyr = ds.CreateLayer(name, srs_from_wkt(wkt, "raster"), ogr.wkbPolygon)
    for fname, ftype, _ in fields:
        lyr.CreateField(ogr.FieldDefn(fname, ftype))
    return lyr


def _footprint(transform: tuple[float, float, float, float, float, float], w: PlannedWindow) -> Any:
    a, _, c, _, e, f = transform
    x0, y0, side = c + a * w.col, f + e * w.row, w.size
    ring = ogr.Geometry(ogr.wkbLinearRing)
    for x, y in ((x0, y0), (x0 + a * side, y0), (x0 + a * side, y0 + e * side), (x0, y0 + e * side), (x0, y0)):
        ring.AddPoint_2D(x, y)
    poly = ogr.Geometry(ogr.wkbPolygon)
    poly.AddGeometry(ring)
    return poly
