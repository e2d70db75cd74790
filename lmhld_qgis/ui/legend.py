"""The project's layers as the user sees them: those a layer box offers, and the Layers panel's order."""

from __future__ import annotations

from collections.abc import Iterable

from qgis.core import QgsMapLayer, QgsMapLayerModel, QgsProject
from qgis.gui import QgsMapLayerComboBox


def offered(combo: QgsMapLayerComboBox) -> list[QgsMapLayer]:
    """The layers a layer box offers (its filters applied), in the box's order; its empty row left out."""
    model = combo.model()
    return [layer for layer in (model.data(model.index(i, 0), QgsMapLayerModel.LayerRole)
                                for i in range(model.rowCount())) if layer is not None]


def highest_first(layers: Iterable[QgsMapLayer]) -> list[QgsMapLayer]:
    """`layers` sorted as the Layers panel shows them, top first (Detect adds its outputs on top, above their
    scene); layers outside the panel come last."""
    order = {node.layerId(): k for k, node in enumerate(QgsProject.instance().layerTreeRoot().findLayers())}
    return sorted(layers, key=lambda layer: order.get(layer.id(), len(order)))
