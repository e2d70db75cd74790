"""Detection's coarse context pass: the scene seen again at a coarser scale, fused with the fine pass.

A network trained on patches in which the median landslide covers a tenth of the patch (the paper's rule) sees
the largest landslides only in part: a tile inside a large scar holds bare ground and no outline, which the
network has been taught to call background (bare fields and soil are what look-alike background patches show
it). Seen again with the pixels averaged by a factor (2 by default), the same tile covers that factor squared
times the ground, the scar's outline with it. The coarse pass's probabilities are eroded by one coarse pixel (the
minimum over its 3 x 3 neighbourhood), resampled (bilinear) onto the fine grid and fused with the fine ones by
their maximum: a pixel is a landslide when either view says so at the model's threshold, so small landslides,
which the coarse view blurs away, keep the fine view's answer. The erosion keeps the cores the coarse view adds
and drops its blurred rim: a coarse pixel that straddles an outline would otherwise widen every landslide by up
to a coarse pixel (measured: without it the pass cost 5 points of F1 on areas the fine pass already got right).

"auto" runs the pass when the model's training inventory holds landslides too large for its tile: the 90th
percentile of their areas (the model card's `large_landslide_area_m2`, learnt at export) covers at least twice
the share of a tile the paper's patch-size rule gives a landslide (10 %), i.e. the large landslides get less
context around them than the rule asks for. With the rule's median-sized patches and the lognormal sizes of real
inventories that is the usual case; inventories of landslides far smaller than the smallest patch (Kaikoura's
10 m scenes) stay at one pass, as do models without the figure (older files, other datasets).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

import numpy as np
from osgeo import gdal

from .grid import Window, window_bounds
from .raster import RasterInfo, read_raster_info
from .rasterwriter import BLOCK, PROB_NODATA, Grid, ProbabilityWriter, Stripe, create_tiled

gdal.UseExceptions()

def coarse_raster(info: RasterInfo, factor: float, workdir: Path) -> RasterInfo:
    """A VRT of the raster with pixels `factor` times larger (area average; nodata stays out of the averages)."""
    width, height = max(1, math.ceil(info.width / factor)), max(1, math.ceil(info.height / factor))
    bounds = window_bounds(info.transform, Window(0, 0, info.height, info.width))
    vrt = workdir / f"coarse_{factor:g}.vrt"
    gdal.Warp(str(vrt), info.path, format="VRT", outputBounds=bounds, width=width, height=height,
              resampleAlg="average")
    return read_raster_info(vrt)


def coarse_region(region: Window, factor: float, coarse: RasterInfo) -> Window:
    """The coarse raster's pixels that cover the fine region."""
    r0, c0 = math.floor(region.row / factor), math.floor(region.col / factor)
    r1 = min(coarse.height, math.ceil((region.row + region.height) / factor))
    c1 = min(coarse.width, math.ceil((region.col + region.width) / factor))
    return Window(r0, c0, max(r1 - r0, 1), max(c1 - c0, 1))


def fuse_max(fine_prob: Path, coarse_prob: Path, grid: Grid, prob_out: Path, mask_out: Path, threshold: float,
             column_ranges: list[tuple[int, int]], workdir: Path, on_rows: Callable[[float], None]) -> None:
    """The fine probabilities and the coarse ones (eroded, then bilinear on the fine grid) fused by their maximum
    where the fine pass saw the pixel; written as detection writes its own (probability, cut mask), block row by block
    row within each column range, so memory stays bounded whatever the scene."""
    eroded, on_fine = workdir / "coarse_eroded.tif", workdir / "coarse_on_fine.vrt"
    erode(coarse_prob, eroded)
    gdal.Warp(str(on_fine), str(eroded), format="VRT", outputBounds=grid.bounds, width=grid.width,
              height=grid.height, resampleAlg="bilinear", srcNodata=PROB_NODATA, dstNodata=PROB_NODATA)
    fine_ds, coarse_ds = gdal.Open(str(fine_prob)), gdal.Open(str(on_fine))
    fine_band, coarse_band = fine_ds.GetRasterBand(1), coarse_ds.GetRasterBand(1)
    writer = ProbabilityWriter(prob_out, mask_out, grid, threshold, [a for a, _ in column_ranges])
    finished = False
    try:
        done, total = 0, max(len(column_ranges) * math.ceil(grid.height / BLOCK), 1)
        for first, stop in column_ranges:
            for top in range(0, grid.height, BLOCK):
                rows = min(BLOCK, grid.height - top)
                fine = fine_band.ReadAsArray(first, top, stop - first, rows).astype(np.float32)
                coarse = coarse_band.ReadAsArray(first, top, stop - first, rows).astype(np.float32)
                covered = fine != PROB_NODATA
                values = np.where(covered & (coarse != PROB_NODATA), np.maximum(fine, coarse), fine)
                writer.put(Stripe(top, first, values, covered))
                done += 1
                on_rows(done / total)
        finished = True
    finally:
        fine_band = coarse_band = None
        fine_ds = coarse_ds = None
        writer.close(complete=finished)
    writer.build_deferred_overviews(prob_out)


def erode(prob: Path, out: Path) -> None:
    """`prob` with each pixel replaced by the minimum over its valid 3 x 3 neighbours (nodata stays nodata), in
    block rows with a row of margin on each side, so memory stays bounded by a stripe of the raster's width."""
    src = gdal.Open(str(prob))
    band = src.GetRasterBand(1)
    width, height = src.RasterXSize, src.RasterYSize
    dst = create_tiled(out, Grid(width, height, src.GetGeoTransform(), src.GetProjection()), gdal.GDT_Float32, [])
    out_band = dst.GetRasterBand(1)
    out_band.SetNoDataValue(PROB_NODATA)
    for top in range(0, height, BLOCK):
        r0, r1 = max(top - 1, 0), min(top + BLOCK + 1, height)
        block = band.ReadAsArray(0, r0, width, r1 - r0).astype(np.float32)
        missing = block == PROB_NODATA
        padded = np.pad(np.where(missing, np.inf, block), 1, mode="edge")
        low = padded[1:-1, 1:-1].copy()
        for dr in (0, 1, 2):
            for dc in (0, 1, 2):
                np.minimum(low, padded[dr:dr + block.shape[0], dc:dc + block.shape[1]], out=low)
        low[missing] = PROB_NODATA
        first = top - r0
        out_band.WriteArray(low[first:first + min(BLOCK, height - top)], 0, top)
    out_band = dst = band = src = None


__all__ = ["coarse_raster", "coarse_region", "erode", "fuse_max"]
