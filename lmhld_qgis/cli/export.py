"""`lmhld export`: training patches from rasters and an inventory."""

from __future__ import annotations

import argparse

from . import argtypes
from .paths import declare_paths


def _ratios(text: str) -> object:
    from ..core.splits import parse_ratios

    return parse_ratios(text)


def _bands(text: str) -> object:
    from ..core.bands import parse_band_list

    return parse_band_list(text)


def add_parser(sub) -> None:
    p = sub.add_parser("export", help="cut filtered, balanced training patches from rasters and an inventory",
                       description="Export a training dataset (LMHLD sec. 2.3): patches with >= MIN_FRACTION "
                                   "landslide pixels and no nodata or image boundary, split train/val/test.")
    p.add_argument("--raster", action="append", required=True, metavar="R", help="raster (repeat for several)")
    p.add_argument("--inventory", required=True, metavar="V", help="landslide polygons (any OGR file)")
    p.add_argument("--layer", help="inventory layer name (default: the first)")
    size = p.add_mutually_exclusive_group(required=True)
    size.add_argument("--patch-size", type=argtypes.int_range(8), metavar="N")
    size.add_argument("--patch-size-from", metavar="REPORT.json",
                      help="use the patch size `lmhld analyse` recommended (see --quartile)")
    p.add_argument("--quartile", default="q2", choices=("q1", "q2", "q3"), help="with --patch-size-from (q2)")
    p.add_argument("--stride", type=argtypes.positive_int, help="window step (default: the patch size, no overlap)")
    p.add_argument("--out", required=True, metavar="DIR", help="dataset folder to create")
    p.add_argument("--bands", type=argtypes.checked_by(_bands, "band list"),
                   help="1-based bands in order, e.g. 3,2,1,4 (default: blue,green,red,nir by name, "
                        "else the first four)")
    p.add_argument("--min-fraction", type=argtypes.probability, default=0.10,
                   help="minimum landslide fraction of a patch (0.1)")
    p.add_argument("--split", default="0.7,0.2,0.1",
                   type=argtypes.checked_by(_ratios, "three ratios such as 0.7,0.2,0.1"),
                   help="train,val,test ratios (0.7,0.2,0.1)")
    p.add_argument("--split-method", choices=("balanced", "block"), default="balanced",
                   help="balanced: per patch, as the paper; block: whole spatial blocks, no neighbour leakage")
    p.add_argument("--block", type=argtypes.positive_int, default=4,
                   help="block side in patches for --split-method block (4)")
    p.add_argument("--tolerance", type=argtypes.probability, default=0.01,
                   help="largest allowed difference of landslide proportions between splits (0.01)")
    p.add_argument("--seed", type=argtypes.non_negative_int, default=0)
    p.add_argument("--name", default="", help="area name (default: the folder name)")
    p.add_argument("--sensor", default="")
    p.add_argument("--date", default="")
    p.add_argument("--overwrite", action="store_true",
                   help="replace an output folder that lmhld wrote (refused otherwise)")
    p.set_defaults(run=run)
    declare_paths(p, inputs=("raster", "inventory", "patch_size_from"), folders=("out",))


def run(args: argparse.Namespace) -> int:
    from ..core.bands import parse_band_list
    from ..core.export import ExportOptions, export_patches, patch_size_from_report
    from ..core.splits import parse_ratios
    from .progress import BarProgress

    size = args.patch_size if args.patch_size is not None else patch_size_from_report(args.patch_size_from,
                                                                                     args.quartile)
    options = ExportOptions(patch_size=size, stride=args.stride, bands=parse_band_list(args.bands),
                            min_fraction=args.min_fraction, split=parse_ratios(args.split),
                            split_method=args.split_method, block=args.block, tolerance=args.tolerance,
                            seed=args.seed, name=args.name, sensor=args.sensor, date=args.date,
                            overwrite=args.overwrite)
    bar = BarProgress("export")
    try:
        report = export_patches(args.raster, args.inventory, args.out, options, layer=args.layer, progress=bar)
    finally:
        bar.close()
    card = report.card
    props = ", ".join(f"{k} {v:.4f}" for k, v in card["landslide_proportion"].items())
    print(f"{sum(card['counts'].values())} patches of {size} px: {card['counts']}; landslide proportion {props}")
    print(f"dropped: {card['dropped']}")
    print(f"dataset: {report.out_dir} (open patches.gpkg in QGIS to inspect the footprints)")
    return 0
