"""Long torch work (training, experiments) runs as `python -m lmhld_qgis ... --progress-json` in a child process,
so QGIS never freezes and a CUDA failure cannot take it down. Its JSON lines become feedback; cancel sends SIGTERM,
on which the child stops at the next batch after saving last.pt."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

from qgis.core import QgsProcessingException


def python_for_child() -> str:
    """The Python that runs the child: LMHLD_PYTHON, else this interpreter when it is a real Python of the same
    installation (a venv's python included), else the installation's own python3.X. Inside QGIS, sys.executable
    is the QGIS binary or whatever `python3` is first on PATH, which may not see QGIS's packages."""
    if os.environ.get("LMHLD_PYTHON"):
        return os.environ["LMHLD_PYTHON"]
    exe = Path(sys.executable) if sys.executable else None
    base = Path(sys.base_exec_prefix).resolve()
    if exe and exe.name.startswith("python") and exe.resolve().is_relative_to(base):
        return str(exe)
    return str(base / "bin" / f"python{sys.version_info.major}.{sys.version_info.minor}")


def lmhld_child_args(command: str, *args: str) -> list[str]:
    return [python_for_child(), "-m", "lmhld_qgis", command, "--progress-json", *args]


def run_child(args: list[str], feedback, *, what: str, on_cancel: str) -> dict:
    """Run the child, relay its progress, stop it on cancel; its errors become QgsProcessingExceptions.

    Returns the child's final `done` event. `what` names the work in errors; `on_cancel` says what was kept.
    """
    feedback.pushInfo("running: " + " ".join(args))
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    child = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                             start_new_session=True)
    summary: dict = {}
    cancel_sent = False
    for line in child.stdout:
        if feedback.isCanceled() and not cancel_sent:
            child.send_signal(signal.SIGTERM)  # stops at the next batch, after saving last.pt
            cancel_sent = True
        try:
            event = json.loads(line)
        except json.JSONDecodeError:
            feedback.pushConsoleInfo(line.rstrip())
            continue
        kind = event.get("event")
        if kind == "batch":
            feedback.setProgress(100.0 * event["fraction"])
            feedback.setProgressText(f"epoch {event['epoch']}, batch {event['batch']}/{event['batches']}, "
                                     f"loss {event['loss']:.4f}")
        elif kind == "progress":
            feedback.setProgress(100.0 * event["fraction"])
        elif kind == "epoch":
            feedback.pushInfo(f"epoch {event['epoch']} ({event['dataset']}): loss {event['train_loss']:.4f}, "
                              f"val P {event['val_precision']:.4f} R {event['val_recall']:.4f} "
                              f"F1 {event['val_f1']:.4f}")
        elif kind in ("info", "warning"):
            (feedback.pushInfo if kind == "info" else feedback.pushWarning)(event["message"])
        elif kind == "done":
            summary = event
    stderr = child.stderr.read()
    code = child.wait()
    if cancel_sent or feedback.isCanceled():
        raise QgsProcessingException(f"{what.capitalize()} cancelled; {on_cancel}")
    if code != 0:
        message = next((ln for ln in reversed(stderr.splitlines()) if "error:" in ln), stderr[-2000:])
        raise QgsProcessingException(f"{what} failed (exit {code}): {message}")
    return summary
