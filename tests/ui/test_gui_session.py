"""Runs tests/gui in a pytest session of its own with QGIS's GUI enabled under Xvfb (a real X display)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys

import pytest

from ..helpers import ROOT


def test_gui_tests_pass_under_xvfb(tmp_path):
    if shutil.which("xvfb-run") is None:
        pytest.skip("xvfb-run is not installed (apt-get install xvfb)")
    env = {k: v for k, v in os.environ.items() if k != "QT_QPA_PLATFORM"}  # a real display, not offscreen
    env.update(LMHLD_GUI_SESSION="1", LMHLD_GUI_OUT=str(tmp_path))
    proc = subprocess.run(
        ["xvfb-run", "-a", "-s", "-screen 0 1600x1000x24", sys.executable, "-m", "pytest", "tests/gui", "-q",
         "-p", "no:cacheprovider", "-o", "qgis_gui_enabled=true", "--basetemp", str(tmp_path / "base")],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-3000:]
    passed = re.search(r"(\d+) passed", proc.stdout)
    assert passed and int(passed.group(1)) >= 5, proc.stdout[-3000:]
