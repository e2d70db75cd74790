"""`lmhld export-onnx`: a checkpoint to a self-contained ONNX file with its metadata."""

from __future__ import annotations

import argparse
import math
from typing import Any

from . import argtypes
from .paths import add_overwrite, declare_paths


def _nodata(text: str) -> float | None:
    """A finite number, or none (only non-finite values then count as missing)."""
    if text.strip().lower() == "none":
        return None
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number or none, got {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected a finite number or none, got {text!r} (NaN and infinite values "
                                         "always count as missing)")
    return value


_nodata.__name__ = "number or none"


def add_parser(sub: Any) -> None:
    p = sub.add_parser("export-onnx", help="export a checkpoint (.pt) to ONNX with embedded metadata",
                       description="Export a training checkpoint to one ONNX file (model card embedded) that "
                                   "`lmhld detect`, QGIS Processing and the Deepness plugin run as it is. By default "
                                   "the file takes raw pixel values (standardisation and nodata inside the model) "
                                   "and declares its input as N x bands x P x P, P the training patch size; "
                                   "`lmhld detect` still runs it at any multiple of the network's stride.")
    p.add_argument("checkpoint", help="checkpoint written by lmhld train (best.pt / last.pt)")
    p.add_argument("--out", required=True, metavar="MODEL.onnx", type=argtypes.path_ending(".onnx"))
    p.add_argument("--output", choices=("probability", "logits"), default="probability",
                   help="what the graph returns (default: probability, as detection and Deepness expect; a logits "
                        "file carries no Deepness keys)")
    p.add_argument("--input", choices=("raw", "standardized"), default="raw",
                   help="raw: the model standardises raw pixel values itself and treats missing pixels as the "
                        "band mean (default; any ONNX client gets our result); standardized: the caller feeds "
                        "(x - mean) / std")
    p.add_argument("--nodata", type=_nodata, default=argparse.SUPPRESS, metavar="VALUE|none",
                   help="pixel value the model treats as missing (in any band), besides NaN; default: the "
                        "training rasters' nodata recorded in the checkpoint")
    shape = p.add_mutually_exclusive_group()
    shape.add_argument("--any-size-input", action="store_true",
                       help="declare height and width symbolic (for clients that take any size; Deepness cannot "
                            "load such a file)")
    shape.add_argument("--static", action="store_true",
                       help="export the graph at the patch size only (lmhld detect then tiles at that size too)")
    add_overwrite(p)
    p.add_argument("--progress-json", action="store_true", help="machine-readable result on stdout (for QGIS)")
    p.set_defaults(run=run)
    declare_paths(p, inputs=("checkpoint",), files=("out",))


def run(args: argparse.Namespace) -> int:
    from ..training.checkpoint import model_from_checkpoint
    from ..training.onnx_export import export_onnx

    model, card = model_from_checkpoint(args.checkpoint)
    if "nodata" in args:
        card.nodata = args.nodata
    out = export_onnx(model, card, args.out, output=args.output, dynamic=not args.static, input=args.input,
                      fixed_input=not args.any_size_input)
    lines = [f"{out}: {card.architecture}, {card.in_channels} bands ({', '.join(map(str, card.bands))}), "
             f"output {card.output}", *(f"  {field}: {value}" for field, value in card.usage_rows())]
    if args.progress_json:  # QGIS's Export a training checkpoint reads these
        import json

        for line in lines:
            print(json.dumps({"event": "info", "message": line.strip()}))
        print(json.dumps({"event": "done", "onnx": str(out)}))
    else:
        print("\n".join(lines))
    return 0
