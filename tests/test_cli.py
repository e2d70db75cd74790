"""The `lmhld` command as a user runs it (a real subprocess)."""

from __future__ import annotations

import json
import subprocess
import sys

from .helpers import square, write_polygons


def lmhld(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "lmhld_qgis", *args], capture_output=True, text=True, timeout=300)


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
    assert "recommended patch sizes" in proc.stdout


def test_bad_input_exits_2_with_message_and_no_files(tmp_path):
    inv = write_polygons(tmp_path / "inv.gpkg", [square(0, 0, 10)])
    proc = lmhld("analyse", str(inv), "--pixel-size", "-1", "--json", str(tmp_path / "r.json"),
                 "--html", str(tmp_path / "r.html"))
    assert proc.returncode == 2
    assert "pixel size must be > 0" in proc.stderr
    assert not (tmp_path / "r.json").exists() and not (tmp_path / "r.html").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["inv.gpkg"]  # no temporary leftovers either


def test_module_entry_and_console_script_agree():
    proc = lmhld("--version")
    assert proc.returncode == 0 and "lmhld_qgis" in proc.stdout
    import shutil

    exe = shutil.which("lmhld") or str(__import__("pathlib").Path(sys.executable).parent / "lmhld")
    script = subprocess.run([exe, "--help"], capture_output=True, text=True)
    assert script.returncode == 0 and "analyse" in script.stdout


def test_detect_writes_polygons_probability_and_summary(tmp_path, small_onnx_model):
    from lmhld_qgis.core.synthetic import make_scene

    scene = make_scene(tmp_path / "s", width=200, height=200, n_landslides=10)
    proc = lmhld("detect", "--model", str(small_onnx_model), "--raster", str(scene.raster), "--out",
                 str(tmp_path / "o.gpkg"), "--prob", str(tmp_path / "p.tif"), "--threshold", "0",
                 "--json", str(tmp_path / "r.json"))
    assert proc.returncode == 0, proc.stderr
    summary = json.loads((tmp_path / "r.json").read_text())
    assert summary["provider"] == "CPUExecutionProvider" and summary["n_polygons"] >= 1
    assert (tmp_path / "o.gpkg").exists() and (tmp_path / "p.qml").exists()
    bad = lmhld("detect", "--model", str(tmp_path / "none.onnx"), "--raster", str(scene.raster), "--out",
                str(tmp_path / "x.gpkg"))
    assert bad.returncode == 2 and "does not exist" in bad.stderr and not (tmp_path / "x.gpkg").exists()


def test_evaluate_on_a_dataset_split(tmp_path, small_onnx_model, areas):
    proc = lmhld("evaluate", "--model", str(small_onnx_model), "--data", str(areas["a32"]), "--split", "val",
                 "--json", str(tmp_path / "m.json"))
    assert proc.returncode == 0, proc.stderr
    result = json.loads((tmp_path / "m.json").read_text())
    for key in ("precision", "recall", "f1", "iou", "miou", "oa", "f1_mean_2class", "tp", "fp", "fn", "tn"):
        assert key in result
    assert result["split"] == "val" and result["tp"] + result["fp"] + result["fn"] + result["tn"] > 0
