"""`lmhld stack`: an orthophoto and a surface model (any rasters of one place) as one multi-band GeoTIFF."""

from __future__ import annotations

import argparse

from .argtypes import positive_float
from .paths import add_overwrite, declare_paths


def add_parser(sub) -> None:
    p = sub.add_parser("stack", help="rasters of one place (orthophoto + DSM) as one multi-band GeoTIFF",
                       description="Stack rasters onto the first one's grid (or its extent at --pixel-size): every "
                                   "band except alpha bands, which mask their own raster's bands; other rasters are "
                                   "warped onto the grid (bilinear, or averaged when their pixels are finer); a "
                                   "pixel one raster lacks is nodata (NaN) in its bands only. Bands keep their "
                                   "names or colours; a single-band raster is named by its file (site_dsm.tif -> "
                                   "dsm, which training treats as elevation). One raster alone "
                                   "(an RGBA orthophoto) becomes a named scene whose alpha is nodata.")
    p.add_argument("--raster", action="append", required=True, metavar="R",
                   help="a raster, repeated in band order; the first gives the grid (e.g. the orthophoto)")
    p.add_argument("--out", required=True, metavar="OUT.tif", help="the stacked GeoTIFF (float32)")
    p.add_argument("--pixel-size", type=positive_float,
                   help="the grid's pixel in the first raster's CRS units (default: the first raster's own)")
    p.add_argument("--names", help="comma-separated band names, one per stacked band (default: found)")
    add_overwrite(p)
    declare_paths(p, inputs=("raster",), files=("out",), styled=("out",))
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from ..core.stack import stack_rasters
    from .progress import BarProgress

    names = [n.strip() for n in args.names.split(",")] if args.names else None
    bar = BarProgress("stack")
    try:
        result = stack_rasters(args.raster, args.out, names=names, pixel_size=args.pixel_size, progress=bar)
    finally:
        bar.close()
    print(f"{len(result.bands)} bands, {result.width} x {result.height} px of {result.pixel_size:g} -> {result.path}")
    for i, band in enumerate(result.bands, start=1):
        print(f"  band {i}: {band.name} ({band.source.name} band {band.band}{f', {band.how}' if band.how else ''})")
    for source, band in result.masks:
        print(f"  mask: {source.name} band {band} (alpha: nodata where 0, in {source.name}'s bands)")
    return 0
