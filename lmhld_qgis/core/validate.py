"""Inventory validation: every problem an annotator should fix before patches are exported, one record each with
its kind and a suggested fix, and a repaired copy on request (the input is never edited).

Kinds: empty/null geometries, non-polygons, invalid geometries and self-intersections (GEOS's reason through
OGR), overlaps and duplicates between polygons (a sort-and-sweep over bounding boxes, so a few thousand polygons
take seconds), slivers (Polsby-Popper compactness 4*pi*A/P^2 below a threshold: a 1:60 strip scores 0.05; an
invalid polygon is measured as repaired), polygons smaller than a number of pixels of the reference raster(s),
polygons outside every raster or on their nodata (an inventory spread over several scenes is checked against all
of them: a polygon on any one is covered, and is measured in pixels of the raster holding most of it, see
core.coverage), features whose coordinates fall outside the area where the layer's CRS is valid (digitized in
another CRS), and a layer without a CRS. Blocking kinds (export refuses them) are those that make the training
masks ambiguous: a missing CRS, invalid geometries and self-intersections (a repair has to guess what was meant).
A CRS mismatch is a warning: a UTM polygon digitized in degrees cannot be told from one placed far outside its zone.

Only OGR/GDAL (the system GEOS that QGIS uses); no shapely.
"""

from __future__ import annotations

import math
import shlex
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from osgeo import gdal, ogr, osr

from .coverage import Coverage, Placement
from .errors import LmhldError
from .progress import Progress, check_cancelled, reader_progress
from .raster import RasterInfo, alpha_valid
from .vector import equal_area_srs, explode_polygons, open_layer, polygonal, srs_from_wkt, validity_reason
from .vector import features as read_features

ogr.UseExceptions()
gdal.UseExceptions()

EMPTY, NOT_POLYGON, INVALID = "empty_geometry", "not_polygon", "invalid_geometry"
SELF_INTERSECTION = "self_intersection"
OVERLAP, DUPLICATE, SLIVER, TOO_SMALL = "overlap", "duplicate", "sliver", "too_small"
OUTSIDE, NODATA, CRS_MISMATCH, NO_CRS = "outside_raster", "in_nodata", "crs_mismatch", "no_crs"
NONE_ON_IMAGERY = "none_on_imagery"  # a layer-wide problem: not one polygon lies on the rasters


@dataclass(frozen=True)
class Kind:
    blocking: bool
    fix: str


VALIDATE_TITLE = "Validate landslide inventory"  # the algorithm's title in QGIS (processing/validate_inventory.py)
REPAIRED_COPY = f"the repaired copy ({VALIDATE_TITLE}'s 'Repaired copy' output in QGIS; `lmhld validate --repair`)"

KINDS: dict[str, Kind] = {
    NO_CRS: Kind(True, "assign the CRS the layer was digitized in (QGIS: Layer Properties > Source > Set CRS, or "
                       "Vector general > Assign projection for a copy; ogr2ogr -a_srs EPSG:XXXX fixed.gpkg layer.shp)"),
    CRS_MISMATCH: Kind(False, "the coordinates do not fit the layer's CRS (digitized in another CRS?): reproject "
                             "or re-digitize the feature, or assign the CRS it was drawn in"),
    INVALID: Kind(True, f"repair it ({REPAIRED_COPY}, or QGIS: Vector geometry > Fix geometries) and check the "
                        "shape"),
    SELF_INTERSECTION: Kind(True, f"redraw the crossing edges (QGIS vertex tool), or take {REPAIRED_COPY}, which "
                                  "splits it into valid parts"),
    EMPTY: Kind(False, "delete the feature or digitize its polygon (the repaired copy drops it)"),
    NOT_POLYGON: Kind(False, "landslides are polygons: delete it or redraw it as a polygon (the repaired copy drops "
                             "it)"),
    DUPLICATE: Kind(False, "delete this copy (the repaired copy keeps the first)"),
    OVERLAP: Kind(False, "merge the two polygons or trim one (QGIS: digitizing option 'avoid overlap')"),
    SLIVER: Kind(False, "a very thin polygon is usually a digitizing left-over: delete or redraw it"),
    TOO_SMALL: Kind(False, "too few pixels to learn from: check it is a landslide, or merge it with its neighbour"),
    OUTSIDE: Kind(False, "the imagery does not cover it: it adds no training pixel; check the raster or the place"),
    NODATA: Kind(False, "part of it lies on nodata pixels, whose patches export drops; check the imagery"),
    NONE_ON_IMAGERY: Kind(True, "check that the inventory and the rasters cover the same place and that their CRSs "
                                "are right"),
}


@dataclass
class ValidateOptions:
    rasters: Sequence[str | Path] = ()  # reference rasters: pixel size, footprint, nodata (one or several scenes)
    min_pixels: float = 10.0  # polygons smaller than this many raster pixels are reported
    pixel_size_m: float | None = None  # pixel size when no raster is given (for min_pixels)
    sliver_ratio: float = 0.05  # Polsby-Popper compactness below this is a sliver
    duplicate_iou: float = 0.98  # two polygons overlapping this much (intersection over union) are duplicates
    min_overlap_m2: float = 1.0  # smaller overlaps are round-off between neighbours digitized edge to edge
    crs_margin: float = 0.1  # tolerance around the CRS's area of use, as a share of its width and height

    def validate(self) -> None:
        if self.min_pixels < 0:
            raise LmhldError(f"minimum size in pixels must be >= 0, got {self.min_pixels}")
        if self.pixel_size_m is not None and self.pixel_size_m <= 0:
            raise LmhldError(f"pixel size must be > 0 m, got {self.pixel_size_m}")
        if not 0 <= self.sliver_ratio < 1:
            raise LmhldError(f"sliver ratio must lie in [0, 1), got {self.sliver_ratio}")
        if self.min_overlap_m2 < 0:
            raise LmhldError(f"minimum overlap must be >= 0 m², got {self.min_overlap_m2}")
        if not 0 < self.duplicate_iou <= 1:
            raise LmhldError(f"duplicate overlap must lie in (0, 1], got {self.duplicate_iou}")


@dataclass
class Problem:
    kind: str
    fid: int | None  # the inventory feature (None for a layer-wide problem)
    message: str
    geometry: ogr.Geometry | None = None  # where it is, in the inventory's CRS
    other_fid: int | None = None  # the other feature of an overlap or duplicate

    @property
    def blocking(self) -> bool:
        return KINDS[self.kind].blocking

    @property
    def fix(self) -> str:
        return KINDS[self.kind].fix

    @property
    def where(self) -> str:
        """What the problem concerns, as a report names it: 'feature 12', or 'the layer' for a layer-wide one."""
        if self.fid is None:
            return "the layer"
        # QGIS numbers the features of an edit not saved yet below zero; saving gives them their ids
        return f"feature {self.fid}" if self.fid >= 0 else f"feature {self.fid} (not saved yet)"


OFF_IMAGERY = ("no polygon lies on the imagery: export refuses it; check that the inventory and the rasters cover the "
               "same place and that their CRSs are right")


@dataclass
class ValidationReport:
    inventory: str
    layer: str
    n_features: int
    problems: list[Problem]
    srs: osr.SpatialReference | None
    rasters: list[str] = field(default_factory=list)
    options: dict[str, Any] = field(default_factory=dict)
    not_checked: list[str] = field(default_factory=list)  # checks left out, each with what would run it
    raster_warnings: list[str] = field(default_factory=list)  # the imagery read wrongly (an undeclared fill value)
    n_on_imagery: int | None = None  # polygons with a part on the rasters (None: no raster given)

    def counts(self) -> dict[str, int]:
        found = Counter(p.kind for p in self.problems)
        return {kind: found.get(kind, 0) for kind in KINDS}

    @property
    def blocking(self) -> list[Problem]:
        return [p for p in self.problems if p.blocking]

    @property
    def n_polygons(self) -> int:
        """Features export can use: not empty, polygons (an inventory of none is refused however clean)."""
        return self.n_features - len({p.fid for p in self.problems if p.kind in (EMPTY, NOT_POLYGON)})

    @property
    def off_imagery(self) -> bool:
        """Polygons there are, and none lies on the imagery (the wrong place or a wrong CRS); an inventory without
        polygons is said as such, not as a question of place."""
        return self.n_on_imagery == 0 and self.n_polygons > 0

    @property
    def ok_for_export(self) -> bool:
        """Nothing blocks, and some polygon lies on the imagery (export refuses an inventory wholly off it: the
        wrong place or a wrong CRS)."""
        return not self.blocking and self.n_polygons > 0 and self.n_on_imagery != 0

    def to_json(self) -> dict[str, Any]:
        return {"inventory": self.inventory, "layer": self.layer, "n_features": self.n_features,
                "n_problems": len(self.problems), "n_blocking": len(self.blocking),
                "ok_for_export": self.ok_for_export, "by_kind": self.counts(),
                "blocking_kinds": [k for k, v in KINDS.items() if v.blocking], "rasters": self.rasters,
                "options": self.options, "not_checked": self.not_checked, "raster_warnings": self.raster_warnings,
                "problems": [{"kind": p.kind, "fid": p.fid, "where": p.where, "other_fid": p.other_fid,
                              "blocking": p.blocking, "message": p.message, "fix": p.fix} for p in self.problems]}


@dataclass
class _Feature:
    fid: int
    raw: ogr.Geometry | None  # as stored
    geom: ogr.Geometry | None = None  # polygonal and valid (repaired), in the layer CRS; None when unusable
    metric: ogr.Geometry | None = None  # the same in a local equal-area CRS (metres); None when unknown
    repaired: bool = False  # geom is the repair of an invalid geometry: figures measured on it say so


# --- reading and per-feature geometry checks ---------------------------------------------------------------------

def _read(path: str | Path, layer: str | None, assign_crs: str | None = None,
          ) -> tuple[str, list[_Feature], osr.SpatialReference | None]:
    """The layer's name, features and CRS (`assign_crs`, when given, in place of the layer's, as ogr2ogr -a_srs)."""
    assigned = srs_from_wkt(assign_crs, f"CRS {assign_crs!r}") if assign_crs else None
    ds, lyr = open_layer(path, layer)
    srs = assigned if assigned is not None else lyr.GetSpatialRef()
    if srs is not None and assigned is None:  # kept as read: a WKT round trip would lose its area of use
        srs = srs.Clone() if _has_crs(srs) else None
        if srs is not None:
            srs.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
    features = []
    for feat in read_features(lyr, path):
        geom = feat.GetGeometryRef()
        features.append(_Feature(feat.GetFID(), None if geom is None else geom.Clone()))
    name = lyr.GetName()
    del ds
    return name, features, srs


def _has_crs(srs: osr.SpatialReference) -> bool:
    return not (srs.GetName() or "").startswith("Undefined")


def repair(geom: ogr.Geometry) -> ogr.Geometry | None:
    """A valid polygonal geometry from an invalid one (GEOS's structure method keeps holes as holes)."""
    try:
        fixed = geom.MakeValid(["METHOD=STRUCTURE"])
    except RuntimeError:
        fixed = geom.MakeValid()
    fixed = polygonal(fixed) if fixed is not None else None
    return None if fixed is None or fixed.IsEmpty() else fixed


def _geometry_problems(f: _Feature) -> Iterator[Problem]:
    """Null, empty, non-polygonal and invalid geometries; sets f.geom to the usable (repaired) polygon."""
    if f.raw is None or f.raw.IsEmpty():
        yield Problem(EMPTY, f.fid, "the feature has no geometry" if f.raw is None else "the geometry is empty")
        return
    geom = f.raw.Clone()
    geom.FlattenTo2D()
    shape = polygonal(geom)
    if shape is None:
        yield Problem(NOT_POLYGON, f.fid, f"the geometry is a {geom.GetGeometryName().lower()}, not a polygon",
                      _envelope_polygon(geom))
        return
    reason = validity_reason(shape)
    if reason is None:
        f.geom = shape
        return
    kind = _invalid_kind(reason)
    f.geom = repair(shape)
    f.repaired = f.geom is not None
    yield Problem(kind, f.fid, reason if f.repaired else f"{reason} (it cannot be repaired: no other check measures "
                                                         "it)", shape)


def _invalid_kind(reason: str) -> str:
    """GEOS's reason for an invalid geometry as a problem kind: self-intersections apart (the usual digitizing slip)."""
    return SELF_INTERSECTION if "self-intersection" in reason.lower() else INVALID


def _envelope_polygon(geom: ogr.Geometry) -> ogr.Geometry:
    xmin, xmax, ymin, ymax = geom.GetEnvelope()
    pad = 1e-9 if xmin == xmax or ymin == ymax else 0.0
    ring = ogr.Geometry(ogr.wkbLinearRing)
    for x, y in ((xmin - pad, ymin - pad), (xmax + pad, ymin - pad), (xmax + pad, ymax + pad),
                 (xmin - pad, ymax + pad), (xmin - pad, ymin - pad)):
        ring.AddPoint_2D(x, y)
    poly = ogr.Geometry(ogr.wkbPolygon)
    poly.AddGeometry(ring)
    return poly


# --- CRS --------------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class _LonLatBox:
    west: float
    south: float
    east: float
    north: float

    def contains(self, lon: float, lat: float) -> bool:
        if not (math.isfinite(lon) and math.isfinite(lat)) or not self.south <= lat <= self.north:
            return False
        if self.east - self.west >= 360:
            return -180 <= lon <= 180
        lon = (lon - self.west) % 360 + self.west  # unwrap across the antimeridian
        return lon <= self.east


def _known_area(srs: osr.SpatialReference) -> Any:  # osr.AreaOfUse | None
    """The CRS's area of use, looked up by its EPSG code when the definition carries none."""
    area = srs.GetAreaOfUse()
    if area is not None:
        return area
    probe = srs.Clone()
    try:
        probe.AutoIdentifyEPSG()
        code = probe.GetAuthorityCode(None)
        if code and (probe.GetAuthorityName(None) or "").upper() == "EPSG":
            probe.ImportFromEPSG(int(code))
            return probe.GetAreaOfUse()
    except RuntimeError:
        pass
    return None


def _area_of_use(srs: osr.SpatialReference, margin: float) -> _LonLatBox:
    area = _known_area(srs)
    if area is None:
        west, south, east, north = -180.0, -90.0, 180.0, 90.0
    else:
        west, south, east, north = (area.west_lon_degree, area.south_lat_degree, area.east_lon_degree,
                                    area.north_lat_degree)
    if east < west:
        east += 360.0
    dx, dy = (east - west) * margin, (north - south) * margin
    wide = east - west + 2 * dx >= 360
    return _LonLatBox(-180.0 if wide else west - dx, max(-90.0, south - dy), 540.0 if wide else east + dx,
                      min(90.0, north + dy))


def _crs_problems(features: list[_Feature], srs: osr.SpatialReference, margin: float) -> Iterator[Problem]:
    """Features whose coordinates fall outside the area where the layer's CRS is valid."""
    box = _area_of_use(srs, margin)
    lonlat = srs.CloneGeogCS()
    lonlat.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
    to_lonlat = osr.CoordinateTransformation(srs, lonlat)
    for f in features:
        if f.geom is None:
            continue
        xmin, xmax, ymin, ymax = f.geom.GetEnvelope()
        try:
            points = [to_lonlat.TransformPoint(x, y)[:2] for x, y in ((xmin, ymin), (xmax, ymax), (xmin, ymax),
                                                                       (xmax, ymin))]
            inside = all(box.contains(lon, lat) for lon, lat in points)
        except RuntimeError:
            inside = False
        if not inside:
            yield Problem(CRS_MISMATCH, f.fid, f"coordinates ({xmin:.6g}, {ymin:.6g}) lie outside the area where "
                                               f"{srs.GetName()} is valid", f.geom)
            f.geom = None  # nothing else can be measured on it


def _to_metric(features: list[_Feature], srs: osr.SpatialReference) -> None:
    """Copy each usable geometry into a local equal-area CRS, so areas and perimeters are in metres."""
    usable = [f.geom for f in features if f.geom is not None]
    if not usable:
        return
    env = np.array([g.GetEnvelope() for g in usable])
    laea = equal_area_srs((env[:, 0].min(), env[:, 2].min(), env[:, 1].max(), env[:, 3].max()), srs)
    ct = osr.CoordinateTransformation(srs, laea)
    for f in features:
        if f.geom is not None:
            metric = f.geom.Clone()
            try:
                metric.Transform(ct)
                f.metric = metric
            except RuntimeError:
                f.metric = None


# --- shape and size ---------------------------------------------------------------------------------------------

def _sliver_problems(features: list[_Feature], ratio: float) -> Iterator[Problem]:
    """Parts whose Polsby-Popper compactness 4*pi*A/P^2 is below `ratio`, measured on the valid (repaired)
    geometry: an invalid ring's own area and perimeter mean nothing (a bow-tie's signed area cancels out)."""
    if ratio <= 0:
        return
    for f in features:
        shape, where = (f.metric, f.geom) if f.metric is not None else (f.geom, f.geom)
        if shape is None:
            continue
        unit = "m" if f.metric is not None else "layer units"
        for part, part_here in zip(explode_polygons(shape), explode_polygons(where), strict=True):
            area, perimeter = part.GetArea(), part.Boundary().Length()
            score = 4 * math.pi * area / perimeter**2 if perimeter > 0 else 0.0
            if score < ratio:
                of = "a part of its repaired shape: " if f.repaired else ""
                yield Problem(SLIVER, f.fid, f"{of}compactness 4πA/P² = {score:.3f} (< {ratio:g}): mean width "
                                             f"{2 * area / perimeter:.3g} {unit} over {perimeter / 2:.4g} {unit}",
                              part_here)
                break


def _small_problems(features: list[_Feature], pixel_area: dict[int, tuple[float, str]],
                    min_pixels: float) -> Iterator[Problem]:
    """Polygons under `min_pixels` pixels; `pixel_area`: per feature, the pixel area (m²) it is measured in and
    the raster that pixel is of ('' when there is one pixel size)."""
    for f in features:
        if f.metric is None or f.fid not in pixel_area:
            continue
        area_m2, raster = pixel_area[f.fid]
        pixels = f.metric.GetArea() / area_m2
        if pixels < min_pixels:
            of = f", in {raster}" if raster else ""
            yield Problem(TOO_SMALL, f.fid, f"{pixels:.1f} pixels (< {min_pixels:g}) of "
                                            f"{math.sqrt(area_m2):.3g} m{of}", f.geom)


# --- overlaps and duplicates ------------------------------------------------------------------------------------

def candidate_pairs(bounds: npt.NDArray[np.float64]) -> Iterator[tuple[int, int]]:
    """Index pairs (i < j) whose boxes (xmin, ymin, xmax, ymax) intersect: sort by xmin, sweep along x."""
    order = np.argsort(bounds[:, 0], kind="stable")
    sorted_b = bounds[order]
    xmins = sorted_b[:, 0]
    for k in range(len(order)):
        stop = int(np.searchsorted(xmins, sorted_b[k, 2], side="right"))
        if stop <= k + 1:
            continue
        rest = sorted_b[k + 1:stop]
        hits = np.nonzero((rest[:, 1] <= sorted_b[k, 3]) & (rest[:, 3] >= sorted_b[k, 1]))[0] + k + 1
        for h in hits:
            i, j = int(order[k]), int(order[h])
            yield (i, j) if i < j else (j, i)


def _overlap_m2(inter_area: float, geom: ogr.Geometry, metric: ogr.Geometry | None) -> float:
    """The overlap's area in m² (its share of `geom` times geom's true area), or in layer units without a CRS."""
    return float(inter_area / geom.GetArea() * metric.GetArea()) if metric is not None else inter_area


def _pair_problems(features: list[_Feature], duplicate_iou: float, min_overlap_m2: float,
                   progress: Progress) -> Iterator[Problem]:
    usable = [(f, f.geom) for f in features if f.geom is not None]
    if len(usable) < 2:
        return
    env = np.array([g.GetEnvelope() for _, g in usable])[:, [0, 2, 1, 3]]
    duplicated: set[int] = set()
    pairs = sorted(candidate_pairs(env))
    for n, (i, j) in enumerate(pairs):
        if n % 500 == 0:
            check_cancelled(progress)
            progress.set_fraction(0.2 + 0.4 * n / len(pairs))
        (a, ga), (b, gb) = usable[i], usable[j]
        if not ga.Intersects(gb):
            continue
        inter = polygonal(ga.Intersection(gb))
        if inter is None:
            continue
        area_i, area_a, area_b = inter.GetArea(), ga.GetArea(), gb.GetArea()
        overlap_m2 = _overlap_m2(area_i, ga, a.metric)
        if area_i <= 1e-9 * min(area_a, area_b) or overlap_m2 < min_overlap_m2:  # shared edges, round-off
            continue
        if area_i / (area_a + area_b - area_i) >= duplicate_iou:
            if b.fid not in duplicated:
                duplicated.add(b.fid)
                yield Problem(DUPLICATE, b.fid, f"a copy of feature {a.fid}", gb, other_fid=a.fid)
        elif a.fid not in duplicated and b.fid not in duplicated:
            share = area_i / min(area_a, area_b)
            yield Problem(OVERLAP, a.fid, f"overlaps feature {b.fid} by {overlap_m2:.4g} m² ({share:.1%} of the "
                                          "smaller)", inter, other_fid=b.fid)


# --- against a raster -------------------------------------------------------------------------------------------

def _raster_problems(features: list[_Feature], coverage: Coverage, placements: dict[int, Placement],
                     progress: Progress) -> Iterator[Problem]:
    """Polygons outside every raster's footprint, partly or wholly, and polygons on the nodata of a raster they lie
    on (each raster named when there are several)."""
    import contextlib

    import rasterio
    from rasterio.enums import MaskFlags

    names, several = coverage.names, len(coverage.infos) > 1
    with contextlib.ExitStack() as stack:
        opened: dict[int, Any] = {}

        def source(k: int) -> tuple[Any, bool]:  # each raster opened once, when a polygon first lies on it
            if k not in opened:
                opened[k] = stack.enter_context(rasterio.open(coverage.infos[k].path))
            src = opened[k]
            return src, all(set(flags) == {MaskFlags.all_valid} for flags in src.mask_flag_enums)

        every = max(1, len(features) // 100)
        for n, f in enumerate(features):
            if n % 100 == 0:
                check_cancelled(progress)
            if n % every == 0:  # the bar sat at 60 % for 44 s of an 88 s run over 100,000 polygons
                progress.set_fraction(0.7 + 0.3 * n / len(features))
            if f.geom is None:
                continue
            place = placements[f.fid]
            if not place.on:
                where = f"every raster ({', '.join(names)})" if several else f"raster {names[0]}"
                yield Problem(OUTSIDE, f.fid, f"entirely outside {where}", f.geom)
                continue
            if place.outside > 0:
                on = ", ".join(names[k] for k in place.on)
                yield Problem(OUTSIDE, f.fid, f"{place.outside:.0%} of it lies outside every raster (the rest on "
                                              f"{on})" if several else f"partly outside raster {names[0]}", f.geom)
            found = []
            for k in place.on:
                src, all_valid = source(k)
                inside, nodata = (0, 0) if all_valid else _nodata_pixels(src, coverage.infos[k],
                                                                           coverage.in_raster(f.geom, k))
                if nodata:
                    found.append(f"{nodata} of its {inside} pixels{f' in {names[k]}' if several else ''} are nodata")
            if found:
                yield Problem(NODATA, f.fid, "; ".join(found), f.geom)


def burn_geometry(geom: ogr.Geometry, srs_wkt: str, transform: Any, window: Any) -> npt.NDArray[np.uint8]:
    """A (rows, cols) uint8 mask of the pixel centres inside `geom` over a rasterio window of a grid."""
    a, b, c, d, e, f = tuple(transform)[:6]
    x0, y0 = a * window.col_off + b * window.row_off + c, d * window.col_off + e * window.row_off + f
    mem = gdal.GetDriverByName("MEM").Create("", int(window.width), int(window.height), 1, gdal.GDT_Byte)
    mem.SetGeoTransform((x0, a, b, y0, d, e))
    mem.SetProjection(srs_wkt)
    vec = ogr.GetDriverByName("Memory").CreateDataSource("")
    lyr = vec.CreateLayer("g", srs_from_wkt(srs_wkt, "raster"), ogr.wkbUnknown)
    feat = ogr.Feature(lyr.GetLayerDefn())
    feat.SetGeometry(geom)
    lyr.CreateFeature(feat)
    gdal.RasterizeLayer(mem, [1], lyr, burn_values=[1])
    return np.asarray(mem.GetRasterBand(1).ReadAsArray(), dtype=np.uint8)


def _nodata_pixels(src: Any, info: RasterInfo, geom: ogr.Geometry) -> tuple[int, int]:
    """(pixels under the polygon, how many of them are nodata in any band), read over its bounding window."""
    from rasterio.windows import Window

    xmin, xmax, ymin, ymax = geom.GetEnvelope()
    inverse = ~src.transform
    cols, rows = zip(*(inverse * (x, y) for x in (xmin, xmax) for y in (ymin, ymax)), strict=True)
    col0, row0 = max(0, math.floor(min(cols))), max(0, math.floor(min(rows)))
    col1, row1 = min(info.width, math.ceil(max(cols))), min(info.height, math.ceil(max(rows)))
    if col1 <= col0 or row1 <= row0:
        return 0, 0
    window = Window(col0, row0, col1 - col0, row1 - row0)
    inside = burn_geometry(geom, info.crs_wkt or "", src.transform, window).astype(bool)
    import warnings

    from rasterio.errors import NodataShadowWarning

    data = [b for b in range(1, info.count + 1) if b not in info.alpha_bands]
    with warnings.catch_warnings():  # an RGBA raster with a nodata value: rasterio's warning reached the user
        warnings.simplefilter("ignore", NodataShadowWarning)
        valid = src.read_masks(data or None, window=window).min(axis=0) > 0
    if info.alpha_bands:  # the nodata value shadows the alpha in GDAL's masks: transparent is nodata too
        valid &= alpha_valid(src, info.alpha_bands, window)
    return int(inside.sum()), int((inside & ~valid).sum())


# --- the whole check --------------------------------------------------------------------------------------------

def _pixel_areas(features: list[_Feature], options: ValidateOptions, coverage: Coverage | None,
                 placements: dict[int, Placement]) -> dict[int, tuple[float, str]]:
    """Per usable feature: the pixel area (m²) its size is measured in, and the raster it is of when there are
    several (the raster holding most of it; the first for a polygon on none)."""
    if coverage is not None:
        several = len(coverage.infos) > 1
        return {fid: (coverage.pixel_area_of(place), coverage.names[coverage.measured_on(place)] if several else "")
                for fid, place in placements.items()}
    if options.pixel_size_m:
        return {f.fid: (options.pixel_size_m**2, "") for f in features if f.geom is not None}
    return {}


def validate_inventory(inventory: str | Path, options: ValidateOptions | None = None, *, layer: str | None = None,
                       assign_crs: str | None = None, progress: Progress | None = None) -> ValidationReport:
    """Find every problem of an inventory layer (nothing is written); `assign_crs` (EPSG:XXXX, WKT, PROJ) is taken
    as its CRS, for a layer without one (a Shapefile without .prj) or with a wrong one: the repaired copy carries it."""
    name, features, srs = _read(inventory, layer, assign_crs)
    from .preflight import options_of

    return _validate(str(inventory), name, features, srs, options_of(ValidateOptions, options, "validation"),
                     reader_progress(progress))


def validate_wkb(wkbs: Iterable[bytes | None], fids: Iterable[int], crs_wkt: str | None, name: str,
                 options: ValidateOptions | None = None, progress: Progress | None = None) -> ValidationReport:
    """The same over geometries already read (a QGIS layer's features, as WKB with their feature ids)."""
    features = [_Feature(int(fid), None if wkb is None else ogr.CreateGeometryFromWkb(wkb))
                for wkb, fid in zip(wkbs, fids, strict=True)]
    srs = srs_from_wkt(crs_wkt, name) if crs_wkt else None
    return _validate(name, name, features, srs, options or ValidateOptions(), reader_progress(progress))


def _validate(source: str, name: str, features: list[_Feature], srs: osr.SpatialReference | None,
              options: ValidateOptions, progress: Progress) -> ValidationReport:
    options.validate()
    if options.rasters:
        from .preflight import require_distinct

        require_distinct(list(options.rasters), "raster")
    problems = [p for f in features for p in _geometry_problems(f)]
    progress.set_fraction(0.2)
    if srs is None:
        problems.insert(0, Problem(NO_CRS, None, "it has no CRS: its polygons cannot be placed on imagery"))
    else:
        problems.extend(_crs_problems(features, srs, options.crs_margin))
        _to_metric(features, srs)
    problems.extend(_pair_problems(features, options.duplicate_iou, options.min_overlap_m2, progress))
    progress.set_fraction(0.6)
    problems.extend(_sliver_problems(features, options.sliver_ratio))
    coverage, placements, raster_warnings = None, {}, []
    if options.rasters:
        from .raster import read_raster_info, require_north_up

        infos = [read_raster_info(r) for r in options.rasters]
        for info in infos:  # export refuses these: "ready for export" would not be true
            require_north_up(info)
        raster_warnings = _raster_warnings(infos)
        for note in raster_warnings:
            progress.warn(note)
    if options.rasters and srs is not None:
        coverage = Coverage(infos, srs)
        placements = {f.fid: coverage.place(f.geom) for f in features if f.geom is not None}
        progress.set_fraction(0.7)
    if srs is not None:
        problems.extend(_small_problems(features, _pixel_areas(features, options, coverage, placements),
                                        options.min_pixels))
    if coverage is not None:
        problems.extend(_raster_problems(features, coverage, placements, progress))
    progress.set_fraction(1.0)
    report = ValidationReport(source, name, len(features), problems, srs, rasters=[str(r) for r in options.rasters],
                              options={"min_pixels": options.min_pixels, "pixel_size_m": options.pixel_size_m,
                                       "sliver_ratio": options.sliver_ratio, "duplicate_iou": options.duplicate_iou,
                                       "min_overlap_m2": options.min_overlap_m2, "crs_margin": options.crs_margin},
                              not_checked=_not_checked(options, srs), raster_warnings=raster_warnings,
                              n_on_imagery=sum(bool(p.on) for p in placements.values()) if coverage else None)
    if report.off_imagery:  # blocking, so that N_BLOCKING says it (a model checking it went on with 838 elsewhere)
        problems.append(Problem(NONE_ON_IMAGERY, None, "no polygon lies on the imagery: export refuses it"))
    problems.sort(key=lambda p: (not p.blocking, -1 if p.fid is None else p.fid))  # what blocks export first
    return report


def _raster_warnings(infos: Sequence[RasterInfo]) -> list[str]:
    """What about the imagery makes this check (and export) read it wrongly: a fill value not declared as nodata
    hides its holes from the nodata check, and export refuses the raster until it is declared."""
    from .raster import undeclared_fill

    return [f"{note}. Until then, polygons on those pixels are not reported as on nodata, and export refuses the "
            "raster" for info in infos for note in undeclared_fill(info.path, range(1, info.count + 1),
                                                                      info.band_names)]


def _not_checked(options: ValidateOptions, srs: osr.SpatialReference | None) -> list[str]:
    """The checks this run left out and what would run them: a clean report without them is not a clean inventory
    for export (a polygon off the imagery adds no training pixel)."""
    if srs is None:
        return ["sizes, imagery cover and nodata (the layer has no CRS: assign it one)"]
    left: list[str] = []
    if not options.rasters and not options.pixel_size_m and options.min_pixels > 0:
        left.append(f"sizes under {options.min_pixels:g} pixels (give the imagery, or a pixel size)")
    if not options.rasters:
        left.append("imagery cover and nodata (give the imagery)")
    return left


def blocking_problems(inventory: Any, layer: str | None = None) -> list[Problem]:
    """The problems that make export refuse an inventory (a missing CRS, invalid geometries, self-intersections).

    `inventory` is a path, or a PolygonSet already read (and repaired) from a QGIS layer: its repairs count."""
    from .vector import PolygonSet

    if isinstance(inventory, PolygonSet):  # each repair made on reading, by its feature (QGIS's own ids)
        return [Problem(_invalid_kind(reason), fid, reason) for fid, reason in inventory.repairs]
    _, features, srs = _read(inventory, layer)
    problems = [p for f in features for p in _geometry_problems(f) if p.blocking]
    return ([Problem(NO_CRS, None, "it has no CRS")] if srs is None else []) + problems


def refuse_blocking_problems(inventory: Any, layer: str | None = None) -> None:
    """Raise LmhldError naming the problems and the fix for each kind (the repaired copy to write and export from,
    or the CRS to assign) when the inventory has blocking ones."""
    problems = blocking_problems(inventory, layer)
    if not problems:
        return
    counts = Counter(p.kind.replace("_", " ") for p in problems)
    first = next((p for p in problems if p.fid is not None), problems[0])
    named = isinstance(inventory, str | Path)
    no_crs = any(p.kind == NO_CRS for p in problems)
    command = ""  # a file: the command that writes its copy (with the CRS to assign), beside QGIS's ways
    if named:
        path = Path(inventory)
        command = (f"`lmhld validate {shlex.quote(path.name)}{' --assign-crs EPSG:XXXX' if no_crs else ''} "
                   f"--repair {shlex.quote(path.stem + '_fixed.gpkg')}`")
    fixes = [KINDS[NO_CRS].fix + (f", or write a copy that carries it: {command}" if named else "")] if no_crs else []
    if any(p.kind in (INVALID, SELF_INTERSECTION) for p in problems):
        how = f"in QGIS: {VALIDATE_TITLE}, its 'Repaired copy' output" + (f"; or {command}" if named else "")
        fixes.append(f"write a repaired copy ({how}), check the repaired shapes and export from that copy, or redraw "
                     "the polygons (QGIS vertex tool)")
    name = f" {Path(inventory).name}" if named else f" layer {inventory.name}" if inventory.name else " layer"
    raise LmhldError(
        f"the inventory{name} has {len(problems)} blocking problem(s): "
        f"{', '.join(f'{n} {k}' for k, n in counts.items())} (first: {first.where}, {first.message}); export "
        f"would have to guess what was meant. Fix: {'; and '.join(fixes)}")
