"""`lmhld validate`: an inventory's problems as a layer and a JSON summary; a repaired copy on request."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from .argtypes import non_negative_float, overlap_fraction, positive_float, probability
from .paths import add_overwrite, declare_paths

if TYPE_CHECKING:
    from ..core.validate import ValidationReport


def add_parser(sub) -> None:
    p = sub.add_parser("validate", help="find an inventory's problems (exit 1 if any blocks export)",
                       description="Check an inventory before export: invalid, empty and self-intersecting "
                                   "geometries, overlaps, duplicates, slivers, polygons too small for the imagery, "
                                   "outside it or on its nodata, coordinates that do not fit the CRS. Exit status "
                                   "1 when a problem blocks export, 0 otherwise.")
    p.add_argument("inventory", help="polygon inventory (any OGR-readable file)")
    p.add_argument("--layer", help="layer name inside the file (default: the first)")
    p.add_argument("--raster", action="append", metavar="R",
                   help="reference imagery: pixel size, footprint and nodata (repeat for an inventory over several "
                        "scenes: a polygon on any of them is covered)")
    p.add_argument("--pixel-size", type=positive_float, metavar="METRES", help="pixel size when no raster is given")
    p.add_argument("--min-pixels", type=non_negative_float, default=10.0,
                   help="report polygons smaller than this many pixels (10)")
    p.add_argument("--sliver", type=overlap_fraction, default=0.05,
                   help="report parts whose compactness 4πA/P² is below this (0.05: a 1:60 strip)")
    p.add_argument("--duplicate-iou", type=probability, default=0.98,
                   help="two polygons overlapping this much (intersection over union) are duplicates (0.98)")
    p.add_argument("--min-overlap", type=non_negative_float, default=1.0, metavar="M2",
                   help="ignore overlaps smaller than this, in m² (1)")
    p.add_argument("--problems", metavar="OUT.gpkg", help="write the problems as a layer (one feature each)")
    p.add_argument("--json", metavar="OUT.json", help="write the summary and every problem as JSON")
    p.add_argument("--repair", metavar="FIXED.gpkg",
                   help="write a repaired copy (invalid geometries fixed; empty, non-polygon and duplicate "
                        "features dropped); the input is never changed")
    p.add_argument("--assign-crs", metavar="CRS",
                   help="the CRS the layer was digitized in (EPSG:XXXX, WKT or PROJ), for a layer without one (a "
                        "Shapefile without .prj) or with a wrong one: checked in it, and the repaired copy carries it "
                        "(the coordinates are not transformed)")
    add_overwrite(p)
    p.set_defaults(run=run)
    declare_paths(p, inputs=("inventory", "raster"), files=("problems", "json", "repair"))


def run(args: argparse.Namespace) -> int:
    from ..core.report import write_json
    from ..core.validate import NONE_ON_IMAGERY, OFF_IMAGERY, ValidateOptions, validate_inventory
    from ..core.validate_write import summary_line, write_problems, write_repaired
    from ..core.vector import polygon_layer_hint
    from .progress import BarProgress

    options = ValidateOptions(rasters=args.raster or (), min_pixels=args.min_pixels, pixel_size_m=args.pixel_size,
                              sliver_ratio=args.sliver, duplicate_iou=args.duplicate_iou,
                              min_overlap_m2=args.min_overlap)
    bar = BarProgress("validate")
    try:
        report = validate_inventory(args.inventory, options, layer=args.layer, assign_crs=args.assign_crs,
                                    progress=bar)
    finally:
        bar.close()
    summary = report.to_json()
    if args.problems:
        write_problems(report, args.problems)
        summary["problems_layer"] = args.problems
    if args.repair:
        fixed = write_repaired(report, args.repair)
        summary["repaired"] = {"path": str(fixed.path), "features": fixed.n_written, "repaired": fixed.repaired,
                               "dropped": fixed.dropped}
        no_crs = "; no CRS: export refuses it too until one is assigned" if report.srs is None else ""
        print(f"repaired copy: {fixed.path} ({fixed.n_written} features, {fixed.repaired} repaired, "
              f"dropped {fixed.dropped or 'none'}{no_crs})")
    if args.json:
        write_json(args.json, summary)
    for p in report.problems[:20]:
        print(f"  {'BLOCKING' if p.blocking else 'warning '} {p.kind:18} {p.where}: {p.message}")
    if len(report.problems) > 20:
        print(f"  ... {len(report.problems) - 20} more" + (f" in {args.problems}" if args.problems else ""))
    print(summary_line(report))
    if report.off_imagery and all(p.kind == NONE_ON_IMAGERY for p in report.blocking):
        print(f"lmhld validate: {OFF_IMAGERY}", file=sys.stderr)
        return 1
    if not report.ok_for_export and not report.blocking:
        # a project GeoPackage's points read first, say: name its polygon layer
        fix = polygon_layer_hint((args.inventory, report.layer), "digitize landslide polygons")
        print(f"lmhld validate: the inventory holds no polygon export can use; {fix}", file=sys.stderr)
        return 1
    if report.blocking:  # exit 1 is a finding, not a crash: say on stderr what blocks and what to do
        print(f"lmhld validate: {len(report.blocking)} blocking problem(s): export refuses this inventory; "
              f"{_blocking_fix(report, args.repair)}", file=sys.stderr)
        return 1
    if report.raster_warnings:
        print("lmhld validate: the imagery holds a fill value not declared as nodata: declare it as the warning "
              "says, then validate again", file=sys.stderr)
        return 1
    return 0


def _blocking_fix(report: ValidationReport, repair: str | None) -> str:
    """What to do: a missing CRS is not the repair's to guess (--assign-crs); the other blocking kinds it fixes."""
    from ..core.validate import KINDS, NO_CRS

    if report.srs is None:
        return ("the layer has no CRS, which no repair can guess: rerun with --assign-crs EPSG:XXXX --repair "
                "FIXED.gpkg and export that copy, or " + KINDS[NO_CRS].fix)
    return f"export {repair} instead, or fix them" if repair else "fix them, or pass --repair FIXED.gpkg"
