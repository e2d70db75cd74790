"""`lmhld create-inventory`: an empty landslide inventory with its QGIS edit form, ready to digitize."""

from __future__ import annotations

import argparse


def add_parser(sub) -> None:
    p = sub.add_parser("create-inventory", help="a new inventory GeoPackage with the project's schema and form",
                       description="Create an empty landslide inventory (GeoPackage) whose fields, drop-downs, "
                                   "defaults and read-only area open ready for digitizing in QGIS.")
    p.add_argument("out", metavar="OUT.gpkg", help="the inventory to create")
    crs = p.add_mutually_exclusive_group(required=True)
    crs.add_argument("--crs", help="its CRS: EPSG:XXXX, WKT or a PROJ string")
    crs.add_argument("--raster", help="take the CRS of this image (the one you will digitize on)")
    p.add_argument("--layer", default="landslides", help="layer name (landslides)")
    p.add_argument("--event-date", metavar="YYYY-MM-DD", help="date of the triggering event (the form's default)")
    p.add_argument("--author", help="default author (QGIS's user name otherwise)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing file, losing its polygons")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from ..core.inventory_schema import create_inventory

    path = create_inventory(args.out, crs=args.crs, raster=args.raster, layer=args.layer,
                            event_date=args.event_date, author=args.author, overwrite=args.overwrite)
    print(f"inventory {path} (layer {args.layer}): open it in QGIS and start digitizing")
    return 0
