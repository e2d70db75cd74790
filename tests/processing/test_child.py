"""The child process's relay: progress lines as feedback, cancel seen while the child is silent."""

from __future__ import annotations

import json
import subprocess
import sys

from qgis.core import QgsProcessingFeedback
from qgis.PyQt.QtCore import QTimer

from lmhld_qgis.processing.child import _relay

SILENT_CHILD = ("import json, time\n"
                "print(json.dumps({'event': 'info', 'message': 'loading patches'}), flush=True)\n"
                "time.sleep(60)\n")


def test_cancel_is_seen_and_the_desktop_kept_alive_while_the_child_says_nothing(qgis_app):
    """QGIS 3.22 runs batch mode and graphical models on its main thread: waiting on the child's next line froze
    the desktop (7 s through a validation pass) and its Cancel button with it. Here the Cancel click is a timer
    on the main thread's event loop: it fires only if the relay handles events while the child is silent."""
    feedback = QgsProcessingFeedback()
    infos: list[str] = []
    feedback.pushInfo = infos.append
    QTimer.singleShot(300, feedback.cancel)
    with subprocess.Popen([sys.executable, "-c", SILENT_CHILD], stdout=subprocess.PIPE, text=True) as process:
        summary, cancel_sent = _relay(process, feedback)
        code = process.wait(timeout=30)
    assert cancel_sent and code == -15  # SIGTERM, long before the child's minute of silence ended
    assert infos == ["loading patches"] and summary == {}


def test_the_done_event_is_the_summary_and_other_lines_go_to_the_log(qgis_app):
    feedback = QgsProcessingFeedback()
    console: list[str] = []
    feedback.pushConsoleInfo = console.append
    script = ("import json\nprint('plain text')\n"
              f"print({json.dumps(json.dumps({'event': 'done', 'onnx': 'model.onnx'}))})\n")
    with subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True) as process:
        summary, cancel_sent = _relay(process, feedback)
    assert summary == {"event": "done", "onnx": "model.onnx"} and not cancel_sent and console == ["plain text"]
