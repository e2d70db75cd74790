"""`lmhld split`: a folder of patches as released (CAS, image/mask folders, Landslide4Sense) divided into train,
val and test, so that training, evaluation and experiments have a test split training never saw."""

from __future__ import annotations

import argparse

from . import argtypes
from .argtypes import non_negative_int, probability
from .paths import add_overwrite, declare_paths


def add_parser(sub) -> None:
    p = sub.add_parser("split", help="divide a folder of patches (CAS, Landslide4Sense) into train, val and test",
                       description="Divide a folder of patches as released (a CAS sub-dataset's img/ + mask/, "
                                   "images/ + masks/, a flat Landslide4Sense folder) into train, val and test with "
                                   "the paper's split: landslide-pixel proportions agree within the tolerance. "
                                   "The new folder holds hard links to the source's files (copies where the file "
                                   "system cannot link) and split.csv; the source is not changed.")
    p.add_argument("folder", metavar="FOLDER", help="the folder of patches")
    p.add_argument("--out", required=True, metavar="OUT", help="the split folder to write")
    p.add_argument("--split", default="0.7,0.2,0.1",
                   type=argtypes.split_ratios,
                   help="train,val,test ratios (0.7,0.2,0.1)")
    p.add_argument("--tolerance", type=probability, default=0.01,
                   help="largest difference in landslide-pixel proportion between splits, a fraction (0.01: the "
                        "paper's 1 point)")
    p.add_argument("--seed", type=non_negative_int, default=0)
    add_overwrite(p, "an existing split folder that lmhld wrote")
    p.set_defaults(run=run)
    declare_paths(p, inputs=("folder",), folders=("out",), said={"folder": "patch folder"})


def run(args: argparse.Namespace) -> int:
    from ..core.split_folder import split_folder
    from ..core.splits import parse_ratios
    from .progress import BarProgress

    bar = BarProgress("split")
    try:
        result = split_folder(args.folder, args.out, ratios=parse_ratios(args.split), tolerance=args.tolerance,
                              seed=args.seed, overwrite=args.overwrite, progress=bar)
    finally:
        bar.close()
    print(result.describe())
    return 0
