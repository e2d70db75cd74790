"""Stacking rate: a 4000 x 4000 RGBA orthophoto (0.1 m) with a 800 x 800 float DSM (0.5 m), onto the orthophoto's
grid and onto 0.5 m.

Prints megapixels per second and the ratio to copying the orthophoto's three colour bands alone into the same kind
of file (float32, tiled, deflate): what warping the DSM, masking by the alpha and naming the bands cost on top of
I/O. Memory is bounded by GDAL's block cache (GDAL_CACHEMAX, 256 MB here, as the command line sets it) plus one block;
the peak resident size is printed for each, each in its own process.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

SIDE = 4000
CHILD = """
import resource, sys, time
from pathlib import Path
from bench.bench_stack import copy_colours
from lmhld_qgis.core.stack import stack_rasters
d, what = Path(sys.argv[1]), sys.argv[2]
t = time.perf_counter()
if what == "copy":
    copy_colours(d / "ortho.tif", d / "copy.tif")
else:
    pixel = 0.5 if what == "coarse" else None
    stack_rasters([d / "ortho.tif", d / "site_dsm.tif"], d / f"{what}.tif", pixel_size=pixel)
print(time.perf_counter() - t, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
"""


def make_inputs(folder: Path) -> None:
    import rasterio
    from rasterio.enums import ColorInterp
    from rasterio.transform import from_origin

    profile = {"driver": "GTiff", "width": SIDE, "height": SIDE, "count": 4, "dtype": "uint8", "crs": "EPSG:32633",
               "transform": from_origin(500_000, 4_000_000, 0.1, 0.1), "tiled": True, "blockxsize": 512,
               "blockysize": 512, "compress": "deflate"}
    with rasterio.open(folder / "ortho.tif", "w", **profile) as dst:
        for row in range(0, SIDE, 512):
            rows = min(512, SIDE - row)
            block = np.random.default_rng(row).integers(1, 255, (4, rows, SIDE)).astype("uint8")
            block[3] = 255
            block[3, :, : SIDE // 10] = 0  # outside the flight
            dst.write(block, window=((row, row + rows), (0, SIDE)))
        dst.colorinterp = [ColorInterp.red, ColorInterp.green, ColorInterp.blue, ColorInterp.alpha]
    with rasterio.open(folder / "site_dsm.tif", "w", driver="GTiff", width=800, height=800, count=1, dtype="float32",
                       crs="EPSG:32633", transform=from_origin(500_000, 4_000_000, 0.5, 0.5), nodata=-9999) as dst:
        dst.write(np.random.default_rng(0).normal(900, 5, (1, 800, 800)).astype("float32"))


def copy_colours(src_path: Path, out: Path) -> None:
    """The I/O reference: the three colour bands as float32, block by block, into the stack's kind of file."""
    import rasterio
    from rasterio.windows import Window

    with rasterio.open(src_path) as src:
        profile = {"driver": "GTiff", "width": src.width, "height": src.height, "count": 3, "dtype": "float32",
                   "crs": src.crs, "transform": src.transform, "tiled": True, "blockxsize": 256, "blockysize": 256,
                   "compress": "deflate", "predictor": 3, "NUM_THREADS": "ALL_CPUS"}
        with rasterio.open(out, "w", **profile) as dst:
            for row in range(0, src.height, 1024):
                for col in range(0, src.width, 1024):
                    w = Window(col, row, min(1024, src.width - col), min(1024, src.height - row))
                    dst.write(src.read([1, 2, 3], window=w, out_dtype=np.float32), window=w)


def main() -> None:
    root = Path(__file__).resolve().parent.parent
    env = {**os.environ, "GDAL_CACHEMAX": "256", "PYTHONPATH": str(root)}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        make_inputs(folder)
        results = {}
        for what in ("copy", "native", "coarse"):
            out = subprocess.run([sys.executable, "-c", CHILD, str(folder), what], env=env, cwd=root,
                                 capture_output=True, text=True, check=True).stdout.split()
            results[what] = (float(out[0]), float(out[1]))
        mpx = SIDE * SIDE / 1e6
        copy_s = results["copy"][0]
        for what, label in (("copy", "copy of the colour bands (reference)"), ("native", "stack, 0.1 m grid"),
                            ("coarse", "stack, 0.5 m grid")):
            seconds, peak = results[what]
            print(f"{label:38s} {seconds:6.2f} s  {mpx / seconds:6.1f} Mpx/s of orthophoto  "
                  f"x{seconds / copy_s:4.2f} the copy  peak {peak:5.0f} MB")


if __name__ == "__main__":
    main()
