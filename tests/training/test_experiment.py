"""`lmhld experiment`: a small generated grid (2 areas x 2 patch sizes x 2 models) runs, resumes, writes tables."""

from __future__ import annotations

import json
import math
import subprocess
import sys

import pytest

from lmhld_qgis.core.errors import LmhldError
from lmhld_qgis.core.split_folder import split_folder
from lmhld_qgis.core.synthetic import make_scene
from lmhld_qgis.training.experiment import load_experiment, run_experiment

from ..helpers import write_cas_splits

pytestmark = pytest.mark.slow


def write_config(tmp_path, areas=("north", "south")) -> object:
    blocks = []
    for i, name in enumerate(areas):
        s = make_scene(tmp_path / name, width=384, height=384, n_landslides=70, seed=20 + i)
        blocks.append(f'[[experiment.areas]]\nname = "{name}"\nraster = "{s.raster}"\ninventory = "{s.inventory}"\n'
                      "patch_sizes = [32, 64]\n")
    cfg = tmp_path / "exp.toml"
    cfg.write_text('[experiment]\nname = "tiny"\nmodels = ["unet", "attunet"]\nmodes = ["single", "mix", "part"]\n'
                   f'part_orders = [["{areas[0]}", "{areas[1]}"], ["{areas[1]}", "{areas[0]}"]]\n'
                   "[experiment.train]\nepochs = 1\nbatch_size = 8\noptimizer = \"adam\"\nlr = 0.003\n"
                   "[experiment.train.model_options]\nbase_width = 4\n"
                   "[experiment.export]\nmin_fraction = 0.05\ntolerance = 0.05\n\n" + "\n".join(blocks))
    return cfg


def test_grid_runs_resumes_and_writes_tables(tmp_path):
    cfg = write_config(tmp_path)
    out = tmp_path / "exp"
    first = run_experiment(cfg, out)
    assert set(first["best_patch_size"]) == {"north", "south"}
    assert len(first["exp1"]) == 2 * 2 * 2 and len(first["single"]) == 4
    assert len(first["part"]) == 2 * 2 * 2  # 2 orders x 2 models x 2 areas
    assert first["runs"]["skipped"] == 0
    row = first["exp1"][0]
    scene = json.loads((out / "runs" / "exp1" / f"{row['area']}_{row['patch_size']}_{row['model']}" / "scene.json")
                       .read_text())
    assert row["f1"] == scene["raw"]["f1"]  # the probability cut, as Tables 5-7 (not the cleaned polygons')
    for stem in ("table4_patch_size", "table5_single", "table7_part", "table7_part_by_order", "table7_part_per_area"):
        assert (out / "tables" / f"{stem}.md").read_text().startswith("# Table")
        assert (out / "tables" / f"{stem}.csv").read_text().count("\n") > 2
    # Table 7 as the paper's: per model, the mean over the addition orders of the whole test set's figures
    assert [r["model"] for r in first["part_mean"]] == ["unet", "attunet"]
    for mean in first["part_mean"]:
        by_order = [r for r in first["part_orders"] if r["model"] == mean["model"]]
        assert mean["orders"] == len(by_order) == 2
        for r in by_order:  # each order's figures are its run's test split, all areas together
            stages = "-".join(f"{n}_{first['best_patch_size'][n]}" for n in r["order"].split(" > "))
            test = json.loads((out / "runs" / "part" / f"{stages}_{mean['model']}" / "test.json").read_text())
            assert r["f1"] == pytest.approx(test["f1"]) and r["precision"] == pytest.approx(test["precision"])
        assert mean["f1"] == pytest.approx((by_order[0]["f1"] + by_order[1]["f1"]) / 2)
        assert mean["f1_spread"] == pytest.approx(abs(by_order[0]["f1"] - by_order[1]["f1"]))
    assert (out / "tables" / "table7_part.md").read_text().splitlines()[2].startswith(
        "| model | orders | precision | f1 | recall | iou | precision_spread | f1_spread | recall_spread |")
    for fig in ("prf_by_model", "f1_by_patch_size", "part_heatmap_unet", "part_order_differences_unet",
                "part_order_differences_attunet"):
        assert (out / "figures" / f"{fig}.png").stat().st_size > 5_000
    assert (out / "report.html").read_text().count("<img") >= 3
    trained = first["runs"]["trained"]
    # run again: nothing is retrained
    proc = subprocess.run([sys.executable, "-m", "lmhld_qgis", "experiment", str(cfg), "--out", str(out)],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    again = json.loads((out / "results.json").read_text())
    assert again["runs"] == {"trained": 0, "skipped": trained}
    best = ", ".join(f"{area} {size} px" for area, size in first["best_patch_size"].items())
    assert f"best patch size per area: {best}; 0 run(s) trained, {trained} reused from an earlier call" in proc.stdout
    assert f"Best patch size per area: {best} (whole-area F1" in (out / "report.html").read_text()
    assert again["exp1"] == first["exp1"]


def test_a_model_options_table_replaces_the_shared_options(tmp_path):
    (tmp_path / "e.toml").write_text(
        '[experiment]\nmodels = ["unet", "deeplabv3plus"]\n[[experiment.areas]]\nname = "a"\nraster = "a.tif"\n'
        'inventory = "a.gpkg"\npatch_sizes = [32]\n[experiment.train]\nepochs = 3\n'
        '[experiment.train.model_options]\nbase_width = 16\n'
        '[experiment.model_options.deeplabv3plus]\nencoder = "resnet18"\n')
    (tmp_path / "a.tif").touch()  # not a raster: said by name when the file is read, before any run
    (tmp_path / "a.gpkg").touch()
    with pytest.raises(LmhldError, match=r"area a in e.toml: cannot read raster .*a.tif: .*not in a format GDAL "
                                         r"reads .*; give a file GDAL can open \(GeoTIFF, VRT, ...\)$"):
        load_experiment(tmp_path / "e.toml")
    import numpy as np

    from ..helpers import write_raster

    write_raster(tmp_path / "a.tif", np.zeros((4, 64, 64), np.uint16))  # the inventory is not read here
    cfg = load_experiment(tmp_path / "e.toml")
    assert cfg.train_config("unet", [tmp_path], "single").model_options == {"base_width": 16}
    dl = cfg.train_config("deeplabv3plus", [tmp_path], "single")
    assert dl.model_options == {"encoder": "resnet18"} and dl.epochs == 3  # base_width is not a baseline's option
    # the options are `lmhld train`'s own defaults (it had hidden ones: 2 epochs, a batch of 16)
    assert (cfg.train_config("unet", [tmp_path], "single").batch_size, dl.epochs) == ("auto", 3)
    # a table for a model the study does not train now (the README's study trimmed to unet) is left aside: it was
    # refused ("model_options for fpn, which models = [...] does not list"); a misspelt one names the model
    (tmp_path / "e.toml").write_text((tmp_path / "e.toml").read_text() + '[experiment.model_options.fpn]\nx = 1\n')
    assert set(load_experiment(tmp_path / "e.toml").model_options) == {"deeplabv3plus"}
    (tmp_path / "e.toml").write_text((tmp_path / "e.toml").read_text() + '[experiment.model_options.deeplabv3pls]\n')
    with pytest.raises(LmhldError, match=r"e\.toml: \[experiment\.model_options\.deeplabv3pls\] names no model "
                                         r"\(did you mean deeplabv3plus\?\); the models are unet, "):
        load_experiment(tmp_path / "e.toml")


def test_bad_experiment_config(tmp_path):
    (tmp_path / "bad.toml").write_text('[experiment]\nmodels = ["unet", "nope"]\n[[experiment.areas]]\n'
                                       'name = "a"\nraster = "a.tif"\ninventory = "a.gpkg"\npatch_sizes = [32]\n')
    with pytest.raises(LmhldError, match="unknown model 'nope'"):
        load_experiment(tmp_path / "bad.toml")
    good = tiny_config(tmp_path).read_text()
    for change, message in (
            (("modes = [\"single\"]", "modes = [\"single\", \"mixx\"]"),
             r"modes = \['single', 'mixx'\]: each must be one of single, mix, part"),  # was: mixx silently skipped
            (("[experiment.train]", '[[experiment.areas]]\nname = "solo"\nraster = "a.tif"\ninventory = "a.gpkg"\n'
                                    'patch_sizes = [32]\n[experiment.train]'),
             r"area name\(s\) solo given twice"),  # was: accepted, the two areas' runs filed under one name
            (("scene.tif", "nope.tif"), r"area solo: raster .*nope\.tif does not exist; check the path "
                                        r"\(relative paths are read from the folder of bad\.toml\)"),
            (("[experiment]", "[experiment"), r"experiment config .*bad\.toml cannot be parsed: Expected"),
            (('models = ["unet"]', 'models = ["unet", "unet"]'), r"models lists unet more than once"),
            (('modes = ["single"]', 'modes = ["single"]\npart_orders = [["solo"], ["solo"]]'),
             r"part_orders lists solo more than once: each is one run"),  # was: one run counted as two orders
            # was: found at linknet's first run, after the datasets were exported and unet trained
            (('models = ["unet"]', 'models = ["unet", "linknet"]'),
             r"bad options for linknet: base_width \(not an option of linknet\).*give linknet a table of its own, "
             r"\[experiment\.model_options\.linknet\]"),
            (("epochs = 2", "epochs = 2\nlr = -1"), r"lr"),
            # a probe's typos: ignored (the study ran with the defaults), or an unexpected error (a TypeError)
            (('modes = ["single"]', 'modes = ["single"]\nmodse = ["mix"]\nepochs = 1'),
             r"bad\.toml: \[experiment\] has no key epochs, modse \(epochs is a training option: put it under "
             r"\[experiment\.train\]; did you mean modes\?\)"),
            (("min_fraction = 0.05", "min_fractoin = 0.05"),
             r"\[experiment\.export\] has no option min_fractoin \(did you mean min_fraction\?\)"),
            (("min_fraction = 0.05", 'min_fraction = "low"'),
             r"\[experiment\.export\] min_fraction must be a number, got 'low' \(text\)"),
            (("patch_sizes = [32]", 'patch_sizes = "32"'),  # was: read as 3 and 2
             r"area solo in bad\.toml: patch_sizes must be a list of whole numbers of pixels"),
            (('models = ["unet"]', "models = [1]"), r"models must be a list of names, such as models = \[\"unet\"\]"),
            # a second probe's: a name that is a path wrote runs outside --out; model in [experiment.train] was
            # overwritten by each run's without a word
            (('name = "solo"', 'name = "../../escaped"'), r"area name '\.\./\.\./escaped' in bad\.toml: its datasets "
                                                         r"and runs are folders named after it"),
            (("epochs = 2", 'epochs = 2\nmodel = "attunet"'),
             r"\[experiment\.train\] model is set by the study for each run \(the study's networks are models = "
             r"\[\.\.\.\] in \[experiment\]\)"),
            # a third probe's: [32, 32] ran once and said "1 reused from an earlier call"; 30 px was exported, then
            # refused by the first training; the valid options listed model, mode, data and names
            (("patch_sizes = [32]", "patch_sizes = [32, 32]"), r"patch_sizes lists 32 more than once"),
            (("patch_sizes = [32]", "patch_sizes = [32, 30]"), r"bad\.toml: area solo's patch size 30 px cannot be "
                                                              r"trained by unet, which takes sizes that divide by 16: "
                                                              r"give 16 or 32 in its patch_sizes"),
            (("epochs = 2", "epochz = 2"), r"unknown training option\(s\) \['epochz'\] in \[experiment\.train\] "
                                          r"\(did you mean epochs\?\); valid: \[(?!.*'model').*'epochs'"),
    ):
        (tmp_path / "bad.toml").write_text(good.replace(*change, 1))
        with pytest.raises(LmhldError, match=message):
            load_experiment(tmp_path / "bad.toml")
    (tmp_path / "one.toml").write_text(good.replace('models = ["unet"]', 'models = "unet"')
                                       .replace("patch_sizes = [32]", "patch_sizes = 32"))
    one = load_experiment(tmp_path / "one.toml")  # one name, one size: a list of one (was: 'unknown model u')
    assert one.models == ["unet"] and one.areas[0].patch_sizes == [32]


def test_an_export_that_keeps_nothing_is_said_for_its_area_in_the_experiment_file_s_terms(tmp_path):
    cfg = tiny_config(tmp_path)
    cfg.write_text(cfg.read_text().replace("min_fraction = 0.05", "min_fraction = 0.99"))
    # an experiment's default is the paper's recipe: generalise is export's default, not "the default recipe"
    with pytest.raises(LmhldError, match=r"^area solo at 32 px: no patch kept.*\(the generalise recipe, export's "
                                         r'default, also keeps .*; in the experiment file: '
                                         r'\[experiment\.export\] recipe = "generalise"$'):
        run_experiment(cfg, tmp_path / "exp")


def tiny_config(tmp_path, epochs: int = 2):
    s = make_scene(tmp_path / "solo", width=256, height=256, n_landslides=40, seed=31)
    cfg = tmp_path / "tiny.toml"
    cfg.write_text('[experiment]\nmodels = ["unet"]\nmodes = ["single"]\n'
                   f'[[experiment.areas]]\nname = "solo"\nraster = "{s.raster}"\ninventory = "{s.inventory}"\n'
                   f"patch_sizes = [32]\n[experiment.train]\nepochs = {epochs}\nbatch_size = 8\n"
                   '[experiment.train.model_options]\nbase_width = 4\n'
                   "[experiment.export]\nmin_fraction = 0.05\ntolerance = 0.05\n")
    return cfg


class Recorder:
    """Records fractions; asks to stop once the fraction passes `stop_at`."""

    def __init__(self, stop_at: float = 2.0) -> None:
        self.fractions, self.messages, self.stop_at = [], [], stop_at

    def set_fraction(self, f):
        self.fractions.append(f)

    def info(self, message):
        self.messages.append(message)

    def warn(self, message):
        self.messages.append(message)

    def is_cancelled(self):
        return bool(self.fractions) and self.fractions[-1] > self.stop_at


def test_a_rerun_with_other_options_is_refused_rather_than_reusing_runs(tmp_path):
    """Was: epochs 1 -> 2 reused the 1-epoch runs and filed them under the new options."""
    out = tmp_path / "exp"
    run_experiment(tiny_config(tmp_path, epochs=1), out)
    with pytest.raises(LmhldError, match=r"holds an experiment made with other options \(experiment\.train\.epochs "
                                         r"1 -> 2\); its finished datasets and runs would be reused"):
        run_experiment(tiny_config(tmp_path, epochs=2), out)
    assert run_experiment(tiny_config(tmp_path, epochs=1), out)["runs"] == {"trained": 0, "skipped": 1}


def test_an_area_s_files_changed_in_place_are_refused_rather_than_reusing_runs(tmp_path):
    """Was: the raster and inventory replaced under the same paths, the rerun said "0 run(s) trained, 1 reused"
    and Table 5 kept the old scene's figures. A study from before contents were recorded still reruns."""
    from osgeo import ogr

    out, cfg = tmp_path / "exp", tiny_config(tmp_path, epochs=1)
    run_experiment(cfg, out)
    [inventory] = (tmp_path / "solo").glob("*_inventory.gpkg")
    [scene] = (tmp_path / "solo").glob("*.tif")
    scene.with_name(scene.name + ".aux.xml").write_text("<PAMDataset/>")  # QGIS opened the scene: not a change
    assert run_experiment(cfg, out)["runs"] == {"trained": 0, "skipped": 1}
    ds = ogr.Open(str(inventory), 1)  # the annotator deletes a polygon and saves
    lyr = ds.GetLayer(0)
    lyr.DeleteFeature(lyr.GetNextFeature().GetFID())
    ds = None
    with pytest.raises(LmhldError, match=rf"area solo's inventory {inventory} \(changed in place since its "
                                         r"datasets were made"):
        run_experiment(cfg, out)
    record = json.loads((out / "experiment.json").read_text())
    del record["areas"]["solo"]["contents"]  # as an older version wrote it
    (out / "experiment.json").write_text(json.dumps(record))
    assert run_experiment(cfg, out)["runs"] == {"trained": 0, "skipped": 1}
    # a finished run whose model file was deleted was reused without it: written again from its checkpoint
    [model] = (out / "runs").rglob("model.onnx")
    model.unlink()
    assert run_experiment(cfg, out)["runs"] == {"trained": 1, "skipped": 0}
    assert model.is_file() and (model.parent / "result.json").is_file()


def test_a_folder_of_other_files_is_not_taken_and_areas_sharing_a_raster_are_told(tmp_path):
    """A probe's --out was a folder of its own files: the study wrote among them. Two areas on one raster trained
    their shared patches twice in mix mode without a word."""
    from lmhld_qgis.core.errors import CancelledError

    cfg = tiny_config(tmp_path)
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "report.html").write_text("my report")
    (mine / "notes.txt").write_text("mine")
    with pytest.raises(LmhldError, match=r"mine holds other files \(notes\.txt\) and no experiment \(experiment\.json\)"
                                         r": .* choose a new or empty folder for --out"):
        run_experiment(cfg, mine)
    assert (mine / "report.html").read_text() == "my report" and sorted(p.name for p in mine.iterdir()) == [
        "notes.txt", "report.html"]
    text = cfg.read_text()
    twice = text[text.index("[[experiment.areas]]"):text.index("[experiment.train]")]
    cfg.write_text(text.replace("[experiment.train]", twice.replace('name = "solo"', 'name = "again"')
                                + "[experiment.train]"))

    class StopAtOnce(Recorder):
        def is_cancelled(self):
            return True

    said = StopAtOnce()
    with pytest.raises(CancelledError):
        run_experiment(cfg, tmp_path / "exp", said)
    assert any(m.startswith("areas solo, again share ") and "mix mode trains the patches they share twice" in m
               for m in said.messages), said.messages


def test_a_first_call_that_made_nothing_does_not_hold_its_options(tmp_path):
    """An export that failed left experiment.json, and the rerun with the fix was refused as another study's."""
    out = tmp_path / "exp"
    cfg = tiny_config(tmp_path)
    failing = tmp_path / "failing.toml"
    failing.write_text(cfg.read_text().replace("min_fraction = 0.05", "min_fraction = 0.99"))
    with pytest.raises(LmhldError):
        run_experiment(failing, out)
    assert (out / "experiment.json").exists() and not any((out / "runs").rglob("*.pt"))
    assert run_experiment(cfg, out)["runs"] == {"trained": 1, "skipped": 0}
    with pytest.raises(LmhldError, match="holds an experiment made with other options"):  # now it made something
        run_experiment(failing, out)


def test_progress_cancel_and_resume(tmp_path):
    from lmhld_qgis.core.errors import CancelledError

    cfg, out = tiny_config(tmp_path), tmp_path / "exp"
    stopping = Recorder(stop_at=0.3)
    with pytest.raises(CancelledError, match=r"last\.pt saved"):
        run_experiment(cfg, out, progress=stopping)
    assert (out / "runs" / "exp1" / "solo_32_unet" / "last.pt").exists()
    assert not (out / "results.json").exists()
    watching = Recorder()
    results = run_experiment(cfg, out, progress=watching)
    assert results["runs"] == {"trained": 1, "skipped": 0}
    assert any(m.startswith("resuming exp1/solo_32_unet") for m in watching.messages)
    assert watching.fractions == sorted(watching.fractions) and watching.fractions[-1] == 1.0


def test_mix_and_part_runs_are_filed_under_their_areas_and_sizes(tmp_path):
    """Mix runs were filed as mix/SIZE_MODEL and part runs as part/ORDER_MODEL: a model added to the study moved an
    area's best size, and the rerun reused a run trained on other areas (KeyError: 'alpha') or at the old size
    (Table 7 at 64 px for an area whose best is 32 px), silently."""
    areas = ""
    for name, seed in (("alpha", 31), ("bravo", 32)):
        s = make_scene(tmp_path / name, width=256, height=256, n_landslides=40, seed=seed)
        areas += (f'[[experiment.areas]]\nname = "{name}"\nraster = "{s.raster}"\ninventory = "{s.inventory}"\n'
                  "patch_sizes = [32]\n")
    cfg = tmp_path / "two.toml"
    cfg.write_text('[experiment]\nmodels = ["unet"]\nmodes = ["single", "mix", "part"]\n' + areas
                   + "[experiment.train]\nepochs = 1\nbatch_size = 8\n"
                   "[experiment.train.model_options]\nbase_width = 4\n"
                   "[experiment.export]\nmin_fraction = 0.05\ntolerance = 0.05\n")
    out = tmp_path / "exp"
    run_experiment(cfg, out)
    runs = out / "runs"
    assert sorted(p.name for p in (runs / "mix").iterdir()) == ["alpha+bravo_32_unet"]
    assert sorted(p.name for p in (runs / "part").iterdir()) == ["alpha_32-bravo_32_unet"]
    assert (out / "tables" / "table7_part.md").exists() and (out / "figures" / "part_heatmap_unet.png").exists()
    # Table 6 as the paper's: one row per model, both areas' test splits together; per area beside it
    results = json.loads((out / "results.json").read_text())
    test = json.loads((runs / "mix" / "alpha+bravo_32_unet" / "test.json").read_text())
    assert [(r["areas"], r["model"]) for r in results["mix_total"]] == [("alpha+bravo", "unet")]
    assert results["mix_total"][0]["f1"] == pytest.approx(test["f1"])
    assert [r["area"] for r in results["mix"]] == ["alpha", "bravo"]
    assert "| alpha+bravo | unet |" in (out / "tables" / "table6_mix.md").read_text()
    assert not (out / "figures" / "part_order_differences_unet.png").exists()  # one order: nothing to compare
    assert "| unet | 1 |" in (out / "tables" / "table7_part.md").read_text()
    assert (out / "tables" / "table7_part.md").read_text().rstrip().endswith("| n/a | n/a | n/a |")  # not 0.0000
    single = tmp_path / "single.toml"  # the same study, part and mix modes dropped: their outputs go with them
    single.write_text(cfg.read_text().replace('modes = ["single", "mix", "part"]', 'modes = ["single"]'))
    assert run_experiment(single, out)["runs"]["trained"] == 0
    assert sorted(p.name for p in (out / "tables").iterdir()) == ["table4_patch_size.csv", "table4_patch_size.md",
                                                                  "table5_single.csv", "table5_single.md"]
    assert not (out / "figures" / "part_heatmap_unet.png").exists()
    import shutil

    moved = shutil.copytree(out, tmp_path / "elsewhere" / "exp")  # a study copied to another disk continues
    # part runs were filed as alpha32-bravo32_unet (the name run into the size): such a run is moved, not retrained
    (moved / "runs" / "part" / "alpha_32-bravo_32_unet").rename(moved / "runs" / "part" / "alpha32-bravo32_unet")
    assert run_experiment(cfg, moved)["runs"] == {"trained": 0, "skipped": 4}
    assert sorted(p.name for p in (moved / "runs" / "part").iterdir()) == ["alpha_32-bravo_32_unet"]
    config = runs / "part" / "alpha_32-bravo_32_unet" / "config.json"  # as if trained on another study's datasets
    recorded = json.loads(config.read_text())
    config.write_text(json.dumps({**recorded, "data": recorded["data"][::-1]}))
    with pytest.raises(LmhldError, match=r"run part/alpha_32-bravo_32_unet in .* was trained on .*bravo_32, "
                                         r".*alpha_32, not on .*alpha_32, .*bravo_32"):
        run_experiment(cfg, out)


def test_areas_of_other_band_counts_are_checked_up_front_and_left_out_of_mix_and_part_by_name(tmp_path):
    """A probe's study of a 4-band and a 3-band area: export options applied to every area failed at the second
    area hours in ("band(s) [4, ...] do not exist"), mix mode failed after experiment 1 with no table written, and
    Table 7 scored the 4-band area with the final 3-band network (fed the bands whose names matched) while the
    run's own forgetting table called it n/a. Bands are now an area's own option, checked when the file is read;
    mix trains areas of one band count together and part mode scores only the areas its final input layer takes,
    each said in the report."""
    from osgeo import gdal

    alpha = make_scene(tmp_path / "alpha", width=256, height=256, n_landslides=40, seed=31)
    bravo = make_scene(tmp_path / "bravo", width=256, height=256, n_landslides=40, seed=32)
    three = tmp_path / "bravo_rgb.tif"
    gdal.Translate(str(three), str(bravo.raster), bandList=[1, 2, 3])  # blue, green, red: no nir

    def study(bravo_keys: str) -> object:
        cfg = tmp_path / "bands.toml"
        cfg.write_text('[experiment]\nmodels = ["unet"]\nmodes = ["single", "mix", "part"]\n'
                       f'[[experiment.areas]]\nname = "alpha"\nraster = "{alpha.raster}"\n'
                       f'inventory = "{alpha.inventory}"\npatch_sizes = [32]\n'
                       f'[[experiment.areas]]\nname = "bravo"\nraster = "{three}"\ninventory = "{bravo.inventory}"\n'
                       f"patch_sizes = [32]\n{bravo_keys}"
                       "[experiment.train]\nepochs = 1\nbatch_size = 8\n[experiment.train.model_options]\n"
                       "base_width = 4\n[experiment.export]\nmin_fraction = 0.05\ntolerance = 0.05\n")
        return cfg

    with pytest.raises(LmhldError, match=r"area bravo in bands.toml: .* has 3 band\(s\); band\(s\) 4 do not "
                                         r"exist\. Choose bands 1\.\.3 \(set it in this area's own bands = \[\.\.\.\] "
                                         r"in its \[\[experiment.areas\]\] table"):
        load_experiment(study("bands = [1, 2, 4]\n"))
    with pytest.raises(LmhldError, match=r"area bravo in bands.toml: band_list is not an area key .* nor an export "
                                         r"option \(.*bands"):
        load_experiment(study("band_list = [1, 2, 3]\n"))
    assert load_experiment(study("")).areas[1].bands == ["blue", "green", "red"]

    out = tmp_path / "exp"
    results = run_experiment(study(""), out)
    assert not (out / "runs" / "mix").exists() and results["mix_total"] == []
    part = {r["area"]: r for r in results["part"]}
    assert part["alpha"]["f1"] != part["alpha"]["f1"]  # NaN: the final 3-band network does not take alpha
    assert part["bravo"]["f1"] >= 0
    test = json.loads(next((out / "runs" / "part").glob("*/test.json")).read_text())
    assert list(test["per_area"]) == ["bravo"] and results["part_orders"][0]["f1"] == pytest.approx(test["f1"])
    result = (next((out / "runs" / "part").glob("*/result.json"))).read_text()
    assert "NaN" not in result and json.loads(result)["forgetting"][-1]["alpha"] is None  # strict JSON
    assert "| alpha | n/a | n/a | n/a | n/a |" in (out / "tables" / "table7_part_per_area.md").read_text()
    report = (out / "report.html").read_text()
    assert "at 32 px, alpha (4 bands); bravo (3 bands) share a best patch size but not a band count" in report
    assert "alpha: n/a after alpha &gt; bravo: its 4 bands do not fit the final 3-band input layer" in report
    # the same study with bravo's three bands chosen for alpha too: one band count, so mix trains them together
    again = study("").read_text().replace('patch_sizes = [32]\n[[experiment.areas]]',
                                          'patch_sizes = [32]\nbands = [1, 2, 3]\n[[experiment.areas]]', 1)
    (tmp_path / "same.toml").write_text(again)
    mixed = run_experiment(tmp_path / "same.toml", tmp_path / "exp_same")
    assert [r["areas"] for r in mixed["mix_total"]] == ["alpha+bravo"]
    assert results["part_orders"][0]["areas"] == "bravo"
    # two orders that score disjoint areas (each its last one's band count): a probe's Table 7 gave their mean
    # and a "spread between orders" that measured the difference between the two areas
    orders = study("").read_text().replace('modes = ["single", "mix", "part"]',
                                           'modes = ["part"]\npart_orders = [["alpha", "bravo"], ["bravo", "alpha"]]')
    (tmp_path / "orders.toml").write_text(orders)
    apart = run_experiment(tmp_path / "orders.toml", out)  # experiment 1's runs are reused
    assert [r["areas"] for r in apart["part_orders"]] == ["none", "none"]
    assert all(math.isnan(r["f1"]) for r in apart["part_orders"] + apart["part_mean"])
    assert "Table 7 compares the orders on the areas every order scores: none, so its totals are n/a" in \
        (out / "report.html").read_text()
    by_area = {(r["order"], r["area"]): r["f1"] for r in apart["part"]}  # each order still scores its own
    assert by_area[("alpha > bravo", "bravo")] >= 0 and by_area[("bravo > alpha", "alpha")] >= 0


def test_core_messages_are_said_in_the_experiment_file_s_terms():
    from lmhld_qgis.training.experiment import in_file_terms

    assert in_file_terms("e.g. --bands 1,2,3,14 (in QGIS: Bands in order), or --bands 1,2,3 to leave it out") \
        == "e.g. bands = [1, 2, 3, 14], or bands = [1, 2, 3] to leave it out"
    assert in_file_terms("(--tolerance 0.02; best: 3 points); a larger --tolerance") \
        == "(tolerance = 0.02; best: 3 points); a larger tolerance"
    # a run's own warning, from the paper recipe's batch: a word is a TOML string
    assert in_file_terms("batch size 16 (the paper recipe's) is larger than the 11 training patches: give "
                         "--batch-size auto (sized for several steps an epoch), or at most 2") == (
        "batch size 16 (the paper recipe's) is larger than the 11 training patches: give batch_size = \"auto\" "
        "(sized for several steps an epoch), or at most 2")


def test_areas_mix_mode_leaves_out_are_said():
    """An area alone at its best patch size was left out of mix mode without a word (a probe's report had no line
    for it); one that shares a size but not a band count is said as before."""
    from lmhld_qgis.training.experiment import mix_notes

    assert mix_notes({(32, 3): ["a", "b"], (64, 3): ["c"]}) == [
        "c (64 px) has no other area at its best patch size, so mix mode did not train it"]
    assert mix_notes({(32, 3): ["a", "b"], (32, 4): ["d"], (64, 3): ["c"], (128, 3): ["e"]}) == [
        "at 32 px, a, b (3 bands); d (4 bands) share a best patch size but not a band count, so each trains only "
        "with the areas of its own band count",
        "c (64 px), e (128 px) have no other area at their best patch size, so mix mode did not train them"]
    assert mix_notes({(32, 3): ["a"], (64, 3): ["c"]}) == []  # no group at all: the mix section says it of all


def test_patch_folders_take_part_beside_a_scene(tmp_path, shared_data):
    """Areas given as patch folders already cut and split (here two CAS folders divided into train/, val/, test/)
    join a scene in one study: trained at their own size without a size search or a whole-area score (said in the
    report), mixed with each other (one size, one band count) but not with the 4-band scene, scored by area name
    on their test splits. A folder without splits is refused when the file is read, naming the fix."""
    scene = make_scene(tmp_path / "solo", width=256, height=256, n_landslides=40, seed=31)
    for name, seed in (("casa", 1), ("hokkaido_split", 2)):  # area casb's folder has a name of its own
        write_cas_splits(tmp_path / name, per_split=(8, 2, 2), seed=seed)

    def study(extra: str = "") -> object:
        cfg = tmp_path / "patches.toml"
        cfg.write_text('[experiment]\nmodels = ["unet"]\nmodes = ["single", "mix", "part"]\n'
                       f'[[experiment.areas]]\nname = "solo"\nraster = "{scene.raster}"\n'
                       f'inventory = "{scene.inventory}"\npatch_sizes = [32]\n'
                       '[[experiment.areas]]\nname = "casa"\npatches = "casa"\n'
                       f'[[experiment.areas]]\nname = "casb"\npatches = "hokkaido_split"\n{extra}'
                       "[experiment.train]\nepochs = 1\nbatch_size = 4\n[experiment.train.model_options]\n"
                       "base_width = 4\n[experiment.export]\nmin_fraction = 0.05\ntolerance = 0.05\n")
        return cfg

    cfg = load_experiment(study())
    assert [(a.name, a.patch_sizes, a.bands) for a in cfg.areas[1:]] == [
        ("casa", [32], ["red", "green", "blue"]), ("casb", [32], ["red", "green", "blue"])]
    with pytest.raises(LmhldError, match=r"area flat in patches.toml: .*landslide4sense is not split into train, "
                                         r"val and test: every run is scored on its area's test split.*`lmhld "
                                         r"split .*landslide4sense --out .*landslide4sense_split`"):
        load_experiment(study(f'[[experiment.areas]]\nname = "flat"\npatches = "{shared_data / "landslide4sense"}"\n'))
    with pytest.raises(LmhldError, match=r"area casc in patches.toml: an area given as patches = \"...\" takes only "
                                         r"name, patches, not bands"):
        load_experiment(study('[[experiment.areas]]\nname = "casc"\npatches = "casa"\nbands = [1, 2]\n'))
    # split with no test share: told to split its source again with one (the readers' own advice, to choose
    # another split, did not fit)
    write_cas_splits(tmp_path / "flat", per_split=(10, 0, 0))
    split_folder(tmp_path / "flat" / "train", tmp_path / "notest", ratios=(0.8, 0.2, 0.0), tolerance=0.5)
    with pytest.raises(LmhldError, match=r"area notest in patches.toml: .*notest has no test split \(it was split "
                                         r"with a test share of 0\).*`lmhld split SOURCE --out .*notest --split "
                                         r"0\.7,0\.2,0\.1 --overwrite`"):
        load_experiment(study('[[experiment.areas]]\nname = "notest"\npatches = "notest"\n'))
    odd = write_cas_splits(tmp_path / "odd", per_split=(4, 2, 2))  # one validation patch of another size
    write_cas_splits(tmp_path / "big", size=64, per_split=(0, 1, 0))
    for sub in ("img", "mask"):
        (tmp_path / "big" / "val" / sub / "val000.tif").rename(odd / "val" / sub / "big.tif")
    with pytest.raises(LmhldError, match=r"area odd in patches.toml: .*odd \(val split\): sample big\.tif has 3 "
                                         r"band\(s\) of 64 x 64 px"):
        load_experiment(study('[[experiment.areas]]\nname = "odd"\npatches = "odd"\n'))

    # an experiment folder in a patch folder changed what it holds, and its rerun was refused as a re-split folder
    for inside in (tmp_path / "hokkaido_split", tmp_path / "hokkaido_split" / "study"):
        with pytest.raises(LmhldError, match=rf"the experiment folder .*{inside.name} (is|lies inside) area casb's "
                                             r"patch folder .*hokkaido_split, which the study must leave as it is"):
            run_experiment(study(), inside)
    assert not (tmp_path / "hokkaido_split" / "study").exists()
    assert not (tmp_path / "hokkaido_split" / "experiment.json").exists()

    out = tmp_path / "exp"
    results = run_experiment(study(), out)
    assert {r["area"] for r in results["exp1"]} == {"solo"}  # the folders have no size to search
    assert results["best_patch_size"] == {"solo": 32, "casa": 32, "casb": 32}
    single = {r["area"]: r for r in results["single"]}
    test = json.loads((out / "runs" / "exp1" / "casa_32_unet" / "test.json").read_text())
    assert list(test["per_area"]) == ["casa"] and test["patches"] == 2  # casa's test split, under its area name
    assert single["casa"]["f1"] == pytest.approx(test["f1"])
    assert [r["areas"] for r in results["mix_total"]] == ["casa+casb"]
    assert {r["area"] for r in results["mix"]} == {"casa", "casb"}
    part = {r["area"]: r["f1"] for r in results["part"]}
    assert part["solo"] != part["solo"] and part["casb"] >= 0  # the final RGB network does not take the 4-band scene
    # the runs name their datasets after the areas (the log, forgetting.csv and the card said the folder's name)
    [part_run] = (out / "runs" / "part").iterdir()
    assert part_run.name == "solo_32-casa_32-casb_32_unet"
    assert list(json.loads((part_run / "result.json").read_text())["forgetting"][-1])[-3:] == ["solo", "casa", "casb"]
    from lmhld_qgis.core.modelcard import read_onnx_card

    assert read_onnx_card(out / "runs" / "exp1" / "casb_32_unet" / "model.onnx").training_dataset == "casb"
    report = (out / "report.html").read_text()
    assert "casa: patches of 32 px from" in report and "no patch size was searched" in report
    assert ("solo 32 px, casa 32 px (the size of its patches), casb 32 px (the size of its patches) (whole-area F1 "
            "of the probability cut, mean over models, for solo)") in report  # no whole-area score for a folder
    record = json.loads((out / "experiment.json").read_text())["areas"]
    assert record["casa"]["patches"] == str(tmp_path / "casa") and len(record["casa"]["contents"]) == 40
    assert "raster" in record["solo"] and set(record["solo"]["contents"]) == {"raster", "inventory"}
    assert run_experiment(study(), out)["runs"] == {"trained": 0, "skipped": 5}  # a rerun reuses every run
    # re-split, the folder would have its runs scored on patches they trained on: refused (a probe's rerun reused
    # all of them, 6 of 10 test patches having been training patches)
    (tmp_path / "casa" / "test" / "img" / "test000.tif").rename(tmp_path / "casa" / "train" / "img" / "moved.tif")
    (tmp_path / "casa" / "test" / "mask" / "test000.tif").rename(tmp_path / "casa" / "train" / "mask" / "moved.tif")
    with pytest.raises(LmhldError, match=r"other options \(area casa's patches \(re-split or changed\)\)"):
        run_experiment(study(), out)


def test_a_run_s_refusal_is_said_in_the_file_s_keys(tmp_path):
    """A probe's [experiment.train] device = "cuda" on a machine without a GPU was told "use --device auto or cpu",
    a flag the experiment file has no place for."""
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU: device = \"cuda\" trains")
    scene = make_scene(tmp_path / "solo", width=128, height=128, n_landslides=10, seed=5)
    cfg = tmp_path / "gpu.toml"
    cfg.write_text('[experiment]\nmodels = ["unet"]\nmodes = ["single"]\n'
                   f'[[experiment.areas]]\nname = "solo"\nraster = "{scene.raster}"\ninventory = "{scene.inventory}"\n'
                   'patch_sizes = [32]\n[experiment.train]\nepochs = 1\ndevice = "cuda"\n'
                   "[experiment.export]\nmin_fraction = 0.05\ntolerance = 0.5\n")
    with pytest.raises(LmhldError, match=r"run exp1/solo_32_unet: device cuda was asked for but torch sees no GPU; "
                                         r"use device = \"auto\" or device = \"cpu\"$"):
        run_experiment(cfg, tmp_path / "exp")


def test_an_experiment_folder_holding_an_area_s_scene_is_refused(tmp_path):
    """A probe's `lmhld experiment exp.toml --out area` wrote datasets/, runs/ and tables/ beside the area's scene
    and inventory (export, train and detect refuse an output folder holding an input)."""
    config = tiny_config(tmp_path)
    before = sorted(p.name for p in (tmp_path / "solo").iterdir())
    with pytest.raises(LmhldError, match=r"area solo's raster .*scene.tif lies inside the experiment folder .*solo, "
                                         r"where the study writes"):
        run_experiment(config, tmp_path / "solo")
    assert sorted(p.name for p in (tmp_path / "solo").iterdir()) == before
