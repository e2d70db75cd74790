"""`lmhld detect`: landslide polygons (and probabilities) from a scene and a model."""

from __future__ import annotations

import argparse

from ..core.context import CONTEXT_MODES
from ..core.tta import TTA_MODES
from . import argtypes
from .paths import add_overwrite, declare_paths


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("detect", help="sliding-window detection over a scene, written as polygons",
                       description="Detect landslides over a whole scene with an ONNX model (or a .pt checkpoint).")
    p.add_argument("--model", required=True, help="model.onnx (from lmhld train / export-onnx) or a .pt checkpoint")
    p.add_argument("--raster", required=True, help="scene (any GDAL raster)")
    p.add_argument("--out", required=True, metavar="OUT.gpkg", type=argtypes.path_ending(".gpkg"),
                   help="landslide polygons (GeoPackage)")
    p.add_argument("--prob", metavar="PROB.tif", type=argtypes.path_ending(".tif", ".tiff"),
                   help="probability raster (tiled, compressed, with overviews)")
    add_detection_options(p)
    p.add_argument("--extent", type=argtypes.extent_text,
                   help="xmin,ymin,xmax,ymax in the raster's CRS, or in the CRS named after it in brackets: "
                        "'xmin,ymin,xmax,ymax [EPSG:4326]' (a leading minus is fine: --extent -75.1,-40.2,...)")
    p.add_argument("--aoi", help="polygons: nothing is detected outside them")
    p.add_argument("--aoi-layer", metavar="NAME", help="the area of interest's layer, in a file of several "
                                                       "(default: its first, with a note naming the others)")
    p.add_argument("--chunk-width", type=argtypes.non_negative_int, default=4096,
                   help="stream the scene in column chunks this wide, in pixels (4096; bounds memory; 0 = whole "
                        "width)")
    p.add_argument("--json", metavar="RESULT.json", help="write a summary (counts, provider, timings)")
    add_overwrite(p)
    p.set_defaults(run=run)
    # the polygons carry their style inside the GeoPackage; the probability raster has a .qml beside it
    declare_paths(p, inputs=("model", "raster", "aoi"), files=("out", "prob", "json"), styled=("prob",))


# detection's settings, shared with `lmhld evaluate` (a scene is scored on what a detection so set delivers), with
# the value each takes when not given (evaluate refuses them with --data unless they are left so)
DETECTION_DEFAULTS = {"overlap": None, "tile": None, "threshold": None, "min_area": None, "fill_holes": None,
                      "tta": "none", "context": "auto", "grow_threshold": None, "min_mean_prob": None,
                      "simplify": 0.0, "batch_size": 8, "provider": "auto", "bands": None, "resample": True}


def add_detection_options(p: argparse._ActionsContainer) -> None:
    """Detection's settings: windows, threshold, post-processing, test-time augmentation, bands, device."""
    p.add_argument("--overlap", type=argtypes.overlap_fraction,
                   help="window overlap as a fraction of the tile (default: the model's)")
    p.add_argument("--tile", type=argtypes.positive_int, help="window size in pixels (default: the model's patch size)")
    p.add_argument("--threshold", type=argtypes.probability, help="probability threshold (default: the model's)")
    p.add_argument("--min-area", type=argtypes.non_negative_float, metavar="M2",
                   help="drop polygons smaller than this (default: the model's minimum landslide area, else 0.1%% "
                        "of a tile and at least 2 pixels; 0 keeps every polygon)")
    p.add_argument("--fill-holes", type=argtypes.non_negative_float, metavar="M2",
                   help="fill holes smaller than this (default: the model's, else the minimum area; 0 fills none)")
    p.add_argument("--tta", nargs="?", const="d4", choices=TTA_MODES,
                   help="test-time augmentation: average the predictions over flips (4 per tile) or, with --tta "
                        "alone, flips and 90-degree rotations (d4: 8 per tile)")
    p.add_argument("--context", choices=CONTEXT_MODES,
                   help="coarse context pass: the scene also seen with pixels 2, 3 or 4 times larger, fused by the "
                        "maximum, so landslides larger than a tile are seen whole; auto (default): when the "
                        "model's training landslides are large for its tile; off: one pass")
    p.add_argument("--grow-threshold", type=argtypes.probability, metavar="P",
                   help="hysteresis: cut at this lower probability and keep only the regions that reach the "
                        "threshold (default: off)")
    p.add_argument("--min-mean-prob", type=argtypes.probability, metavar="P",
                   help="drop polygons whose mean probability is below P (default: midway between the "
                        "threshold and the scene's surest polygon; 0 keeps every polygon)")
    p.add_argument("--simplify", type=argtypes.non_negative_float, metavar="TOL",
                   help="simplification tolerance (CRS units; default 0: pixel outlines)")
    p.add_argument("--batch-size", type=argtypes.positive_int, help="windows per batch (8)")
    p.add_argument("--provider", choices=("auto", "cpu", "cuda"))
    p.add_argument("--bands", type=argtypes.band_list,
                   help="1-based raster bands in the model's input order (default: by name)")
    p.add_argument("--resample", action=argparse.BooleanOptionalAction,
                   help="run at the model's resolution when the scene's differs by more than 10%% (default: on)")
    p.set_defaults(**DETECTION_DEFAULTS)


def detection_options(args: argparse.Namespace, **extra):
    """The core's DetectOptions from add_detection_options' flags, with `extra` (extent, area of interest, ...)."""
    from ..core.bands import parse_band_list
    from ..core.detect import DetectOptions

    return DetectOptions(tile=args.tile, overlap=args.overlap, batch_size=args.batch_size,
                         threshold=args.threshold, min_area_m2=args.min_area, fill_holes_m2=args.fill_holes,
                         simplify=args.simplify, provider=args.provider, bands=parse_band_list(args.bands),
                         resample=args.resample, tta=args.tta, grow_threshold=args.grow_threshold,
                         context=args.context, min_mean_prob=args.min_mean_prob, **extra)


def run(args: argparse.Namespace) -> int:
    from ..core.detect import detect
    from ..core.extent import parse_extent
    from ..core.report import write_json
    from .progress import BarProgress

    extent, extent_crs = parse_extent(args.extent) if args.extent else (None, None)
    options = detection_options(args, extent=extent, extent_crs=extent_crs, aoi=args.aoi,
                                aoi_layer=args.aoi_layer, chunk_width=args.chunk_width)
    bar = BarProgress("detect")
    try:
        result = detect(args.raster, args.model, args.out, args.prob, options, progress=bar)
    finally:
        bar.close()
    if args.json:
        write_json(args.json, result.to_json())
    print(f"{result.n_polygons} landslide polygons -> {result.polygons}"
          + (f"; probabilities -> {result.probability}" if result.probability else ""))
    print(f"{result.n_windows} windows of {result.tile} px (stride {result.stride}) on {result.provider} "
          f"in {result.seconds:.1f} s; threshold {result.threshold}")
    print("open in QGIS: drag the .gpkg (and the .tif) onto the map; styles are stored with them")
    return 0
