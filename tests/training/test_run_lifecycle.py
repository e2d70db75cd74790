"""A run's life: extension of a finished run, restart of one that died before its first checkpoint, what resume
refuses, older checkpoints, early stopping, lean checkpoints, the calibrated card, and stopping by signal."""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from lmhld_qgis.core.errors import CancelledError, LmhldError
from lmhld_qgis.core.progress import NullProgress
from lmhld_qgis.training.checkpoint import load_checkpoint, write_checkpoint
from lmhld_qgis.training.config import TrainConfig, resume_config
from lmhld_qgis.training.trainer import Trainer, train

from .test_trainer import StopAfter, read_metrics


def config(data, **kw) -> TrainConfig:
    base = {"model": "unet", "model_options": {"base_width": 4}, "data": [str(d) for d in data], "epochs": 2,
            "batch_size": 8, "seed": 0, "early_stopping": 0}
    base.update(kw)
    return TrainConfig.from_values(base)


@pytest.fixture(scope="module")
def tiny(areas, tmp_path_factory):
    """16 training and 8 validation patches of a32: two batches an epoch, so a run takes seconds."""
    data = shutil.copytree(areas["a32"], tmp_path_factory.mktemp("tiny") / "tiny")
    for split, n in (("train", 16), ("val", 8)):
        path = data / "splits" / f"{split}.txt"
        path.write_text("\n".join(path.read_text().split()[:n]) + "\n")
    return data


@pytest.fixture
def no_onnx(monkeypatch):
    """These tests look at checkpoints, not at the ONNX file (tested elsewhere): skip its slow export."""
    monkeypatch.setattr(Trainer, "_export_onnx", lambda self: None)


def weights(run, name="last.pt"):
    return load_checkpoint(run / name)["state_dict"]


def same(a, b) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_extending_a_finished_run_continues_its_schedule(tiny, tmp_path, no_onnx):
    paper = {"recipe": "paper", "epochs": 2}
    train(config([tiny], **paper), tmp_path / "run")
    extended = train(config([tiny], **{**paper, "epochs": 3}), tmp_path / "run", resume=True)
    train(config([tiny], **{**paper, "epochs": 3}), tmp_path / "straight")
    assert same(weights(tmp_path / "run"), weights(tmp_path / "straight"))  # exponential: as if planned so
    rows = read_metrics(tmp_path / "run")
    assert [int(r["epoch"]) for r in rows] == [1, 2, 3] and len(extended.history) == 3
    assert json.loads((tmp_path / "run" / "config.json").read_text())["epochs"] == 3
    cosine = train(config([tiny]), tmp_path / "cos")
    train(config([tiny], epochs=3), tmp_path / "cos", resume=True)
    lrs = [float(r["lr"]) for r in read_metrics(tmp_path / "cos")]
    assert lrs[2] > lrs[1] and lrs[2] < lrs[0] * 0.75  # a warm restart at half the peak, then down again
    assert len(cosine.history) == 2


def test_resume_refuses_what_changes_the_run_and_fewer_epochs(tiny, tmp_path, no_onnx):
    train(config([tiny], epochs=1), tmp_path / "run")
    for change, message in ((dict(lr=0.5), r"lr differs from the stopped run \(0.001 \(the default\) vs 0.5\)"),
                            (dict(loss="focal"), "loss differs"),
                            (dict(augment="flips"), "augment differs"), (dict(batch_size=4), "batch_size differs")):
        with pytest.raises(LmhldError, match=message):
            train(config([tiny], epochs=1, **change), tmp_path / "run", resume=True)
    # as `lmhld train --resume --recipe paper` / `--threshold 0.3` make them: config.json said "paper" over a run
    # that went on with AdamW, and 0.3 beside a model that kept 0.5
    for flags, message in (({"recipe": "paper"}, "recipe differs from the stopped run"),
                           ({"threshold": 0.3}, r"threshold differs .* take another threshold without training")):
        with pytest.raises(LmhldError, match=message):
            train(resume_config(tmp_path / "run", None, {**flags, "epochs": 2}), tmp_path / "run", resume=True)
    assert json.loads((tmp_path / "run" / "config.json").read_text())["recipe"] == "default"
    said: list[str] = []

    class Listen(NullProgress):
        def info(self, message: str) -> None:
            said.append(message)

    train(config([tiny], epochs=2), tmp_path / "run", resume=True, progress=Listen())
    assert "resuming at stage 1, epoch 2, batch 0" in said
    said.clear()
    train(config([tiny], epochs=2), tmp_path / "run", resume=True, progress=Listen())  # finished: says so
    assert f"{tmp_path / 'run'} holds a finished run (2 epochs): nothing left to train; writing its model and " \
           "report again (--epochs above 2 extends it)" in said and not any("resuming" in m for m in said)
    with pytest.raises(LmhldError, match=r"fewer epochs than the run planned \(1 < 2\)"):
        train(config([tiny], epochs=1), tmp_path / "run", resume=True)
    # free to change: hardware and checkpointing
    train(config([tiny], epochs=2, cache="off", checkpoint_seconds=0.0, amp="off"), tmp_path / "run",
          resume=True)


def test_a_run_started_with_a_relative_data_folder_resumes_from_anywhere(tiny, tmp_path, no_onnx, monkeypatch):
    """config.json records the datasets absolute: `lmhld train --out RUN --resume` works from another folder (it
    said "dataset folder(s) not found" there), and a folder with no run says so instead of asking for --data."""
    monkeypatch.chdir(tiny.parent)
    train(config([tiny.name], epochs=1), tmp_path / "run")
    assert json.loads((tmp_path / "run" / "config.json").read_text())["data"] == [str(tiny.resolve())]
    monkeypatch.chdir(tmp_path)
    resumed = resume_config(tmp_path / "run", None, {"epochs": 2})
    train(resumed, tmp_path / "run", resume=True)
    assert [int(r["epoch"]) for r in read_metrics(tmp_path / "run")] == [1, 2]
    with pytest.raises(LmhldError, match=r"typo holds no run to resume \(no config.json there\)"):
        resume_config(tmp_path / "typo", None, {"epochs": 2})


def test_a_run_resumes_on_its_patches_moved_and_refuses_other_patches(tiny, tmp_path, no_onnx):
    """A probe re-exported the dataset at 48 px into the stopped run's folder and --resume went on silently (epoch 1
    on 32 px patches, the rest and the model on 48 px); the same dataset moved (taken to a GPU machine, an
    experiment folder renamed) could not be resumed at all: "not found" without --data, "data differs" with it."""
    from ..helpers import SaidLines

    train(config([shutil.copytree(tiny, tmp_path / "here")], epochs=1), tmp_path / "run")
    moved = (tmp_path / "here").rename(tmp_path / "there")
    with pytest.raises(LmhldError, match=r"dataset .*here is no longer there: if it moved, resume with --data"):
        resume_config(tmp_path / "run", None, {"epochs": 2})
    said = SaidLines()
    train(resume_config(tmp_path / "run", None, {"epochs": 2, "data": [str(moved)]}), tmp_path / "run",
          resume=True, progress=said)
    assert f"the run's dataset has moved ({tmp_path / 'here'} -> {moved}): the same patches, resuming with them" \
        in said.lines and [int(r["epoch"]) for r in read_metrics(tmp_path / "run")] == [1, 2]
    assert json.loads((tmp_path / "run" / "config.json").read_text())["data"] == [str(moved)]
    train_ids = moved / "splits" / "train.txt"
    train_ids.write_text("\n".join(train_ids.read_text().split()[1:]) + "\n")  # exported again: other patches
    with pytest.raises(LmhldError, match=r"cannot resume: the patches in .*there are not those the stopped run "
                                         r"trained on \(the dataset was exported again since"):
        train(config([moved], epochs=3), tmp_path / "run", resume=True)


def test_a_run_that_died_before_its_first_checkpoint_starts_again(tiny, tmp_path, no_onnx):
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.json").write_text("{}")
    (run / ".last.abc123.part.pt").write_bytes(b"half a checkpoint")
    (run / "metrics.csv").write_text("stage\n")
    train(config([tiny], epochs=1), run)
    assert (run / "last.pt").exists() and not (run / ".last.abc123.part.pt").exists()
    gone = tmp_path / "gone"
    gone.mkdir()
    (gone / "config.json").write_text("{}")
    train(config([tiny], epochs=1), gone, resume=True)  # --resume with nothing to resume: starts
    assert (gone / "last.pt").exists()
    user = tmp_path / "user"
    user.mkdir()
    (user / "config.json").write_text("{}")
    (user / "notes.txt").write_text("mine")
    with pytest.raises(LmhldError, match="is not empty; pass --resume"):
        train(config([tiny], epochs=1), user)
    assert (user / "notes.txt").read_text() == "mine"


def test_a_checkpoint_without_training_state_is_answered(tiny, tmp_path, no_onnx):
    train(config([tiny], epochs=1), tmp_path / "run")
    shutil.copy(tmp_path / "run" / "best.pt", tmp_path / "run" / "last.pt")
    with pytest.raises(LmhldError, match=r"weights only, no training state \(is it a copy of best.pt\?\)"):
        train(config([tiny], epochs=1), tmp_path / "run", resume=True)


def test_a_last_pt_of_the_previous_version_still_resumes(tiny, tmp_path, no_onnx):
    """Version 1 stored best_f1, a torch scheduler's state and a config without recipes."""
    cfg = config([tiny], recipe="paper", epochs=2)
    train(cfg, tmp_path / "straight")
    with pytest.raises(CancelledError):
        train(cfg, tmp_path / "old", progress=StopAfter(3))
    payload = load_checkpoint(tmp_path / "old" / "last.pt")
    state = payload["training_state"]
    old_config = {k: v for k, v in state["config"].items() if k in (
        "model", "model_options", "data", "mode", "epochs", "batch_size", "optimizer", "lr", "momentum",
        "weight_decay", "gamma", "loss", "seed", "device", "amp", "channels_last", "workers", "threshold",
        "reinit_input", "freeze", "checkpoint_every", "bands")}
    old_config["augment"] = True
    payload["training_state"] = {
        "stage": state["stage"], "epoch": state["epoch"], "batch": state["batch"], "best_f1": -1.0,
        "history": state["history"], "forgetting": [], "loss_sum": state["loss_sum"], "count": state["count"],
        "epoch_seconds": 1.0, "config": old_config, "optimizer": state["optimizer"],
        "scheduler": {"gamma": 0.99, "last_epoch": 0}, "rng": state["rng"], "scaler": None}
    write_checkpoint(tmp_path / "old" / "last.pt", payload)
    (tmp_path / "old" / "config.json").write_text(json.dumps(old_config))
    from lmhld_qgis.training.config import resume_config

    train(resume_config(tmp_path / "old", None, {}), tmp_path / "old", resume=True)
    assert same(weights(tmp_path / "old"), weights(tmp_path / "straight"))


def test_early_stopping_keeps_the_best_model(tiny, tmp_path, no_onnx):
    result = train(config([tiny], epochs=8, lr=1e-9, warmup_epochs=0.0, early_stopping=2),
                   tmp_path / "run")
    f1s = [r["val_f1"] for r in result.history]
    best_epoch = f1s.index(max(f1s)) + 1
    assert result.stopped_early and len(f1s) == best_epoch + 2 < 8  # two epochs without better, then stop
    best = load_checkpoint(tmp_path / "run" / "best.pt")["training_state"]
    assert best["epoch"] == best_epoch and best["val_f1"] == pytest.approx(result.best_f1) == max(f1s)


def test_a_validation_too_small_to_rank_epochs_neither_picks_nor_stops(tiny, tmp_path, no_onnx):
    data = shutil.copytree(tiny, tmp_path / "one_val")
    val = data / "splits" / "val.txt"
    val.write_text(val.read_text().split()[0] + "\n")  # one patch: its F1 ranks epochs by chance
    warnings: list[str] = []
    said: list[str] = []

    class Listen(NullProgress):
        def warn(self, message: str) -> None:
            warnings.append(message)

        def info(self, message: str) -> None:
            said.append(message)

    result = train(config([data], epochs=4, lr=1e-9, warmup_epochs=0.0, early_stopping=1), tmp_path / "run",
                   progress=Listen())
    # an epoch whose F1 fell was still "(best so far)", which read as a mistake
    assert any(m.endswith("(best so far by training loss)") for m in said)
    assert not any(m.endswith("(best so far)") for m in said) and result.ranked_by_loss
    losses = [r["train_loss"] for r in result.history]
    assert not result.stopped_early and len(losses) == 4  # an unchanging F1 would have stopped it after epoch 2
    best = load_checkpoint(tmp_path / "run" / "best.pt")["training_state"]
    assert best["epoch"] == losses.index(min(losses)) + 1  # the lowest training loss, not a noisy F1
    assert best["val_f1"] == result.history[best["epoch"] - 1]["val_f1"] == result.best_f1  # still an F1
    assert sum("needed to rank epochs" in w for w in warnings) == 1


def test_lean_epochs_write_last_pt_with_the_first_best_at_the_interval_and_at_the_end(tiny, tmp_path, no_onnx):
    """last.pt comes with the first best.pt (a process killed before the interval left best.pt alone, which a rerun
    with --resume deleted to start again), then at the interval and at the end, not every epoch."""
    seen: dict[int, int | None] = {}

    class Watch(StopAfter):
        def event(self, e):
            if e["event"] == "epoch" and (tmp_path / "run" / "last.pt").exists():
                seen[e["epoch"]] = load_checkpoint(tmp_path / "run" / "last.pt")["training_state"]["epoch"]

    train(config([tiny], epochs=3, checkpoint_seconds=3600.0), tmp_path / "run", progress=Watch(10**9))
    assert seen.get(2) == seen.get(3) == 1  # written after the first epoch (its first best), not after the second
    assert load_checkpoint(tmp_path / "run" / "last.pt")["training_state"]["epoch"] == 3


def test_a_run_killed_between_its_first_best_pt_and_last_pt_starts_again(tiny, tmp_path, no_onnx):
    """Killed between writing best.pt and last.pt (2 of 3 timed kills of an experiment), a run left best.pt
    alone, and every rerun was refused: the experiment could not continue. The same command now starts the run
    again (an epoch's work lost; best.pt kept until its first epoch replaces it); another run's command is
    refused, and best.pt is never deleted for it (an earlier --resume cleared the folder)."""
    train(config([tiny], epochs=1), tmp_path / "run")
    (tmp_path / "run" / "last.pt").unlink()
    for name in ("model.onnx", "report.html"):
        (tmp_path / "run" / name).unlink(missing_ok=True)
    best = (tmp_path / "run" / "best.pt").read_bytes()
    for resume in (True, False):
        with pytest.raises(LmhldError, match=r"holds best\.pt but no last\.pt to resume from .*another run's"):
            train(config([tiny], epochs=1, seed=7), tmp_path / "run", resume=resume)
    assert (tmp_path / "run" / "best.pt").read_bytes() == best
    said = []

    class Listen(NullProgress):
        def info(self, message):
            said.append(message)

    train(config([tiny], epochs=1), tmp_path / "run", resume=True, progress=Listen())
    assert any("stopped before its first checkpoint" in s for s in said), said
    assert (tmp_path / "run" / "last.pt").exists() and (tmp_path / "run" / "best.pt").exists()


def test_cache_off_and_packs_train_exactly_as_the_memory_cache(tiny, tmp_path, no_onnx):
    data = shutil.copytree(tiny, tmp_path / "copy")
    train(config([data], epochs=1), tmp_path / "memory")
    train(config([data], epochs=1, cache="pack"), tmp_path / "pack")
    train(config([data], epochs=1, cache="off"), tmp_path / "off")
    assert (data / ".lmhld-cache").is_dir()
    assert same(weights(tmp_path / "memory"), weights(tmp_path / "pack"))
    assert same(weights(tmp_path / "memory"), weights(tmp_path / "off"))


def test_the_card_carries_a_calibrated_threshold_and_the_datasets_landslide_sizes(tiny, tmp_path):
    data = shutil.copytree(tiny, tmp_path / "copy")
    card = json.loads((data / "dataset.json").read_text())
    (data / "dataset.json").write_text(json.dumps({**card, "min_landslide_area_m2": 123.0,
                                                   "large_landslide_area_m2": 4567.0}))
    result = train(config([data], epochs=2, model_options={"base_width": 8}, lr=3e-3), tmp_path / "run")
    from lmhld_qgis.core.modelcard import read_onnx_card

    onnx_card = read_onnx_card(result.onnx)
    assert onnx_card.threshold_source == "validation" and onnx_card.min_area_m2 == 123.0
    assert onnx_card.large_landslide_area_m2 == 4567.0  # detection's coarse context pass decides by it
    assert onnx_card.threshold == result.threshold and 0.05 <= result.threshold <= 0.95
    # shown by Model information beside the threshold: the F1 at that threshold (it was the F1 at 0.5)
    from lmhld_qgis.core.evaluate import evaluate_dataset

    at_threshold = evaluate_dataset(result.onnx, data, "val")["f1"]  # the card's own threshold
    assert onnx_card.validation_f1 == pytest.approx(at_threshold, abs=2e-3)
    assert result.threshold_f1 == pytest.approx(at_threshold, abs=2e-3)  # a notebook saw only best_f1 (at 0.5)
    assert f"detection threshold (model card)</th><td>{result.threshold:g}: calibrated on the validation split" in \
        (tmp_path / "run" / "report.html").read_text()
    assert load_checkpoint(tmp_path / "run" / "best.pt")["card"]["threshold"] == result.threshold


def test_a_configured_threshold_and_a_dataset_without_validation(tiny, tmp_path, no_onnx):
    fixed = train(config([tiny], epochs=1, threshold=0.3), tmp_path / "fixed")
    assert (fixed.threshold, fixed.threshold_source) == (0.3, "default")
    data = shutil.copytree(tiny, tmp_path / "copy")
    (data / "splits" / "val.txt").write_text("")
    said: list[str] = []

    class Listen(NullProgress):
        def info(self, message: str) -> None:
            said.append(message)

    bare = train(config([data], epochs=1), tmp_path / "bare", progress=Listen())
    assert any(re.search(r"epoch 1/1: loss [\d.]+, no validation split \(best so far by training loss\)$", m)
               for m in said)
    assert not any("nan" in m for m in said)  # was "validation F1 nan, precision nan, recall nan"
    card = load_checkpoint(tmp_path / "bare" / "best.pt")["card"]
    learnt = json.loads((data / "dataset.json").read_text())["min_landslide_area_m2"]
    assert learnt > 0 and (card["threshold"], card["threshold_source"], card["min_area_m2"]) == (0.5, "default", learnt)
    assert "no validation split" in bare.threshold_note


@pytest.mark.slow
def test_sigterm_and_sigkill_mid_run_end_with_the_same_weights(areas, tmp_path):
    args = [sys.executable, "-m", "lmhld_qgis", "train", "--data", str(areas["c64"]), "--model", "unet", "--width",
            "8", "--epochs", "2", "--batch-size", "4", "--recipe", "paper", "--progress-json"]
    straight = subprocess.run([*args, "--out", str(tmp_path / "straight")], capture_output=True, text=True,
                              timeout=900)
    assert straight.returncode == 0, straight.stderr[-2000:]
    proc = subprocess.Popen([*args, "--out", str(tmp_path / "run")], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    for line in proc.stdout:
        event = json.loads(line)
        if event.get("event") == "batch" and event["batch"] == 3:
            proc.send_signal(signal.SIGTERM)
            break
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 130, err[-2000:]
    assert "last.pt saved" in err and "--resume" in err and "Traceback" not in err
    state = load_checkpoint(tmp_path / "run" / "last.pt")["training_state"]
    assert state["epoch"] == 0 and state["batch"] >= 3
    time.sleep(0.1)
    resumed = subprocess.run([sys.executable, "-m", "lmhld_qgis", "train", "--out", str(tmp_path / "run"),
                              "--resume"], capture_output=True, text=True, timeout=900)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert same(weights(tmp_path / "run"), weights(tmp_path / "straight"))
    # SIGKILL: nothing runs at exit; the run resumes from the last periodic last.pt (every 2 batches here)
    proc = subprocess.Popen([*args, "--out", str(tmp_path / "killed"), "--checkpoint-every", "2"],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    for line in proc.stdout:
        event = json.loads(line)
        if event.get("event") == "batch" and event["epoch"] == 1 and event["batch"] == 5:
            proc.kill()
            break
    proc.wait(timeout=60)
    assert load_checkpoint(tmp_path / "killed" / "last.pt")["training_state"]["batch"] >= 2
    resumed = subprocess.run([sys.executable, "-m", "lmhld_qgis", "train", "--out", str(tmp_path / "killed"),
                              "--resume"], capture_output=True, text=True, timeout=900)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert same(weights(tmp_path / "killed"), weights(tmp_path / "straight"))


def test_a_dataset_without_masks_is_refused_before_the_run_folder_is_made(shared_data, tmp_path):
    """The real Landslide4Sense test patches carry no masks: refused up front, naming the patch, with nothing left
    in the run folder (was: a config.json left behind, the error at the first batch)."""
    data = tmp_path / "l4s" / "TrainData" / "img"
    data.mkdir(parents=True)
    for name in ("image_31.h5", "image_37.h5"):
        shutil.copy(shared_data / "landslide4sense" / name, data / name)
    (data.parent / "mask").mkdir()
    with pytest.raises(LmhldError, match=r"l4s: 2 of its 2 training samples have no mask \(first: image_31\.h5\); "
                                         r"training needs labels"):
        train(config([tmp_path / "l4s"], epochs=1), tmp_path / "run")
    assert not (tmp_path / "run").exists()


ORPHANING = """import json, os, subprocess, sys
child = subprocess.Popen(sys.argv[1:], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                         start_new_session=True)  # as QGIS starts it (processing/child.py)
for line in child.stdout:
    if json.loads(line).get("event") == "batch":
        print(child.pid, flush=True)
        os._exit(0)  # QGIS or qgis_process killed mid-run
"""


@pytest.mark.slow
def test_a_training_child_whose_reader_dies_stops_and_keeps_last_pt(tiny, tmp_path):
    """qgis_process killed during training: its child went on alone to the last epoch (found by a probe); it now
    stops at the next batch as on Cancel, with last.pt saved for --resume."""
    args = [sys.executable, "-m", "lmhld_qgis", "train", "--data", str(tiny), "--width", "4", "--epochs", "500",
            "--batch-size", "8", "--early-stopping", "0", "--progress-json", "--out", str(tmp_path / "run")]
    parent = subprocess.run([sys.executable, "-c", ORPHANING, *args], capture_output=True, text=True, timeout=300)
    pid = int(parent.stdout.split()[0])
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and Path(f"/proc/{pid}").exists() \
                and "zombie" not in Path(f"/proc/{pid}/status").read_text():
            time.sleep(0.5)
        alive = Path(f"/proc/{pid}").exists() and "zombie" not in Path(f"/proc/{pid}/status").read_text()
        assert not alive, "the orphaned training went on"
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    state = load_checkpoint(tmp_path / "run" / "last.pt")["training_state"]
    assert state["epoch"] < 500 and not (tmp_path / "run" / "model.onnx").exists()


def test_a_resumed_run_keeps_the_batch_it_trained_with(tiny, tmp_path, no_onnx):
    """The automatic batch is a multiple of the number of processes: a 2-process run resumed with 1 process went on
    with batches of 9 rather than 8 (other steps an epoch, a stopped epoch resumed at the wrong sample)."""
    train(config([tiny], epochs=1, batch_size="auto"), tmp_path / "run")
    last = tmp_path / "run" / "last.pt"
    payload = load_checkpoint(last)
    assert payload["training_state"]["batch_size"] > 2
    payload["training_state"]["batch_size"] = 2  # as another number of processes would have made it
    write_checkpoint(last, payload)
    seen: list[int] = []

    class Watch(StopAfter):
        def event(self, e):
            if e["event"] == "batch":
                seen.append(e["batches"])

    train(config([tiny], epochs=2, batch_size="auto"), tmp_path / "run", resume=True, progress=Watch(10**9))
    n_train = len((tiny / "splits" / "train.txt").read_text().split())
    assert set(seen) == {n_train // 2}  # batches of 2 (a last one of 1 joins the one before)


def test_a_training_split_of_one_patch_is_refused_in_words(tiny, tmp_path, no_onnx):
    """One training patch at 16 px ended as 'unexpected error: ValueError: Expected more than 1 value per channel
    when training' (BatchNorm on a one-pixel deepest level)."""
    data = shutil.copytree(tiny, tmp_path / "one")
    train_list = data / "splits" / "train.txt"
    train_list.write_text(train_list.read_text().split()[0] + "\n")
    with pytest.raises(LmhldError, match=r"has 1 training sample\(s\); training needs at least 2: export more"):
        train(config([data], epochs=1), tmp_path / "run")


def test_a_resume_never_replaces_a_better_best_pt(tiny, tmp_path, no_onnx):
    """Was: a run killed while its last.pt was older than its best.pt (last.pt is written every checkpoint_seconds,
    best.pt at each better epoch) resumed with last.pt's score to beat, and its first epochs replaced the best
    model (epoch 10, F1 0.99 in the probe) by worse ones (epoch 2, F1 0.95)."""
    run = tmp_path / "run"
    train(config([tiny], epochs=1), run)
    shutil.copy(run / "last.pt", tmp_path / "epoch1.pt")
    train(config([tiny], epochs=5), run, resume=True)
    best = load_checkpoint(run / "best.pt")
    assert best["training_state"]["epoch"] >= 3  # else the replayed epoch 2 could not beat it
    shutil.copy(tmp_path / "epoch1.pt", run / "last.pt")  # killed after epoch 5 with last.pt of epoch 1
    said: list[str] = []

    class Listen(StopAfter):
        def info(self, message: str) -> None:
            said.append(message)

    with pytest.raises(CancelledError):  # epoch 2 again, then stopped
        train(config([tiny], epochs=5), run, resume=True, progress=Listen(2))
    assert any(m.startswith(f"best.pt holds epoch {best['training_state']['epoch']}") for m in said), said
    kept = load_checkpoint(run / "best.pt")
    assert kept["training_state"]["epoch"] == best["training_state"]["epoch"]
    assert same(kept["state_dict"], best["state_dict"])
    result = train(config([tiny], epochs=5), run, resume=True)  # to the end: the same epochs, the same best
    assert same(weights(run, "best.pt"), best["state_dict"])
    assert result.best_f1 == best["training_state"]["val_f1"]


def test_a_python_interrupt_stops_training_after_the_batch_with_last_pt_saved(tiny, tmp_path, no_onnx):
    """From Python (a notebook's interrupt), Ctrl-C raised wherever the run stood: last.pt kept only what the
    last checkpoint held. It now stops the run after the batch, as the command does, in Python's terms."""
    import threading

    class InterruptAt(NullProgress):
        batches = 0

        def set_fraction(self, f):
            self.batches += 1
            if self.batches == 3:
                signal.raise_signal(signal.SIGINT)  # what a notebook's interrupt sends

    assert threading.current_thread() is threading.main_thread()
    with pytest.raises(CancelledError, match=r"epoch 2, batch 1; last.pt saved in .*: call train again with "
                                             r"resume=True to continue"):
        train(config([tiny], epochs=3, checkpoint_seconds=1e6), tmp_path / "run", progress=InterruptAt())
    state = load_checkpoint(tmp_path / "run" / "last.pt")["training_state"]
    assert (state["epoch"], state["batch"]) == (1, 1)
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # given back


def test_training_from_python_gives_back_the_callers_random_state(tiny, tmp_path, no_onnx):
    """train() seeds torch from its config: a script's own draws after it changed because it trained a model."""
    torch.manual_seed(1234)
    expected = torch.rand(4)
    torch.manual_seed(1234)
    train(config([tiny], epochs=1), tmp_path / "run")
    assert torch.equal(torch.rand(4), expected)


def test_a_stopped_extension_says_model_onnx_is_older_than_best_pt(tiny, tmp_path, monkeypatch):
    """Extending a finished run and stopping it left the first run's model.onnx beside a newer, better best.pt:
    detection with model.onnx silently used the older model. The stop now says so and how to use best.pt."""
    monkeypatch.setattr(Trainer, "_export_onnx", lambda self: (self.out / "model.onnx").write_bytes(b"first run"))
    run = tmp_path / "run"
    train(config([tiny], epochs=1), run)
    first_best = load_checkpoint(run / "best.pt")["training_state"]["epoch"]
    with pytest.raises(CancelledError) as stopped:
        Trainer(config([tiny], epochs=3), run, StopAfter(3)).fit(resume=True)
    assert load_checkpoint(run / "best.pt")["training_state"]["epoch"] > first_best  # epoch 2 was better
    assert (run / "model.onnx").read_bytes() == b"first run"  # kept: it is the user's finished model
    assert "model.onnx there is still the earlier run's model and best.pt is newer" in str(stopped.value)
    (run / "model.onnx").touch()  # exported from that best.pt: nothing to say
    assert Trainer(config([tiny], epochs=3), run, StopAfter(1))._stale_model_note() == ""
