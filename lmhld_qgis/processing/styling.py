"""Apply the project's QML styles to layers Processing loads on completion."""

from __future__ import annotations

from typing import ClassVar

from qgis.core import QgsProcessingLayerPostProcessorInterface


class StyleOnLoad(QgsProcessingLayerPostProcessorInterface):
    """Loads a QML style into the layer once Processing has added it to the project."""

    _alive: ClassVar[list[StyleOnLoad]] = []  # post-processors must outlive the algorithm run

    def __init__(self, qml: str) -> None:
        super().__init__()
        self.qml = qml

    def postProcessLayer(self, layer, context, feedback) -> None:
        layer.loadNamedStyle(self.qml)
        layer.triggerRepaint()

    @classmethod
    def attach(cls, context, output_id: str, qml: str) -> None:
        if context.willLoadLayerOnCompletion(output_id):
            processor = cls(qml)
            cls._alive.append(processor)
            context.layerToLoadOnCompletionDetails(output_id).setPostProcessor(processor)
