"""`lmhld preview`: the windows export would cut, kept or dropped and why, as a styled GeoPackage (no patch
written)."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from . import argtypes
from .export import add_plan_arguments, options_from_args
from .paths import add_overwrite, declare_paths


def add_parser(sub: Any) -> None:
    p = sub.add_parser("preview", help="the windows export would cut (kept/dropped and why, split) as a layer",
                       description="Plan an export without writing any patch: every window considered, with its "
                                   "status, the reason it was dropped, its landslide fraction, kind and split, as a "
                                   "GeoPackage styled by split. Takes export's options.")
    add_plan_arguments(p)
    p.add_argument("--out", required=True, metavar="PREVIEW.gpkg", type=argtypes.path_ending(".gpkg"),
                   help="GeoPackage to write")
    add_overwrite(p)
    p.set_defaults(run=run)
    declare_paths(p, inputs=("raster", "inventory", "patch_size_from", "negatives"), files=("out",))


def run(args: argparse.Namespace) -> int:
    from ..core.export import plan_patches
    from ..core.patch_layer import write_preview
    from .progress import BarProgress

    out = args.out
    options = options_from_args(args)
    bar = BarProgress("preview")
    try:
        plan = plan_patches(args.raster, args.inventory, options, layer=args.layer, progress=bar, refuse_few=False)
    finally:
        bar.close()
    write_preview(out, plan)
    # what would be kept and dropped was logged by plan_patches: not said twice
    print(f"preview: {out}, {len(plan.windows)} windows of {plan.settings.patch_size} px (styled by split; open it "
          "in QGIS)")
    if plan.refusal:  # a finding, as validate's: the preview is written to show why
        print(f"lmhld preview: export would refuse this: {plan.refusal}. The preview shows every window and why it "
              "was dropped", file=sys.stderr)
        return 1
    return 0
