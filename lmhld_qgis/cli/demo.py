"""`lmhld demo`: every stage on a generated sample, on the CPU, in a few minutes."""

from __future__ import annotations

import argparse


def add_parser(sub) -> None:
    p = sub.add_parser("demo", help="first run: generate a sample and run every stage on it",
                       description="Generate a synthetic scene and inventory (not real data), then analyse, export, "
                                   "train briefly and detect, and say where each output is.")
    p.add_argument("--out", default="demo_out", help="folder to create (demo_out)")
    p.add_argument("--epochs", type=int, default=6)
    p.add_argument("--model", default="unet")
    p.add_argument("--width", type=int, default=16, help="network base width (16 keeps the CPU run short)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:

    from ..core.demo import demo_summary, run_demo
    from .progress import BarProgress

    bar = BarProgress("demo")
    try:
        result = run_demo(args.out, epochs=args.epochs, model=args.model, width=args.width, progress=bar)
    finally:
        bar.close()
    print(demo_summary(result))
    return 0
