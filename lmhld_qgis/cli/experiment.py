"""`lmhld experiment CONFIG`: the paper's experiments as one resumable grid."""

from __future__ import annotations

import argparse


def add_parser(sub) -> None:
    p = sub.add_parser("experiment", help="areas x patch sizes x models x modes; tables and figures like the paper's",
                       description="Run (or continue: finished runs are skipped) an experiment grid described by a "
                                   "TOML file, and write Tables 4-7 (Markdown, CSV), figures and report.html.")
    p.add_argument("config", help="TOML file with an [experiment] table (see the README)")
    p.add_argument("--out", required=True, help="experiment folder")
    p.add_argument("--progress-json", action="store_true", help="machine-readable progress on stdout (for QGIS)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    import json
    from pathlib import Path

    from ..training.experiment import run_experiment
    from .progress import BarProgress, JsonProgress

    progress = JsonProgress(fractions=True) if args.progress_json else BarProgress("experiment")
    try:
        results = run_experiment(args.config, args.out, progress=progress)
    finally:
        progress.close()
    out = Path(args.out)
    if args.progress_json:
        print(json.dumps({"event": "done", "out": str(out), "report": str(out / "report.html"),
                          "best_patch_size": results["best_patch_size"], "runs": results["runs"]}))
        return 0
    print(f"best patch size per area: {results['best_patch_size']}; runs trained {results['runs']['trained']}, "
          f"reused {results['runs']['skipped']}")
    print(f"tables: {out}/tables/*.md|csv, figures: {out}/figures/, report: {out}/report.html")
    return 0
