"""The layers a review writes to, and how: the inventory (accepted detections, one undoable edit each), the
negatives layer (rejected ones) and the `review` field of the detections layer (every decision, which is how a
stopped review resumes). Every write goes through the layers' edit buffers and edit commands; `stop` commits them.
"""

from __future__ import annotations

from dataclasses import dataclass

from qgis.core import (
    NULL,
    QgsCategorizedSymbolRenderer,
    QgsCoordinateTransform,
    QgsFeature,
    QgsField,
    QgsFillSymbol,
    QgsGeometry,
    QgsProject,
    QgsRendererCategory,
    QgsSingleSymbolRenderer,
    QgsVectorLayer,
    QgsVectorLayerUtils,
)
from qgis.PyQt.QtCore import QDate, QVariant

from ..core.errors import LmhldError
from ..core.review import ACCEPTED, EDITED, REJECTED, REVIEW_FIELD, SKIPPED, Detection

# how each decision is drawn on the detections layer, so the map shows what is done and what is left (rejected ones
# purple and dotted: the red of detect's own outlines, kept by those not reviewed, could not be told from them)
DECISION_STYLES = (  # value, legend label, outline colour, outline style
    (ACCEPTED, "accepted", "40,170,60,255", "solid"), (EDITED, "edited and accepted", "0,150,210,255", "solid"),
    (REJECTED, "rejected", "160,0,200,255", "dot"), (SKIPPED, "skipped", "140,140,140,255", "dash"))


@dataclass
class Added:
    """The features a decision added (to undo it): the layer, their feature ids (a detection of several parts in a
    single-part layer is one feature per part) and the edit command's text."""

    layer: QgsVectorLayer
    fids: tuple[int, ...]
    command: str


def _value(feature: QgsFeature, name: str):
    index = feature.fields().indexOf(name)
    value = feature.attribute(index) if index >= 0 else None
    return None if value == NULL else value


class ReviewLayers:
    """Writes decisions into the layers; knows nothing about order or keys (that is ReviewSession and the dock)."""

    def __init__(self, detections: QgsVectorLayer, inventory: QgsVectorLayer, negatives: QgsVectorLayer) -> None:
        if len({detections.id(), inventory.id(), negatives.id()}) < 3:
            raise LmhldError("detections, inventory and negatives must be three different layers")
        self.detections, self.inventory, self.negatives = detections, inventory, negatives
        self._ensure_review_field()
        for layer in (detections, inventory, negatives):
            if not layer.isEditable() and not layer.startEditing():
                raise LmhldError(f"layer {layer.name()} cannot be edited; save it as a GeoPackage first")

    def show_decisions(self) -> None:
        """Draw the detections by their `review` decision (not reviewed ones keep the layer's own symbol): the map
        and the legend then show what is done and what is left, and keep showing it after the review."""
        renderer = self.detections.renderer()
        if isinstance(renderer, QgsCategorizedSymbolRenderer) and renderer.classAttribute() == REVIEW_FIELD:
            return
        if isinstance(renderer, QgsSingleSymbolRenderer) and renderer.symbol() is not None:
            pending = renderer.symbol().clone()
        else:
            pending = QgsFillSymbol.createSimple({"color": "0,0,0,0", "outline_color": "255,0,255,255",
                                                  "outline_width": "0.6"})
        categories = [QgsRendererCategory(value, QgsFillSymbol.createSimple(
            {"color": colour[:-3] + "50", "outline_color": colour, "outline_width": "0.8", "outline_style": line}),
            label) for value, label, colour, line in DECISION_STYLES]
        categories.append(QgsRendererCategory("", pending, "not reviewed"))  # "": every other value, NULL included
        self.detections.setRenderer(QgsCategorizedSymbolRenderer(REVIEW_FIELD, categories))
        self.detections.triggerRepaint()

    def _ensure_review_field(self) -> None:
        """Add the `review` text field to the detections layer (a schema change, saved at once)."""
        if self.detections.fields().indexOf(REVIEW_FIELD) >= 0:
            return
        if self.detections.isEditable():
            self.detections.commitChanges()
        provider = self.detections.dataProvider()
        if not provider.addAttributes([QgsField(REVIEW_FIELD, QVariant.String)]):
            raise LmhldError(f"cannot add the '{REVIEW_FIELD}' field to {self.detections.name()}")
        self.detections.updateFields()

    # --- reading ---------------------------------------------------------------------------------------------

    def candidates(self) -> tuple[list[Detection], dict[int, str | None]]:
        """Every detection and the decisions already stored on the layer."""
        detections, stored = [], {}
        for f in self.detections.getFeatures():
            area = _value(f, "area_m2")  # detect's field; any other polygon layer: its planar area
            detections.append(Detection(f.id(), _value(f, "id"),
                                        float(area) if area is not None else f.geometry().area(),
                                        _value(f, "mean_prob")))
            stored[f.id()] = _value(f, REVIEW_FIELD)
        return detections, stored

    def feature(self, fid: int) -> QgsFeature:
        return self.detections.getFeature(fid)

    def accepted_elsewhere(self, candidates: list[Detection], stored: dict[int, str | None]) -> list[int]:
        """Detections marked accepted (or edited) whose copy this inventory does not hold (by its detection_id):
        accepted into another inventory, or deleted from this one. A review restarted on a new inventory counted
        them as done while it held none of them. `candidates` and `stored`: what candidates() read."""
        accepted = [d for d in candidates if stored.get(d.fid) in (ACCEPTED, EDITED)]
        if not accepted or self.inventory.fields().indexOf("detection_id") < 0:
            return []
        held = {_value(f, "detection_id") for f in self.inventory.getFeatures()}
        return sorted(d.fid for d in accepted if d.ident is None or d.ident not in held)

    # --- writing ---------------------------------------------------------------------------------------------

    def mark(self, fid: int, decision: str | None) -> None:
        """Store a decision (None: not reviewed) in the detection's `review` field."""
        index = self.detections.fields().indexOf(REVIEW_FIELD)
        self.detections.beginEditCommand(f"LMHLD review: detection {fid} {decision or 'not reviewed'}")
        self.detections.changeAttributeValue(fid, index, decision if decision is not None else NULL)
        self.detections.endEditCommand()

    PROVENANCE = ("source", "model", "mean_prob", "detection_id", "reviewed_on")  # what an accept records

    def missing_provenance(self) -> list[str]:
        """The fields an accepted detection records that the inventory lacks (a plain shapefile has none of them)."""
        return [name for name in self.PROVENANCE if self.inventory.fields().indexOf(name) < 0]

    def accept(self, fid: int, decision: str, geometry: QgsGeometry | None = None) -> Added:
        """Copy the detection (or the edited `geometry`) into the inventory, in one edit command."""
        det = self.feature(fid)
        geom = self._to_layer(QgsGeometry(geometry if geometry is not None else det.geometry()), self.inventory)
        # a reshaped detection is the annotator's own outline; one accepted as drawn is vouched for at a glance
        values = {"source": "reviewed" if decision == EDITED else "model", "model": _value(det, "model"),
                  "certainty": "high" if decision == EDITED else "medium",
                  "mean_prob": _value(det, "mean_prob"), "detection_id": _value(det, "id"),
                  "reviewed_on": QDate.currentDate()}
        return self._add(self.inventory, geom, values, f"LMHLD accept: detection {_value(det, 'id') or fid}")

    def reject(self, fid: int) -> Added:
        """Keep the detection in the negatives layer (a known false positive)."""
        det = self.feature(fid)
        geom = self._to_layer(QgsGeometry(det.geometry()), self.negatives)
        values = {"detection_id": _value(det, "id"), "mean_prob": _value(det, "mean_prob"),
                  "model": _value(det, "model"), "reviewed_on": QDate.currentDate(), "author": _reviewer()}
        return self._add(self.negatives, geom, values, f"LMHLD reject: detection {_value(det, 'id') or fid}")

    def _add(self, layer: QgsVectorLayer, parts: list[QgsGeometry], values: dict, command: str) -> Added:
        attributes = {layer.fields().indexOf(k): v for k, v in values.items()
                      if layer.fields().indexOf(k) >= 0 and v is not None}
        layer.beginEditCommand(command)
        fids = []
        for geom in parts:
            feature = QgsVectorLayerUtils.createFeature(layer, geom, attributes, layer.createExpressionContext())
            if not layer.addFeature(feature):
                layer.destroyEditCommand()  # none of the parts stays
                raise LmhldError(f"could not add the feature to {layer.name()}")
            fids.append(feature.id())
        layer.endEditCommand()
        return Added(layer, tuple(fids), command)

    def remove(self, added: Added) -> None:
        """Take an added feature back: the layer's own undo when its last edit is ours, else a deletion."""
        stack = added.layer.undoStack()
        if stack.index() > 0 and stack.text(stack.index() - 1) == added.command:
            stack.undo()
        else:
            added.layer.beginEditCommand(f"LMHLD undo: {added.command}")
            added.layer.deleteFeatures(list(added.fids))
            added.layer.endEditCommand()

    def _to_layer(self, geom: QgsGeometry, layer: QgsVectorLayer) -> list[QgsGeometry]:
        """A detection's geometry in `layer`'s CRS and geometry type: one geometry per part where the layer holds
        single polygons (the first part alone was kept: a 2-part detection of 166 + 64 m2 became 166 m2)."""
        if self.detections.crs() != layer.crs():
            geom.transform(QgsCoordinateTransform(self.detections.crs(), layer.crs(), QgsProject.instance()))
        return geom.coerceToType(layer.wkbType()) or [geom]

    def all(self) -> list[QgsVectorLayer]:
        """The review's layers that still exist (one deleted by QGIS is left out, not touched)."""
        from qgis.PyQt import sip

        return [lyr for lyr in (self.inventory, self.negatives, self.detections) if not sip.isdeleted(lyr)]

    def stop(self) -> list[str]:
        """Commit the three layers and leave editing; the errors, if any (the edits then stay in the buffers)."""
        errors = []
        for layer in self.all():
            if layer.isEditable() and not layer.commitChanges():
                errors += [f"{layer.name()}: {e}" for e in layer.commitErrors()]
        return errors


def _reviewer() -> str | None:
    """Who rejects (the negatives layer has no form to default it, as the inventory's does: its author was NULL
    beside the accepted detections' name)."""
    from qgis.core import QgsExpressionContextUtils

    name = QgsExpressionContextUtils.globalScope().variable("user_full_name")
    return str(name) if name else None
