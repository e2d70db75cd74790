"""Which mean-probability floor? (docs/quality.md, "Under forest: a floor midway between the cut and certainty")

For the polygons a detection wrote (every polygon its own floor let through), the inventory and the probability
raster, score the polygons again under each floor: the floor of before (0.5, only under a threshold below 0.5) and
the default since (midway between the threshold and certainty), with the mean or the median probability over each
polygon. Pixel F1 is taken from areas (a polygon's overlap with the inventory), which gives the evaluation's pixel
F1 to about 0.001; a polygon is wrong when the inventory covers less than half of it.

    PYTHONPATH=. .venv/bin/python bench/study_floor.py --threshold 0.55 \\
        /tmp/q/forest_DSM/landslides_upper_forest.gpkg /tmp/q/areas/upper_forest_inventory.gpkg \\
        /tmp/q/forest_DSM/prob_upper_forest.tif
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from osgeo import gdal, ogr

from lmhld_qgis.core.vectorize import Zonal

gdal.UseExceptions()
ogr.UseExceptions()


@dataclass(frozen=True)
class Scored:
    mean: float
    median: float
    area: float
    on_landslide: float  # m2 of it the inventory covers

    @property
    def right(self) -> bool:
        return self.on_landslide >= 0.5 * self.area


def polygons(detected: Path, inventory: Path, prob: Path) -> tuple[list[Scored], float]:
    """Each detected polygon's statistics (over the pixels detection's own Zonal reads), and the inventory's area."""
    source = ogr.Open(str(inventory))
    union = ogr.Geometry(ogr.wkbMultiPolygon)
    for feature in source.GetLayer(0):
        union = union.Union(feature.GetGeometryRef())
    found = ogr.Open(str(detected))
    layer = found.GetLayer(0)
    zonal = Zonal(prob, layer.GetSpatialRef())
    out = []
    for feature in layer:
        geom = feature.GetGeometryRef()
        values = zonal.values(geom)
        if values is None:
            continue
        out.append(Scored(float(values.mean()), float(np.median(values)), geom.GetArea(),
                          geom.Intersection(union).GetArea()))
    return out, union.GetArea()


def score(scored: list[Scored], total: float, keep: Callable[[Scored], bool]) -> str:
    kept = [s for s in scored if keep(s)]
    hit, area = sum(s.on_landslide for s in kept), sum(s.area for s in kept)
    precision, recall = (hit / area if area else 0.0), hit / total
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return f"F1 {f1:.3f}, {len(kept)} polygons ({sum(not s.right for s in kept)} wrong)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("detected", type=Path)
    parser.add_argument("inventory", type=Path)
    parser.add_argument("prob", type=Path)
    parser.add_argument("--threshold", type=float, required=True, help="the cut the detection ran at")
    args = parser.parse_args()
    scored, total = polygons(args.detected, args.inventory, args.prob)
    t, midway = args.threshold, (args.threshold + 1) / 2
    print(f"{args.detected.name}, threshold {t:g}:")
    print(f"  as written:                {score(scored, total, lambda s: True)}")
    print(f"  before (0.5 under 0.5):    {score(scored, total, lambda s: t >= 0.5 or s.mean >= 0.5)}")
    print(f"  mean >= midway ({midway:g}):  {score(scored, total, lambda s: s.mean >= midway)}")
    print(f"  median >= midway:          {score(scored, total, lambda s: s.median >= midway)}")
    for s in sorted(scored, key=lambda s: s.mean):
        kind = "landslide" if s.right else "WRONG    "
        print(f"    {kind} {s.area:8.0f} m2  mean {s.mean:.2f}  median {s.median:.2f}")


if __name__ == "__main__":
    main()
