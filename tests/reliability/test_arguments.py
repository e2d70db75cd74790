"""Every number and option is checked before any work and answered with its name and the allowed range (exit 2).

These cases end in argparse, before any file is opened, so they run in this process (the same `main` the command
runs); the cases that touch files run as real processes in the other modules."""

from __future__ import annotations

import subprocess

import pytest

from lmhld_qgis.cli import main

from .conftest import record

AREA = "Numbers and options"

DETECT = ["detect", "--model", "m.onnx", "--raster", "s.tif", "--out", "d.gpkg"]
EXPORT = ["export", "--raster", "s.tif", "--inventory", "i.gpkg", "--out", "ds"]
EXPORT_SIZED = [*EXPORT, "--patch-size", "32"]
ANALYSE = ["analyse", "i.gpkg", "--json", "a.json"]
EVALUATE = ["evaluate", "--model", "m.onnx", "--raster", "s.tif", "--inventory", "i.gpkg", "--json", "e.json"]

BAD = [
    (DETECT, "--threshold", "2", "must be a number in [0, 1], got 2"),
    (DETECT, "--threshold", "-1", "must be a number in [0, 1], got -1"),
    (DETECT, "--threshold", "nan", "expected a finite number"),
    (DETECT, "--threshold", "", "expected a number, got ''"),
    (DETECT, "--tile", "0", "must be an integer >= 1, got 0"),
    (DETECT, "--tile", "-64", "must be an integer >= 1, got -64"),
    (DETECT, "--tile", "1e3", "expected an integer, got '1e3'"),
    (DETECT, "--overlap", "1", "must be a number in [0, 1), got 1"),
    (DETECT, "--overlap", "-0.1", "must be a number in [0, 1)"),
    (DETECT, "--batch-size", "0", "must be an integer >= 1"),
    (DETECT, "--min-area", "-5", "must be a number in [0, inf)"),
    (DETECT, "--fill-holes", "inf", "expected a finite number"),
    (DETECT, "--simplify", "-1", "must be a number in [0, inf)"),
    (DETECT, "--chunk-width", "-1", "must be an integer >= 0"),
    (DETECT, "--extent", "1,2,3", "expected xmin,ymin,xmax,ymax"),
    (DETECT, "--extent", "nan,0,1,1", "expected a finite number"),
    (DETECT, "--extent", "3,0,1,1", "expected xmin < xmax and ymin < ymax"),
    (DETECT, "--extent", "-75.1,-40.2,-75.2,-40.1", "expected xmin < xmax"),  # read as its value, not an option
    (DETECT, "--extent", "1,2,3,4 [EPSG:99999]", "cannot read the extent's CRS 'EPSG:99999'; give it as EPSG:XXXX"),
    (DETECT, "--bands", "0,1,2,3", "band numbers start at 1"),
    (DETECT, "--bands", "red", "comma-separated"),
    (DETECT, "--provider", "tpu", "invalid choice"),
    (EXPORT, "--patch-size", "0", "must be an integer >= 8, got 0"),
    (EXPORT, "--patch-size", "-32", "must be an integer >= 8"),
    (EXPORT, "--patch-size", "abc", "expected an integer"),
    (EXPORT_SIZED, "--stride", "0", "must be an integer >= 1"),
    (EXPORT_SIZED, "--min-fraction", "1.5", "must be a number in [0, 1]"),
    (EXPORT_SIZED, "--split", "0.5,0.5,0.5", "three non-negative ratios summing to 1"),
    (EXPORT_SIZED, "--split", "a,b,c", "expected three ratios such as 0.7,0.2,0.1, got 'a,b,c'"),
    (EXPORT_SIZED, "--tolerance", "-0.01", "must be a number in [0, 1]"),
    (EXPORT_SIZED, "--block", "0", "must be an integer >= 1"),
    (EXPORT_SIZED, "--seed", "-1", "must be an integer >= 0"),
    (ANALYSE, "--pixel-size", "0", "must be a number in [0.001, 10000], got 0"),
    (ANALYSE, "--pixel-size", "1e300", "must be a number in [0.001, 10000]"),
    (ANALYSE, "--pixel-size", "inf", "expected a finite number"),
    ([*ANALYSE, "--pixel-size", "3"], "--fraction", "0", "must be a number in (0, 1), got 0"),
    ([*ANALYSE, "--pixel-size", "3"], "--fraction", "2", "must be a number in (0, 1)"),
    ([*ANALYSE, "--pixel-size", "3"], "--fraction", "1", "must be a number in (0, 1), got 1"),  # the core refused it
    ([*ANALYSE, "--pixel-size", "3"], "--candidates", "32,abc", "comma-separated integers"),
    (EVALUATE, "--match", "0", "must be a number in (0, 1], got 0"),
    (EVALUATE, "--threshold", "1.01", "must be a number in [0, 1]"),
    (["demo"], "--epochs", "0", "must be an integer from 1 to 1000"),
    (["demo"], "--width", "0", "must be an integer from 1 to 512"),
    (["demo"], "--model", "resnet", "invalid choice"),
    (["export-onnx", "best.pt", "--out", "m.onnx"], "--output", "mask", "invalid choice"),
]


@pytest.mark.parametrize(("base", "option", "value", "words"), BAD,
                         ids=[f"{b[0]} {o} {v!r}" for b, o, v, _ in BAD])
def test_bad_numbers_are_refused_before_any_work(tmp_path, monkeypatch, capsys, base, option, value, words):
    monkeypatch.chdir(tmp_path)
    argv = [*base, option, value]
    with pytest.raises(SystemExit) as stop:
        main(argv)
    err = capsys.readouterr().err
    assert stop.value.code == 2
    assert f"argument {option}" in err and words in err, err
    assert list(tmp_path.iterdir()) == []
    record(AREA, f"{base[0]} {option} {value!r}", argv, subprocess.CompletedProcess(argv, 2, "", err), tmp_path)
