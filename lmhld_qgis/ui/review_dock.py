"""The review dock (Plugins > LMHLD Landslide Detection > Review detections): step through a model's detections over the
imagery and, with one key each, accept (into the inventory), reject (into a negatives layer), edit the shape
before accepting, skip or undo.

Keys: A accept, R reject, E edit, S skip, U undo, P show/hide the probability raster. The decisions live in the
detections layer's `review` field, so Stop saves everything and Start resumes where the review was.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

from qgis.core import (
    QgsCoordinateTransform,
    QgsCsException,
    QgsFeature,
    QgsFillSymbol,
    QgsMapLayerProxyModel,
    QgsMapLayerType,
    QgsProject,
    QgsRectangle,
    QgsVectorLayer,
    QgsWkbTypes,
)
from qgis.gui import QgsDockWidget, QgsMapLayerComboBox, QgsRubberBand
from qgis.PyQt.QtCore import QCoreApplication, QEvent, QObject, Qt, pyqtSignal
from qgis.PyQt.QtGui import QColor
from qgis.PyQt.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from ..core.errors import LmhldError
from ..core.gdal_mode import gdal_exceptions
from ..core.review import ACCEPTED, EDITED, ORDERS, REJECTED, SKIPPED, ReviewSession
from .legend import highest_first, offered
from .review_layers import Added, ReviewLayers

KEYS = {Qt.Key_A: "accept", Qt.Key_R: "reject", Qt.Key_E: "edit", Qt.Key_S: "skip", Qt.Key_U: "undo",
        Qt.Key_P: "toggle_probability"}


def tr(text: str) -> str:
    return QCoreApplication.translate("ReviewDock", text)

class _ReviewKeys(QObject):
    """Review keys typed while another widget has the focus: the map (also while a shape is edited, so A accepts
    it at once; the vertex tool uses no plain letters) or the probability drop-down (which would search by them)."""

    def __init__(self, dock: ReviewDock) -> None:
        super().__init__(dock)
        self.dock = dock

    def eventFilter(self, obj, event) -> bool:
        if (event.type() == QEvent.KeyPress and event.modifiers() == Qt.NoModifier and event.key() in KEYS
                and self.dock.session is not None):
            self.dock.handle_key(event.key())
            return True
        return False


class ReviewDock(QgsDockWidget):
    decided = pyqtSignal(int, str)  # detection feature id, decision
    undone = pyqtSignal(int)  # detection feature id
    moved = pyqtSignal(object)  # the detection now under review (feature id), or None when finished

    def __init__(self, iface, parent=None) -> None:
        super().__init__(tr("LMHLD: review detections"), parent)
        self.setObjectName("LmhldReviewDock")
        self.iface = iface
        self.session: ReviewSession | None = None
        self.layers: ReviewLayers | None = None
        self.edit_layer: QgsVectorLayer | None = None
        self._vertex_editor_was_open = False  # before Edit shape: the panel the vertex tool opens is closed after
        self.last_error = ""
        self._warning = None  # the message bar item of the last refusal (taken down by a Start that succeeds)
        self._added: dict[int, Added] = {}  # detection fid -> what its accept/reject added (for undo)
        self._rubber: QgsRubberBand | None = None
        self._keys = _ReviewKeys(self)
        self._inventory_chosen = self._detections_chosen = False  # by the user: a later guess keeps them
        self._build()
        self.probability_combo.installEventFilter(self._keys)
        self._set_running(False)
        # a layer of the review removed (or the project closed) mid-review: save and stop while it still exists
        QgsProject.instance().layersWillBeRemoved.connect(self._layers_leaving)
        QgsProject.instance().layersAdded.connect(self._layers_added)

    # --- widgets ---------------------------------------------------------------------------------------------

    def _combo(self, filters, allow_empty: bool = False) -> QgsMapLayerComboBox:
        combo = QgsMapLayerComboBox(self)
        combo.setFilters(filters)
        combo.setAllowEmptyLayer(allow_empty)
        if allow_empty:
            combo.setLayer(None)
        return combo

    def _build(self) -> None:
        body = QWidget(self)
        body.setFocusPolicy(Qt.StrongFocus)
        form = QFormLayout()
        self.detections_combo = self._combo(QgsMapLayerProxyModel.PolygonLayer)
        self.inventory_combo = self._combo(QgsMapLayerProxyModel.PolygonLayer)
        self.negatives_combo = self._combo(QgsMapLayerProxyModel.PolygonLayer, allow_empty=True)
        self.negatives_combo.setToolTip(tr("Empty: a 'negatives' layer is added to the detections' GeoPackage"))
        self.probability_combo = self._combo(QgsMapLayerProxyModel.RasterLayer, allow_empty=True)
        self.order_combo = QComboBox(self)
        for key, label in ORDERS.items():
            self.order_combo.addItem(tr(label), key)
        self.threshold_spin = QDoubleSpinBox(self)
        self.threshold_spin.setRange(0.0, 1.0)
        self.threshold_spin.setSingleStep(0.05)
        self.threshold_spin.setValue(0.5)
        self.threshold_spin.setToolTip(tr("The model's threshold: 'most uncertain' means closest to it"))
        for label, widget in ((tr("Detections"), self.detections_combo), (tr("Inventory"), self.inventory_combo),
                              (tr("Negatives"), self.negatives_combo),
                              (tr("Probability"), self.probability_combo), (tr("Order"), self.order_combo),
                              (tr("Threshold"), self.threshold_spin)):
            form.addRow(label, widget)
        self.detections_combo.layerChanged.connect(self._detections_changed)
        self.probability_combo.layerChanged.connect(self._threshold_of)
        self.inventory_combo.activated.connect(self._inventory_picked)
        self.detections_combo.activated.connect(self._detections_picked)
        self.guess_layers()
        self.start_button = QPushButton(tr("Start / resume"), self)
        self.stop_button = QPushButton(tr("Stop and save"), self)
        self.start_button.clicked.connect(self.start)
        self.stop_button.clicked.connect(self.stop)
        run = QHBoxLayout()
        run.addWidget(self.start_button)
        run.addWidget(self.stop_button)
        self.counter = QLabel(tr("Not started"), self)
        self.counter.setWordWrap(True)  # "Stopped and saved. 5 / 222 reviewed (...); 2 skipped, ..." in a narrow dock
        self.progress = QProgressBar(self)
        self.current_label = QLabel("", self)
        self.current_label.setWordWrap(True)
        layout = QVBoxLayout(body)
        layout.addLayout(form)
        layout.addLayout(run)
        layout.addWidget(self.counter)
        layout.addWidget(self.progress)
        layout.addWidget(self.current_label)
        layout.addLayout(self._action_buttons())
        layout.addStretch(1)
        self.setWidget(body)

    def guess_layers(self) -> None:
        """Before a review: the detections are the latest layer Detect wrote (one with `mean_prob`), unless the
        box already shows such a layer; then their inventory and probability raster (see _guess_companions)."""
        if self.session is not None:
            return
        current = self.detections_combo.currentLayer()
        detected = highest_first(lyr for lyr in offered(self.detections_combo) if _is_detections(lyr))
        if detected and (current is None or not _is_detections(current)):
            self.detections_combo.setLayer(detected[0])  # the highest in the legend: Detect adds on top
        else:
            self._guess_companions(current, keep_plausible=True)

    def showEvent(self, event) -> None:
        super().showEvent(event)
        self.guess_layers()  # the dock is reused: layers added since it was last shown

    def _inventory_picked(self, _index: int) -> None:
        self._inventory_chosen = True

    def _detections_picked(self, _index: int) -> None:
        self._detections_chosen = True

    def _detections_changed(self, layer) -> None:
        """The box moved to another layer: by the user (any polygon layer may be reviewed), or by QGIS when the
        layer shown left the project (it then shows the next one, a negatives layer say): the layer Detect wrote
        is proposed again where there is one."""
        if self.session is None and not self._detections_chosen and not _is_detections(layer) and any(
                _is_detections(lyr) for lyr in offered(self.detections_combo)):
            self.guess_layers()
        else:
            self._guess_companions(layer)

    def _layers_added(self, _layers) -> None:
        self.guess_layers()  # detections added again (or for the first time) while the dock is open

    def _guess_companions(self, detections, keep_plausible: bool = False) -> None:
        """With a detections layer chosen: the inventory is the polygon layer that covers them best (then one with
        the inventory's fields, then one named like an inventory), never a layer of detections; the probability
        raster the one detect wrote beside it (same name after "Landslides"). An inventory the user picked stays,
        and with `keep_plausible` so does one that covers the detections."""
        if detections is None:
            return
        polygons = [lyr for lyr in offered(self.inventory_combo)
                    if lyr.id() != detections.id() and not _is_detections(lyr)
                    and not lyr.name().startswith(NOT_INVENTORIES)]
        current = self.inventory_combo.currentLayer()
        keep = current is not None and current.id() != detections.id() and (
            self._inventory_chosen
            or (keep_plausible and current.id() in {lyr.id() for lyr in polygons} and _place(current, detections)[0]))
        if polygons and not keep:
            self.inventory_combo.setLayer(max(polygons, key=lambda lyr: (
                *_place(lyr, detections), _has_inventory_fields(lyr), "inventory" in lyr.name().lower())))
        rest = detections.name().partition(" — ")[2]
        rasters = offered(self.probability_combo)
        twin = [lyr for lyr in rasters if rest and lyr.name() == f"Landslide probability — {rest}"]
        beside = [lyr for lyr in rasters if _same_stem(lyr.source(), detections.source())]
        if self.probability_combo.currentLayer() is None and (twin or beside):
            self.probability_combo.setLayer((twin or beside)[0])

    def _threshold_of(self, layer) -> None:
        """The threshold the chosen probability raster's polygons were cut at (detect records it), if any."""
        if layer is None or layer.providerType() != "gdal":
            return
        with gdal_exceptions():  # the module switches them on when imported: QGIS gets its setting back after
            from ..core.rasterwriter import read_threshold

            threshold = read_threshold(layer.source())
        if threshold is not None:
            self.threshold_spin.setValue(threshold)

    def _action_buttons(self) -> QGridLayout:
        grid = QGridLayout()
        self.buttons: dict[str, QToolButton] = {}
        for i, (name, label, key) in enumerate((
                ("accept", tr("Accept"), "A"), ("reject", tr("Reject"), "R"), ("edit", tr("Edit shape"), "E"),
                ("skip", tr("Skip"), "S"), ("undo", tr("Undo"), "U"),
                ("toggle_probability", tr("Probability"), "P"))):
            button = QToolButton(self)
            button.setText(f"{label} ({key})")
            button.setToolButtonStyle(Qt.ToolButtonTextOnly)
            button.setFocusPolicy(Qt.NoFocus)  # keys stay with the dock
            button.setSizePolicy(button.sizePolicy().Expanding, button.sizePolicy().Fixed)
            button.clicked.connect(getattr(self, name))
            grid.addWidget(button, i // 3, i % 3)
            self.buttons[name] = button
        return grid

    def _set_running(self, running: bool) -> None:
        for combo in (self.detections_combo, self.inventory_combo, self.negatives_combo, self.order_combo,
                      self.threshold_spin):
            combo.setEnabled(not running)
        self.start_button.setEnabled(not running)
        self.stop_button.setEnabled(running)
        for button in self.buttons.values():
            button.setEnabled(running)

    # --- keys --------------------------------------------------------------------------------------------------

    def keyPressEvent(self, event) -> None:
        if event.modifiers() == Qt.NoModifier and event.key() in KEYS and self.session is not None:
            self.handle_key(event.key())
            event.accept()
        else:
            super().keyPressEvent(event)

    def handle_key(self, key: int) -> None:
        getattr(self, KEYS[key])()

    # --- session -----------------------------------------------------------------------------------------------

    def start(self) -> None:
        """Open (or resume) the review of the chosen layers."""
        try:
            detections, inventory = self.detections_combo.currentLayer(), self.inventory_combo.currentLayer()
            if detections is None or inventory is None:
                raise LmhldError(tr("choose a detections layer and an inventory layer"))
            if inventory.id() == detections.id():  # checked before a negatives layer is made for the session
                raise LmhldError(tr("choose an inventory layer other than the detections (accepted detections are "
                                    "copied into it); Create landslide inventory makes an empty one"))
            if detections.fields().indexOf("detection_id") >= 0:  # what QGIS shows next when the detections go
                raise LmhldError(tr("{0} holds reviewed detections (a negatives layer or an inventory), not "
                                    "detections: choose the layer Detect landslides wrote").format(detections.name()))
            chosen_negatives = self.negatives_combo.currentLayer()
            # the review saves its layers when it stops: edits made before it would be saved with it, unasked (a
            # probe's deleted polygon went to disk on Stop)
            unsaved = [layer.name() for layer in (detections, inventory, chosen_negatives)
                       if layer is not None and layer.isEditable() and layer.isModified()]
            if unsaved:
                raise LmhldError(tr("{0} has unsaved edits, which the review would save with its own when it stops: "
                                    "save or discard them first (Toggle Editing), then Start").format(
                                        ", ".join(dict.fromkeys(unsaved))))
            negatives = chosen_negatives or self._new_negatives(detections)
            self.layers = ReviewLayers(detections, inventory, negatives)
            self.layers.show_decisions()
            candidates, stored = self.layers.candidates()
            self.session = ReviewSession(candidates, self.order_combo.currentData(), self.threshold_spin.value(),
                                         stored)
            elsewhere = self.layers.accepted_elsewhere(candidates, stored)
        except LmhldError as exc:
            self.layers = self.session = None
            self._warn(str(exc))
            return
        self._unwarn()
        self._added.clear()
        self.iface.mapCanvas().installEventFilter(self._keys)
        self._set_running(True)
        self._show_current()
        self.widget().setFocus()
        if elsewhere:  # said at the start: counted as done, they would never be asked again
            from qgis.core import Qgis

            self.iface.messageBar().pushMessage(tr("LMHLD review"), tr(
                "{0} detection(s) marked accepted are not in {1} (accepted into another inventory, or deleted "
                "there): they count as reviewed. To decide them again for this inventory, clear their 'review' "
                "field in {2}").format(len(elsewhere), inventory.name(), detections.name()), level=Qgis.Warning)
        if _place(inventory, detections)[0] == 0:  # a probe's: scene 70's detections accepted into scene 69's inventory
            from qgis.core import Qgis

            self.iface.messageBar().pushMessage(tr("LMHLD review"), tr(
                "{0} lies apart from {1}: accepted detections are added to it all the same. If it is another "
                "area's inventory, Stop and choose this area's (or make one: Create landslide inventory)").format(
                    inventory.name(), detections.name()), level=Qgis.Warning)
        missing = self.layers.missing_provenance()
        if missing:  # said once, at the start: the accepts still work, without saying where they came from
            from qgis.core import Qgis

            self.iface.messageBar().pushMessage(tr("LMHLD review"), tr(
                "{0} has no field {1}: accepted detections are added without where they came from. An inventory "
                "made by Create landslide inventory has these fields.").format(inventory.name(), ", ".join(missing)),
                level=Qgis.Info)

    def _warn(self, message: str) -> None:
        """Say what went wrong without blocking the map: in the dock and in QGIS's message bar (taken down again
        when a Start succeeds: a refusal's warning stayed up over the review that followed)."""
        from qgis.core import Qgis

        self._unwarn()
        self.last_error = message
        self.current_label.setText(message)
        bar = self.iface.messageBar()
        self._warning = bar.pushWidget(bar.createMessage(tr("LMHLD review"), message), Qgis.Warning)

    def _unwarn(self) -> None:
        from qgis.PyQt import sip

        item, self._warning, self.last_error = self._warning, None, ""
        if item is not None and not sip.isdeleted(item):
            self.iface.messageBar().popWidget(item)

    def _new_negatives(self, detections: QgsVectorLayer) -> QgsVectorLayer:
        """A 'negatives' layer in the detections' GeoPackage (created once, then reused), added to the project."""
        with gdal_exceptions():  # the module switches them on when imported: QGIS gets its setting back after
            from ..core.inventory_schema import NEGATIVES_LAYER, create_negatives
        path = detections.dataProvider().dataSourceUri().split("|")[0]
        if not path.lower().endswith(".gpkg"):
            raise LmhldError(tr("the detections layer {0} is not in a GeoPackage, so no negatives layer can be added "
                                "beside it: choose a negatives layer, or the detections Detect landslides wrote"
                                ).format(detections.name()))
        with gdal_exceptions():
            create_negatives(path, detections.crs().toWkt(detections.crs().WKT_PREFERRED))
        # named first for what it is: "Landslides — diff_70 (unet) negatives" read, cut in the legend, as the
        # detections themselves
        about = (detections.name().partition(" — ")[2] or detections.name()).split(" — ")[0]  # not its "doubtful"
        layer = QgsVectorLayer(f"{path}|layername={NEGATIVES_LAYER}", f"Negatives — {about}", "ogr")
        if not layer.isValid():
            raise LmhldError(tr("could not open the negatives layer in {0}").format(path))
        QgsProject.instance().addMapLayer(layer)
        self.negatives_combo.setLayer(layer)
        return layer

    def _layers_leaving(self, ids) -> None:
        """Layers are about to leave the project: the scratch shape layer is simply forgotten; one of the review's
        stops the review, its decisions saved while the layer still exists (Start resumes it once it is back)."""
        if self.edit_layer is not None and self.edit_layer.id() in ids:
            self.edit_layer = None
        for combo, flag in ((self.detections_combo, "_detections_chosen"), (self.inventory_combo, "_inventory_chosen")):
            if combo.currentLayer() is not None and combo.currentLayer().id() in ids:
                setattr(self, flag, False)  # the user's choice is gone: guess again
        if self.layers is None:
            return
        leaving = [lyr.name() for lyr in self.layers.all() if lyr.id() in ids]
        if leaving:
            errors = self.stop(force=True)
            said = (tr("Review stopped and saved") if not errors else
                    tr("Review stopped, but not all was saved ({0})").format("; ".join(errors)))
            self._warn(tr("{0}: {1} left the project. Add it again and press Start to go on.").format(
                said, ", ".join(leaving)))

    def release(self) -> None:
        """Stop and let go of the project (the plugin is being unloaded)."""
        self.stop(force=True)
        with contextlib.suppress(TypeError):  # already disconnected
            QgsProject.instance().layersWillBeRemoved.disconnect(self._layers_leaving)
        with contextlib.suppress(TypeError):
            QgsProject.instance().layersAdded.disconnect(self._layers_added)

    def stop(self, force: bool = False) -> list[str]:
        """Save the decisions and the layers, and end the session (Start resumes it); the save's errors, if any. A
        save that fails keeps the session open to try again, unless `force` (its layers are going)."""
        if self.session is None or self.layers is None:
            return []
        self._end_edit()
        errors = self.layers.stop()
        if errors:
            self._warn(tr("Could not save: {0}").format("; ".join(errors)))
            if not force:
                return errors
        self.iface.mapCanvas().removeEventFilter(self._keys)
        self._clear_highlight()
        done = self.session.progress_text()  # the bar and this keep showing where the review stands
        self.session = self.layers = None
        self._set_running(False)
        self.counter.setText(tr("Stopped and saved. {0}. Start resumes where you were").format(done))
        self.current_label.setText("")
        return errors

    # --- decisions ---------------------------------------------------------------------------------------------

    def accept(self) -> None:
        if self.session is None or self.session.current is None:
            return
        fid = self.session.current
        edited = self._edited_geometry()
        decision = EDITED if edited is not None else ACCEPTED
        self._added[fid] = self.layers.accept(fid, decision, edited)
        self._decide(fid, decision)

    def reject(self) -> None:
        if self.session is None or self.session.current is None:
            return
        fid = self.session.current
        self._added[fid] = self.layers.reject(fid)
        self._decide(fid, REJECTED)

    def skip(self) -> None:
        if self.session is None or self.session.current is None:
            return
        self._decide(self.session.current, SKIPPED)

    def _decide(self, fid: int, decision: str) -> None:
        self._end_edit()
        self.session.decide(decision)
        self.layers.mark(fid, decision)
        self.decided.emit(fid, decision)
        self._show_current()

    def undo(self) -> None:
        """Take back the last decision: what it added goes, the detection is up for review again."""
        if self.session is None:
            return
        self._end_edit()
        step = self.session.undo()
        if step is None:
            return
        added = self._added.pop(step.fid, None)
        if added is not None and step.decision in (ACCEPTED, EDITED, REJECTED):
            self.layers.remove(added)
        self.layers.mark(step.fid, step.previous)
        self.undone.emit(step.fid)
        self._show_current()

    # --- editing a shape ---------------------------------------------------------------------------------------

    def edit(self) -> None:
        """Copy the detection into a scratch layer and start the vertex tool on it; Accept takes the edited shape."""
        if self.session is None or self.session.current is None or self.edit_layer is not None:
            return
        det = self.layers.feature(self.session.current)
        crs = self.layers.detections.crs().authid() or self.layers.detections.crs().toWkt()
        layer = QgsVectorLayer(f"MultiPolygon?crs={crs}", tr("LMHLD review: shape to accept"), "memory")
        feature = QgsFeature()
        feature.setGeometry(det.geometry())
        layer.dataProvider().addFeatures([feature])
        layer.renderer().setSymbol(QgsFillSymbol.createSimple(
            {"color": "0,255,255,40", "outline_color": "0,200,255,255", "outline_width": "0.8"}))
        QgsProject.instance().addMapLayer(layer)
        layer.startEditing()
        self.edit_layer = layer
        self.iface.setActiveLayer(layer)
        self._vertex_editor_was_open = _vertex_editor_open(self.iface)
        _trigger(self.iface, "actionVertexTool")
        self.current_label.setText(self.current_label.text() + "\n" + tr(
            "Editing the shape: move its vertices, then Accept (A) keeps it; Skip or Reject discards it."))

    def _edited_geometry(self):
        if self.edit_layer is None:
            return None
        feature = next(self.edit_layer.getFeatures(), None)  # the edit buffer holds the moved vertices
        return feature.geometry() if feature is not None else None

    def _end_edit(self) -> None:
        from qgis.PyQt import sip

        if self.edit_layer is not None:
            layer, self.edit_layer = self.edit_layer, None
            if not sip.isdeleted(layer):
                layer.rollBack()
                QgsProject.instance().removeMapLayer(layer.id())
            _trigger(self.iface, "actionPan")  # the vertex tool and its editor panel go with the shape
            if not self._vertex_editor_was_open:
                _close_vertex_editor(self.iface)
            if self.layers is not None and self.layers.detections in self.layers.all():
                self.iface.setActiveLayer(self.layers.detections)

    # --- the map -----------------------------------------------------------------------------------------------

    def toggle_probability(self) -> None:
        layer = self.probability_combo.currentLayer()
        node = QgsProject.instance().layerTreeRoot().findLayer(layer.id()) if layer is not None else None
        if node is not None:
            node.setItemVisibilityChecked(not node.itemVisibilityChecked())

    def _show_current(self) -> None:
        self.counter.setText(self.session.progress_text())
        counts = self.session.counts()
        self.progress.setRange(0, max(counts["total"], 1))
        self.progress.setValue(counts["done"])
        fid = self.session.current
        self.moved.emit(fid)
        if fid is None:
            self._clear_highlight()
            self.current_label.setText(tr("Every detection is reviewed. Stop saves the layers."))
            return
        det = self.layers.feature(fid)
        prob, area = det["mean_prob"], det["area_m2"] if det.fields().indexOf("area_m2") >= 0 else None
        state = self.session.decision(fid) or tr("not reviewed")
        text = tr("Detection {0}: mean probability {1}, area {2} m² ({3})").format(
            det["id"] if det.fields().indexOf("id") >= 0 else fid, _fmt(prob, ".2f"), _fmt(area, ",.0f"), state)
        self.current_label.setText(text + self._zoom_to(det))

    FAR_APART = 10  # a detection whose parts spread this many times its largest part's size: the view shows that one

    def _zoom_to(self, det: QgsFeature) -> str:
        """Show the detection with context around it; what the label should add ("" but for far-apart parts)."""
        canvas = self.iface.mapCanvas()
        if not canvas.mapSettings().destinationCrs().isValid():  # an empty project: show the detections' CRS
            canvas.setDestinationCrs(self.layers.detections.crs())
        geom = det.geometry()
        shown, note = geom.boundingBox(), ""
        parts = geom.asGeometryCollection() if geom.isMultipart() else []
        if len(parts) > 1:  # two parts kilometres apart (merged by hand) were each a speck in one view
            largest = max(parts, key=lambda part: part.area()).boundingBox()
            if max(shown.width(), shown.height()) > self.FAR_APART * max(largest.width(), largest.height()):
                shown = largest
                note = tr("; {0} parts far apart: the view shows the largest, the outline marks them all").format(
                    len(parts))
        to_canvas = QgsCoordinateTransform(self.layers.detections.crs(), canvas.mapSettings().destinationCrs(),
                                           QgsProject.instance())
        rect = to_canvas.transformBoundingBox(shown)
        side = max(max(rect.width(), rect.height()) * 3, self._least_view(rect.center())) or 100.0
        centre = rect.center()
        canvas.setExtent(QgsRectangle(centre.x() - side / 2, centre.y() - side / 2, centre.x() + side / 2,
                                      centre.y() + side / 2))
        if self._rubber is None:
            self._rubber = QgsRubberBand(canvas, QgsWkbTypes.PolygonGeometry)
            self._rubber.setStrokeColor(QColor(0, 255, 255))
            self._rubber.setFillColor(QColor(0, 0, 0, 0))
            self._rubber.setWidth(3)
        self._rubber.setToGeometry(geom, self.layers.detections)
        canvas.refresh()
        return note

    CONTEXT_PIXELS = 64  # the least view around a detection, in pixels of the imagery (a model tile's worth)

    def _least_view(self, centre) -> float:
        """The side, in canvas units, of CONTEXT_PIXELS pixels of the probability raster, else of the imagery under
        the detection (a 2-pixel detection at 10 m was shown with 6 pixels around it: nothing to judge a landslide
        by); 0 without either."""
        canvas = self.iface.mapCanvas()
        layer = self.probability_combo.currentLayer() or self._imagery_at(centre)
        if layer is None or not layer.isValid() or layer.rasterUnitsPerPixelX() <= 0:
            return 0.0
        to_layer = QgsCoordinateTransform(canvas.mapSettings().destinationCrs(), layer.crs(), QgsProject.instance())
        try:
            at = to_layer.transform(centre)
            half = layer.rasterUnitsPerPixelX() * self.CONTEXT_PIXELS / 2
            box = to_layer.transformBoundingBox(QgsRectangle(at.x() - half, at.y() - half, at.x() + half,
                                                             at.y() + half), QgsCoordinateTransform.ReverseTransform)
        except QgsCsException:
            return 0.0
        return max(box.width(), box.height())

    def _imagery_at(self, centre):
        """The raster layer highest in the legend that covers `centre` (canvas CRS), or None."""
        canvas = self.iface.mapCanvas()
        for node in QgsProject.instance().layerTreeRoot().findLayers():
            layer = node.layer()
            if layer is None or layer.type() != QgsMapLayerType.RasterLayer or not layer.isValid():
                continue
            to_canvas = QgsCoordinateTransform(layer.crs(), canvas.mapSettings().destinationCrs(),
                                               QgsProject.instance())
            try:
                if to_canvas.transformBoundingBox(layer.extent()).contains(centre):
                    return layer
            except QgsCsException:
                continue
        return None

    def _clear_highlight(self) -> None:
        if self._rubber is not None:
            self._rubber.reset(QgsWkbTypes.PolygonGeometry)

    def closeEvent(self, event) -> None:
        self.stop()
        super().closeEvent(event)


NOT_INVENTORIES = ("Landslides", "Negatives", "negatives", "Patches", "Patch preview", "Problems")  # lmhld's outputs


def _is_detections(layer) -> bool:
    """A layer Detect wrote (or any with a model's mean probability per polygon); an inventory and a negatives layer
    keep a reviewed detection's mean_prob too, beside the detection's id."""
    fields = layer.fields() if isinstance(layer, QgsVectorLayer) else None
    return fields is not None and fields.indexOf("mean_prob") >= 0 and fields.indexOf("detection_id") < 0 \
        and fields.indexOf("certainty") < 0


def _has_inventory_fields(layer) -> bool:
    return isinstance(layer, QgsVectorLayer) and all(layer.fields().indexOf(f) >= 0 for f in ("type", "certainty"))


def _place(layer, detections) -> tuple[int, float]:
    """How well `layer` could be the detections' inventory by where it lies, in the detections' CRS: (2, the share
    of the detections' extent its extent covers) when they overlap, (1, 0) when it is empty (a new inventory lies
    nowhere yet), (0, minus the gap between the two extents) when they lie apart: the nearest inventory of an area
    whose mapped landslides do not reach the detected ones."""
    import math

    from qgis.core import QgsCsException

    if layer.featureCount() == 0 or layer.extent().isNull():
        return 1, 0.0
    ours = detections.extent()
    try:
        theirs = QgsCoordinateTransform(layer.crs(), detections.crs(), QgsProject.instance()).transformBoundingBox(
            layer.extent())
    except QgsCsException:
        return 0, -math.inf
    if ours.area() > 0 and ours.intersects(theirs):
        return 2, ours.intersect(theirs).area() / ours.area()
    if ours.area() <= 0 and theirs.contains(ours.center()):  # one point, or no detection
        return 2, 1.0
    gap_x = max(0.0, theirs.xMinimum() - ours.xMaximum(), ours.xMinimum() - theirs.xMaximum())
    gap_y = max(0.0, theirs.yMinimum() - ours.yMaximum(), ours.yMinimum() - theirs.yMaximum())
    return 0, -math.hypot(gap_x, gap_y)


def _fmt(value, spec: str) -> str:
    from qgis.core import NULL

    return "?" if value is None or value == NULL else format(float(value), spec)


def _same_stem(raster_source: str, gpkg_source: str) -> bool:
    """detect's default outputs beside the scene: <scene>_probability.tif and <scene>_landslides.gpkg (the scene
    itself, <scene>.tif, is not the probability raster)."""
    raster, vector = Path(raster_source.split("|")[0]), Path(gpkg_source.split("|")[0])
    return (raster.parent == vector.parent and raster.stem.endswith("_probability")
            and raster.stem.removesuffix("_probability") == vector.stem.removesuffix("_landslides"))


def _trigger(iface, name: str) -> None:
    """Trigger one of QGIS's own actions, where this QGIS has it."""
    action = getattr(iface, name, None)
    if callable(action) and action() is not None:
        action().trigger()


def _vertex_editors(iface) -> list:
    """QGIS's Vertex Editor panel (the vertex tool opens it on the shape being edited)."""
    from qgis.PyQt.QtWidgets import QDockWidget

    window = iface.mainWindow() if hasattr(iface, "mainWindow") else None
    if window is None:
        return []
    return [d for d in window.findChildren(QDockWidget)
            if d.objectName() == "VertexEditor" or type(d).__name__ == "QgsVertexEditor"]


def _vertex_editor_open(iface) -> bool:
    return any(not d.isHidden() for d in _vertex_editors(iface))


def _close_vertex_editor(iface) -> None:
    for dock in _vertex_editors(iface):
        dock.close()
