"""`lmhld export-onnx`: a checkpoint to a self-contained ONNX file with its metadata."""

from __future__ import annotations

import argparse

from . import argtypes
from .paths import add_overwrite, declare_paths


def add_parser(sub) -> None:
    p = sub.add_parser("export-onnx", help="export a checkpoint (.pt) to ONNX with embedded metadata",
                       description="Export a training checkpoint to one ONNX file (dynamic batch/height/width, "
                                   "model card embedded) that `lmhld detect`, QGIS and Deepness can run.")
    p.add_argument("checkpoint", help="checkpoint written by lmhld train (best.pt / last.pt)")
    p.add_argument("--out", required=True, metavar="MODEL.onnx", type=argtypes.path_ending(".onnx"))
    p.add_argument("--output", choices=("probability", "logits"), default="probability",
                   help="what the graph returns (default: probability, as detection and Deepness expect)")
    p.add_argument("--static", action="store_true", help="fixed input size (the card's patch size)")
    add_overwrite(p)
    p.set_defaults(run=run)
    declare_paths(p, inputs=("checkpoint",), files=("out",))


def run(args: argparse.Namespace) -> int:
    from ..training.checkpoint import model_from_checkpoint
    from ..training.onnx_export import export_onnx

    model, card = model_from_checkpoint(args.checkpoint)
    out = export_onnx(model, card, args.out, output=args.output, dynamic=not args.static)
    size = "dynamic size (multiples of 16)" if card.dynamic_size else f"fixed {card.patch_size}x{card.patch_size}"
    print(f"{out}: {card.architecture}, {card.in_channels} bands {card.bands}, {size}, output {card.output}")
    return 0
