"""Which of several rasters a polygon lies on, and how much of it: what validation (outside the imagery, on its
nodata, too few pixels) and analysis (areas in pixels) ask of an inventory spread over several scenes.

A polygon is measured in the pixels of the raster holding most of its area (the first on a tie): scenes of
different resolutions each count their own landslides in their own pixels.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from osgeo import ogr, osr

from .raster import RasterInfo, pixel_area_m2, raster_footprint, raster_srs
from .vector import surface_area

ogr.UseExceptions()

SEGMENTS = 32  # a footprint reprojected into another CRS keeps its curved edges, this many points a side


def footprint_in(info: RasterInfo, srs: osr.SpatialReference) -> ogr.Geometry:
    """The raster's footprint in `srs` (its edges densified first when the CRSs differ)."""
    footprint = raster_footprint(info)
    own = raster_srs(info)
    if not own.IsSame(srs):
        a, e = info.transform[0], info.transform[4]
        footprint.Segmentize(max(abs(a) * info.width, abs(e) * info.height) / SEGMENTS)
        footprint.Transform(osr.CoordinateTransformation(own, srs))
    return footprint


@dataclass(frozen=True)
class Placement:
    """Where one polygon lies: the share of its area on each raster, and the share on none of them."""

    shares: list[float]  # per raster, in the order given
    outside: float  # 0 when some raster holds all of it, 1 when none touches it

    @property
    def on(self) -> list[int]:
        """The rasters it lies on (partly or wholly)."""
        return [k for k, share in enumerate(self.shares) if share > 0]

    @property
    def main(self) -> int | None:
        """The raster holding most of it (the first on a tie); None when it lies on none."""
        best = max(range(len(self.shares)), key=lambda k: (self.shares[k], -k), default=None)
        return best if best is not None and self.shares[best] > 0 else None


class Coverage:
    """Several rasters' footprints against polygons in one CRS (an inventory's)."""

    def __init__(self, infos: Sequence[RasterInfo], srs: osr.SpatialReference) -> None:
        self.infos = list(infos)
        self.srs = srs
        self.names = [Path(i.path).name for i in self.infos]
        self.pixel_areas = [pixel_area_m2(i) for i in self.infos]
        self._footprints = [raster_footprint(i) for i in self.infos]  # each in its raster's CRS
        self._to_raster: list[osr.CoordinateTransformation | None] = []
        for info in self.infos:
            own = raster_srs(info)
            self._to_raster.append(None if own.IsSame(srs) else osr.CoordinateTransformation(srs, own))
        self._here: list[ogr.Geometry] | None = None  # the footprints in `srs`, made when first needed

    @property
    def same_pixels(self) -> bool:
        """Whether every raster's pixel has the same ground area (1 ppm): then no polygon needs placing to be
        measured in pixels."""
        return max(self.pixel_areas) - min(self.pixel_areas) <= 1e-6 * max(self.pixel_areas)

    def in_raster(self, geom: ogr.Geometry, k: int) -> ogr.Geometry:
        """`geom` in raster k's CRS (`geom` itself when the CRSs are the same)."""
        ct = self._to_raster[k]
        if ct is None:
            return geom
        moved = geom.Clone()
        moved.Transform(ct)
        return moved

    def place(self, geom: ogr.Geometry) -> Placement:
        """The share of `geom`'s area on each raster (measured in that raster's CRS, so a polygon inside a raster
        is inside exactly), and the share on none."""
        shares = [self._share(self.in_raster(geom, k), k) for k in range(len(self.infos))]
        if not any(shares) or max(shares) == 1.0:
            return Placement(shares, 1.0 if not any(shares) else 0.0)
        on = [k for k, share in enumerate(shares) if share > 0]
        if len(on) == 1:
            outside = 1.0 - shares[on[0]]
        else:  # across several rasters: what none of their footprints covers, in the polygons' CRS
            rest, area = geom, geom.GetArea()
            for k in on:
                rest = rest.Difference(self._footprints_here()[k])
            outside = surface_area(rest) / area if area > 0 else 0.0
        return Placement(shares, 0.0 if outside < 1e-6 else outside)  # round-off (and reprojected edges)

    @staticmethod
    def measured_on(placement: Placement) -> int:
        """The raster a polygon is measured in pixels of: the one holding most of it, else (on none) the first."""
        return 0 if placement.main is None else placement.main

    def pixel_area_of(self, placement: Placement) -> float:
        """The pixel area (m²) a polygon is measured in (`measured_on`)."""
        return self.pixel_areas[self.measured_on(placement)]

    def _share(self, geom: ogr.Geometry, k: int) -> float:
        footprint = self._footprints[k]
        if geom.Within(footprint):
            return 1.0
        if not geom.Intersects(footprint):
            return 0.0
        area = geom.GetArea()
        inside = geom.Intersection(footprint)
        return min(1.0, surface_area(inside) / area) if area > 0 else 0.0

    def _footprints_here(self) -> list[ogr.Geometry]:
        if self._here is None:
            self._here = [footprint_in(info, self.srs) for info in self.infos]
        return self._here
