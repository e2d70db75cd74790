"""Reports: the figures a table shows."""

from __future__ import annotations

from lmhld_qgis.core.report import table_html


def test_scores_keep_their_decimals_and_large_figures_their_thousands():
    """The training report showed a best validation F1 of 0.0426 as 0.0 (and would show 0.98 as 1.0)."""
    page = table_html([("best validation F1", 0.0426), ("recall", 0.98), ("area (px)", 12345.678), ("epochs", 3)])
    assert "<td>0.0426</td>" in page and "<td>0.9800</td>" in page
    assert "<td>12,345.7</td>" in page and "<td>3</td>" in page
