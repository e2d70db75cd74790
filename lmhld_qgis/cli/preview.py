"""`lmhld preview`: the windows export would cut, kept or dropped and why, as a styled GeoPackage (no patch
written)."""

from __future__ import annotations

import argparse
from typing import Any

from .export import add_plan_arguments, options_from_args


def add_parser(sub: Any) -> None:
    p = sub.add_parser("preview", help="the windows export would cut (kept/dropped and why, split) as a layer",
                       description="Plan an export without writing any patch: every window considered, with its "
                                   "status, the reason it was dropped, its landslide fraction, kind and split, as a "
                                   "GeoPackage styled by split. Takes export's options.")
    add_plan_arguments(p)
    p.add_argument("--out", required=True, metavar="PREVIEW.gpkg", help="GeoPackage to write")
    p.add_argument("--overwrite", action="store_true", help="replace an existing file")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from ..core.errors import LmhldError
    from ..core.export import plan_patches
    from ..core.patch_layer import write_preview
    from .progress import BarProgress

    out = Path(args.out)
    if out.suffix.lower() != ".gpkg":
        raise LmhldError(f"--out must be a GeoPackage (.gpkg), got {out.name}")
    inputs = [*args.raster, args.inventory, *([args.negatives] if args.negatives else [])]
    if any(Path(p).resolve() == out.resolve() for p in inputs):
        raise LmhldError(f"--out {out} is one of the inputs; choose another file")
    if out.exists() and not args.overwrite:
        raise LmhldError(f"{out} exists; choose another name or pass --overwrite")
    options = options_from_args(args)
    bar = BarProgress("preview")
    try:
        plan = plan_patches(args.raster, args.inventory, options, layer=args.layer, progress=bar)
    finally:
        bar.close()
    write_preview(out, plan)
    print(f"{len(plan.windows)} windows of {plan.settings.patch_size} px: kept {plan.counts()} by kind "
          f"{plan.counts_by_kind()}; dropped {plan.dropped()}")
    print(f"preview: {out} (styled by split; open it in QGIS)")
    return 0
