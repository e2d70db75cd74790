"""The quality benchmark (bench/bench_quality.py) on the real Kaikoura pair, in small: train on scene 69, detect on
the unseen scene 70. Its report holds pixel and object figures per area, and the same command gives the same
figures twice."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from osgeo import ogr

from ..helpers import ROOT

pytestmark = pytest.mark.slow

RUN = "small-landslides 69->70"
SMALL = ["--run", RUN, "--set", "train.epochs=2", "--set", "train.model_options={ base_width = 8 }"]


def run_bench(out):
    command = [sys.executable, str(ROOT / "bench" / "bench_quality.py"), str(ROOT / "bench" / "kaikoura.toml"),
               "--out", str(out), *SMALL]
    proc = subprocess.run(command, capture_output=True, text=True, timeout=900, cwd=ROOT,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    return json.loads((out / "report.json").read_text()), (out / "report.md").read_text()


def figures(report):
    """The report's figures without timings and paths (what must reproduce)."""
    run = report["runs"][RUN]
    keep = ("precision", "recall", "f1", "iou", "tp", "fp", "fn", "tn", "raw", "n_inventory", "n_inventory_detected",
            "n_detected", "n_detected_correct", "dropped", "postprocess")
    return {area: {k: ev[k] for k in keep} for area, ev in run["evaluations"].items()}, run["datasets"][0]["counts"]


def test_kaikoura_benchmark_reports_unseen_area_figures_and_reproduces(shared_data, tmp_path):
    if not (shared_data / "kaikoura" / "diff_landslide_70.tif").exists():
        pytest.skip("../shared/data/kaikoura is missing")
    report, markdown = run_bench(tmp_path / "a")
    run = report["runs"][RUN]
    assert run["status"] == "ok" and run["patch_size"] == 32  # every quartile asks for less than 32 px
    unseen = run["evaluations"]["k70 (unseen)"]
    assert unseen["role"] == "unseen" and unseen["n_inventory"] == 9
    assert unseen["tp"] + unseen["fn"] > 0
    assert unseen["tp"] + unseen["fp"] + unseen["fn"] + unseen["tn"] > 200_000  # the valid pixels of scene 70
    for key in ("precision", "recall", "f1", "iou", "inventory_detected", "detected_correct", "object_f1"):
        assert 0 <= unseen[key] <= 1, key
    ds = ogr.Open(str(tmp_path / "a" / "small-landslides_69-to-70" / "landslides_k70.gpkg"))
    assert ds.GetLayer("landslides").GetFeatureCount() == unseen["n_detected"]
    assert run["evaluations"]["k69 (seen)"]["n_inventory"] == 6
    assert f"| {RUN} | k70 (unseen) |" in markdown and "bench/bench_quality.py" in report["command"]
    assert "--run 'small-landslides 69->70' --set train.epochs=2" in report["command"]
    again, _ = run_bench(tmp_path / "b")
    assert figures(again) == figures(report)
