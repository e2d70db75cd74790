"""Which mean-probability floor? (docs/quality.md, "A floor that follows the model")

For the polygons a detection wrote (every polygon its own floor let through), the inventory and the probability
raster, score the polygons again under each floor: the floor of before (0.5, only under a threshold below 0.5), a fixed
floor midway between the threshold and certainty (with the mean or the median probability over each polygon), and
the default (midway between the threshold and the surest polygon's mean). A run whose own floor already dropped
polygons is scored from its probability raster instead: `--repolygonize MIN_AREA_M2` cuts it at the threshold and
polygonizes it again with no floor (holes below the minimum area filled, as detection does by default). Pixel F1 is
taken from areas (a polygon's overlap with the inventory), which gives the evaluation's pixel F1 to about 0.001; a
polygon is wrong when the inventory covers less than half of it.

    PYTHONPATH=. .venv/bin/python bench/study_floor.py --threshold 0.55 \\
        /tmp/q/forest_DSM/landslides_upper_forest.gpkg /tmp/q/areas/upper_forest_inventory.gpkg \\
        /tmp/q/forest_DSM/prob_upper_forest.tif
"""

from __future__ import annotations

import argparse
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from osgeo import gdal, ogr

from lmhld_qgis.core.postprocess import scene_floor
from lmhld_qgis.core.vectorize import VectorizeOptions, Zonal, polygonize

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


def repolygonize(prob: Path, threshold: float, min_area_m2: float, out_dir: Path) -> Path:
    """The probability raster cut at the threshold and polygonized with no mean-probability floor."""
    ds = gdal.Open(str(prob))
    mask = gdal.GetDriverByName("GTiff").Create(str(out_dir / "mask.tif"), ds.RasterXSize, ds.RasterYSize, 1,
                                                gdal.GDT_Byte)
    mask.SetGeoTransform(ds.GetGeoTransform())
    mask.SetProjection(ds.GetProjection())
    mask.GetRasterBand(1).WriteArray((ds.GetRasterBand(1).ReadAsArray() >= threshold).astype(np.uint8))
    mask = None
    out = out_dir / "polygons.gpkg"
    polygonize(out_dir / "mask.tif", prob, out, "landslides", VectorizeOptions(min_area_m2, min_area_m2),
               source=prob.name, model="")
    return out


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
    parser.add_argument("--repolygonize", type=float, metavar="MIN_AREA_M2",
                        help="score the probability raster polygonized again with no floor, not the run's polygons")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        detected = (repolygonize(args.prob, args.threshold, args.repolygonize, Path(tmp))
                    if args.repolygonize is not None else args.detected)
        scored, total = polygons(detected, args.inventory, args.prob)
    t, midway = args.threshold, (args.threshold + 1) / 2
    print(f"{args.detected.name}, threshold {t:g}:")
    label = "no floor:  " if args.repolygonize is not None else "as written:"
    print(f"  {label}                {score(scored, total, lambda s: True)}")
    print(f"  before (0.5 under 0.5):    {score(scored, total, lambda s: t >= 0.5 or s.mean >= 0.5)}")
    print(f"  mean >= midway ({midway:g}):  {score(scored, total, lambda s: s.mean >= midway)}")
    print(f"  median >= midway:          {score(scored, total, lambda s: s.median >= midway)}")
    sure = max((s.mean for s in scored), default=t)
    floor = scene_floor(t, sure)
    print(f"  midway to the surest polygon ({sure:.3f}: {floor:.3f}, the default): "
          f"{score(scored, total, lambda s: s.mean >= floor)}")
    for fraction in (0.2, 0.3, 0.4, 0.6):
        at = t + fraction * (sure - t)
        print(f"  {fraction:g} of the way to it ({at:.3f}):    {score(scored, total, lambda s, f=at: s.mean >= f)}")
    for s in sorted(scored, key=lambda s: s.mean):
        kind = "landslide" if s.right else "WRONG    "
        print(f"    {kind} {s.area:8.0f} m2  mean {s.mean:.2f}  median {s.median:.2f}")


if __name__ == "__main__":
    main()
