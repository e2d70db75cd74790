"""Polygon layers through OGR/OSR (the system GDAL, GEOS and PROJ that QGIS itself uses).

Shapely from PyPI is avoided on purpose: its wheel bundles a second GEOS, which clashes with QGIS's own inside
the desktop process. Everything here works on `osgeo.ogr.Geometry` objects.
"""

from __future__ import annotations

import shlex
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import numpy.typing as npt
from osgeo import gdal, ogr, osr

from .atomic import gdal_checked
from .errors import LmhldError

FeatureIds = npt.NDArray[np.int64]

ogr.UseExceptions()
osr.UseExceptions()

_POLYGON_TYPES = {ogr.wkbPolygon, ogr.wkbMultiPolygon}
_CURVED_POLYGON_TYPES = {ogr.wkbCurvePolygon, ogr.wkbMultiSurface}
# the fields of export's patch outlines (patches.gpkg) and of the patch preview: see core.patch_layer
PATCH_OUTLINE_FIELDS = frozenset({"id", "kind", "landslide_fraction", "source", "row", "col"})


@dataclass
class PolygonSet:
    """Valid polygons read from a layer, with a count of what was repaired or skipped and why."""

    geometries: list[ogr.Geometry]  # Polygon or MultiPolygon, 2D, valid, in `srs`
    fids: FeatureIds  # source feature id of each geometry (repeated when multipart features are exploded)
    srs: osr.SpatialReference
    n_features: int  # features in the source, before anything was skipped
    skipped: dict[str, int] = field(default_factory=dict)  # reason -> count
    repairs: list[tuple[int, str]] = field(default_factory=list)  # (feature id, what was invalid) per repair
    name: str = ""  # the layer's name, for messages that name it
    first_layer_of: str = ""  # the file whose first layer was read for want of a layer name (first_layer_note)

    @property
    def n_repaired(self) -> int:
        return len(self.repairs)

    @property
    def n_skipped(self) -> int:
        return sum(self.skipped.values())


def without_fids(polygons: PolygonSet, fids: set[int]) -> PolygonSet:
    """The polygons whose source feature is not among `fids` (a review's rejected detections left out)."""
    from dataclasses import replace

    keep = [i for i, fid in enumerate(polygons.fids) if int(fid) not in fids]
    return replace(polygons, geometries=[polygons.geometries[i] for i in keep],
                   fids=np.asarray(polygons.fids)[keep] if keep else np.asarray([], dtype=np.int64))


def skipped_text(skipped: dict[str, int]) -> str:
    """Skipped features by reason, as a sentence says them: "1 null geometry, 2 zero area"."""
    return ", ".join(f"{count} {reason}" for reason, count in skipped.items())


def srs_from_epsg(epsg: int) -> osr.SpatialReference:
    """An EPSG CRS with x = easting/longitude, the order every coordinate in this project uses."""
    srs = osr.SpatialReference()
    srs.ImportFromEPSG(epsg)
    srs.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
    return srs


LAYER_CRS_FIX = "assign one (QGIS: Layer Properties > Source > Set CRS)"


def srs_from_wkt(wkt: str | None, what: str, fix: str = LAYER_CRS_FIX) -> osr.SpatialReference:
    """Parse a CRS (x = easting/longitude order) or explain how to assign one (`fix`: how, for this kind of data)."""
    if not wkt:
        raise LmhldError(f"{what} has no CRS; {fix} and retry")
    srs = osr.SpatialReference()
    try:
        srs.SetFromUserInput(wkt)
    except RuntimeError as exc:
        raise LmhldError(f"{what} has a CRS that PROJ cannot read ({exc}); assign a standard CRS") from exc
    if (srs.GetName() or "").startswith("Undefined"):  # GeoPackage's srs_id 0 / -1 placeholders
        raise LmhldError(f"{what} has no CRS (it says {srs.GetName()!r}); {fix} and retry")
    if srs.IsLocal():  # PROJ relates no CRS to it, not even a copy of itself: an AttributeError deep in detection
        raise LmhldError(f"{what} has a local CRS ({srs.GetName()!r}, a site grid tied to nothing on the Earth), in "
                         "which lmhld can neither measure areas on the ground nor relate layers; assign its real "
                         "CRS instead, or for a site grid that has none, assign every layer of the site one "
                         "projected CRS in metres (e.g. the site's UTM zone: areas are then within 0.1%)")
    srs.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
    return srs


def open_layer(path: str | Path, layer: str | None = None) -> tuple[ogr.DataSource, ogr.Layer]:
    """Open a vector layer, with errors that say which file or layer is wrong."""
    try:
        ds = ogr.Open(str(path))
    except RuntimeError as exc:
        if "database is locked" in str(exc):  # SQLite: another program holds a write lock on the GeoPackage
            raise LmhldError(f"cannot read vector file {path}: another program is writing it (database is locked); "
                             "save or stop its edits there (QGIS: Toggle Editing), then run again") from exc
        raise LmhldError(f"cannot read vector file {path}: {exc}; give a file OGR can read (GPKG, SHP, ...)") from exc
    if ds is None and not Path(path).exists():
        raise LmhldError(f"vector file {path} does not exist; check the path")
    from .raster import is_raster_file

    if (ds is None or ds.GetLayerCount() == 0) and is_raster_file(path):
        raise LmhldError(f"cannot read vector file {path}: it is a raster, not polygons; give the landslide "
                         "inventory's file here (GPKG, SHP, GeoJSON, ...) and the imagery as the raster")
    if ds is None or ds.GetLayerCount() == 0:
        raise LmhldError(f"cannot read vector file {path}: no vector layer in it; give a file OGR can read "
                         "(GPKG, SHP, GeoJSON, ...)")
    if layer is None:
        return ds, ds.GetLayer(0)
    lyr = ds.GetLayerByName(layer)
    if lyr is None:
        names = [ds.GetLayer(i).GetName() for i in range(ds.GetLayerCount())]
        raise LmhldError(f"{path} has no layer {layer!r}; its layers are {names}")
    return ds, lyr


AREA_OF_INTEREST = "area of interest"  # the one role patch outlines may play: patches are a fair area to detect in


def refuse_patch_outlines(field_names: Iterable[str], role: str, name: str) -> None:
    """Refuse patch outlines (written by export or preview) given as `role` (inventory, negatives) where landslide
    polygons are wanted: each outline is a whole patch, so export would train every pixel of it as landslide and
    evaluation would score against squares. After an export, QGIS proposes the outlines it just loaded as the next
    dialog's inventory. As an area of interest they are allowed."""
    if role != AREA_OF_INTEREST and set(field_names) >= PATCH_OUTLINE_FIELDS:
        raise LmhldError(f"{role} {name} holds the patch outlines that lmhld export or preview wrote (fields "
                         "landslide_fraction, row, col), not landslide polygons: give the landslide inventory")


def read_layer_wkb(path: str | Path, layer: str | None = None, role: str = "inventory",
                   ) -> tuple[list[bytes | None], FeatureIds, str | None]:
    """Every feature's geometry as WKB (None where null), the feature ids, and the layer CRS as WKT; a layer
    declared to hold no polygons is refused, naming the file's polygon layers (`role` names the input)."""
    ds, lyr = open_layer(path, layer)
    gtype = lyr.GetGeomType()
    flat = ogr.GT_Flatten(gtype)
    if flat not in (ogr.wkbUnknown, ogr.wkbGeometryCollection) and flat not in _POLYGON_TYPES | _CURVED_POLYGON_TYPES:
        note = polygon_layers_note(path, lyr.GetName(), role)
        raise LmhldError(
            f"layer {lyr.GetName()!r} of {Path(path).name} holds {ogr.GeometryTypeToName(gtype)} geometries; "
            f"the {role} must hold polygons" + (f". {note}" if note else "")
        )
    defn = lyr.GetLayerDefn()
    refuse_patch_outlines((defn.GetFieldDefn(i).GetName() for i in range(defn.GetFieldCount())), role,
                          Path(path).name)
    srs = lyr.GetSpatialRef()
    wkt = srs.ExportToWkt() if srs is not None else None
    wkbs: list[bytes | None] = []
    fids: list[int] = []
    for feat in features(lyr, path):
        geom = feat.GetGeometryRef()
        wkbs.append(None if geom is None else bytes(geom.ExportToIsoWkb()))
        fids.append(feat.GetFID())
    del ds
    return wkbs, np.asarray(fids, dtype=np.int64), wkt


def features(lyr: ogr.Layer, path: str | Path) -> Iterator[ogr.Feature]:
    """The layer's features; a file damaged past its header (a shapefile cut short, a FlatGeobuf that does not
    parse) is named with the feature where reading stopped, not a bare RuntimeError."""
    read = 0
    while True:
        try:
            feat = lyr.GetNextFeature()
        except RuntimeError as exc:
            said = str(exc).strip() or "GDAL gave no reason"
            raise LmhldError(f"vector file {path} is damaged: reading stopped after {read} feature(s) ({said}); "
                             "repair it or save the layer again from where it was made (QGIS: Export > Save "
                             "Features As)") from exc
        if feat is None:
            return
        read += 1
        yield feat


def validity_reason(geom: ogr.Geometry) -> str | None:
    """None when valid, else GEOS's reason (e.g. 'Self-intersection at or near point 5 5').

    GEOS also prints that reason as a raw GDAL warning; it is caught here (a handler pushed for this call only)
    so that callers, which report or repair the geometry themselves, do not leak it to the console."""
    messages: list[str] = []

    def collect(_cls: int, _num: int, msg: str) -> None:
        messages.append(msg)

    gdal.PushErrorHandler(collect)
    try:
        valid = geom.IsValid()
    finally:
        gdal.PopErrorHandler()
    return None if valid else (messages[-1] if messages else "invalid geometry")


def polygonal(geom: ogr.Geometry) -> ogr.Geometry | None:
    """The polygonal part of a geometry (curves linearised, lines and points dropped), or None."""
    flat = ogr.GT_Flatten(geom.GetGeometryType())
    if flat in _CURVED_POLYGON_TYPES:
        geom = geom.GetLinearGeometry()
        flat = ogr.GT_Flatten(geom.GetGeometryType())
    if flat in _POLYGON_TYPES:
        return geom
    if flat == ogr.wkbGeometryCollection:
        parts = [polygonal(geom.GetGeometryRef(i)) for i in range(geom.GetGeometryCount())]
        parts = [p for p in parts if p is not None and not p.IsEmpty()]
        if not parts:
            return None
        multi = ogr.Geometry(ogr.wkbMultiPolygon)
        for p in parts:
            for poly in explode_polygons(p):
                multi.AddGeometry(poly)
        return multi.UnionCascaded() if multi.GetGeometryCount() > 1 else multi.GetGeometryRef(0).Clone()
    return None


def surface_area(geom: ogr.Geometry | None) -> float:
    """The area of a geometry's polygonal part: 0 for the lines and points an intersection or difference of
    polygons that only touch gives (GEOS's GetArea on those made GDAL print "OGR_G_Area() called against
    non-surface geometry type" to the user)."""
    part = polygonal(geom) if geom is not None and not geom.IsEmpty() else None
    return float(part.GetArea()) if part is not None else 0.0


def explode_polygons(geom: ogr.Geometry) -> list[ogr.Geometry]:
    """The single polygons of a Polygon or MultiPolygon."""
    if ogr.GT_Flatten(geom.GetGeometryType()) == ogr.wkbMultiPolygon:
        return [geom.GetGeometryRef(i).Clone() for i in range(geom.GetGeometryCount())]
    return [geom]


def polygons_from_wkb(
    wkbs: Iterable[bytes | None], fids: Iterable[int], crs_wkt: str | None, *, explode: bool = False,
    what: str = "inventory", allow_empty: bool = False, name: str = "", origin: tuple[str, str] | None = None,
) -> PolygonSet:
    """Turn raw WKB into valid polygons: repair invalid ones, skip null/empty/non-polygon ones, count every case.
    A layer without features is refused unless `allow_empty` (a reference scene may hold no landslide). `origin`:
    the file and layer name the features came from, when known (a QGIS layer): a layer of no polygon is then
    refused naming the file's polygon layers (a project GeoPackage's points read first)."""
    srs = srs_from_wkt(crs_wkt, what)
    skipped: dict[str, int] = {}
    out: list[ogr.Geometry] = []
    out_fids: list[int] = []
    n = 0
    repairs: list[tuple[int, str]] = []

    def skip(reason: str) -> None:
        skipped[reason] = skipped.get(reason, 0) + 1

    for wkb, fid in zip(wkbs, fids, strict=True):
        n += 1
        if wkb is None:
            skip("null geometry")
            continue
        try:
            geom = ogr.CreateGeometryFromWkb(wkb)
        except RuntimeError:
            skip("unreadable geometry")
            continue
        if geom is None or geom.IsEmpty():
            skip("empty geometry")
            continue
        geom.FlattenTo2D()
        geom = polygonal(geom)
        if geom is None:
            skip("not a polygon")
            continue
        reason = validity_reason(geom)
        if reason is not None:  # counted in n_repaired: the caller reports it
            repaired = geom.MakeValid()
            repaired = polygonal(repaired) if repaired is not None else None
            repairs.append((int(fid), reason))
            if repaired is None:
                skip("invalid and not repairable")
                continue
            geom = repaired
        if geom.IsEmpty() or geom.GetArea() <= 0:
            skip("zero area")
            continue
        parts = explode_polygons(geom) if explode else [geom]
        out.extend(parts)
        out_fids.extend([fid] * len(parts))
    if out and srs is not None and srs.IsProjected():
        out, out_fids = _without_unprojectable(out, out_fids, srs, skip)
    if n == 0 and allow_empty:
        return PolygonSet([], np.zeros(0, np.int64), srs, n_features=0, name=name)
    if n == 0:
        hint = ("digitize landslide polygons first" if what.startswith("inventory") else
                "draw its polygon(s) first, or leave it out")  # an empty area of interest is no inventory
        raise LmhldError(f"{what} is empty: it holds no features; {hint}")
    if not out:
        raise LmhldError(f"{what} holds no usable polygon ({skipped_text(skipped)}); "
                         + polygon_layer_hint(origin, "check the layer's geometries: landslides are polygons"))
    _require_plausible_degrees(out, srs, what)
    return PolygonSet(out, np.asarray(out_fids, dtype=np.int64), srs, n_features=n, skipped=skipped, repairs=repairs,
                      name=name)


def _without_unprojectable(geometries: list[ogr.Geometry], fids: list[int], srs: osr.SpatialReference,
                           skip: Callable[[str], None]) -> tuple[list[ogr.Geometry], list[int]]:
    """Polygons whose corners the CRS cannot take to longitude/latitude (a digitizing slip at 1e9 m) are skipped
    and counted: one of them made every area computation fail inside PROJ ("Point outside of projection
    domain"). One batch for a whole inventory; polygon by polygon only when it fails."""
    geo = srs.CloneGeogCS()
    geo.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
    to_geo = osr.CoordinateTransformation(srs, geo)

    def corners(geom: ogr.Geometry) -> list[tuple[float, float]]:
        xmin, xmax, ymin, ymax = geom.GetEnvelope()
        return [(xmin, ymin), (xmin, ymax), (xmax, ymin), (xmax, ymax)]

    def reachable(points: list[tuple[float, float]]) -> bool:
        try:
            lonlat = np.asarray(to_geo.TransformPoints(points), dtype=float)
        except RuntimeError:
            return False
        return bool(np.isfinite(lonlat[:, :2]).all())

    if reachable([c for geom in geometries for c in corners(geom)]):
        return geometries, fids
    kept = [k for k, geom in enumerate(geometries) if reachable(corners(geom))]
    for _ in range(len(geometries) - len(kept)):
        skip("outside its CRS's domain (coordinates no longitude/latitude matches)")
    return [geometries[k] for k in kept], [fids[k] for k in kept]


def _require_plausible_degrees(geometries: list[ogr.Geometry], srs: osr.SpatialReference, what: str) -> None:
    """A layer in longitude/latitude whose coordinates are metres (a projected layer tagged with the wrong CRS):
    say so now, rather than fail later inside PROJ."""
    if not srs.IsGeographic():
        return
    xmin, ymin, xmax, ymax = total_bounds(geometries)
    if xmin >= -180 and xmax <= 360 and ymin >= -90 and ymax <= 90:
        return
    raise LmhldError(f"{what}: coordinates such as ({xmax:.0f}, {ymax:.0f}) cannot be degrees, but the layer's CRS "
                     f"is {srs.GetName()} (longitude/latitude): it carries the wrong CRS. Assign the right one (in "
                     "QGIS: Layer Properties > Source > Assigned CRS, then save a copy; or ogr2ogr -a_srs EPSG:NNNN "
                     "fixed.gpkg layer.gpkg); lmhld validate reports it too")


def read_polygons(path: str | Path, layer: str | None = None, *, explode: bool = False,
                  role: str = "inventory", allow_empty: bool = False) -> PolygonSet:
    """Read and repair a polygon layer from any OGR-readable file; `role` names it in errors (inventory,
    negatives, area of interest)."""
    wkbs, fids, wkt = read_layer_wkb(path, layer, role)
    polygons = polygons_from_wkb(wkbs, fids, wkt, explode=explode, what=f"{role} {Path(path).name}",
                                 allow_empty=allow_empty, name=Path(path).name)
    if layer is None:
        polygons.first_layer_of = str(path)  # its note is read only where an error may stem from the choice
    return polygons


def first_layer_note(path: str | Path, option: str = "--layer") -> str:
    """For a file of several layers read without a layer name: which one was read and how to name another (a
    project GeoPackage often holds the inventory second, after an outline or a grid); "" for a one-layer file."""
    ds, _ = open_layer(path)
    names = [ds.GetLayer(i).GetName() for i in range(ds.GetLayerCount())]
    del ds
    if len(names) < 2:
        return ""
    return (f"{Path(path).name} holds {len(names)} layers ({', '.join(names)}) and its first, {names[0]!r}, was "
            f"read: name the one to use ({option})")


LAYER_OPTIONS = {"inventory": "--layer", "negatives": "--negatives-layer"}  # the option naming each role's layer


def polygon_layers_note(path: str | Path, read: str, role: str = "inventory") -> str:
    """For a layer read without polygons (a project GeoPackage's ground control points, say): the file's polygon
    layers and how to read one; "" when it has no other."""
    ds, _ = open_layer(path)
    layers = (ds.GetLayer(i) for i in range(ds.GetLayerCount()))
    names = [lyr.GetName() for lyr in layers if lyr.GetName() != read
             and ogr.GT_Flatten(lyr.GetGeomType()) in _POLYGON_TYPES | _CURVED_POLYGON_TYPES]
    del ds
    if not names:
        return ""
    option = LAYER_OPTIONS.get(role)
    how = f"{option} {shlex.quote(names[0])}; " if option else "a file holding only that layer; "
    listed = ", ".join(repr(n) for n in names)
    return (f"{Path(path).name} holds the polygon layer{'s' if len(names) > 1 else ''} {listed}: "
            f"read {'it' if len(names) == 1 else 'the one meant'} ({how}in QGIS, choose that layer)")


def polygon_layer_hint(origin: tuple[str, str] | None, otherwise: str) -> str:
    """What to do with a layer of no usable polygon read from the file and layer `origin` (when known): read the
    file's polygon layer (polygon_layers_note) when it has one, else `otherwise`."""
    return (polygon_layers_note(*origin) if origin else "") or otherwise


def total_bounds(geometries: list[ogr.Geometry]) -> tuple[float, float, float, float]:
    """(xmin, ymin, xmax, ymax) over all geometries."""
    env = np.array([g.GetEnvelope() for g in geometries])  # (minx, maxx, miny, maxy)
    return float(env[:, 0].min()), float(env[:, 2].min()), float(env[:, 1].max()), float(env[:, 3].max())


def equal_area_srs(bounds: tuple[float, float, float, float], srs: osr.SpatialReference) -> osr.SpatialReference:
    """A Lambert azimuthal equal-area CRS on the same ellipsoid, centred on `bounds`: its areas are true areas."""
    geo = srs.CloneGeogCS()
    geo.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
    to_geo = osr.CoordinateTransformation(srs, geo)
    lon, lat, _ = to_geo.TransformPoint((bounds[0] + bounds[2]) / 2, (bounds[1] + bounds[3]) / 2)
    laea = osr.SpatialReference()
    laea.CopyGeogCSFrom(geo)
    laea.SetLAEA(lat, lon, 0.0, 0.0)
    laea.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
    return laea


def true_areas_m2(geometries: list[ogr.Geometry], srs: osr.SpatialReference) -> npt.NDArray[np.float64]:
    """Ellipsoidal area of each geometry in m2 (in a local equal-area projection; never square degrees)."""
    laea = equal_area_srs(total_bounds(geometries), srs)
    ct = osr.CoordinateTransformation(srs, laea)
    areas = np.empty(len(geometries))
    for i, geom in enumerate(geometries):
        g = geom.Clone()
        g.Transform(ct)
        areas[i] = g.GetArea()
    return areas


@gdal_checked
def write_polygons_gpkg(polygons: PolygonSet, path: str | Path, layer: str = "polygons") -> Path:
    """Write a PolygonSet to a GeoPackage (how QGIS layers reach file-based core functions)."""
    ds = ogr.GetDriverByName("GPKG").CreateDataSource(str(path))
    lyr = ds.CreateLayer(layer, polygons.srs, ogr.wkbMultiPolygon)
    lyr.StartTransaction()
    for geom in polygons.geometries:
        feat = ogr.Feature(lyr.GetLayerDefn())
        feat.SetGeometry(ogr.ForceToMultiPolygon(geom))
        lyr.CreateFeature(feat)
    lyr.CommitTransaction()
    ds = None
    return Path(path)
