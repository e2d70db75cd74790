"""The `lmhld` command: one sub-command per stage, each a thin wrapper over the core."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from ..core.errors import CancelledError, LmhldError
from . import analyse, demo, detect, evaluate, experiment, export, export_onnx, preview, train

COMMANDS = (demo, analyse, preview, export, train, evaluate, experiment, export_onnx, detect)


def build_parser() -> argparse.ArgumentParser:
    import lmhld_qgis

    parser = argparse.ArgumentParser(prog="lmhld", description="Landslide detection from high-resolution imagery.")
    parser.add_argument("--version", action="version", version=f"lmhld_qgis {lmhld_qgis.__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in COMMANDS:
        module.add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    import os

    # GDAL's block cache defaults to 5% of RAM and is the largest user of memory when streaming big rasters;
    # a bounded cache keeps the command's memory flat whatever the scene size (set GDAL_CACHEMAX to change it).
    os.environ.setdefault("GDAL_CACHEMAX", "256")
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.run(args) or 0)
    except LmhldError as exc:
        print(f"lmhld {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except (CancelledError, KeyboardInterrupt):
        print(f"lmhld {args.command}: cancelled; no partial output was left", file=sys.stderr)
        return 130
