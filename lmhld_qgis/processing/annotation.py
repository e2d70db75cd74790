"""Styles for outputs whose QML is generated (an inventory's form, a problem layer): written once to the
processing temp folder and applied when Processing loads the layer."""

from __future__ import annotations


def style_from_text(context, dest: str, qml_text: str, *, name: str = "", run: str = "", rank: int = 0,
                    anchor_id: str | None = None) -> None:
    """Style an output Processing loads with QML text (written once to the processing temp folder); with a `run`,
    also name it and place it among that run's layers by `rank` (0 on top), above the layer `anchor_id`."""
    import hashlib
    import os

    from qgis.core import QgsProcessingUtils

    from .styling import ResultLayer, StyleOnLoad

    path = os.path.join(QgsProcessingUtils.tempFolder(), f"lmhld-{hashlib.sha1(qml_text.encode()).hexdigest()}.qml")
    if not os.path.exists(path):
        with open(path, "w", encoding="utf-8") as f:
            f.write(qml_text)
    if run:
        ResultLayer.attach(context, dest, name, path, run=run, rank=rank, anchor_id=anchor_id)
    else:
        StyleOnLoad.attach(context, dest, path)
