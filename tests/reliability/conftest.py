"""Fault injection with real processes: `python -m lmhld_qgis ...` run in a folder whose path holds a space and
non-ASCII characters, with its own temporary folder and log folder, so that every case can check that no temporary
file is left beside the outputs or in the temporary folder and that the user's files are untouched.

Every case is recorded (command, exit code, the line the user reads); `LMHLD_RELIABILITY_TABLE=1 pytest
tests/reliability` writes them to docs/reliability.md.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from ..helpers import ROOT

TABLE = ROOT / "docs" / "reliability.md"
PART_OR_LOCK = re.compile(r"^\..+\.(\d+-[0-9a-f]+\.part.*|lock)$")


@dataclass(frozen=True)
class Case:
    area: str
    name: str
    command: str
    exit_code: int
    answer: str


RECORDED: list[Case] = []


def answer_line(proc: subprocess.CompletedProcess, work: Path) -> str:
    """The line a user reads: the last `lmhld ...` line of stderr on failure, the first stdout line on success."""
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    if proc.returncode == 0:
        lines = [ln for ln in proc.stdout.splitlines() if ln.strip()] or lines
        text = lines[0] if lines else ""
    else:
        ours = [ln for ln in lines if ln.startswith("lmhld")]
        text = (ours or lines or [""])[-1]
    text = text.replace(str(work) + os.sep, "").replace(str(work), ".")
    return re.sub(r"full log: \S+", "full log: LOGFILE", text)


# ---------------------------------------------------------------------------------------------------------------
# The input data, made once


@pytest.fixture(scope="session")
def inputs(tmp_path_factory, small_onnx_model) -> Path:
    """scene.tif (160 px), inventory.gpkg, model.onnx (width 4), model.pt, a dataset (32 px patches), report.json,
    big.tif and big.gpkg (512 px: a run that lasts long enough to be stopped in the middle)."""
    import torch

    from lmhld_qgis.core.export import ExportOptions, export_patches
    from lmhld_qgis.core.modelcard import read_onnx_card
    from lmhld_qgis.core.synthetic import make_scene
    from lmhld_qgis.models import build_model
    from lmhld_qgis.training.checkpoint import save_checkpoint

    base = tmp_path_factory.mktemp("inputs")
    scene = make_scene(base / "gen", width=160, height=160, n_landslides=14, seed=5)
    shutil.copy(scene.raster, base / "scene.tif")
    shutil.copy(scene.inventory, base / "inventory.gpkg")
    shutil.copy(small_onnx_model, base / "model.onnx")
    torch.manual_seed(0)
    save_checkpoint(base / "model.pt", build_model("unet", 4, base_width=4), read_onnx_card(small_onnx_model))
    train_scene = make_scene(base / "gen", width=192, height=192, n_landslides=40, seed=6, name="train")
    export_patches([train_scene.raster], train_scene.inventory, base / "dataset",
                   ExportOptions(patch_size=32, min_fraction=0.05, tolerance=0.3, name="tiny"))
    (base / "report.json").write_text('{"recommended_patch_sizes": [32, 64, 128]}\n')
    big = make_scene(base / "gen", width=512, height=512, n_landslides=80, seed=7, name="big")  # runs for seconds
    shutil.copy(big.raster, base / "big.tif")
    shutil.copy(big.inventory, base / "big.gpkg")
    shutil.rmtree(base / "gen")
    return base


# ---------------------------------------------------------------------------------------------------------------
# A run folder per test


class Work:
    """A test's folder (its path has a space and non-ASCII characters), temp folder and log folder."""

    def __init__(self, root: Path, inputs: Path) -> None:
        self.dir = root / "données de test"
        self.tmp = root / "tmp"
        self.state = root / "state"
        for d in (self.dir, self.tmp, self.state):
            d.mkdir()
        self.inputs = inputs
        self.env = {**os.environ, "PYTHONPATH": str(ROOT), "TMPDIR": str(self.tmp), "XDG_STATE_HOME": str(self.state),
                    "PYTHONUNBUFFERED": "1"}
        self.env.pop("LMHLD_DEBUG", None)

    def add(self, *names: str) -> None:
        """Copy inputs into the folder."""
        for name in names:
            src = self.inputs / name
            (shutil.copytree if src.is_dir() else shutil.copy)(src, self.dir / name)

    def path(self, name: str) -> Path:
        return self.dir / name

    def snapshot(self) -> dict[str, str]:
        """Every file's digest (what must stay untouched)."""
        return {str(p.relative_to(self.dir)): hashlib.sha1(p.read_bytes()).hexdigest()
                for p in sorted(self.dir.rglob("*")) if p.is_file()}

    def leftovers(self) -> list[str]:
        """Parts, locks and temporary files: what a finished (or failed, or stopped) run must not leave."""
        found = [str(p.relative_to(self.dir)) for p in self.dir.rglob("*") if PART_OR_LOCK.match(p.name)]
        return found + [f"TMPDIR/{p.name}" for p in self.tmp.iterdir()]

    def argv(self, args: tuple[str, ...]) -> list[str]:
        return [sys.executable, "-m", "lmhld_qgis", *args]

    def run(self, *args: str, area: str, case: str, timeout: float = 300, preexec: Callable[[], None] | None = None,
            others_running: bool = False) -> subprocess.CompletedProcess:
        """Run `lmhld ARGS` in the folder, record the case, and check what every case must hold (leftovers only
        when no other command is `others_running` in the folder)."""
        proc = subprocess.run(self.argv(args), cwd=self.dir, env=self.env, capture_output=True, text=True,
                              timeout=timeout, preexec_fn=preexec)
        self.check(proc, leftovers=not others_running)
        record(area, case, args, proc, self.dir)
        return proc

    def spawn(self, *args: str, preexec: Callable[[], None] | None = None) -> subprocess.Popen:
        def interruptible() -> None:
            # A shell that starts a job in the background (`make test &`) makes it ignore SIGINT, and children
            # inherit that: the command would then never see the Ctrl-C these tests send. A terminal's user does.
            signal.signal(signal.SIGINT, signal.SIG_DFL)
            if preexec is not None:
                preexec()

        return subprocess.Popen(self.argv(args), cwd=self.dir, env=self.env, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, preexec_fn=interruptible)

    def check(self, proc: subprocess.CompletedProcess, leftovers: bool = True) -> None:
        assert "Traceback" not in proc.stderr + proc.stdout, proc.stderr
        if proc.returncode not in (0, 2, 1, 130):
            raise AssertionError(f"exit code {proc.returncode}: {proc.stderr}")
        if proc.returncode:
            lines = [ln for ln in proc.stderr.splitlines() if ln.startswith("lmhld")]
            assert lines, proc.stderr
        assert not leftovers or not self.leftovers(), self.leftovers()


def record(area: str, case: str, args: tuple[str, ...] | list[str], proc: subprocess.CompletedProcess,
           work: Path) -> None:
    shown = " ".join(shlex.quote(str(a).replace(str(work) + os.sep, "")) for a in args)
    RECORDED.append(Case(area, case, f"lmhld {shown}", proc.returncode, answer_line(proc, work)))


@pytest.fixture
def work(tmp_path, inputs) -> Work:
    return Work(tmp_path, inputs)


def wait_for(predicate: Callable[[], object], proc: subprocess.Popen | None = None, timeout: float = 240) -> None:
    """Poll until `predicate()` is true (fail if `proc` ends first or time runs out)."""
    end = time.monotonic() + timeout
    while not predicate():
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"the command ended (exit {proc.returncode}) before the awaited moment: "
                                 f"{proc.stderr.read() if proc.stderr else ''}")
        if time.monotonic() > end:
            raise AssertionError("timed out waiting")
        time.sleep(0.01)


def interrupt(proc: subprocess.Popen, signum: int) -> subprocess.CompletedProcess:
    """Deliver `signum` to a running command exactly where it is (stopped, signalled, continued), then wait."""
    os.kill(proc.pid, signal.SIGSTOP)
    os.kill(proc.pid, signum)
    if signum != signal.SIGKILL:
        os.kill(proc.pid, signal.SIGCONT)
    out, err = proc.communicate(timeout=240)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def parts_of(folder: Path, name: str) -> list[Path]:
    """The parts a writer of `folder/name` has open."""
    return [p for p in folder.iterdir() if p.name.startswith(f".{name}.") and ".part" in p.name]


# ---------------------------------------------------------------------------------------------------------------
# Faulty places: a full disk, a read-only folder


@dataclass
class Disk:
    path: Path
    preexec: Callable[[], None] | None  # set when a file-size limit stands in for a small file system
    how: str


@contextlib.contextmanager
def small_disk(folder: Path, kib: int) -> Iterator[Disk]:
    """A file system of `kib` KiB at `folder` (tmpfs, as root); else a file-size limit for the process."""
    folder.mkdir(parents=True, exist_ok=True)
    mounted = False
    if hasattr(os, "geteuid") and os.geteuid() == 0 and shutil.which("mount"):
        mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={kib}k", "tmpfs", str(folder)],
                                 capture_output=True).returncode == 0
    if mounted:
        try:
            yield Disk(folder, None, "tmpfs")
        finally:
            subprocess.run(["umount", "-l", str(folder)], check=False)
        return
    import resource

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (kib * 1024, kib * 1024))

    yield Disk(folder, limit, "RLIMIT_FSIZE")


@pytest.fixture
def readonly_dir(tmp_path) -> Iterator[Path]:
    """A folder nobody may write to: a read-only mount as root (root ignores permission bits), else mode 0555."""
    folder = tmp_path / "read-only"
    folder.mkdir()
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        ok = subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=64k", "tmpfs", str(folder)],
                            capture_output=True).returncode == 0
        if not ok:
            pytest.skip("running as root without mount: a read-only folder cannot be made")
        try:
            yield folder
        finally:
            subprocess.run(["umount", "-l", str(folder)], check=False)
        return
    folder.chmod(0o555)
    try:
        yield folder
    finally:
        folder.chmod(0o755)


# ---------------------------------------------------------------------------------------------------------------
# The generated table


def pytest_sessionfinish(session, exitstatus) -> None:
    if not os.environ.get("LMHLD_RELIABILITY_TABLE") or not RECORDED:
        return
    from .table import write_table

    write_table(RECORDED, TABLE)


# ---------------------------------------------------------------------------------------------------------------
# One finished training, shared


TRAIN_RUN = ["train", "--model", "unet", "--width", "4", "--data", "dataset", "--epochs", "2", "--batch-size", "2",
             "--device", "cpu", "--workers", "0", "--seed", "0", "--checkpoint-every", "3", "--out", "run"]


@pytest.fixture(scope="session")
def trained_run(tmp_path_factory, inputs) -> Path:
    """`lmhld train TRAIN_RUN` never stopped: what a stopped and resumed run must end with."""
    work = Work(tmp_path_factory.mktemp("trained"), inputs)
    work.add("dataset")
    proc = work.run(*TRAIN_RUN, area="Stopped in the middle", case="train, not stopped (the reference)")
    assert proc.returncode == 0, proc.stderr
    return work.path("run")
