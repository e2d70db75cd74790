"""Styles for outputs whose QML is generated (an inventory's form, a problem layer): written once to the
processing temp folder and applied when Processing loads the layer."""

from __future__ import annotations


def style_from_text(context, dest: str, qml_text: str) -> None:
    """Style an output Processing loads with QML text (written once to the processing temp folder)."""
    import hashlib
    import os

    from qgis.core import QgsProcessingUtils

    from .styling import StyleOnLoad

    path = os.path.join(QgsProcessingUtils.tempFolder(), f"lmhld-{hashlib.sha1(qml_text.encode()).hexdigest()}.qml")
    if not os.path.exists(path):
        with open(path, "w", encoding="utf-8") as f:
            f.write(qml_text)
    StyleOnLoad.attach(context, dest, path)
