"""A detection extent: `xmin,ymin,xmax,ymax`, in the raster's CRS unless a CRS follows in brackets
(`xmin,ymin,xmax,ymax [EPSG:4326]`, as QGIS writes an extent's CRS). An extent that misses the raster is refused
with both CRSs and the raster's own bounds named, since a wrong CRS is the usual cause (degrees on a metric scene)."""

from __future__ import annotations

import math
import re

from osgeo import osr

from .errors import LmhldError

osr.UseExceptions()

__all__ = ["Extent", "crs_code", "crs_label", "extent_in_raster_crs", "parse_extent", "require_extent_overlaps"]

Extent = tuple[float, float, float, float]  # xmin, ymin, xmax, ymax

SYNTAX = "xmin,ymin,xmax,ymax (four numbers), optionally followed by its CRS: 'xmin,ymin,xmax,ymax [EPSG:4326]'"
_WITH_CRS = re.compile(r"^(?P<box>[^\[\]]*?)\s*(?:\[(?P<crs>[^\[\]]*)\])?\s*$")


def parse_extent(text: str) -> tuple[Extent, str | None]:
    """The box and its CRS text (None: the raster's) from `xmin,ymin,xmax,ymax [CRS]`; an error names the syntax."""
    match = _WITH_CRS.match(text)
    parts = match["box"].split(",") if match else []
    if len(parts) != 4:
        raise LmhldError(f"expected {SYNTAX}, got {text!r}")
    try:
        xmin, ymin, xmax, ymax = (float(v.strip()) for v in parts)
    except ValueError:
        raise LmhldError(f"expected {SYNTAX}, got {text!r}") from None
    bad = [v.strip() for v, x in zip(parts, (xmin, ymin, xmax, ymax), strict=True) if not math.isfinite(x)]
    if bad:
        raise LmhldError(f"expected a finite number, got {bad[0]!r}")
    if not (xmin < xmax and ymin < ymax):
        raise LmhldError(f"expected xmin < xmax and ymin < ymax, got {text!r}")
    crs = match["crs"].strip() if match and match["crs"] is not None else None
    if crs is not None:
        _srs(crs)
    return (xmin, ymin, xmax, ymax), crs


def _srs(text: str) -> osr.SpatialReference:
    """The extent's CRS (EPSG:XXXX, WKT or PROJ), x = easting/longitude."""
    srs = osr.SpatialReference()
    try:
        srs.SetFromUserInput(text)
    except RuntimeError:
        raise LmhldError(f"cannot read the extent's CRS {text!r}; give it as EPSG:XXXX, e.g. [EPSG:4326]") from None
    srs.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
    return srs


def crs_code(srs: osr.SpatialReference) -> str:
    """'EPSG:32759', or the CRS's name when it has no EPSG code."""
    probe = srs.Clone()
    try:
        if probe.GetAuthorityCode(None) is None:
            probe.AutoIdentifyEPSG()
        if (probe.GetAuthorityName(None) or "").upper() == "EPSG" and probe.GetAuthorityCode(None):
            return f"EPSG:{probe.GetAuthorityCode(None)}"
    except RuntimeError:  # not identifiable
        pass
    return srs.GetName() or "unnamed CRS"


def crs_label(srs: osr.SpatialReference) -> str:
    """'EPSG:32759 (WGS 84 / UTM zone 59S)', or the CRS's name when it has no EPSG code."""
    code, name = crs_code(srs), srs.GetName() or "unnamed CRS"
    return code if code == name else f"{code} ({name})"


def extent_in_raster_crs(extent: Extent, crs: str | None, raster_srs: osr.SpatialReference) -> Extent:
    """The extent's bounding box in the raster's CRS (its edges densified, so a curved reprojection is covered)."""
    if crs is None:
        return extent
    srs = _srs(crs)
    if srs.IsSame(raster_srs):
        return extent
    try:
        box = osr.CoordinateTransformation(srs, raster_srs).TransformBounds(*extent, 21)
    except RuntimeError as exc:
        raise LmhldError(f"cannot reproject the extent from {crs_label(srs)} to the raster's "
                         f"{crs_label(raster_srs)} ({exc}); give the extent in the raster's CRS") from None
    return float(box[0]), float(box[1]), float(box[2]), float(box[3])


def _text(box: Extent) -> str:
    """A box in words that read the same whatever order the reader writes extents in."""
    return f"x {box[0]:.10g} to {box[2]:.10g}, y {box[1]:.10g} to {box[3]:.10g}"


def _overlaps(a: Extent, b: Extent) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def require_extent_overlaps(extent: Extent, crs: str | None, raster_srs: osr.SpatialReference, bounds: Extent,
                            raster: str) -> Extent:
    """The extent in the raster's CRS, or an error naming both CRSs, the raster's bounds and the fix when it
    misses the raster (a wrong CRS is the usual cause)."""
    box = extent_in_raster_crs(extent, crs, raster_srs)
    if _overlaps(box, bounds):
        return box
    where = f"raster {raster} covers {_text(bounds)} in {crs_label(raster_srs)}"
    if crs is not None:
        raise LmhldError(f"the extent ({_text(extent)} in {crs}) is {_text(box)} in the raster's CRS and does not "
                         f"overlap it: {where}; check the numbers and their CRS")
    degrees = raster_srs.IsProjected() and all(abs(v) <= 180 for v in extent[::2]) and \
        all(abs(v) <= 90 for v in extent[1::2])
    # the numbers are named, not written back as an extent: the command line's order (xmin,ymin,xmax,ymax) is not
    # QGIS's (xmin,xmax,ymin,ymax), and an extent pasted in the other's order ran on the whole scene without a word
    hint = ("; these numbers look like longitude/latitude: if so, name their CRS after the four numbers: "
            "[EPSG:4326]") if degrees else "; if it is in another CRS, name it after the four numbers: [EPSG:XXXX]"
    raise LmhldError(f"the extent ({_text(extent)}) does not overlap the raster: it is read in the raster's CRS, "
                     f"and {where}; give the extent in {crs_code(raster_srs)}" + hint)
