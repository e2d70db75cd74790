"""`lmhld evaluate`: a model on a dataset split, or over a whole scene against its inventory."""

from __future__ import annotations

import argparse

from . import argtypes
from .detect import DETECTION_DEFAULTS, add_detection_options, detection_options
from .paths import add_overwrite, declare_paths


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("evaluate", help="precision, recall, F1, IoU, mIoU, OA on a split or a whole scene",
                       description="Evaluate a model: on dataset splits (pixel metrics micro-averaged over all test "
                                   "pixels, per area) or over a whole scene (detect + compare with the inventory, "
                                   "error map, object-level figures). Or score polygons already delivered "
                                   "(--detections, reviewed or edited since) against an inventory, without the "
                                   "model.")
    p.add_argument("--model", help="model.onnx or a .pt checkpoint")
    p.add_argument("--data", action="append", help="dataset folder (repeat for several areas)")
    p.add_argument("--split", default="test", choices=("train", "val", "test"), help="split to evaluate (test)")
    p.add_argument("--raster", help="a whole scene instead of a dataset")
    p.add_argument("--inventory", help="the scene's landslide polygons")
    p.add_argument("--layer", help="scene mode: the inventory's layer inside its file (default: the first)")
    p.add_argument("--detections", metavar="DET.gpkg",
                   help="instead of --model: polygons already delivered (a detection's, reviewed or edited since; "
                        "those a review rejected are left out), scored against --inventory on the grid of ...")
    p.add_argument("--prob", metavar="PROB.tif",
                   help="... the probability raster detection wrote beside them (its valid pixels are scored)")
    p.add_argument("--error-map", metavar="E.tif", type=argtypes.path_ending(".tif", ".tiff"),
                   help="scene mode: TP/FP/FN/TN raster (styled)")
    p.add_argument("--polygons", metavar="OUT.gpkg", type=argtypes.path_ending(".gpkg"),
                   help="scene mode: keep the detected polygons")
    p.add_argument("--match", type=argtypes.float_range(0.0, 1.0, low_open=True), default=0.5,
                   help="object match: the share of an object's area the other side must cover (0.5)")
    group = p.add_argument_group(
        "detection (scene mode: the polygons scored are those `lmhld detect` delivers with these settings; with "
        "--data only --threshold and --provider apply)")
    add_detection_options(group)
    p.add_argument("--json", metavar="OUT.json",
                   help="keep every figure (per area, objects, settings) as JSON; the summary is printed either way")
    add_overwrite(p)
    p.set_defaults(run=run)
    declare_paths(p, inputs=("model", "data", "raster", "inventory", "detections", "prob"),
                  files=("json", "polygons", "error_map"),
                  styled=("error_map",))


def run(args: argparse.Namespace) -> int:
    from ..core.errors import LmhldError
    from ..core.evaluate import evaluate_dataset, evaluate_scene
    from ..core.report import write_json
    from .progress import BarProgress

    if args.detections or args.prob:
        return _score_detections(args)
    if not args.model:
        raise LmhldError("give --model (with --data, or --raster and --inventory), or --detections with --prob "
                         "and --inventory to score polygons already delivered")
    if bool(args.data) == bool(args.raster):
        raise LmhldError("give either --data (dataset splits) or --raster with --inventory (a whole scene)")
    scene_only = [flag for flag, value in (("--inventory", args.inventory), ("--layer", args.layer),
                                           ("--error-map", args.error_map), ("--polygons", args.polygons))
                  if value is not None]
    scene_only += _detection_options_given(args, but=("threshold", "provider"))
    if args.data and scene_only:
        verb = "belongs" if len(scene_only) == 1 else "belong"
        raise LmhldError(f"{', '.join(scene_only)} {verb} to a whole scene (--raster with --inventory); a dataset "
                         "split is scored on its patches' own masks: leave them out, or evaluate the scene")
    bar = BarProgress("evaluate")
    try:
        if args.data:
            result = evaluate_dataset(args.model, args.data, args.split, threshold=args.threshold,
                                      provider=args.provider, match=args.match, progress=bar)
            if args.json:
                write_json(args.json, result)
        else:
            if not args.inventory:
                raise LmhldError("--raster needs --inventory (the scene's landslide polygons)")
            result = evaluate_scene(args.model, args.raster, args.inventory, layer=args.layer, error_map=args.error_map,
                                    json_out=args.json, polygons_out=args.polygons, match=args.match,
                                    options=detection_options(args),
                                    progress=bar)
    finally:
        bar.close()
    _print(args, result)
    return 0


def _score_detections(args: argparse.Namespace) -> int:
    """--detections: polygons already delivered, against --inventory on --prob's grid."""
    from ..core.errors import LmhldError
    from ..core.evaluate import evaluate_detections
    from .progress import BarProgress

    missing = [flag for flag, value in (("--prob", args.prob), ("--inventory", args.inventory),
                                        ("--detections", args.detections)) if not value]
    if missing:
        raise LmhldError(f"scoring delivered polygons needs --detections, --prob and --inventory: give "
                         f"{', '.join(missing)}")
    others = [flag for flag, value in (("--model", args.model), ("--data", args.data), ("--raster", args.raster),
                                       ("--polygons", args.polygons)) if value]
    others += _detection_options_given(args)
    if others:
        raise LmhldError(f"{', '.join(others)} belong to evaluating a model; --detections scores the polygons "
                         "given, as they are: leave them out")
    bar = BarProgress("evaluate")
    try:
        result = evaluate_detections(args.detections, args.prob, args.inventory, layer=args.layer,
                                     error_map=args.error_map, json_out=args.json, match=args.match, progress=bar)
    finally:
        bar.close()
    _print(args, result)
    return 0


def _detection_options_given(args: argparse.Namespace, but: tuple[str, ...] = ()) -> list[str]:
    """The detection options set away from their defaults, as flags (those in `but` apart)."""
    return ["--" + name.replace("_", "-") for name, default in DETECTION_DEFAULTS.items()
            if name not in but and getattr(args, name) != default]


def _print(args: argparse.Namespace, result: dict) -> None:
    print("  ".join(f"{k} {result[k]:.4f}" for k in ("precision", "recall", "f1", "iou", "miou", "oa",
                                                        "f1_mean_2class")))
    print(f"objects: {result['inventory_detected']:.1%} of {result['n_inventory']} inventory landslides detected, "
          f"{result['detected_correct']:.1%} of {result['n_detected']} detections match a landslide "
          f"(object F1 {result['object_f1']:.4f})")
    if "raw" in result:
        raw = result["raw"]
        cut = f"P {raw['precision']:.4f} R {raw['recall']:.4f} F1 {raw['f1']:.4f}"
        if "dropped" in result:
            print(f"before post-processing (probability >= {result['threshold']:g}): {cut}; dropped "
                  f"{result['dropped'] or 'nothing'}")
        else:  # delivered polygons: the probability raster they came with
            print(f"the probability raster cut at {result['threshold']:g}: {cut}")
    for area, s in result.get("per_area", {}).items():
        print(f"  {area}: P {s['precision']:.4f} R {s['recall']:.4f} F1 {s['f1']:.4f} IoU {s['iou']:.4f} "
              f"objects found {s['inventory_detected']:.1%} correct {s['detected_correct']:.1%}"
              + (f" (detected regions < {n} px left out)" if (n := s.get("object_min_pixels", 0)) > 1 else ""))
    written = [f"report {args.json}"] * bool(args.json) + [f"error map {args.error_map}"] * bool(args.error_map)
    if written:
        print("written: " + ", ".join(written))
