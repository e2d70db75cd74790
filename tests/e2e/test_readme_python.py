"""The README's Python pipeline runs as written (in a scratch folder, with one epoch instead of six)."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from ..helpers import ROOT

pytestmark = pytest.mark.slow


def readme_block() -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    found = re.search(r"<!-- python-api[^>]*-->\n```python\n(.*?)```", text, re.S)
    assert found, "the README lost its Python pipeline block"
    return found.group(1)


def test_the_readme_python_pipeline_runs(tmp_path):
    code = readme_block()
    assert "epochs=6" in code
    (tmp_path / "pipeline.py").write_text(code.replace("epochs=6", "epochs=1"), encoding="utf-8")
    proc = subprocess.run([sys.executable, "pipeline.py"], cwd=tmp_path, capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert re.fullmatch(r"\d+ polygons; pixel F1 [01]\.\d{3}, object F1 [01]\.\d{3}\n", proc.stdout), proc.stdout
    assert (tmp_path / "work" / "run" / "model.onnx").is_file() and (tmp_path / "work" / "landslides.gpkg").is_file()
    # the training says what it does (it said nothing, minutes long, until the last print)
    assert re.search(r"^stage 1/1 \(area\) epoch 1/1", proc.stderr, re.M) and "\n100%\n" in proc.stderr, \
        proc.stderr[-3000:]
