"""`lmhld export`: training patches from rasters and an inventory (and the options `lmhld preview` shares)."""

from __future__ import annotations

import argparse
from typing import Any

from . import argtypes
from .argtypes import int_range, non_negative_int, overlap_fraction, positive_int, probability
from .paths import declare_paths


def _bands(text: str) -> object:
    from ..core.bands import parse_band_list

    return parse_band_list(text)


def add_parser(sub: Any) -> None:
    p = sub.add_parser("export", help="cut training patches (landslide, background, negatives) from rasters and an "
                                      "inventory",
                       description="Export a training dataset: the default recipe keeps the windows with >= 10% "
                                   "landslide pixels and each landslide's window, adds background windows, splits "
                                   "by spatial blocks and overlaps the training windows of a small dataset; --recipe "
                                   "paper is LMHLD sec. 2.3 (>= 10% landslide pixels, no overlap, per-patch balanced "
                                   "split).")
    add_plan_arguments(p)
    p.add_argument("--out", required=True, metavar="DIR", help="dataset folder to create")
    p.add_argument("--name", default="", help="area name (default: the folder name)")
    p.add_argument("--sensor", default="")
    p.add_argument("--date", default="")
    p.add_argument("--overwrite", action="store_true",
                   help="replace an output folder that lmhld wrote (refused otherwise)")
    p.set_defaults(run=run)
    declare_paths(p, inputs=("raster", "inventory", "patch_size_from", "negatives"), folders=("out",))


def add_plan_arguments(p: argparse.ArgumentParser) -> None:
    """The options that decide which windows a dataset holds (export and preview take the same)."""
    from ..core.export_options import DEFAULT_RECIPE, RECIPES
    from ..core.splits import SPLIT_METHODS

    p.add_argument("--raster", action="append", required=True, metavar="R", help="raster (repeat for several)")
    p.add_argument("--inventory", required=True, metavar="V", help="landslide polygons (any OGR file)")
    p.add_argument("--layer", help="inventory layer name (default: the first)")
    size = p.add_mutually_exclusive_group(required=True)
    size.add_argument("--patch-size", type=int_range(8), metavar="N")
    size.add_argument("--patch-size-from", metavar="REPORT.json",
                      help="use the patch size `lmhld analyse` recommended (see --quartile)")
    p.add_argument("--quartile", default="q2", choices=("q1", "q2", "q3"), help="with --patch-size-from (q2)")
    p.add_argument("--recipe", choices=tuple(RECIPES), default=DEFAULT_RECIPE,
                   help="; ".join(f"{r.name}: {r.summary}" for r in RECIPES.values()).replace("%", "%%")
                   + f" ({DEFAULT_RECIPE})")
    p.add_argument("--stride", type=positive_int, metavar="N",
                   help="step between training windows, at most the patch size (validation and test windows never "
                        "overlap); default: the recipe's (generalise: half the patch size while the training split "
                        "holds fewer than 100 patches, else the patch size; paper: the patch size)")
    p.add_argument("--min-fraction", type=probability, metavar="F",
                   help="smallest landslide share of a landslide patch (0.1)")
    p.add_argument("--every-landslide", action=argparse.BooleanOptionalAction, default=None,
                   help="also keep, below the minimum fraction, the window holding a point of each landslide "
                        "(generalise: yes, paper: no)")
    p.add_argument("--background-share", type=overlap_fraction, metavar="F",
                   help="share of patches without landslide pixels among the landslide and background patches "
                        "(negatives come on top), in [0, 1) (generalise: 0.2, paper: 0)")
    p.add_argument("--lookalike-share", type=probability, metavar="F",
                   help="of those background patches, the share chosen as the most landslide-like (bare soil, "
                        "sediment, fields, tracks) instead of at random, in [0, 1] (generalise: 0.5)")
    p.add_argument("--negatives", metavar="FILE",
                   help="polygons of rejected detections / known false positives: a patch centred on each joins "
                        "the dataset")
    p.add_argument("--negatives-layer", metavar="L", help="layer of --negatives (default: the first)")
    p.add_argument("--bands", type=argtypes.checked_by(_bands, "band list"),
                   help="1-based bands in order, e.g. 3,2,1,4 (default: blue,green,red,nir by name, else the first "
                        "four)")
    p.add_argument("--split", default="0.7,0.2,0.1",
                   type=argtypes.split_ratios,
                   help="train,val,test ratios (0.7,0.2,0.1)")
    p.add_argument("--split-method", choices=SPLIT_METHODS,
                   help="block: whole spatial blocks, no neighbour leakage (generalise); balanced: per patch, as the "
                        "paper (its validation is optimistic: the export says by how much)")
    p.add_argument("--block", type=positive_int, default=4,
                   help="block side in patches for the block split (4; halved while a split does not fit)")
    p.add_argument("--tolerance", type=probability, default=0.01,
                   help="largest allowed difference of landslide proportions between splits (0.01)")
    p.add_argument("--seed", type=non_negative_int, default=0)


def options_from_args(args: argparse.Namespace) -> Any:  # -> core.export_options.ExportOptions
    """ExportOptions from the plan arguments (and export's own, when present)."""
    from ..core.bands import parse_band_list
    from ..core.export import patch_size_from_report
    from ..core.export_options import ExportOptions
    from ..core.splits import parse_ratios

    size = args.patch_size if args.patch_size is not None else patch_size_from_report(args.patch_size_from,
                                                                                      args.quartile)
    return ExportOptions(
        patch_size=size, recipe=args.recipe, stride=args.stride, bands=parse_band_list(args.bands),
        min_fraction=args.min_fraction, every_landslide=args.every_landslide,
        background_share=args.background_share, lookalike_share=args.lookalike_share, negatives=args.negatives,
        negatives_layer=args.negatives_layer, split=parse_ratios(args.split), split_method=args.split_method,
        block=args.block, tolerance=args.tolerance, seed=args.seed, name=getattr(args, "name", ""),
        sensor=getattr(args, "sensor", ""), date=getattr(args, "date", ""),
        overwrite=getattr(args, "overwrite", False))


def run(args: argparse.Namespace) -> int:
    from ..core.export import export_patches
    from ..core.inventory import area_text
    from ..core.patch_windows import describe_dropped, describe_kept
    from .progress import BarProgress

    options = options_from_args(args)
    bar = BarProgress("export")
    try:
        report = export_patches(args.raster, args.inventory, args.out, options, layer=args.layer, progress=bar)
    finally:
        bar.close()
    card = report.card
    print("exported " + describe_kept(card["counts"], card["counts_by_kind"], card["landslide_proportion"],
                                      detail=f" of {card['patch_size']} px ({card['recipe']['recipe']} recipe)"))
    print(f"dropped windows: {describe_dropped(card['dropped'])}")
    print(f"smallest landslide worth reporting: {area_text(card['min_landslide_area_m2'])} m2 "
          f"({card['min_landslide_area_rule']})")
    print(f"dataset: {report.out_dir} (open patches.gpkg in QGIS to inspect the footprints)")
    return 0
