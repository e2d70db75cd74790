"""The `lmhld` command as a user runs it (a real subprocess)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

from .helpers import square, write_polygons


def lmhld(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "lmhld_qgis", *args], capture_output=True, text=True, timeout=300,
                          env=env)


NO_GDAL = """import sys
class NoGdal:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] == "osgeo":
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
sys.meta_path.insert(0, NoGdal())
"""


def without_gdal(folder: Path) -> dict[str, str]:
    """An environment whose Python cannot import GDAL's bindings, as on a pip-only GPU node."""
    folder.mkdir()
    (folder / "sitecustomize.py").write_text(NO_GDAL)
    path = os.pathsep.join(p for p in (str(folder), os.environ.get("PYTHONPATH", "")) if p)
    return {**os.environ, "PYTHONPATH": path}


def test_a_node_without_gdal_trains_and_the_gis_commands_say_what_is_missing(tmp_path):
    """A GPU node with torch and rasterio but no GDAL Python bindings trains on a dataset exported elsewhere; a
    command that needs GDAL says so in one sentence, with no traceback and no output."""
    from lmhld_qgis.core.export import ExportOptions, export_patches
    from lmhld_qgis.core.synthetic import make_scene

    scene = make_scene(tmp_path / "s", width=192, height=192, n_landslides=30, seed=1)
    data = export_patches([scene.raster], scene.inventory, tmp_path / "ds",
                          ExportOptions(patch_size=32, min_fraction=0.05, tolerance=0.1)).out_dir
    env = without_gdal(tmp_path / "no_gdal")
    probe = subprocess.run([sys.executable, "-c", "import osgeo"], capture_output=True, text=True, env=env)
    assert probe.returncode == 1 and "No module named 'osgeo'" in probe.stderr

    run = tmp_path / "run"
    proc = lmhld("train", "--data", str(data), "--device", "cpu", "--width", "4", "--epochs", "1", "--out", str(run),
                 env=env)
    assert proc.returncode == 0, proc.stderr
    assert (run / "model.onnx").is_file() and (run / "best.pt").is_file()
    # each F1 says at which threshold it was measured, and the model's threshold why it is what it is
    assert re.match(r"best validation F1 [0-9.]+ at threshold 0\.5; model threshold [0-9.]+: (calibrated on the "
                    r"validation split, where it gives the best F1: [0-9.]+|only \d+ landslide pixels in the "
                    r"validation split, fewer than the 1000 needed to calibrate, so the configured threshold is "
                    r"kept); run folder ", proc.stdout.splitlines()[-1]), proc.stdout

    proc = lmhld("analyse", str(scene.inventory), "--pixel-size", "1", "--json", str(tmp_path / "r.json"), env=env)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert "GDAL's Python bindings (osgeo) are not installed" in proc.stderr
    assert not (tmp_path / "r.json").exists()


def test_analyse_writes_json_and_html(tmp_path):
    x, y = 500_000, 4_000_000
    inv = write_polygons(tmp_path / "inv.gpkg", [square(x + 100 * i, y, 10 + 5 * i) for i in range(20)])
    out = tmp_path / "out"
    proc = lmhld("analyse", str(inv), "--pixel-size", "1", "--json", str(out / "r.json"),
                 "--html", str(out / "r.html"))
    assert proc.returncode == 0, proc.stderr
    report = json.loads((out / "r.json").read_text())
    for key in ("n_features", "n_repaired", "n_skipped", "pixel_size_m", "fraction", "candidates", "area_px",
                "recommended_patch_sizes"):
        assert key in report
    assert set(report["area_px"]) >= {"min", "q1", "median", "q3", "max", "mean"}
    assert report["n_features"] == 20 and len(report["recommended_patch_sizes"]) == 3
    html = (out / "r.html").read_text()
    assert "<img" in html and "data:image/png;base64," in html
    q1, q2, q3 = report["recommended_patch_sizes"]
    assert f"recommended patch sizes: Q1 {q1} px, Q2 {q2} px, Q3 {q3} px" in proc.stdout


def test_a_wrong_option_is_one_line_that_names_the_sub_command_and_its_help(tmp_path):
    """argparse's usage block (thirty lines for train) no longer comes before the one line that says what is wrong."""
    for args, words in ((["train", "--out", str(tmp_path / "run"), "--bogus"], "unrecognized arguments: --bogus"),
                        (["detect", "--tta", "q"], "argument --tta: invalid choice: 'q'"),
                        (["train"], "the following arguments are required: --out")):
        proc = lmhld(*args)
        assert proc.returncode == 2 and proc.stdout == ""
        assert proc.stderr.splitlines() == [f"lmhld {args[0]}: error: {proc.stderr.split('error: ')[1].strip()}"]
        assert words in proc.stderr and proc.stderr.endswith(f"(`lmhld {args[0]} --help` lists the options)\n")
    assert not (tmp_path / "run").exists()


def test_the_argument_taken_without_a_flag_is_said_when_given_with_one(tmp_path):
    """`lmhld analyse SCENE --inventory INV` (every other command takes --inventory) said only that --raster was
    required; the scene taken for the inventory said "no vector layer in it"."""
    import numpy as np

    from .helpers import write_raster

    inv = write_polygons(tmp_path / "inv.gpkg", [square(500100.0, 3999900.0, 30.0)])
    scene = write_raster(tmp_path / "scene.tif", np.zeros((1, 8, 8), dtype=np.float32))
    proc = lmhld("analyse", str(scene), "--inventory", str(inv), "--json", str(tmp_path / "r.json"))
    assert proc.returncode == 2 and "--inventory is not an option: give INVENTORY without a flag, first " \
        "(lmhld analyse INVENTORY ...)" in proc.stderr, proc.stderr
    proc = lmhld("analyse", str(scene), "--raster", str(scene), "--json", str(tmp_path / "r.json"))
    assert proc.returncode == 2 and f"cannot read vector file {scene}: it is a raster, not polygons; give the " \
        "landslide inventory's file here" in proc.stderr, proc.stderr
    assert not (tmp_path / "r.json").exists()


def test_bad_input_exits_2_with_message_and_no_files(tmp_path):
    inv = write_polygons(tmp_path / "inv.gpkg", [square(0, 0, 10)])
    proc = lmhld("analyse", str(inv), "--pixel-size", "-1", "--json", str(tmp_path / "r.json"),
                 "--html", str(tmp_path / "r.html"))
    assert proc.returncode == 2
    assert "--pixel-size: must be a number in [0.001, 10000], got -1" in proc.stderr
    assert not (tmp_path / "r.json").exists() and not (tmp_path / "r.html").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["inv.gpkg"]  # no temporary leftovers either


def test_module_entry_and_console_script_agree():
    proc = lmhld("--version")
    assert proc.returncode == 0 and "lmhld_qgis" in proc.stdout
    import shutil

    exe = shutil.which("lmhld") or str(__import__("pathlib").Path(sys.executable).parent / "lmhld")
    script = subprocess.run([exe, "--help"], capture_output=True, text=True)
    assert script.returncode == 0 and "analyse" in script.stdout


CTRL_C_WHILE_IMPORTING = """import sys
class CtrlC:
    def find_spec(self, name, path=None, target=None):
        if name == "lmhld_qgis.cli.detect":  # one of the modules the command line imports before it runs
            raise KeyboardInterrupt
sys.meta_path.insert(0, CtrlC())
"""


def test_a_ctrl_c_while_the_command_line_starts_is_a_cancel_not_a_traceback(tmp_path):
    """Importing the command line takes a tenth of a second before its Ctrl-C handling is in place: a Ctrl-C there
    printed Python's traceback."""
    import shutil

    folder = tmp_path / "site"
    folder.mkdir()
    (folder / "sitecustomize.py").write_text(CTRL_C_WHILE_IMPORTING)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (str(folder), os.environ.get("PYTHONPATH")) if p)}
    exe = shutil.which("lmhld") or str(Path(sys.executable).parent / "lmhld")
    for proc in (lmhld("detect", "--help", env=env),
                 subprocess.run([exe, "--version"], capture_output=True, text=True, timeout=300, env=env)):
        assert proc.returncode == 130, proc.stderr
        assert proc.stderr == "lmhld: cancelled while starting; nothing was done\n"


def test_detect_writes_polygons_probability_and_summary(tmp_path, small_onnx_model):
    from lmhld_qgis.core.synthetic import make_scene

    scene = make_scene(tmp_path / "s", width=200, height=200, n_landslides=10)
    proc = lmhld("detect", "--model", str(small_onnx_model), "--raster", str(scene.raster), "--out",
                 str(tmp_path / "o.gpkg"), "--prob", str(tmp_path / "p.tif"), "--threshold", "0",
                 "--json", str(tmp_path / "r.json"), "--context", "2")
    assert proc.returncode == 0, proc.stderr
    summary = json.loads((tmp_path / "r.json").read_text())
    assert summary["provider"] == "CPUExecutionProvider" and summary["n_polygons"] >= 1
    assert summary["context"].startswith("a coarse pass at 1/2")
    assert (proc.stdout + proc.stderr).count("context: a coarse pass") == 1  # said once, not again in the summary
    assert (tmp_path / "o.gpkg").exists() and (tmp_path / "p.qml").exists()
    bad = lmhld("detect", "--model", str(tmp_path / "none.onnx"), "--raster", str(scene.raster), "--out",
                str(tmp_path / "x.gpkg"))
    assert bad.returncode == 2 and "does not exist" in bad.stderr and not (tmp_path / "x.gpkg").exists()


def test_a_reader_that_goes_away_costs_the_output_not_the_work(tmp_path, small_onnx_model):
    """`lmhld detect ... | head -1`: stdout is a pipe whose reader has gone; the outputs are still committed."""
    import os

    from lmhld_qgis.core.synthetic import make_scene

    scene = make_scene(tmp_path / "s", width=160, height=160, n_landslides=5)
    read_end, write_end = os.pipe()
    os.close(read_end)  # every write to stdout now meets a closed pipe
    try:
        proc = subprocess.run([sys.executable, "-m", "lmhld_qgis", "detect", "--model", str(small_onnx_model),
                               "--raster", str(scene.raster), "--out", str(tmp_path / "o.gpkg"), "--json",
                               str(tmp_path / "r.json")], stdout=write_end, stderr=subprocess.PIPE, text=True,
                              timeout=300)
    finally:
        os.close(write_end)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "o.gpkg").exists() and json.loads((tmp_path / "r.json").read_text())["n_windows"] > 0
    assert "Traceback" not in proc.stderr and "BrokenPipe" not in proc.stderr


def test_evaluate_on_a_dataset_split(tmp_path, small_onnx_model, areas):
    proc = lmhld("evaluate", "--model", str(small_onnx_model), "--data", str(areas["a32"]), "--split", "val",
                 "--json", str(tmp_path / "m.json"))
    assert proc.returncode == 0, proc.stderr
    result = json.loads((tmp_path / "m.json").read_text())
    for key in ("precision", "recall", "f1", "iou", "miou", "oa", "f1_mean_2class", "tp", "fp", "fn", "tn"):
        assert key in result
    assert result["split"] == "val" and result["tp"] + result["fp"] + result["fn"] + result["tn"] > 0
    # the README's example gave no --json, which was required: the summary is printed, per area with several
    shown = lmhld("evaluate", "--model", str(small_onnx_model), "--data", str(areas["a32"]), "--data",
                  str(areas["c64"]), "--split", "val")
    assert shown.returncode == 0, shown.stderr
    lines = shown.stdout.splitlines()
    assert lines[0].startswith("precision ") and sum(line.startswith("  ") and ": P " in line
                                                     for line in lines) == 2, shown.stdout
    assert "report" not in shown.stdout  # it said "report: None"


def test_evaluate_scores_the_polygons_detect_delivers_with_the_same_settings(tmp_path, small_onnx_model, areas):
    """Evaluate ran detection at its defaults only: after `detect --min-mean-prob 0 --min-area 0` it scored other
    polygons than those delivered. It takes detection's settings; with --data they are refused."""
    from lmhld_qgis.core.synthetic import make_scene

    scene = make_scene(tmp_path / "s", width=192, height=192, n_landslides=8, seed=3)
    settings = ["--min-mean-prob", "0", "--min-area", "0", "--simplify", "0"]
    detected = lmhld("detect", "--model", str(small_onnx_model), "--raster", str(scene.raster), "--out",
                     str(tmp_path / "d.gpkg"), "--json", str(tmp_path / "d.json"), *settings)
    assert detected.returncode == 0, detected.stderr
    n_delivered = json.loads((tmp_path / "d.json").read_text())["n_polygons"]
    scores = {}
    for name, extra in (("same", settings), ("defaults", [])):
        proc = lmhld("evaluate", "--model", str(small_onnx_model), "--raster", str(scene.raster), "--inventory",
                     str(scene.inventory), "--json", str(tmp_path / f"{name}.json"), *extra)
        assert proc.returncode == 0, proc.stderr
        scores[name] = json.loads((tmp_path / f"{name}.json").read_text())
    assert scores["same"]["n_detected"] == n_delivered > scores["defaults"]["n_detected"]
    refused = lmhld("evaluate", "--model", str(small_onnx_model), "--data", str(areas["a32"]), "--tta",
                    "--min-area", "5", "--json", str(tmp_path / "x.json"))
    assert refused.returncode == 2 and "--min-area, --tta belong to a whole scene" in refused.stderr, refused.stderr
    # the delivered polygons as they are, without the model: those very figures, and what else is refused
    detected = lmhld("detect", "--model", str(small_onnx_model), "--raster", str(scene.raster), "--out",
                     str(tmp_path / "d2.gpkg"), "--prob", str(tmp_path / "p.tif"), *settings)
    assert detected.returncode == 0, detected.stderr
    scored = lmhld("evaluate", "--detections", str(tmp_path / "d2.gpkg"), "--prob", str(tmp_path / "p.tif"),
                   "--inventory", str(scene.inventory), "--json", str(tmp_path / "scored.json"))
    assert scored.returncode == 0, scored.stderr
    again = json.loads((tmp_path / "scored.json").read_text())
    assert {k: again[k] for k in ("tp", "fp", "fn", "n_detected")} == {k: scores["same"][k] for k in
                                                                         ("tp", "fp", "fn", "n_detected")}
    assert "the probability raster cut at" in scored.stdout
    for extra, words in ((["--model", str(small_onnx_model)], "--model belong to evaluating a model"),
                         (["--min-area", "5"], "--min-area belong to evaluating a model")):
        proc = lmhld("evaluate", "--detections", str(tmp_path / "d2.gpkg"), "--prob", str(tmp_path / "p.tif"),
                     "--inventory", str(scene.inventory), *extra)
        assert proc.returncode == 2 and words in proc.stderr, proc.stderr
    lacking = lmhld("evaluate", "--detections", str(tmp_path / "d2.gpkg"), "--inventory", str(scene.inventory))
    assert lacking.returncode == 2 and "needs --detections, --prob and --inventory: give --prob" in \
        lacking.stderr, lacking.stderr


def test_export_and_export_onnx_commands(tmp_path):
    import torch

    from lmhld_qgis.core.modelcard import ModelCard, read_onnx_card
    from lmhld_qgis.core.synthetic import make_scene
    from lmhld_qgis.models import build_model
    from lmhld_qgis.training.checkpoint import save_checkpoint

    scene = make_scene(tmp_path / "s", width=384, height=384, n_landslides=60, seed=1)
    (tmp_path / "a.json").write_text(json.dumps({"recommended_patch_sizes": [32, 64, 128]}))
    proc = lmhld("export", "--raster", str(scene.raster), "--inventory", str(scene.inventory), "--patch-size-from",
                 str(tmp_path / "a.json"), "--quartile", "q1", "--out", str(tmp_path / "ds"), "--min-fraction",
                 "0.05", "--tolerance", "0.05", "--name", "cli-area")
    assert proc.returncode == 0, proc.stderr
    card = json.loads((tmp_path / "ds" / "dataset.json").read_text())
    assert card["patch_size"] == 32 and card["name"] == "cli-area" and "patches of 32 px" in proc.stdout
    again = lmhld("export", "--raster", str(scene.raster), "--inventory", str(scene.inventory), "--patch-size", "32",
                  "--out", str(tmp_path / "ds"))
    assert again.returncode == 2 and "not empty" in again.stderr

    torch.manual_seed(0)
    save_checkpoint(tmp_path / "best.pt", build_model("unet", 4, base_width=4),
                    ModelCard("unet", 4, model_options={"base_width": 4}, patch_size=64))
    proc = lmhld("export-onnx", str(tmp_path / "best.pt"), "--out", str(tmp_path / "m.onnx"))
    assert proc.returncode == 0, proc.stderr
    assert read_onnx_card(tmp_path / "m.onnx").architecture == "unet" and "any multiple of 16" in proc.stdout
    bad = lmhld("export-onnx", str(tmp_path / "a.json"), "--out", str(tmp_path / "x.onnx"))
    assert bad.returncode == 2 and "not a safe lmhld checkpoint" in bad.stderr and not (tmp_path / "x.onnx").exists()


def test_stack_an_orthophoto_and_a_dsm_then_export_them(tmp_path):
    """A UAV survey's two files -> one scene (refused again without --overwrite) -> patches of red, green, blue
    and dsm, the orthophoto's alpha left out."""
    from .core.test_stack import ORIGIN, write_dsm, write_ortho

    write_ortho(tmp_path / "ortho.tif", size=256, outside=64)
    write_dsm(tmp_path / "flight_dsm.tif", size=130, shift=(0, 0), hole=(0, 0))
    stack = ["stack", "--raster", str(tmp_path / "ortho.tif"), "--raster", str(tmp_path / "flight_dsm.tif"), "--out",
             str(tmp_path / "scene.tif")]
    proc = lmhld(*stack)
    assert proc.returncode == 0, proc.stderr
    assert "band 4: dsm (flight_dsm.tif band 1, interpolated (bilinear) onto the grid)" in proc.stdout
    again = lmhld(*stack)
    assert again.returncode == 2 and "--overwrite" in again.stderr
    x0, y0 = ORIGIN
    landslides = [square(x0 + 40 + 16 * i, y0 - 100 + 16 * (i % 3), 8) for i in range(5)]  # inside the flight
    write_polygons(tmp_path / "inv.gpkg", landslides, epsg=32633)
    proc = lmhld("export", "--raster", str(tmp_path / "scene.tif"), "--inventory", str(tmp_path / "inv.gpkg"),
                 "--patch-size", "32", "--out", str(tmp_path / "ds"), "--recipe", "paper", "--min-fraction", "0.05",
                 "--tolerance", "1")
    assert proc.returncode == 0, proc.stderr
    card = json.loads((tmp_path / "ds" / "dataset.json").read_text())
    assert card["bands"] == ["red", "green", "blue", "dsm"]
