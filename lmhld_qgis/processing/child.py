"""Long torch work (training, experiments) runs as `python -m lmhld_qgis ... --progress-json` in a child process,
so QGIS never freezes and a CUDA failure cannot take it down. Its JSON lines become feedback; cancel sends SIGTERM,
on which the child stops at the next batch after saving last.pt."""

from __future__ import annotations

import json
import os
import queue
import re
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from qgis.core import QgsApplication, QgsProcessingException
from qgis.PyQt.QtCore import QCoreApplication, QThread

from .. import deps
from ..core.gdal_mode import gdal_exceptions_paused
from .common import in_dialog_terms


def deps_folder() -> Path:
    """The folder the plugin installs Python packages into, inside the current QGIS profile."""
    return deps.deps_dir(QgsApplication.qgisSettingsDirPath())


@dataclass
class ChildCommand:
    """What runs a child: its arguments and environment (the plugin's parent folder first on PYTHONPATH)."""

    args: list[str]
    env: dict[str, str]


def lmhld_child(command: str, *args: str) -> ChildCommand:
    """`python -m lmhld_qgis COMMAND --progress-json ...` with an interpreter that has torch: LMHLD_PYTHON, else
    the Python QGIS runs; else a QgsProcessingException that says what to install and how."""
    env = deps.child_env(deps_folder())
    python = deps.python_for_child(env)
    if os.environ.get(deps.PYTHON_ENV) and not Path(python).exists():
        raise QgsProcessingException(f"{deps.PYTHON_ENV} is set to {python}, which does not exist: point it to a "
                                     "Python interpreter that has torch, or unset it to use QGIS's own Python.")
    missing = deps.missing_modules(python, ("torch", "onnx", "onnxscript"), env)
    if missing is None:
        raise QgsProcessingException(f"cannot run the Python interpreter {python}: set {deps.PYTHON_ENV} to a "
                                     "Python that has torch.")
    if missing:
        what = {"train": "Training", "experiment": "Running an experiment",
                "export-onnx": "Exporting a model file"}.get(command, command)
        own = not os.environ.get(deps.PYTHON_ENV)  # QGIS's own Python: the plugin's folder, as the dialog installs
        raise QgsProcessingException(deps.missing_message(missing, python, what, child=True,
                                                          target=deps_folder() if own else None))
    return ChildCommand([python, "-m", "lmhld_qgis", command, "--progress-json", *args], env)


def run_child(child: ChildCommand, feedback, *, what: str, on_cancel: str | Callable[[], str], alg=None) -> dict:
    """Run the child, relay its progress, stop it on cancel; its errors become QgsProcessingExceptions.

    Returns the child's final `done` event. `what` names the work in errors; `on_cancel` says what was kept; the
    options its messages name are told as `alg`'s parameters (common.in_dialog_terms).
    """
    feedback.pushInfo("running: " + " ".join(child.args))
    # the child runs the core; the hours spent waiting for it leave QGIS's GDAL setting as QGIS set it
    with gdal_exceptions_paused(), tempfile.TemporaryFile("w+", encoding="utf-8") as errors, subprocess.Popen(
            child.args, stdout=subprocess.PIPE, stderr=errors, text=True, env=child.env,
            cwd=str(deps.plugin_parent()), start_new_session=True) as process:
        summary, cancel_sent = _relay(process, feedback, alg)
        code = process.wait()
        errors.seek(0)
        stderr = errors.read()
    if cancel_sent or feedback.isCanceled():
        said = on_cancel() if callable(on_cancel) else on_cancel  # what was kept, looked at once the child is gone
        raise QgsProcessingException(f"{what.capitalize()} cancelled; {said}")
    if code != 0:
        message = next((ln for ln in reversed(stderr.splitlines()) if "error:" in ln), stderr[-2000:])
        message = re.sub(r"^lmhld \w[\w-]*: error: ", "", message.strip())  # the command line's prefix
        raise QgsProcessingException(f"{what.capitalize()} failed: {message}")
    return summary


def _relay(process: subprocess.Popen, feedback, alg=None) -> tuple[dict, bool]:
    """The child's JSON progress lines as feedback (other lines go to the log); SIGTERM once cancel is asked.

    The lines are read by a thread of their own, so that cancel is seen within a tenth of a second whatever the
    child is doing; on QGIS's main thread (batch mode and graphical models run there in QGIS 3.22) the desktop's
    events are handled meanwhile, as QGIS's dialog does for an algorithm it runs there: waiting on the next line
    froze the desktop, and its Cancel button, for as long as the child said nothing (7 s a validation pass)."""
    summary: dict = {}
    cancel_sent = False
    said: dict = {"at": 0.0, "epoch": None}  # when the batch line was last shown, and of which epoch
    lines = _lines_of(process.stdout)
    app = QCoreApplication.instance()
    on_main_thread = app is not None and QThread.currentThread() == app.thread()
    while True:
        if feedback.isCanceled() and not cancel_sent:
            process.send_signal(signal.SIGTERM)  # stops at the next batch, after saving last.pt
            cancel_sent = True
        try:
            line = lines.get(timeout=POLL_S)
        except queue.Empty:
            line = ""
        if on_main_thread:
            QCoreApplication.processEvents()
        if line is None:  # the child closed its output: it has ended
            return summary, cancel_sent
        if not line:
            continue
        try:
            event = json.loads(line)
        except json.JSONDecodeError:
            feedback.pushConsoleInfo(line.rstrip())
            continue
        if event.get("event") == "done":
            summary = event
        else:
            _report(event, feedback, alg, said)


POLL_S = 0.1  # how often cancel is looked at (and the desktop's events handled) while the child is silent


def _lines_of(stream) -> queue.Queue:
    """The lines of `stream`, read by a daemon thread into a queue that ends with None."""
    lines: queue.Queue = queue.Queue()

    def read() -> None:
        try:
            for line in stream:
                lines.put(line)
        finally:
            lines.put(None)

    threading.Thread(target=read, name="lmhld-child-output", daemon=True).start()
    return lines


BATCH_TEXT_EVERY_S = 10.0  # QGIS's dialog logs every progress text: a line a batch buried the warnings


def _report(event: dict, feedback, alg, said: dict) -> None:
    kind = event.get("event")
    if kind == "batch":
        feedback.setProgress(100.0 * event["fraction"])
        now = time.monotonic()  # the text at each new epoch too: a short epoch left it an epoch behind
        if now - said["at"] >= BATCH_TEXT_EVERY_S or said["epoch"] != event["epoch"]:
            said["at"], said["epoch"] = now, event["epoch"]
            feedback.setProgressText(f"epoch {event['epoch']}, batch {event['batch']}/{event['batches']}, "
                                     f"loss {event['loss']:.4f}")
    elif kind == "progress":
        feedback.setProgress(100.0 * event["fraction"])
    elif kind in ("info", "warning"):  # (an "epoch" event is not said: the child's info line says it, in full)
        (feedback.pushInfo if kind == "info" else feedback.pushWarning)(in_dialog_terms(event["message"], alg))
