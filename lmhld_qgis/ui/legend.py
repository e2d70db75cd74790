"""The project's layers in the order the user sees them: the highest in the Layers panel first."""

from __future__ import annotations

from collections.abc import Iterable

from qgis.core import QgsMapLayer, QgsProject


def highest_first(layers: Iterable[QgsMapLayer]) -> list[QgsMapLayer]:
    """`layers` sorted as the Layers panel shows them, top first (Detect adds its outputs on top, above their
    scene); layers outside the panel come last."""
    order = {node.layerId(): k for k, node in enumerate(QgsProject.instance().layerTreeRoot().findLayers())}
    return sorted(layers, key=lambda layer: order.get(layer.id(), len(order)))
