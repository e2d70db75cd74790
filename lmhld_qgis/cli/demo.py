"""`lmhld demo`: every stage on a generated sample, on the CPU, in a few minutes."""

from __future__ import annotations

import argparse

from . import argtypes
from .paths import add_overwrite, declare_paths


def add_parser(sub) -> None:
    p = sub.add_parser("demo", help="first run: generate a sample and run every stage on it",
                       description="Generate a synthetic scene and inventory (not real data), then analyse, export, "
                                   "train briefly and detect, and say where each output is.")
    p.add_argument("--out", default="demo_out", help="folder to create (demo_out)")
    from ..models.registry import BASELINE_NAMES, UNET_NAMES

    p.add_argument("--epochs", type=argtypes.int_range(1, 1000), default=6, help="training epochs (6)")
    p.add_argument("--model", default="unet", choices=(*UNET_NAMES, *BASELINE_NAMES))
    p.add_argument("--width", type=argtypes.int_range(1, 512), default=16,
                   help="network base width (16 keeps the CPU run short)")
    add_overwrite(p, "an output folder that an earlier demo wrote")
    p.set_defaults(run=run)
    declare_paths(p, folders=("out",))


def run(args: argparse.Namespace) -> int:

    from ..workflows.demo import demo_summary, run_demo
    from .progress import BarProgress

    bar = BarProgress("demo")
    try:
        result = run_demo(args.out, epochs=args.epochs, model=args.model, width=args.width, progress=bar,
                          overwrite=args.overwrite)
    finally:
        bar.close()
    print(demo_summary(result))
    return 0
