"""Stopped in the middle (SIGTERM, Ctrl-C, SIGKILL): no partial output, no temporary file, a true message; a killed
training resumes to the same weights as a run that was never stopped."""

from __future__ import annotations

import signal

import pytest
import torch

from .conftest import TRAIN_RUN, interrupt, parts_of, record, wait_for

AREA = "Stopped in the middle"
SIGNALS = {"SIGTERM": signal.SIGTERM, "Ctrl-C (SIGINT)": signal.SIGINT}

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("name", SIGNALS)
def test_export_stopped_mid_write(work, name):
    work.add("big.tif", "big.gpkg")
    before = work.snapshot()
    args = ["export", "--raster", "big.tif", "--inventory", "big.gpkg", "--patch-size", "16", "--min-fraction",
            "0.02", "--tolerance", "0.3", "--out", "ds"]
    proc = work.spawn(*args)
    wait_for(lambda: any((p / "img").is_dir() and any((p / "img").iterdir()) for p in parts_of(work.dir, "ds")), proc)
    done = interrupt(proc, SIGNALS[name])
    work.check(done)
    record(AREA, f"export, {name} while patches are written", args, done, work.dir)
    assert done.returncode == 130 and "no partial output was left" in done.stderr
    assert not work.path("ds").exists() and work.snapshot() == before


@pytest.mark.parametrize("name", SIGNALS)
def test_detect_stopped_mid_write(work, name):
    work.add("big.tif", "model.onnx")
    args = ["detect", "--model", "model.onnx", "--raster", "big.tif", "--out", "d.gpkg", "--prob", "p.tif",
            "--batch-size", "1", "--overlap", "0.5"]
    proc = work.spawn(*args)
    wait_for(lambda: parts_of(work.dir, "p.tif"), proc)
    done = interrupt(proc, SIGNALS[name])
    work.check(done)  # the .part GeoPackage, its journal, the .part probability raster, the temporary mask: gone
    record(AREA, f"detect, {name} while probabilities are written", args, done, work.dir)
    assert done.returncode == 130 and "no partial output was left" in done.stderr
    assert {p.name for p in work.dir.iterdir()} == {"big.tif", "model.onnx"}


@pytest.mark.parametrize("name", SIGNALS)
def test_demo_stopped(work, name):
    args = ["demo", "--out", "demo out", "--epochs", "1", "--width", "4"]
    proc = work.spawn(*args)
    wait_for(lambda: (work.path("demo out") / "data").is_dir(), proc)
    done = interrupt(proc, SIGNALS[name])
    work.check(done)
    record(AREA, f"demo, {name} while it generates its data", args, done, work.dir)
    assert done.returncode == 130 and "no partial output was left" in done.stderr
    assert list(work.dir.iterdir()) == []


def test_demo_killed_while_replacing_a_demo_puts_the_old_one_back(work):
    """SIGKILL while `demo --overwrite` builds in place: the folder it was building blocked every rerun ("holds files
    lmhld did not write"), and the sweep deleted the demo it had set aside."""
    args = ["demo", "--out", "demo", "--epochs", "1", "--width", "4"]
    first = work.run(*args, area=AREA, case="demo (before one is killed)")
    assert first.returncode == 0, first.stderr
    before = work.snapshot()
    proc = work.spawn(*args, "--overwrite")
    wait_for(lambda: (work.path("demo") / "data").is_dir() and parts_of(work.dir, "demo"), proc)
    proc.kill()
    proc.wait()
    again = work.run(*args, area=AREA, case="demo again after one was killed while replacing a demo")
    assert again.returncode == 2 and "is not empty" in again.stderr, again.stderr  # the first demo, put back
    assert work.snapshot() == before
    replaced = work.run(*args, "--overwrite", area=AREA, case="demo --overwrite after a killed one")
    assert replaced.returncode == 0, replaced.stderr
    assert sorted(p.name for p in work.dir.iterdir()) == ["demo"]


def _weights(run) -> dict[str, torch.Tensor]:
    return torch.load(run / "last.pt", map_location="cpu", weights_only=True)["state_dict"]


def test_train_killed_then_resumed_ends_with_the_same_weights(work, trained_run):
    work.add("dataset")
    proc = work.spawn(*TRAIN_RUN)
    wait_for(lambda: work.path("run/last.pt").exists(), proc)  # a checkpoint mid-epoch (every 3 batches)
    record(AREA, "train, SIGKILL after its first checkpoint", TRAIN_RUN, interrupt(proc, signal.SIGKILL), work.dir)
    resumed = work.run(*TRAIN_RUN, "--resume", area=AREA, case="train --resume after SIGKILL")
    assert resumed.returncode == 0, resumed.stderr
    weights, reference = _weights(work.path("run")), _weights(trained_run)
    assert weights.keys() == reference.keys()
    assert all(torch.equal(weights[k], reference[k]) for k in weights)  # bit-identical on the CPU


def test_train_stopped_says_what_it_keeps(work):
    work.add("dataset")
    proc = work.spawn(*TRAIN_RUN)
    wait_for(lambda: work.path("run/last.pt").exists(), proc)
    done = interrupt(proc, signal.SIGTERM)
    work.check(done)
    record(AREA, "train, SIGTERM after its first checkpoint", TRAIN_RUN, done, work.dir)
    assert done.returncode == 130 and "last.pt saved in run: run the same command with --resume" in done.stderr
    assert torch.load(work.path("run/last.pt"), weights_only=True)["training_state"]["batch"] > 0


def test_experiment_stopped_then_continued(work):
    work.add("scene.tif", "inventory.gpkg")
    work.path("exp.toml").write_text(
        '[experiment]\nname = "tiny"\nmodels = ["unet"]\nmodes = ["single"]\n'
        '[experiment.train]\nepochs = 4\nbatch_size = 4\ncheckpoint_every = 1\ndevice = "cpu"\nworkers = 0\n'
        '[experiment.train.model_options]\nbase_width = 4\n'
        '[experiment.export]\nmin_fraction = 0.05\ntolerance = 0.3\n'
        '[[experiment.areas]]\nname = "a"\nraster = "scene.tif"\ninventory = "inventory.gpkg"\npatch_sizes = [32]\n')
    args = ["experiment", "exp.toml", "--out", "exp"]
    proc = work.spawn(*args)
    wait_for(lambda: list(work.path("exp").glob("runs/**/last.pt")), proc)
    done = interrupt(proc, signal.SIGTERM)
    record(AREA, "experiment, SIGTERM inside its first training run", args, done, work.dir)
    work.check(done, leftovers=False)
    assert done.returncode == 130 and "run the same command again to continue" in done.stderr
    assert "--resume" not in done.stderr  # the training's advice, for another command
    again = work.run(*args, area=AREA, case="experiment run again after SIGTERM")
    assert again.returncode == 0, again.stderr
    assert (work.path("exp") / "results.json").exists()
