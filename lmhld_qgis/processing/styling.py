"""How results land on the map: a name that says which scene and model they come from, the project's style, and
a place in the layer tree (detections above their probability raster, both just above the scene they came from)."""

from __future__ import annotations

from typing import ClassVar

from qgis.core import QgsLayerTreeLayer, QgsProcessingLayerPostProcessorInterface, QgsProject


class ResultLayer(QgsProcessingLayerPostProcessorInterface):
    """Names, styles and places a layer once Processing has added it to the project.

    Layers of one run share a `run` key; `rank` orders them top-down (0 on top), all directly above the layer
    `anchor_id` (the input scene) when it is in the project, else at the top of the layer tree.
    """

    _alive: ClassVar[list[ResultLayer]] = []  # post-processors must outlive the algorithm run
    _placed: ClassVar[dict[str, dict[int, str]]] = {}  # run -> {rank: layer id}
    _numbers: ClassVar[dict[str, int]] = {}  # run -> the number its layers' names carry (1: none)

    def __init__(self, name: str, qml: str | None = None, *, run: str = "", rank: int = 0,
                 anchor_id: str | None = None, stored_style: bool = False) -> None:
        super().__init__()
        self.name, self.qml, self.run, self.rank, self.anchor_id = name, qml, run, rank, anchor_id
        self.stored_style = stored_style  # the style (and edit form) the GeoPackage holds, which Processing skips

    def postProcessLayer(self, layer, context, feedback) -> None:
        project = context.project() or QgsProject.instance()
        number = self._numbers.get(self.run) or first_free_number(project, self.name, layer.id())
        if self.run:  # the layers of one run carry one number: a second detection's polygons and probability [2]
            self._numbers[self.run] = number
        layer.setName(numbered(self.name, number))
        if self.stored_style:
            layer.loadDefaultStyle()  # reads the data source's default style: QGIS 3.22's Processing loads without it
        if self.qml:
            layer.loadNamedStyle(self.qml)
            layer.triggerRepaint()
            node = (context.project() or QgsProject.instance()).layerTreeRoot().findLayer(layer.id())
            if node is not None:  # the legend rows the style adds (categories) show: the view keeps a node loaded
                node.setExpanded(False)  # as one symbol collapsed until its expansion changes
                node.setExpanded(True)
        if self.run:
            self._placed.setdefault(self.run, {})[self.rank] = layer.id()
            place_layers(context.project() or QgsProject.instance(), self._placed[self.run], self.anchor_id)

    @classmethod
    def attach(cls, context, output: str, name: str, qml: str | None = None, **placement) -> None:
        """Use for the layer `output` (a path Processing will load on completion), if it will be loaded."""
        if context.willLoadLayerOnCompletion(output):
            processor = cls(name, qml, **placement)
            cls._alive.append(processor)
            context.layerToLoadOnCompletionDetails(output).setPostProcessor(processor)


def numbered(name: str, number: int) -> str:
    """A layer name told apart from earlier runs' by its number: "name", "name [2]", "name [3]", ..."""
    return name if number == 1 else f"{name} [{number}]"


def first_free_number(project: QgsProject, name: str, own_id: str = "") -> int:
    """The first number whose `numbered` name no other layer of the project has (1 when `name` is free)."""
    taken = {layer.name() for layer in project.mapLayers().values() if layer.id() != own_id}
    number = 1
    while numbered(name, number) in taken:
        number += 1
    return number


def place_layers(project: QgsProject, by_rank: dict[int, str], anchor_id: str | None) -> None:
    """Move the layers `by_rank` (rank -> layer id) together, in rank order, directly above the anchor layer (or
    at the top of the first one's group when the anchor is not in the tree)."""
    root = project.layerTreeRoot()
    nodes = [node for node in (root.findLayer(by_rank[r]) for r in sorted(by_rank)) if node is not None]
    if not nodes:
        return
    anchor = root.findLayer(anchor_id) if anchor_id else None
    parent = anchor.parent() if anchor is not None else nodes[0].parent()
    siblings = parent.children()
    index = next((i for i, c in enumerate(siblings) if anchor is not None and isinstance(c, QgsLayerTreeLayer)
                  and c.layerId() == anchor_id), 0)
    # clones go in first: a layer whose last tree node is removed leaves the project
    for offset, node in enumerate(nodes):
        parent.insertChildNode(index + offset, node.clone())
    for node in nodes:
        node.parent().removeChildNode(node)


class StyleOnLoad(ResultLayer):
    """A result layer that only gets a style (kept for algorithms that need nothing else)."""

    def __init__(self, qml: str) -> None:
        super().__init__("", qml)

    def postProcessLayer(self, layer, context, feedback) -> None:
        layer.loadNamedStyle(self.qml)
        layer.triggerRepaint()

    @classmethod
    def attach(cls, context, output_id: str, qml: str) -> None:  # type: ignore[override]
        if context.willLoadLayerOnCompletion(output_id):
            processor = cls(qml)
            cls._alive.append(processor)
            context.layerToLoadOnCompletionDetails(output_id).setPostProcessor(processor)
