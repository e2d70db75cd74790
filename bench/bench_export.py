"""Patch export (GDAL_CACHEMAX=64 unless set): throughput as a ratio to a plain GDAL read of the same raster, and
peak memory for a 20,000 x 20,000 raster as a ratio to a 2,000 x 2,000 one (same landslide density), each run in a
fresh process, for each recipe (paper: the same work as before recipes existed; generalise: the default, which
writes more patches: background, each landslide's window).

Usage: python bench/bench_export.py [--large 20000] [--small 2000] [--recipe paper --recipe generalise]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

CHILD = textwrap.dedent("""
    import json, sys, time
    from pathlib import Path
    import numpy as np
    from osgeo import gdal
    from lmhld_qgis.core.export import ExportOptions, export_patches
    raster, inventory, out, mode, recipe = sys.argv[1:6]
    t0 = time.perf_counter()
    if mode == "read":
        ds = gdal.Open(raster)
        for row in range(0, ds.RasterYSize, 256):
            ds.ReadAsArray(0, row, ds.RasterXSize, min(256, ds.RasterYSize - row))
        n = ds.RasterXSize * ds.RasterYSize
    else:
        rep = export_patches([raster], inventory, out, ExportOptions(patch_size=128, min_fraction=0.05, recipe=recipe))
        n = sum(s["width"] * s["height"] for s in rep.card["sources"])
        patches = sum(rep.card["counts"].values())
    dt = time.perf_counter() - t0
    # VmHWM: the peak since exec (ru_maxrss survives exec and would report the parent's peak)
    peak_rss_mb = lambda: next(int(l.split()[1]) / 1024 for l in open("/proc/self/status") if l.startswith("VmHWM:"))
    rss = peak_rss_mb()
    print(json.dumps({"seconds": dt, "pixels": n, "peak_rss_mb": rss, "patches": patches if mode != "read" else 0}))
""")


def run_child(*args: str) -> dict:
    # A bounded GDAL block cache (GDAL's default is 5% of RAM). Export reads each block about twice in row order,
    # so 64 MB is plenty; memory is then the interpreter's base plus at most this cache, whatever the scene size.
    env = dict(os.environ, GDAL_CACHEMAX=os.environ.get("GDAL_CACHEMAX", "64"))
    out = subprocess.run([sys.executable, "-c", CHILD, *args], capture_output=True, text=True, check=True, env=env)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--large", type=int, default=20_000)
    parser.add_argument("--small", type=int, default=2_000)
    parser.add_argument("--recipe", action="append", choices=("paper", "generalise"))
    args = parser.parse_args()
    recipes = args.recipe or ["paper", "generalise"]
    from lmhld_qgis.core.synthetic import make_scene

    with tempfile.TemporaryDirectory() as tmp:
        results: dict[tuple[str, int], dict] = {}
        for side in (args.small, args.large):
            n = max(20, int(400 * (side / 2000) ** 2))
            # with sensor-like noise (the default): a noise-free raster decodes unrealistically fast
            scene = make_scene(Path(tmp) / f"s{side}", width=side, height=side, n_landslides=n, block_rows=512)
            read = run_child(str(scene.raster), str(scene.inventory), "", "read", "")
            for recipe in recipes:
                export = run_child(str(scene.raster), str(scene.inventory), str(Path(tmp) / f"ds{side}{recipe}"),
                                   "export", recipe)
                results[recipe, side] = export
                print(f"{side} x {side}, {recipe}: plain GDAL read {read['pixels'] / read['seconds'] / 1e6:.1f} "
                      f"Mpx/s, export {export['pixels'] / export['seconds'] / 1e6:.1f} Mpx/s "
                      f"({export['patches']} patches, {export['patches'] / export['seconds']:.0f}/s); throughput "
                      f"ratio export/read {read['seconds'] / export['seconds']:.2f}; peak RSS "
                      f"{export['peak_rss_mb']:.0f} MB")
        for recipe in recipes:
            small, large = results[recipe, args.small], results[recipe, args.large]
            print(f"{recipe}: peak memory ratio {args.large}^2 / {args.small}^2: "
                  f"{large['peak_rss_mb'] / small['peak_rss_mb']:.2f} (pixels x{(args.large / args.small) ** 2:.0f})")


if __name__ == "__main__":
    main()
