"""A batch of Train landslide model or Run experiment in QGIS 3.22's batch dialog ended in a Python error dialog
(ProcessingResults.addResult() missing 'timestamp') after every row had run: QGIS's own bug for any algorithm with
an HTML output. Registering the provider supplies the timestamp where this QGIS lacks it."""

from __future__ import annotations

import inspect


def test_the_batch_dialog_lists_each_row_s_report(lmhld_provider, qgis_app, tmp_path):
    from processing.core.ProcessingResults import ProcessingResults, resultsList
    from processing.gui.BatchAlgorithmDialog import BatchAlgorithmDialog
    from qgis.core import QgsApplication

    report = tmp_path / "report.html"
    report.write_text("<p>run 0</p>")
    dialog = BatchAlgorithmDialog(QgsApplication.processingRegistry().createAlgorithmById("lmhld:trainmodel"))
    try:
        before = len(resultsList.getResults())
        dialog.loadHTMLResults({"REPORT": str(report)}, 0)  # what the dialog does after a batch, QGIS's own code
        [added] = resultsList.getResults()[before:]
        assert added.name == "Training report [0]" and added.filename == str(report) and added.timestamp
    finally:
        dialog.close()
    # QGIS's own signature is left where it already had a default (later versions)
    assert "timestamp" in inspect.signature(ProcessingResults.addResult).parameters
