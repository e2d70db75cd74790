"""`lmhld preview` and the export options beyond the paper's recipe, as a user runs them (real subprocesses)."""

from __future__ import annotations

import json

from osgeo import ogr

from .test_cli import lmhld


def test_preview_then_export_with_negatives_and_background(tmp_path):
    from lmhld_qgis.core.synthetic import make_scene

    scene = make_scene(tmp_path / "s", width=320, height=320, n_landslides=30, seed=2, preset="hard")
    plan = ["--raster", str(scene.raster), "--inventory", str(scene.inventory), "--patch-size", "32",
            "--negatives", str(scene.distractors), "--background-share", "0.3", "--tolerance", "0.03"]
    proc = lmhld("preview", *plan, "--out", str(tmp_path / "preview.gpkg"))
    assert proc.returncode == 0, proc.stderr
    assert "preview:" in proc.stdout and (tmp_path / "preview.gpkg").exists()
    assert (proc.stdout + proc.stderr).count("landslide pixels") == 1  # the plan's summary is said once
    again = lmhld("preview", *plan, "--out", str(tmp_path / "preview.gpkg"))
    assert again.returncode == 2 and "exists; pass --overwrite to replace it, or choose another path" in again.stderr
    onto_input = lmhld("preview", *plan, "--out", str(scene.inventory), "--overwrite")
    assert onto_input.returncode == 2 and "writing it would destroy what the run reads" in onto_input.stderr

    proc = lmhld("export", *plan, "--out", str(tmp_path / "ds"))
    assert proc.returncode == 0, proc.stderr
    card = json.loads((tmp_path / "ds" / "dataset.json").read_text())
    assert card["recipe"]["background_share"] == 0.3 and card["counts_by_kind"]["negative"] > 0
    counts = card["counts"]
    assert (f"exported {sum(counts.values())} patches of 32 px (generalise recipe): {counts['train']} train, "
            f"{counts['val']} val, {counts['test']} test; {card['counts_by_kind']['landslide']} landslide, ") \
        in proc.stdout
    assert "landslide pixels " in proc.stdout and "{" not in proc.stdout  # words, not a Python dict
    assert "smallest landslide worth reporting" in proc.stdout
    ds = ogr.Open(str(tmp_path / "preview.gpkg"))
    kept = {f["id"]: f["split"] for f in ds.GetLayer("windows") if f["status"] == "kept"}
    assert kept == {pid: name for name in ("train", "val", "test")
                    for pid in (tmp_path / "ds" / "splits" / f"{name}.txt").read_text().split()}


def test_a_preview_of_too_few_windows_is_written_to_show_why_export_refuses(tmp_path):
    """Where export would refuse (too few windows kept to split), the preview is most needed: it writes every
    window with its reason, says that export would refuse and why, and exits 1 (a finding, as validate's)."""
    from lmhld_qgis.core.synthetic import make_scene

    scene = make_scene(tmp_path / "s", width=160, height=160, n_landslides=2, seed=2)
    proc = lmhld("preview", "--raster", str(scene.raster), "--inventory", str(scene.inventory), "--patch-size", "64",
                 "--recipe", "paper", "--out", str(tmp_path / "preview.gpkg"))
    assert proc.returncode == 1, proc.stderr
    assert "lmhld preview: export would refuse this: " in proc.stderr and "Traceback" not in proc.stderr
    assert "The preview shows every window and why it was dropped" in proc.stderr
    ds = ogr.Open(str(tmp_path / "preview.gpkg"))
    windows = list(ds.GetLayer("windows"))
    assert len(windows) == 9 and {f["reason"] for f in windows if f["status"] == "dropped"} and all(
        not f["split"] for f in windows)


def test_plan_options_are_range_checked(tmp_path):
    base = ["--raster", "r.tif", "--inventory", "i.gpkg", "--out", str(tmp_path / "ds")]
    for extra, message in ((["--patch-size", "0"], "--patch-size: must be an integer >= 8"),
                           (["--patch-size", "32", "--background-share", "1"], "--background-share: must be a "
                                                                               "number in [0, 1)"),
                           (["--patch-size", "32", "--recipe", "magic"], "invalid choice: 'magic'")):
        proc = lmhld("export", *base, *extra)
        assert proc.returncode == 2 and message in proc.stderr, proc.stderr
    assert not (tmp_path / "ds").exists()
