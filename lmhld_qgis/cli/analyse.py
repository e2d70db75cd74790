"""`lmhld analyse`: inventory statistics and patch sizes."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from . import argtypes
from .paths import add_overwrite, declare_paths


def _candidates(text: str) -> object:
    from ..core.inventory import parse_candidates

    return parse_candidates(text)


def add_parser(sub: Any) -> None:
    p = sub.add_parser("analyse", help="landslide areas in pixels, quartiles and recommended patch sizes",
                       description="Analyse a landslide inventory (LMHLD paper sec. 2.3 / 4.1).")
    p.add_argument("inventory", help="polygon inventory (any OGR-readable file)")
    p.add_argument("--layer", help="layer name inside the file (default: the first)")
    px = p.add_mutually_exclusive_group(required=True)
    px.add_argument("--raster", action="append", metavar="R",
                    help="reference raster: its CRS and resolution give the pixel size (repeat for several scenes: "
                         "each landslide is measured in pixels of the raster holding most of it)")
    px.add_argument("--pixel-size", type=argtypes.float_range(0.001, 10_000.0), metavar="METRES",
                    help="pixel size in metres")
    p.add_argument("--fraction", type=argtypes.float_range(0.0, 1.0, low_open=True, high_open=True), default=0.10,
                   help="target landslide fraction of a patch (0.1)")
    p.add_argument("--candidates", default="32,64,128,224,256",
                   type=argtypes.checked_by(_candidates, "patch sizes"),
                                            help="candidate patch sizes (32,64,128,224,256)")
    p.add_argument("--explode", action="store_true", help="count each part of a multipart feature separately")
    p.add_argument("--cap-at-candidates", action="store_true",
                   help="the paper's rule: snap every quartile to a candidate even when all three ask for a larger "
                        "patch (default: go past the candidates then, and say so)")
    p.add_argument("--json", required=True, metavar="OUT.json", help="JSON report")
    p.add_argument("--html", metavar="OUT.html", help="HTML report with the histogram")
    add_overwrite(p)
    p.set_defaults(run=run)
    declare_paths(p, inputs=("inventory", "raster"), files=("json", "html"))


def run(args: argparse.Namespace) -> int:
    from ..core.atomic import write_texts_atomic
    from ..core.inventory import analyse_inventory, describe_patch_sizes, parse_candidates
    from ..core.report import inventory_html, json_text
    from .progress import BarProgress

    bar = BarProgress("analyse")
    try:
        report = analyse_inventory(args.inventory, layer=args.layer, rasters=args.raster or (),
                                   pixel_size_m=args.pixel_size, fraction=args.fraction,
                                   candidates=parse_candidates(args.candidates),
                                   explode=args.explode, beyond_candidates=not args.cap_at_candidates, progress=bar)
    finally:
        bar.close()
    texts = {args.json: json_text(report.to_json()), **({args.html: inventory_html(report)} if args.html else {})}
    write_texts_atomic(texts)  # together: a stop between the two left a new JSON beside the previous HTML
    s = report.area_px
    pixel = f"pixel {report.pixel_size_m:.3g} m"
    if len(report.rasters) > 1:  # which raster's pixels measured how many landslides
        pixel = "pixels: " + ", ".join(f"{Path(r['path']).name} {r['pixel_size_m']:.3g} m ({r['n_landslides']} "
                                       "landslides)" for r in report.rasters)
    print(f"{report.n_landslides} landslides ({report.n_repaired} repaired, {report.n_skipped} skipped), {pixel}")
    print(f"area px: min {s.min:.0f}  Q1 {s.q1:.0f}  median {s.median:.0f}  Q3 {s.q3:.0f}  max {s.max:.0f}")
    rule = "" if report.patch_size_rule == "candidates" else f" ({report.patch_size_rule})"
    print(f"recommended patch sizes: {describe_patch_sizes(report.recommended_patch_sizes)}{rule}")
    print(f"report: {args.json}" + (f", {args.html}" if args.html else ""))
    return 0
