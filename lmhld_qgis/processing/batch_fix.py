"""QGIS 3.22's batch dialog ends every batch of an algorithm with an HTML output (its own too) in a Python error:
`loadHTMLResults` calls `ProcessingResults.addResult()` without its `timestamp` argument, after every row ran and
wrote its outputs. Train landslide model and Run experiment always return their HTML report, so each batch of them
ended in that error dialog with no summary. Where the installed QGIS has this signature, the missing timestamp is
supplied (the time the result is added, as later QGIS versions pass); elsewhere nothing is changed."""

from __future__ import annotations

import functools
import inspect
import time
from typing import Any


def supply_batch_timestamp() -> bool:
    """Give `ProcessingResults.addResult` a default timestamp where it has none; whether it was needed."""
    try:
        from processing.core.ProcessingResults import ProcessingResults
    except ImportError:  # Processing's Python plugin is not loaded (a headless script)
        return False
    add = ProcessingResults.addResult
    if getattr(add, "lmhld_timestamp", False):
        return True
    timestamp = inspect.signature(add).parameters.get("timestamp")
    if timestamp is None or timestamp.default is not inspect.Parameter.empty:
        return False

    @functools.wraps(add)
    def add_result(self: Any, icon: Any, name: str, timestamp: Any = None, result: Any = None) -> Any:
        return add(self, icon, name, time.localtime() if timestamp is None else timestamp, result)

    add_result.lmhld_timestamp = True  # type: ignore[attr-defined]
    ProcessingResults.addResult = add_result
    return True
