"""`lmhld rank`: the windows where the model is least sure, to label next."""

from __future__ import annotations

import argparse

from .argtypes import int_range, non_negative_int, positive_int, probability
from .paths import add_overwrite, declare_paths


def add_parser(sub) -> None:
    p = sub.add_parser("rank", help="windows of a probability raster ranked by model uncertainty",
                       description="Rank windows of a probability raster (from lmhld detect) by the share of "
                                   "pixels near the threshold and their mean binary entropy; write the top N as "
                                   "a polygon layer: label those next.")
    p.add_argument("prob", metavar="PROB.tif", help="probability raster (lmhld detect --prob)")
    p.add_argument("--out", required=True, metavar="OUT.gpkg", help="the ranked windows (GeoPackage)")
    p.add_argument("--window", type=int_range(2), default=128, help="window side in pixels (128)")
    p.add_argument("--stride", type=positive_int, help="step between windows in pixels (default: the window)")
    p.add_argument("--threshold", type=probability, default=None,
                   help="the model's threshold (default: the one detection recorded in the raster, else 0.5)")
    p.add_argument("--margin", type=probability, default=0.1,
                   help="a pixel within this of the threshold counts as uncertain (0.1)")
    p.add_argument("--top", type=positive_int, default=20, help="how many windows to write (20)")
    p.add_argument("--score", choices=("combined", "near", "entropy"), default="combined",
                   help="rank by the mean of both measures (default), or by one")
    p.add_argument("--min-valid", type=probability, default=0.5,
                   help="skip windows with a smaller share of valid (non-nodata) pixels (0.5)")
    p.add_argument("--chunk-width", type=non_negative_int, default=4096,
                   help="columns read at once (bounds memory; 0 = the whole width)")
    add_overwrite(p)
    p.set_defaults(run=run)
    declare_paths(p, inputs=("prob",), files=("out",), said={"prob": "probability raster"})


def run(args: argparse.Namespace) -> int:
    from ..core.rank import RankOptions, rank_tiles
    from .progress import BarProgress

    options = RankOptions(window=args.window, stride=args.stride, threshold=args.threshold, margin=args.margin,
                          top=args.top, score=args.score, min_valid=args.min_valid,
                          chunk_width=args.chunk_width or 1 << 30)
    bar = BarProgress("rank")
    try:
        result = rank_tiles(args.prob, args.out, options, progress=bar)
    finally:
        bar.close()
    print(f"{result.n_windows} windows scored; the {len(result.tiles)} most uncertain -> {result.path}")
    for t in result.tiles[:10]:
        print(f"  #{t.rank}: row {t.row}, col {t.col}: score {t.score:.3f} (near threshold {t.near_share:.1%}, "
              f"entropy {t.entropy:.3f}, mean probability {t.mean_prob:.3f})")
    return 0
