"""`lmhld experiment CONFIG`: the paper's experiments as one resumable grid."""

from __future__ import annotations

import argparse
import sys
from typing import Any


def add_parser(sub: Any) -> None:
    p = sub.add_parser("experiment", help="areas x patch sizes x models x modes; tables and figures like the paper's",
                       description="Run (or continue: finished runs are skipped) an experiment grid described by a "
                                   "TOML file, and write Tables 4-7 (Markdown, CSV), figures and report.html.")
    p.add_argument("config", help="TOML file with an [experiment] table (see the README)")
    p.add_argument("--out", required=True, help="experiment folder")
    p.add_argument("--progress-json", action="store_true", help="machine-readable progress on stdout (for QGIS)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    import json
    import os
    from pathlib import Path

    from ..core.errors import CancelledError, LmhldError
    from ..training.experiment import describe_outcome, run_experiment
    from ..training.signals import stop_on_signals
    from .progress import BarProgress, JsonProgress

    if int(os.environ.get("WORLD_SIZE", "1")) > 1:  # every rank would export and train the same runs
        raise LmhldError("lmhld experiment runs in one process: start it without torchrun (torchrun is for one "
                         "`lmhld train` run on several GPUs)")

    progress: BarProgress | JsonProgress
    progress = JsonProgress(fractions=True) if args.progress_json else BarProgress("experiment")
    try:
        with stop_on_signals(progress) as stoppable:
            results = run_experiment(args.config, args.out, progress=stoppable)
    except CancelledError:  # the training's own words name `lmhld train --resume`, which is not this command's
        print(f"lmhld experiment: stopped; finished runs and the last.pt of the run in progress are kept in "
              f"{args.out}: run the same command again to continue (finished runs are skipped, the stopped one "
              "resumes)", file=sys.stderr)
        return 130
    except KeyboardInterrupt:
        print(f"lmhld experiment: interrupted at once; finished runs and the last.pt of the run in progress (if "
              f"any) are kept in {args.out}: run the same command again to continue", file=sys.stderr)
        return 130
    finally:
        progress.close()
    out = Path(args.out)
    if args.progress_json:
        print(json.dumps({"event": "done", "out": str(out), "report": str(out / "report.html"),
                          "best_patch_size": results["best_patch_size"], "runs": results["runs"],
                          "patch_areas": results["patch_areas"]}))
        return 0
    print(describe_outcome(results["best_patch_size"], results["runs"], results["patch_areas"]))
    print(f"tables: {out}/tables/*.md|csv, figures: {out}/figures/, report: {out}/report.html")
    return 0
