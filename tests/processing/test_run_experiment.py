"""lmhld:runexperiment: the study in a child process; cancel keeps the stopped run, a second call completes it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from qgis.core import QgsProcessingException, QgsProcessingFeedback

from ..training.test_experiment import tiny_config

pytestmark = pytest.mark.slow


def test_run_cancel_and_continue(qgis_processing, lmhld_provider, tmp_path):
    import processing

    params = {"CONFIG": str(tiny_config(tmp_path, epochs=30)), "OUTPUT_FOLDER": str(tmp_path / "exp")}
    feedback = QgsProcessingFeedback()
    feedback.progressChanged.connect(lambda p: feedback.cancel() if p > 0 else None)
    with pytest.raises(QgsProcessingException, match="Experiment cancelled; finished runs and the stopped run's"):
        processing.run("lmhld:runexperiment", params, feedback=feedback)
    assert (tmp_path / "exp" / "runs" / "exp1" / "solo_32_unet" / "last.pt").exists()

    feedback = QgsProcessingFeedback()
    seen = []
    feedback.progressChanged.connect(seen.append)
    result = processing.run("lmhld:runexperiment", params, feedback=feedback)
    assert Path(result["REPORT"]).read_text().count("<table") >= 1
    assert (Path(result["TABLES"]) / "table4_patch_size.md").read_text().startswith("# Table")
    assert json.loads((tmp_path / "exp" / "results.json").read_text())["runs"] == {"trained": 1, "skipped": 0}
    assert "resuming exp1/solo_32_unet" in feedback.textLog() and max(seen) == pytest.approx(100.0)
