"""Where do the wrong polygons of a detection lie? (docs/quality.md, "Under forest")

For a detection of a generated area (its polygons, the area's inventory and look-alikes, its DSM), every polygon
the inventory covers less than `--match` of (the evaluation's "not a landslide") is put in one class, the first
that applies:

- **fragment**: part of a landslide (the inventory covers 10 % of it or more) cut off from the matched part;
- **look-alike: KIND**: a look-alike of that kind covers 30 % of it or more (bare soil, a field, a road, ...);
- **beside a landslide**: its edge within 10 m of a landslide;
- **forest edge**: at least a third of it under canopy or along it (the DSM rough at the scale of a crown, as
  training/relative.py's ground plane measures it, widened by 3 px);
- **elsewhere**.

It prints each wrong polygon (area, inventory cover, canopy share, the mean probability detection wrote on it)
and the count and area of each class.

    PYTHONPATH=. .venv/bin/python bench/study_false_positives.py /tmp/q/forest_DSM/landslides_upper_forest.gpkg \\
        /tmp/q/areas/upper_forest.tif
"""

from __future__ import annotations

import argparse
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np
import numpy.typing as npt
import torch
from osgeo import gdal, ogr, osr
from torch.nn import functional as F

from lmhld_qgis.training.relative import GROUND_ROUGH_M

gdal.UseExceptions()
ogr.UseExceptions()


def geometries(path: Path, field: str = "kind") -> list[tuple[ogr.Geometry, object]]:
    """(geometry, value of `field`) of every feature (None where the layer has no such field)."""
    source = ogr.Open(str(path))
    layer = source.GetLayer(0)
    has_field = layer.GetLayerDefn().GetFieldIndex(field) >= 0
    return [(f.GetGeometryRef().Clone(), f.GetField(field) if has_field else None) for f in layer]


def covered(geom: ogr.Geometry, others: list[ogr.Geometry]) -> float:
    """Share of `geom`'s area that `others` cover."""
    area = sum(geom.Intersection(o).GetArea() for o in others if geom.Intersects(o))
    return min(1.0, area / max(geom.GetArea(), 1e-9))


def canopy_map(dsm: npt.NDArray[np.float64]) -> npt.NDArray[np.bool_]:
    """Canopy as the ground plane sees it: mean |DSM - its 9 px average| over 5 x 5 px above the limit, + 3 px."""
    z = torch.from_numpy(dsm)[None, None]
    rough = F.avg_pool2d((z - F.avg_pool2d(z, 9, 1, 4, count_include_pad=False)).abs(), 5, 1, 2,
                         count_include_pad=False)
    return F.max_pool2d((rough > GROUND_ROUGH_M).double(), 7, 1, 3)[0, 0].numpy() > 0


def read_band(path: Path, band: int) -> npt.NDArray[np.float64]:
    """One band as float64 (the dataset held open while its band is read: GDAL frees a band with its dataset)."""
    raster = gdal.Open(str(path))
    return raster.GetRasterBand(band).ReadAsArray().astype(np.float64)  # type: ignore[no-any-return]


def pixel_mean(raster: gdal.Dataset, values: npt.NDArray[np.float64], geom: ogr.Geometry) -> float:
    mem = gdal.GetDriverByName("MEM").Create("", raster.RasterXSize, raster.RasterYSize, 1, gdal.GDT_Byte)
    mem.SetGeoTransform(raster.GetGeoTransform())
    mem.SetProjection(raster.GetProjection())
    ds = ogr.GetDriverByName("Memory").CreateDataSource("")
    layer = ds.CreateLayer("g", osr.SpatialReference(wkt=raster.GetProjection()), ogr.wkbPolygon)
    feature = ogr.Feature(layer.GetLayerDefn())
    feature.SetGeometry(geom)
    layer.CreateFeature(feature)
    gdal.RasterizeLayer(mem, [1], layer, burn_values=[1], options=["ALL_TOUCHED=TRUE"])
    inside = mem.ReadAsArray() > 0
    return float(values[inside].mean()) if inside.any() else float("nan")


def classify(geom: ogr.Geometry, truth: list[ogr.Geometry], truth_cover: float,
             looks: dict[str, list[ogr.Geometry]], canopy_share: float) -> str:
    if truth_cover >= 0.10:
        return "fragment of a landslide"
    shares = {kind: covered(geom, g) for kind, g in looks.items()}
    kind = max(shares, key=lambda k: shares[k], default="")
    if kind and shares[kind] >= 0.30:
        return f"look-alike: {kind}"
    if any(geom.Distance(t) <= 10.0 for t in truth):
        return "beside a landslide"
    if canopy_share >= 1 / 3:
        return "forest edge"
    return "elsewhere"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("polygons", type=Path, help="the detection's polygons (GeoPackage)")
    p.add_argument("scene", type=Path, help="the generated area (its _inventory and _distractors beside it)")
    p.add_argument("--band", type=int, default=5, help="the DSM band (5; 0: none)")
    p.add_argument("--match", type=float, default=0.5)
    args = p.parse_args(argv)
    stem = args.scene.with_suffix("")
    truth = [g for g, _ in geometries(Path(f"{stem}_inventory.gpkg"))]
    looks: dict[str, list[ogr.Geometry]] = defaultdict(list)
    if Path(f"{stem}_distractors.gpkg").exists():
        for g, kind in geometries(Path(f"{stem}_distractors.gpkg")):
            looks[str(kind)].append(g)
    scene = gdal.Open(str(args.scene))
    canopy = (canopy_map(read_band(args.scene, args.band)).astype(np.float64)
              if args.band else np.zeros((scene.RasterYSize, scene.RasterXSize)))
    classes: dict[str, list[float]] = defaultdict(list)
    detections = geometries(args.polygons, "mean_prob")  # detection's own zonal mean (core.vectorize.Zonal)
    print("| polygon | area m2 | inventory cover | canopy share | mean probability | class |")
    print("|---:|---:|---:|---:|---:|---|")
    for i, (geom, mean_prob) in enumerate(detections):
        truth_cover = covered(geom, truth)
        if truth_cover >= args.match:
            continue
        canopy_share = pixel_mean(scene, canopy, geom)
        label = classify(geom, truth, truth_cover, looks, canopy_share)
        classes[label].append(geom.GetArea())
        print(f"| {i} | {geom.GetArea():.0f} | {truth_cover:.2f} | {canopy_share:.2f} | {float(mean_prob):.2f} | "
              f"{label} |")
    wrong = sum(len(v) for v in classes.values())
    print(f"\n{wrong} of {len(detections)} polygons on no landslide (inventory cover < {args.match:.0%}):")
    for label, areas in sorted(classes.items(), key=lambda kv: -len(kv[1])):
        print(f"- {label}: {len(areas)} ({sum(areas):.0f} m2)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
