"""What the annotator's algorithms share: tr(), a base whose title and help are translated, styles from QML text."""

from __future__ import annotations

from qgis.PyQt.QtCore import QCoreApplication

from .base import LmhldAlgorithm

CONTEXT = "lmhld"


def tr(text: str) -> str:
    """The text in the user's language (QGIS loads the plugin's translations into this context)."""
    return QCoreApplication.translate(CONTEXT, text)


class TranslatedAlgorithm(LmhldAlgorithm):
    """An LmhldAlgorithm whose TITLE and HELP are shown translated (the menu keeps TITLE as the source text)."""

    def displayName(self) -> str:
        return tr(self.TITLE)

    def shortHelpString(self) -> str:
        return tr(self.HELP)


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
