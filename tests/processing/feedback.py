"""A Processing feedback that keeps the warnings an algorithm gives (what a user sees in orange in its log)."""

from __future__ import annotations

from qgis.core import QgsProcessingFeedback


class WarningsFeedback(QgsProcessingFeedback):
    def __init__(self) -> None:
        super().__init__()
        self.said: list[str] = []

    def pushWarning(self, text: str) -> None:
        self.said.append(text)
        super().pushWarning(text)
