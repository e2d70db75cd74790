"""Two processes under torchrun (gloo on CPU) match a single process's metrics."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ARGS = ["train", "--model", "unet", "--width", "8", "--epochs", "2", "--batch-size", "8", "--optimizer", "adam",
        "--lr", "0.003"]


def metrics(run: Path) -> list[dict]:
    with open(run / "metrics.csv") as f:
        return list(csv.DictReader(f))


def test_ddp_two_processes_match_single_process(areas, tmp_path):
    torchrun = Path(sys.executable).parent / "torchrun"
    env = dict(os.environ, OMP_NUM_THREADS="1")
    ddp = subprocess.run([str(torchrun), "--standalone", "--nproc_per_node", "2", "-m", "lmhld_qgis", *ARGS,
                          "--data", str(areas["a32"]), "--out", str(tmp_path / "ddp")],
                         capture_output=True, text=True, timeout=600, env=env)
    assert ddp.returncode == 0, ddp.stderr[-3000:]
    single = subprocess.run([sys.executable, "-m", "lmhld_qgis", *ARGS, "--data", str(areas["a32"]),
                             "--out", str(tmp_path / "single")], capture_output=True, text=True, timeout=600)
    assert single.returncode == 0, single.stderr[-3000:]
    a, b = metrics(tmp_path / "ddp"), metrics(tmp_path / "single")
    assert len(a) == len(b) == 2
    for ra, rb in zip(a, b, strict=True):
        assert abs(float(ra["val_f1"]) - float(rb["val_f1"])) < 0.02
        assert abs(float(ra["train_loss"]) - float(rb["train_loss"])) < 0.1
    # rank 0 alone writes: one metrics file, one checkpoint set, one log of epochs
    assert ddp.stderr.count("epoch 2/2") == 1
    files = {run: sorted(p.name for p in (tmp_path / run).iterdir()) for run in ("ddp", "single")}
    assert files["ddp"] == files["single"]


def test_ddp_trains_a_baseline_whose_smp_encoder_is_deeper_than_used(areas, tmp_path):
    """PSPNet runs a ResNet to depth 3; stages it never runs are dropped, else DDP stops on unused parameters."""
    torchrun = Path(sys.executable).parent / "torchrun"
    args = ["train", "--model", "pspnet", "--model-option", "encoder=resnet18", "--model-option",
            "psp_out_channels=32", "--epochs", "1", "--batch-size", "8", "--optimizer", "adam"]
    ddp = subprocess.run([str(torchrun), "--standalone", "--nproc_per_node", "2", "-m", "lmhld_qgis", *args,
                          "--data", str(areas["a32"]), "--out", str(tmp_path / "ddp")],
                         capture_output=True, text=True, timeout=600, env=dict(os.environ, OMP_NUM_THREADS="1"))
    assert ddp.returncode == 0, ddp.stderr[-3000:]
    assert len(metrics(tmp_path / "ddp")) == 1 and (tmp_path / "ddp" / "model.onnx").exists()


def test_ddp_with_a_pack_cache_scores_the_saved_model_and_speaks_once(areas, tmp_path):
    """Both ranks wrote the dataset's memory-mapped pack at once: one refused ("being written by another lmhld
    process": its sibling), the other died on gloo. Validation scored half the split with rank 1's own BatchNorm
    statistics, so metrics.csv's F1 was not the saved model's. Every JSON progress line came once per rank, two on
    one line at times."""
    import json
    import shutil

    from lmhld_qgis.core.evaluate import evaluate_dataset

    data = shutil.copytree(areas["a32"], tmp_path / "data")
    torchrun = Path(sys.executable).parent / "torchrun"
    ddp = subprocess.run([str(torchrun), "--standalone", "--nproc_per_node", "2", "-m", "lmhld_qgis", *ARGS,
                          "--epochs", "1", "--cache", "pack", "--progress-json", "--data", str(data),
                          "--out", str(tmp_path / "ddp")],
                         capture_output=True, text=True, timeout=600, env=dict(os.environ, OMP_NUM_THREADS="1"))
    assert ddp.returncode == 0, ddp.stderr[-3000:]
    assert (data / ".lmhld-cache").is_dir()
    events = [json.loads(line) for line in ddp.stdout.splitlines() if line.startswith("{")]
    assert [e["event"] for e in events].count("epoch") == 1 and [e["event"] for e in events].count("done") == 1
    logged = float(metrics(tmp_path / "ddp")[0]["val_f1"])
    scored = evaluate_dataset(tmp_path / "ddp" / "model.onnx", data, "val", threshold=0.5)["f1"]
    assert abs(logged - scored) < 3e-4, (logged, scored)


def test_a_failure_every_process_meets_is_said_once(areas, tmp_path):
    """Every rank met the same bad input and printed the same line, once per GPU."""
    torchrun = Path(sys.executable).parent / "torchrun"
    ddp = subprocess.run([str(torchrun), "--standalone", "--nproc_per_node", "2", "-m", "lmhld_qgis", *ARGS,
                          "--data", str(tmp_path / "no such dataset"), "--out", str(tmp_path / "ddp")],
                         capture_output=True, text=True, timeout=600, env=dict(os.environ, OMP_NUM_THREADS="1"))
    assert ddp.returncode != 0
    lines = [line for line in ddp.stderr.splitlines() if line.startswith("lmhld train: error:")]
    assert len(lines) == 1 and "no such dataset" in lines[0], ddp.stderr[-3000:]


def run_processes(areas, tmp_path, *extra: str) -> tuple[subprocess.CompletedProcess, Path]:
    """`lmhld train --processes 2` on a32 into tmp_path/ddp, with a temporary directory of its own (returned, to
    see what the run leaves there)."""
    temp = tmp_path / "temp"
    temp.mkdir()
    ddp = subprocess.run([sys.executable, "-m", "lmhld_qgis", *ARGS, "--processes", "2", *extra,
                          "--data", str(areas["a32"]), "--out", str(tmp_path / "ddp")],
                         capture_output=True, text=True, timeout=600, env=dict(os.environ, TMPDIR=str(temp)))
    return ddp, temp


def test_processes_launches_ddp_in_one_command_without_torchruns_noise(areas, tmp_path):
    """`lmhld train --processes 2` is the torchrun line in one option: the same two-process DDP run (rank 0 alone
    writes), and none of the launcher's own lines (the OMP_NUM_THREADS banner, W/E log lines)."""
    ddp, temp = run_processes(areas, tmp_path, "--epochs", "1")
    assert ddp.returncode == 0, ddp.stderr[-3000:]
    assert len(metrics(tmp_path / "ddp")) == 1 and (tmp_path / "ddp" / "model.onnx").exists()
    assert ddp.stderr.count("epoch 1/1") == 1
    assert "OMP_NUM_THREADS" not in ddp.stderr and "torch/distributed" not in ddp.stderr, ddp.stderr[-3000:]
    # torchrun's log folder goes with the run (it left a torchelastic_* folder in /tmp per run)
    assert not list(temp.iterdir())


def test_processes_turns_a_workers_failure_into_its_one_line(areas, tmp_path):
    """A failure the workers meet after the launch (a bad network option) ended in torchrun's traceback and its box
    of exit codes; under --processes it is the worker's one line, with its exit code."""
    ddp, temp = run_processes(areas, tmp_path, "--model-option", "bogus=1")
    assert ddp.returncode == 2, ddp.stderr[-3000:]
    lines = [line for line in ddp.stderr.splitlines() if line.startswith("lmhld train:")]
    assert len(lines) == 1 and "bogus" in lines[0], ddp.stderr[-3000:]
    assert "Traceback" not in ddp.stderr and "ChildFailedError" not in ddp.stderr, ddp.stderr[-3000:]
    assert not list(temp.iterdir())  # nor the file where the workers agreed who says the line


def test_a_refusal_of_the_run_folder_is_one_line_not_two(areas, tmp_path):
    """Rank 0 refused the non-empty folder while rank 1 waited at a barrier and said "another process of this
    multi-process run ended ... --resume" too, a second line that contradicted the first."""
    (tmp_path / "ddp").mkdir()
    (tmp_path / "ddp" / "notes.txt").write_text("mine")
    ddp, _ = run_processes(areas, tmp_path, "--epochs", "1")
    assert ddp.returncode == 2, ddp.stderr[-3000:]
    lines = [line for line in ddp.stderr.splitlines() if line.startswith("lmhld train:")]
    assert len(lines) == 1 and "is not empty" in lines[0], ddp.stderr[-3000:]
    assert (tmp_path / "ddp" / "notes.txt").read_text() == "mine"


def start_processes(areas, tmp_path, logged: str = "epoch 1/200") -> tuple[subprocess.Popen, list[int]]:
    """A long `lmhld train --processes 2`, once rank 0 has logged `logged`: the launcher and its workers' pids
    (rank 0 first)."""
    import time

    log = open(tmp_path / "stderr.txt", "w")  # noqa: SIM115 (closed with the process: the test reads it after)
    launcher = subprocess.Popen([sys.executable, "-m", "lmhld_qgis", *ARGS, "--epochs", "200", "--processes", "2",
                                 "--data", str(areas["a32"]), "--out", str(tmp_path / "ddp")],
                                stdout=subprocess.DEVNULL, stderr=log)
    deadline = time.monotonic() + 180
    while logged not in (tmp_path / "stderr.txt").read_text() and time.monotonic() < deadline:
        time.sleep(0.5)
    ranks = {}
    for pid in Path(f"/proc/{launcher.pid}/task/{launcher.pid}/children").read_text().split():
        env = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
        ranks[int(next(e for e in env if e.startswith(b"RANK="))[5:])] = int(pid)
    return launcher, [ranks[0], ranks[1]]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc and the workers' death signal")
def test_a_worker_killed_outright_is_named_with_its_signal(areas, tmp_path):
    """Rank 1 killed by SIGKILL (the out-of-memory killer): only rank 0's "another process ... ended (its own message
    says why)" was said, and the killed one says nothing."""
    import signal

    from lmhld_qgis.training.checkpoint import load_checkpoint

    launcher, (_, rank1) = start_processes(areas, tmp_path, "epoch 3/200")
    os.kill(rank1, signal.SIGKILL)
    assert launcher.wait(timeout=120) == 1
    said = (tmp_path / "stderr.txt").read_text()
    assert "training process 1 was killed by SIGKILL (out of memory?" in said, said[-3000:]
    assert "Traceback" not in said
    # rank 0 saved where it stood: last.pt was otherwise the one of epoch 1 (with the first best.pt), 300 s older
    state = load_checkpoint(tmp_path / "ddp" / "last.pt")["training_state"]
    assert state["epoch"] >= 2, state["epoch"]
    assert "another process ended at stage 1, epoch" in said and "last.pt saved there" in said, said[-3000:]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the workers' death signal is Linux's prctl")
def test_workers_stop_and_save_when_their_launcher_is_killed(areas, tmp_path):
    """The launcher killed outright left both workers training as orphans, holding the run folder against the
    --resume that followed; now they stop as on SIGTERM (last.pt saved) and the run resumes."""
    import signal
    import time

    from lmhld_qgis.training.checkpoint import load_checkpoint

    launcher, workers = start_processes(areas, tmp_path)
    os.kill(launcher.pid, signal.SIGKILL)
    launcher.wait(timeout=30)
    deadline = time.monotonic() + 60
    while any(Path(f"/proc/{pid}").exists() for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert not any(Path(f"/proc/{pid}").exists() for pid in workers)
    state = load_checkpoint(tmp_path / "ddp" / "last.pt")["training_state"]
    assert state["epoch"] >= 1
