"""The annotator's tools at scale, as ratios measured in one run.

- Validation: an inventory of N and 4N generated polygons (dense enough that neighbours overlap): the time ratio
  shows how it scales (4 = linear; a pairwise check of every pair would give 16).
- Ranking: seconds to rank a probability raster / seconds to read it once with rasterio (the cost on top of
  I/O); peak memory (tracemalloc) for a raster with 4x the pixels / the base one (1 = bounded by a stripe).
"""

from __future__ import annotations

import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np
from bench_inventory import make_inventory

from lmhld_qgis.core.rank import RankOptions, rank_tiles
from lmhld_qgis.core.validate import ValidateOptions, validate_inventory

N = 2_000


def time_validation(folder: Path, n: int) -> tuple[float, int]:
    path = folder / f"inv_{n}.gpkg"
    make_inventory(path, n, seed=n)
    t0 = time.perf_counter()
    report = validate_inventory(path, ValidateOptions(pixel_size_m=3.0))
    return time.perf_counter() - t0, len(report.problems)


def write_prob(path: Path, side: int) -> Path:
    import rasterio
    from rasterio.transform import Affine

    rng = np.random.default_rng(side)
    profile = {"driver": "GTiff", "width": side, "height": side, "count": 1, "dtype": "float32",
               "crs": "EPSG:32618", "transform": Affine(3, 0, 500_000, 0, -3, 4_000_000), "tiled": True,
               "blockxsize": 256, "blockysize": 256, "compress": "deflate"}
    with rasterio.open(path, "w", **profile) as dst:
        for row in range(0, side, 1024):
            h = min(1024, side - row)
            block = rng.beta(0.4, 0.4, (1, h, side)).astype(np.float32)
            dst.write(block, window=rasterio.windows.Window(0, row, side, h))
    return path


def measure_rank(folder: Path, side: int) -> tuple[float, float, int]:
    import rasterio

    path = write_prob(folder / f"prob_{side}.tif", side)
    t0 = time.perf_counter()
    with rasterio.open(path) as src:
        for row in range(0, side, 512):
            src.read(1, window=rasterio.windows.Window(0, row, side, min(512, side - row)))
    t_read = time.perf_counter() - t0
    tracemalloc.start()
    t0 = time.perf_counter()
    rank_tiles(path, folder / f"tiles_{side}.gpkg", RankOptions(window=128, top=20, chunk_width=2048))
    t_rank = time.perf_counter() - t0
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return t_rank, t_read, peak


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        t1, p1 = time_validation(folder, N)
        t4, p4 = time_validation(folder, 4 * N)
        print(f"validation: {N} polygons {t1:.2f} s ({p1} problems), {4 * N} polygons {t4:.2f} s ({p4} problems); "
              f"time ratio 4N/N {t4 / t1:.1f} (4 = linear)")
        r1, _, m1 = measure_rank(folder, 2048)
        r4, read4, m4 = measure_rank(folder, 4096)
        print(f"ranking: 2048² px {r1:.2f} s, 4096² px {r4:.2f} s; rank/read time ratio {r4 / read4:.1f}; "
              f"peak memory 4096²/2048² {m4 / m1:.2f} ({m1 / 1e6:.1f} MB, {m4 / 1e6:.1f} MB)")


if __name__ == "__main__":
    main()
