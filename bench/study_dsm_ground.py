"""Under trees, what does a plane-relative DSM say about a scar against a look-alike? (docs/quality.md, "Under
forest: where the limit lies")

For a generated area of `bench/uav.toml` (a scene with a DSM band, its inventory and its look-alikes' polygons), cut
the scene into the export's grid of tiles and, in each tile, remove a surface from the DSM as training and the ONNX
graph do (training/relative.py, in metres, unscaled):

- **plane**: the least-squares plane through every pixel: under trees it floats between canopy and ground at a
  height that follows the tile's share of forest;
- **ground**: the plane through the pixels that are not canopy: 0 is the ground.

It prints the median value of scar and look-alike pixels and the probability that a scar pixel lies lower than a
look-alike pixel (pixels pooled over every tile, as a network sees them).

    PYTHONPATH=. .venv/bin/python bench/study_dsm_ground.py /tmp/quality/forest_ground/areas/upper_forest.tif
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import numpy.typing as npt
import torch
from osgeo import gdal, ogr

from lmhld_qgis.training.relative import GROUND_ROUGH_M, RelativeLevels

LOOKALIKES = ("bare soil", "ploughed field", "river sediment", "stubble field", "green field", "road")


def burn(scene: gdal.Dataset, path: Path, where: str | None = None) -> npt.NDArray[np.bool_]:
    mem = gdal.GetDriverByName("MEM").Create("", scene.RasterXSize, scene.RasterYSize, 1, gdal.GDT_Byte)
    mem.SetGeoTransform(scene.GetGeoTransform())
    mem.SetProjection(scene.GetProjection())
    source = ogr.Open(str(path))  # kept referenced while its layer is in use (GDAL frees the layer with it)
    layer = source.GetLayer(0)
    if where:
        layer.SetAttributeFilter(where)
    gdal.RasterizeLayer(mem, [1], layer, burn_values=[1])
    mask: npt.NDArray[np.bool_] = mem.ReadAsArray() > 0
    return mask


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("scene", type=Path, help="a generated area's scene (its _inventory and _distractors beside it)")
    p.add_argument("--band", type=int, default=5, help="the DSM band (5)")
    p.add_argument("--tile", type=int, default=256, help="tile side in pixels (256: the export's for bench/uav.toml)")
    args = p.parse_args(argv)
    scene = gdal.Open(str(args.scene))
    z = scene.GetRasterBand(args.band).ReadAsArray().astype(np.float64)
    stem = args.scene.with_suffix("")
    scar = burn(scene, Path(f"{stem}_inventory.gpkg"))
    look = np.zeros_like(scar)
    for kind in LOOKALIKES:
        look |= burn(scene, Path(f"{stem}_distractors.gpkg"), f"kind = '{kind}'")
    values: dict[str, tuple[list[float], list[float]]] = {"plane": ([], []), "ground": ([], [])}
    surfaces = {"plane": RelativeLevels((0,), (1.0,), "plane"),
                "ground": RelativeLevels((0,), (1.0,), "ground", (GROUND_ROUGH_M,))}
    size = args.tile
    for r in range(0, z.shape[0] - size + 1, size):
        for c in range(0, z.shape[1] - size + 1, size):
            s, lk = scar[r:r + size, c:c + size], look[r:r + size, c:c + size]
            if not (s.any() or lk.any()):
                continue
            tile = torch.from_numpy(z[r:r + size, c:c + size])[None, None]
            missing = torch.zeros_like(tile, dtype=torch.bool)
            for name, surface in surfaces.items():
                kept = surface.apply(tile, missing)[0, 0].numpy()
                values[name][0].extend(kept[s].tolist())
                values[name][1].extend(kept[lk].tolist())
    rng = np.random.default_rng(0)
    print(f"{args.scene.name}:")
    for name, (scars, looks) in values.items():
        a, b = rng.choice(np.asarray(scars), 20000), rng.choice(np.asarray(looks), 2000)
        lower = float((a[:, None] < b[None, :]).mean())
        print(f"{name:6s}: scar median {np.median(scars):+.2f} m, look-alike median {np.median(looks):+.2f} m, "
              f"P(scar pixel lower than look-alike pixel) {lower:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
