"""Training's faults: bad options, damaged or wrong checkpoints, a run that died early."""

from __future__ import annotations

import shutil
import signal

import pytest
import torch

from .conftest import TRAIN_RUN, interrupt, record, wait_for

AREA = "Training"
TRAIN = ["train", "--model", "unet", "--width", "4", "--data", "dataset", "--epochs", "1", "--batch-size", "4",
         "--device", "cpu", "--workers", "0", "--seed", "0"]


def _refused(work, case: str, args: list[str], words: str) -> None:
    proc = work.run(*args, area=AREA, case=case)
    assert proc.returncode == 2 and words in proc.stderr, proc.stderr


@pytest.mark.parametrize(("option", "value"), [("--epochs", "0"), ("--batch-size", "0"), ("--width", "-4"),
                                               ("--lr", "-1"), ("--lr", "nan"), ("--workers", "-1")])
def test_bad_numbers_are_refused_and_leave_no_run_folder(work, option, value):
    work.add("dataset")
    argv = [*TRAIN, "--out", "run"]
    if option in argv:
        argv[argv.index(option) + 1] = value
    else:
        argv += [option, value]
    _refused(work, f"train {option} {value}", argv, option)
    assert not work.path("run").exists()


def test_config_files_that_are_not_right(work):
    work.add("dataset")
    work.path("latin1.toml").write_bytes("[train]\nmodel = \"unet\"\n# é\n".encode("latin-1"))
    work.path("broken.toml").write_text("[train\nepochs = 1\n")
    work.path("unknown.toml").write_text("[train]\nepoch = 1\n")
    for case, config, words in [("train --config that is not UTF-8", "latin1.toml", "not UTF-8"),
                                ("train --config that is not TOML", "broken.toml", "broken.toml"),
                                ("train --config with an unknown option", "unknown.toml", "unknown training option"),
                                ("train --config that does not exist", "missing.toml", "missing.toml")]:
        _refused(work, case, [*TRAIN, "--config", config, "--out", "run"], words)
        assert not work.path("run").exists()


def test_string_values_in_the_config_are_refused(work):
    work.add("dataset")
    work.path("strings.toml").write_text('[train]\nepochs = "2"\nlr = "fast"\n')
    _refused(work, "train --config with string numbers", [*TRAIN, "--config", "strings.toml", "--out", "run"],
             "epochs")


def test_damaged_checkpoints(work, trained_run):
    work.add("dataset")
    shutil.copytree(trained_run, work.path("run"))
    last = work.path("run/last.pt")
    last.write_bytes(last.read_bytes()[: last.stat().st_size // 2])
    _refused(work, "train --resume from a truncated last.pt", [*TRAIN_RUN, "--resume"], "last.pt")


def test_a_best_pt_given_to_resume_is_refused(work, trained_run):
    work.add("dataset")
    shutil.copytree(trained_run, work.path("run"))
    shutil.copy(work.path("run/best.pt"), work.path("run/last.pt"))  # weights only: no training state
    _refused(work, "train --resume from a best.pt (no training state)", [*TRAIN_RUN, "--resume"],
             "resume")


@pytest.mark.slow
def test_a_run_killed_before_its_first_checkpoint_can_be_started_again(work):
    work.add("dataset")
    args = [*TRAIN, "--out", "run"]
    proc = work.spawn(*args)
    wait_for(lambda: work.path("run/config.json").exists(), proc)
    record(AREA, "train killed before its first checkpoint", args, interrupt(proc, signal.SIGKILL), work.dir)
    again = work.run(*args, area=AREA, case="train started again in that folder")
    assert again.returncode == 0, again.stderr


@pytest.mark.slow
def test_ctrl_c_keeps_the_current_epoch(work):
    import json

    work.add("dataset")
    args = ["train", "--model", "unet", "--width", "4", "--data", "dataset", "--epochs", "2", "--batch-size", "2",
            "--device", "cpu", "--workers", "0", "--seed", "0", "--out", "run", "--progress-json"]
    proc = work.spawn(*args)
    for line in proc.stdout:  # progress events, one JSON object a line
        event = json.loads(line) if line.startswith("{") else {}
        if event.get("event") == "batch" and event.get("epoch") == 2 and event.get("batch") == 3:
            break
    done = interrupt(proc, signal.SIGINT)
    record(AREA, "train, Ctrl-C in the middle of its second epoch", args, done, work.dir)
    assert done.returncode == 130
    state = torch.load(work.path("run/last.pt"), weights_only=True)["training_state"]
    assert (state["epoch"], state["batch"]) >= (1, 3)  # the current epoch's progress is kept
