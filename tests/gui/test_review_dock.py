"""The review dock in QGIS with its GUI (Xvfb), driven by its own buttons and key presses: accept, reject, edit,
skip, undo, stop and resume; the inventory and negatives layers hold exactly what was decided."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from osgeo import ogr
from qgis.core import QgsGeometry, QgsProject, QgsRasterLayer, QgsRectangle, QgsVectorLayer, QgsVectorLayerUtils
from qgis.PyQt.QtCore import Qt
from qgis.PyQt.QtTest import QTest

from lmhld_qgis.core.inventory_schema import create_inventory
from lmhld_qgis.core.vector import srs_from_epsg
from lmhld_qgis.core.vectorize import FIELDS

from ..helpers import square, write_raster

X, Y = 500_000.0, 4_000_000.0
# (id, mean probability): ids 1..5, 60 m squares 200 m apart
DETECTIONS = [(1, 0.90), (2, 0.62), (3, 0.48), (4, 0.75), (5, 0.55)]


def write_detections(path: Path) -> Path:
    """A detections layer as `lmhld detect` writes it (layer `landslides`, its fields in its order)."""
    ds = ogr.GetDriverByName("GPKG").CreateDataSource(str(path))
    lyr = ds.CreateLayer("landslides", srs_from_epsg(32618), ogr.wkbMultiPolygon, ["GEOMETRY_NAME=geom"])
    for name, kind in FIELDS:
        lyr.CreateField(ogr.FieldDefn(name, kind))
    for ident, prob in DETECTIONS:
        feat = ogr.Feature(lyr.GetLayerDefn())
        feat.SetGeometry(ogr.ForceToMultiPolygon(ogr.CreateGeometryFromWkt(square(X + 200 * ident, Y - 400, 60))))
        for name, value in (("id", ident), ("area_m2", 3600.0 + ident), ("perimeter_m", 240.0),
                            ("mean_prob", prob), ("max_prob", min(1.0, prob + 0.1)), ("source", "scene.tif"),
                            ("model", "unet")):
            feat.SetField(name, value)
        lyr.CreateFeature(feat)
    ds = None
    return path


@pytest.fixture
def files(tmp_path):
    image = write_raster(tmp_path / "scene.tif", np.random.default_rng(0).integers(0, 255, (3, 200, 500),
                                                                                    dtype=np.uint8),
                         origin=(X, Y), pixel=(3.0, -3.0))
    prob = write_raster(tmp_path / "prob.tif", np.full((1, 200, 500), 0.3, np.float32), origin=(X, Y))
    return {"image": image, "prob": prob, "detections": write_detections(tmp_path / "detections.gpkg"),
            "inventory": create_inventory(tmp_path / "inventory.gpkg", crs="EPSG:32618", author="tester")}


def load(files) -> dict[str, object]:
    project = QgsProject.instance()
    layers = {"image": QgsRasterLayer(str(files["image"]), "scene"),
              "prob": QgsRasterLayer(str(files["prob"]), "probability"),
              "detections": QgsVectorLayer(f"{files['detections']}|layername=landslides", "detections", "ogr"),
              "inventory": QgsVectorLayer(f"{files['inventory']}|layername=landslides", "inventory", "ogr")}
    for layer in layers.values():
        assert layer.isValid()
        project.addMapLayer(layer)
    return layers


def open_dock(qgis_iface, layers, order: str = "id"):
    from lmhld_qgis.ui.review_dock import ReviewDock

    dock = ReviewDock(qgis_iface)
    dock.detections_combo.setLayer(layers["detections"])
    dock.inventory_combo.setLayer(layers["inventory"])
    dock.probability_combo.setLayer(layers["prob"])
    dock.order_combo.setCurrentIndex(dock.order_combo.findData(order))
    dock.show()
    dock.start_button.click()
    assert dock.session is not None, f"the session did not start: {dock.last_error}"
    return dock


def current_id(dock) -> int | None:
    fid = dock.session.current
    return None if fid is None else dock.layers.feature(fid)["id"]


def rows(path: Path, layer: str, *names: str) -> list[tuple]:
    ds = ogr.Open(str(path))
    out = sorted(tuple(f.GetField(n) for n in names) for f in ds.GetLayerByName(layer))
    ds = None
    return out


def inventory_ids(layer: QgsVectorLayer) -> list[int]:
    return sorted(f["detection_id"] for f in layer.getFeatures())


def test_accept_reject_edit_skip_undo_stop_and_resume(qgis_iface, files):
    layers = load(files)
    inventory = layers["inventory"]
    dock = open_dock(qgis_iface, layers)
    decided = []
    dock.decided.connect(lambda fid, d: decided.append(d))
    assert current_id(dock) == 1 and dock.counter.text().startswith("0 / 5 reviewed")

    QTest.keyClick(dock, Qt.Key_A)  # accept 1
    assert inventory_ids(inventory) == [1] and current_id(dock) == 2
    accepted = next(inventory.getFeatures())
    assert (accepted["source"], accepted["model"], accepted["mean_prob"]) == ("model", "unet", 0.9)
    assert accepted["author"] == "tester" and accepted["reviewed_on"].isValid()
    assert (accepted["certainty"], accepted["notes"]) == ("medium", "")  # vouched for at a glance; no "NULL" note
    renderer = layers["detections"].renderer()  # the map shows what is decided and what is left
    assert renderer.classAttribute() == "review"
    assert {c.value(): c.label() for c in renderer.categories()} == {
        "accepted": "accepted", "edited": "edited and accepted", "rejected": "rejected", "skipped": "skipped",
        "": "not reviewed"}

    dock.buttons["reject"].click()  # reject 2
    negatives = dock.layers.negatives
    assert inventory_ids(inventory) == [1] and [f["detection_id"] for f in negatives.getFeatures()] == [2]
    from qgis.core import QgsExpressionContextUtils

    user = QgsExpressionContextUtils.globalScope().variable("user_full_name")  # was NULL for a rejection
    assert [f["author"] for f in negatives.getFeatures()] == [user] and user

    from qgis.PyQt.QtWidgets import QDockWidget

    vertex_editor = QDockWidget("Vertex Editor", qgis_iface.mainWindow())
    vertex_editor.setObjectName("VertexEditor")  # QGIS's own panel, closed, opened by the vertex tool
    vertex_editor.hide()
    QTest.keyClick(dock, Qt.Key_E)  # edit 3: a 30 m square instead of the 60 m one
    assert dock.edit_layer is not None and current_id(dock) == 3
    vertex_editor.show()
    assert not vertex_editor.isHidden()  # (its parent, the main window, is not shown in tests)
    edited = QgsGeometry.fromWkt(square(X + 600, Y - 400, 30))
    scratch = dock.edit_layer
    scratch_id = scratch.id()
    scratch.changeGeometry(next(scratch.getFeatures()).id(), edited)  # what the vertex tool does
    QTest.keyClick(qgis_iface.mapCanvas(), Qt.Key_A)  # typed on the map, where the shape was edited
    assert dock.edit_layer is None and scratch_id not in QgsProject.instance().mapLayers()
    third = next(f for f in inventory.getFeatures() if f["detection_id"] == 3)
    assert third["source"] == "reviewed" and third.geometry().area() == pytest.approx(900.0)
    assert third["certainty"] == "high" and vertex_editor.isHidden()  # the panel went with the shape

    QTest.keyClick(dock, Qt.Key_S)  # skip 4: nothing written
    assert inventory_ids(inventory) == [1, 3] and negatives.featureCount() == 1 and current_id(dock) == 5
    assert decided == ["accepted", "rejected", "edited", "skipped"]

    QTest.keyClick(dock, Qt.Key_U)  # undo the skip
    assert current_id(dock) == 4
    QTest.keyClick(dock, Qt.Key_U)  # undo the edited accept: the inventory loses it
    assert current_id(dock) == 3 and inventory_ids(inventory) == [1]
    QTest.keyClick(dock, Qt.Key_A)  # accept 3 as detected
    assert inventory_ids(inventory) == [1, 3]
    assert next(f for f in inventory.getFeatures() if f["detection_id"] == 3).geometry().area() == \
        pytest.approx(3600.0)
    assert dock.counter.text().startswith("3 / 5 reviewed")

    dock.stop_button.click()  # stop: everything is saved, nothing is in memory any more
    assert dock.session is None and not inventory.isEditable()
    assert "3 / 5 reviewed" in dock.counter.text() and dock.progress.value() == 3  # where it stands, still shown
    assert rows(files["inventory"], "landslides", "detection_id", "source") == [(1, "model"), (3, "model")]
    assert rows(files["detections"], "negatives", "detection_id") == [(2,)]
    assert dict(rows(files["detections"], "landslides", "id", "review")) == {
        1: "accepted", 2: "rejected", 3: "accepted", 4: None, 5: None}

    QgsProject.instance().clear()  # resume in a fresh project, with a fresh dock
    layers = load(files)
    dock = open_dock(qgis_iface, layers)  # the negatives layer in the detections' GeoPackage is found again
    assert dock.layers.negatives.featureCount() == 1
    assert current_id(dock) == 4 and dock.counter.text().startswith("3 / 5 reviewed")
    QTest.keyClick(dock, Qt.Key_R)
    QTest.keyClick(dock, Qt.Key_A)
    assert dock.session.current is None and "Every detection is reviewed" in dock.current_label.text()
    dock.stop_button.click()
    assert rows(files["inventory"], "landslides", "detection_id") == [(1,), (3,), (5,)]
    assert rows(files["detections"], "negatives", "detection_id") == [(2,), (4,)]


def test_a_review_on_another_inventory_finds_the_accepts_it_does_not_hold(qgis_iface, files, tmp_path):
    """Restarted on a fresh inventory, the review counted "1 accepted" while that inventory held none of it: the
    accepts it lacks are found (and said at Start), the inventory they went into holds them all."""
    from lmhld_qgis.core.inventory_schema import create_inventory
    from lmhld_qgis.ui.review_layers import ReviewLayers

    layers = load(files)
    dock = open_dock(qgis_iface, layers)
    QTest.keyClick(dock, Qt.Key_A)  # detection 1 accepted into the inventory
    negatives = dock.layers.negatives
    dock.stop_button.click()
    create_inventory(tmp_path / "other.gpkg", crs=layers["inventory"].crs().authid())
    other = QgsVectorLayer(f"{tmp_path / 'other.gpkg'}|layername=landslides", "other", "ogr")
    QgsProject.instance().addMapLayer(other)
    detections = layers["detections"]
    (first,) = [f.id() for f in detections.getFeatures() if f["id"] == 1]
    for inventory, expected in ((other, [first]), (layers["inventory"], [])):
        review = ReviewLayers(detections, inventory, negatives)
        assert review.accepted_elsewhere(*review.candidates()) == expected
        review.stop()


def test_an_accept_is_one_undoable_edit_of_the_inventory(qgis_iface, files):
    layers = load(files)
    inventory = layers["inventory"]
    dock = open_dock(qgis_iface, layers)
    before = inventory.undoStack().count()
    QTest.keyClick(dock, Qt.Key_A)
    stack = inventory.undoStack()
    assert stack.count() == before + 1 and stack.text(stack.index() - 1).startswith("LMHLD accept")
    stack.undo()  # QGIS's own undo (Ctrl+Z) takes the whole accept back
    assert inventory.featureCount() == 0
    stack.redo()
    assert inventory_ids(inventory) == [1]
    dock.stop_button.click()


def test_a_detection_of_two_parts_is_accepted_whole_into_a_single_polygon_inventory(qgis_iface, files, tmp_path):
    """A desktop probe's: a 2-part detection (166 + 64 m2) accepted into an inventory of single polygons was stored as
    its first part alone, without a word. Each part is a feature now, in one edit the undo takes back whole."""
    ds = ogr.Open(str(files["detections"]), 1)
    lyr = ds.GetLayerByName("landslides")
    first = next(f for f in lyr if f.GetField("id") == 1)
    two = ogr.CreateGeometryFromWkt(f"MULTIPOLYGON((({X + 200} {Y - 400},{X + 260} {Y - 400},{X + 260} {Y - 340},"
                                    f"{X + 200} {Y - 340},{X + 200} {Y - 400})),(({X + 300} {Y - 400},{X + 320} "
                                    f"{Y - 400},{X + 320} {Y - 380},{X + 300} {Y - 380},{X + 300} {Y - 400})))")
    first.SetGeometry(two)
    lyr.SetFeature(first)
    ds = None
    path = tmp_path / "single.gpkg"
    ds = ogr.GetDriverByName("GPKG").CreateDataSource(str(path))
    lyr = ds.CreateLayer("landslides", srs_from_epsg(32618), ogr.wkbPolygon)
    for name, kind in (("source", ogr.OFTString), ("model", ogr.OFTString), ("certainty", ogr.OFTString),
                       ("mean_prob", ogr.OFTReal), ("detection_id", ogr.OFTInteger), ("reviewed_on", ogr.OFTDate)):
        lyr.CreateField(ogr.FieldDefn(name, kind))
    ds = None
    files = {**files, "inventory": path}
    layers = load(files)
    inventory = layers["inventory"]
    dock = open_dock(qgis_iface, layers)
    QTest.keyClick(dock, Qt.Key_A)
    areas = sorted(round(f.geometry().area()) for f in inventory.getFeatures())
    assert areas == [400, 3600] and inventory_ids(inventory) == [1, 1]
    QTest.keyClick(dock, Qt.Key_U)
    assert inventory.featureCount() == 0
    dock.stop_button.click()


def test_a_review_does_not_start_over_the_annotator_s_unsaved_edits(qgis_iface, files):
    """The annotator's own unsaved edits (a polygon added, one deleted) were saved by the review's Stop, unasked."""
    from lmhld_qgis.ui.review_dock import ReviewDock

    layers = load(files)
    inventory = layers["inventory"]
    assert inventory.startEditing()
    inventory.addFeature(QgsVectorLayerUtils.createFeature(inventory, QgsGeometry.fromWkt(square(X, Y - 100, 30)), {},
                                                           inventory.createExpressionContext()))
    dock = ReviewDock(qgis_iface)
    dock.detections_combo.setLayer(layers["detections"])
    dock.inventory_combo.setLayer(inventory)
    dock.start_button.click()
    assert dock.session is None and dock.last_error == (
        "inventory has unsaved edits, which the review would save with its own when it stops: save or discard them "
        "first (Toggle Editing), then Start")
    assert inventory.isEditable() and inventory.isModified()  # left as they were
    inventory.rollBack()
    assert rows(files["inventory"], "landslides", "id") == []
    said = [item.text() for item in qgis_iface.messageBar().items()]
    assert any("unsaved edits" in text for text in said), said
    dock.start_button.click()
    assert dock.session is not None and dock.last_error == ""
    # the refusal's warning is taken down (it stayed up over the review that followed)
    assert not any("unsaved edits" in item.text() for item in qgis_iface.messageBar().items())
    dock.stop_button.click()


def test_uncertain_first_keys_on_the_map_and_probability_toggle(qgis_iface, files):
    layers = load(files)
    dock = open_dock(qgis_iface, layers, order="uncertain")
    assert [current_id(dock)] == [3]  # 0.48 is the closest to 0.5
    canvas = qgis_iface.mapCanvas()
    centre = canvas.extent().center()
    assert (centre.x(), centre.y()) == pytest.approx((X + 630, Y - 370))
    QTest.keyClick(canvas, Qt.Key_R)  # typed with the map focused
    assert current_id(dock) == 5 and dock.layers.negatives.featureCount() == 1
    node = QgsProject.instance().layerTreeRoot().findLayer(layers["prob"].id())
    visible = node.itemVisibilityChecked()
    QTest.keyClick(dock, Qt.Key_P)
    assert node.itemVisibilityChecked() is not visible
    QTest.keyClick(dock.probability_combo, Qt.Key_P)  # not a search in the drop-down: the review key
    assert node.itemVisibilityChecked() is visible
    assert layers["inventory"].featureCount() == 0  # nothing but accept writes to the inventory
    dock.stop_button.click()


def test_menu_opens_the_dock(qgis_iface):
    from lmhld_qgis.plugin import LmhldPlugin

    plugin = LmhldPlugin(qgis_iface)
    plugin.initGui()
    try:
        entries = [a for a in plugin.actions if not a.isSeparator()]
        assert len(entries) == 17 and not [a.text() for a in entries if a.icon().isNull()]  # an icon each
        action = next(a for a in plugin.actions if a.text() == "Review detections…")
        action.trigger()
        assert plugin.review_dock is not None and not plugin.review_dock.isHidden()  # shown (its window is not)
    finally:
        plugin.unload()
    assert plugin.review_dock is None


def test_dock_screenshot(qgis_iface, files):
    import os

    layers = load(files)
    dock = open_dock(qgis_iface, layers)
    dock.resize(380, 620)
    out = Path(os.environ.get("LMHLD_GUI_OUT", files["image"].parent)) / "review_dock.png"
    assert dock.grab().save(str(out)) and out.stat().st_size > 5_000
    dock.stop_button.click()


def test_choosing_detections_picks_their_inventory_probability_and_threshold(qgis_iface, files, tmp_path):
    """What detect wrote beside a scene is found again: the inventory is not the detections layer itself, the
    probability raster is the detections' twin, and the threshold the one their polygons were cut at."""
    from lmhld_qgis.core.rasterwriter import tag_threshold
    from lmhld_qgis.ui.review_dock import ReviewDock

    twin = write_raster(tmp_path / "scene_probability.tif", np.full((1, 200, 500), 0.3, np.float32), origin=(X, Y))
    tag_threshold(twin, 0.4)
    project = QgsProject.instance()
    project.removeAllMapLayers()
    detections = QgsVectorLayer(f"{files['detections']}|layername=landslides", "Landslides — scene (valley)", "ogr")
    layers = [detections, QgsVectorLayer(f"{files['inventory']}|layername=landslides", "valley inventory", "ogr"),
              QgsRasterLayer(str(files["prob"]), "probability of another run"),
              QgsRasterLayer(str(twin), "Landslide probability — scene (valley)")]
    for layer in layers:
        assert layer.isValid()
        project.addMapLayer(layer)
    dock = ReviewDock(qgis_iface)
    dock.detections_combo.setLayer(detections)
    assert dock.inventory_combo.currentLayer() is layers[1]
    assert dock.probability_combo.currentLayer() is layers[3]
    assert dock.threshold_spin.value() == pytest.approx(0.4)
    dock.close()


def test_the_scene_beside_its_detections_is_not_taken_for_their_probability(qgis_iface, files, tmp_path):
    """Detections written beside their scene (scene_landslides.gpkg by scene.tif) without a probability raster: the
    scene shares their stem but is not the probability, so the box stays empty (P would have hidden the scene)."""
    import shutil

    from lmhld_qgis.ui.review_dock import ReviewDock

    shutil.copy(files["detections"], tmp_path / "scene_landslides.gpkg")
    project = QgsProject.instance()
    project.removeAllMapLayers()
    detections = QgsVectorLayer(f"{tmp_path / 'scene_landslides.gpkg'}|layername=landslides",
                                "Landslides — scene (valley)", "ogr")
    scene = QgsRasterLayer(str(files["image"]), "scene")
    for layer in (detections, scene):
        assert layer.isValid()
        project.addMapLayer(layer)
    dock = ReviewDock(qgis_iface)
    dock.detections_combo.setLayer(detections)
    assert dock.probability_combo.currentLayer() is None
    probability = write_raster(tmp_path / "scene_probability.tif", np.full((1, 200, 500), 0.3, np.float32),
                               origin=(X, Y))
    project.addMapLayer(QgsRasterLayer(str(probability), "a probability"))
    dock.detections_combo.setLayer(None)
    dock.detections_combo.setLayer(detections)
    assert dock.probability_combo.currentLayer().source() == str(probability)  # the real twin beside them is
    dock.close()


def test_detections_as_their_own_inventory_are_refused_before_anything_is_made(qgis_iface, files):
    """The detections the only polygon layer, so the inventory box showed them too: Start refused, but only after
    adding a negatives layer to the project and the GeoPackage."""
    from lmhld_qgis.ui.review_dock import ReviewDock

    project = QgsProject.instance()
    project.removeAllMapLayers()
    detections = QgsVectorLayer(f"{files['detections']}|layername=landslides", "detections", "ogr")
    project.addMapLayer(detections)
    dock = ReviewDock(qgis_iface)
    dock.detections_combo.setLayer(detections)
    dock.inventory_combo.setLayer(detections)
    dock.start_button.click()
    assert dock.session is None and "choose an inventory layer other than the detections" in dock.last_error
    assert [lyr.name() for lyr in project.mapLayers().values()] == ["detections"]
    ds = ogr.Open(str(files["detections"]))
    assert [ds.GetLayer(i).GetName() for i in range(ds.GetLayerCount())] == ["landslides"]
    ds = None
    dock.close()


def test_the_inventory_guessed_is_the_one_under_the_detections(qgis_iface, files, tmp_path):
    """Two areas' inventories loaded: the dock took the first by name (the other area's), and accepted detections
    went into it. The detections guessed were a layer of patch outlines when no detections had been chosen."""
    from lmhld_qgis.ui.review_dock import ReviewDock

    project = QgsProject.instance()
    project.removeAllMapLayers()
    far = create_inventory(tmp_path / "a_far.gpkg", crs="EPSG:32618")
    ds = ogr.Open(str(far), 1)
    lyr = ds.GetLayerByName("landslides")
    feat = ogr.Feature(lyr.GetLayerDefn())
    feat.SetGeometry(ogr.ForceToMultiPolygon(ogr.CreateGeometryFromWkt(square(X + 90_000, Y - 90_000, 60))))
    lyr.CreateFeature(feat)
    ds = None
    outlines = QgsVectorLayer("Polygon?crs=EPSG:32618&field=kept:integer", "Inventory with areas", "memory")
    far_layer = QgsVectorLayer(f"{far}|layername=landslides", "area A inventory", "ogr")
    near = QgsVectorLayer(f"{files['inventory']}|layername=landslides", "area B inventory", "ogr")
    detections = QgsVectorLayer(f"{files['detections']}|layername=landslides", "Landslides — scene B", "ogr")
    for layer in (outlines, far_layer, near, detections):
        assert layer.isValid()
        project.addMapLayer(layer)
    dock = ReviewDock(qgis_iface)
    dock.show()
    assert dock.detections_combo.currentLayer().id() == detections.id()
    assert dock.inventory_combo.currentLayer().id() == near.id()  # empty, but the far one lies elsewhere
    dock.close()
    project.removeAllMapLayers()


def test_a_layer_leaving_the_project_stops_the_review_and_saves_it(qgis_iface, files):
    """Removing the detections layer (or File > New) mid-review left the dock holding deleted layers: every
    button, Stop, and unloading the plugin showed "wrapped C/C++ object ... has been deleted"."""
    project = QgsProject.instance()
    project.removeAllMapLayers()
    layers = load(files)
    dock = open_dock(qgis_iface, layers)
    QTest.keyClick(dock, Qt.Key_A)  # accept 1, in the inventory's edit buffer
    project.removeMapLayer(layers["detections"].id())
    assert dock.session is None and dock.stop_button.isEnabled() is False
    assert "Review stopped and saved: detections left the project" in dock.last_error
    assert rows(files["inventory"], "landslides", "detection_id") == [(1,)]  # saved, not lost
    assert rows(files["detections"], "landslides", "id", "review")[0] == (1, "accepted")
    dock.accept()  # a key or button pressed after: nothing happens, no error
    dock.stop()
    again = load(files)
    dock.detections_combo.setLayer(again["detections"])
    dock.inventory_combo.setLayer(again["inventory"])
    dock.start_button.click()
    assert dock.session is not None and current_id(dock) == 2  # resumes where it was
    project.removeAllMapLayers()  # the project closed
    assert dock.session is None
    dock.release()
    dock.close()


def test_detections_added_again_are_proposed_again(qgis_iface, files):
    """After the detections left the project the box showed the next layer, the review's negatives, and still did
    once they were added again: Start then refused 'three different layers'."""
    project = QgsProject.instance()
    project.removeAllMapLayers()
    layers = load(files)
    dock = open_dock(qgis_iface, layers)
    dock.stop_button.click()  # the review made its negatives layer, beside the detections
    assert any(lyr.name() == "Negatives — detections" for lyr in project.mapLayers().values())
    project.removeMapLayer(layers["detections"].id())
    negatives = next(lyr for lyr in project.mapLayers().values() if lyr.name().startswith("Negatives"))
    dock.detections_combo.setLayer(negatives)  # what QGIS showed next; Start said "three different layers"
    dock.start_button.click()
    assert dock.session is None and "holds reviewed detections (a negatives layer or an inventory)" in dock.last_error
    again = QgsVectorLayer(f"{files['detections']}|layername=landslides", "detections", "ogr")
    project.addMapLayer(again)
    assert dock.detections_combo.currentLayer().id() == again.id()
    dock.start_button.click()
    assert dock.session is not None, dock.last_error
    dock.stop_button.click()
    dock.release()
    dock.close()
    project.removeAllMapLayers()


def test_the_nearest_inventory_is_proposed_when_none_reaches_the_detections(qgis_iface, files, tmp_path):
    """Kaikoura: the detections on scene 70 lie beyond the bounding box of scene 70's inventory as well as of
    scene 69's; both scored alike and the first by name, the other area's, was proposed."""
    from lmhld_qgis.ui.review_dock import ReviewDock

    project = QgsProject.instance()
    project.removeAllMapLayers()
    inventories = {}
    for name, dx in (("a_far", 90_000), ("b_near", 3_000)):
        path = create_inventory(tmp_path / f"{name}.gpkg", crs="EPSG:32618")
        ds = ogr.Open(str(path), 1)
        lyr = ds.GetLayerByName("landslides")
        feat = ogr.Feature(lyr.GetLayerDefn())
        feat.SetGeometry(ogr.ForceToMultiPolygon(ogr.CreateGeometryFromWkt(square(X + dx, Y - 400, 60))))
        lyr.CreateFeature(feat)
        ds = None
        inventories[name] = QgsVectorLayer(f"{path}|layername=landslides", f"{name} inventory", "ogr")
        project.addMapLayer(inventories[name])
    detections = QgsVectorLayer(f"{files['detections']}|layername=landslides", "Landslides — scene", "ogr")
    project.addMapLayer(detections)
    dock = ReviewDock(qgis_iface)
    dock.show()
    assert dock.inventory_combo.currentLayer().id() == inventories["b_near"].id()
    dock.release()
    dock.close()
    project.removeAllMapLayers()


def test_a_small_detection_is_shown_with_imagery_around_it(qgis_iface, files, tmp_path):
    """A probe's 2-pixel detection at 10 m was shown at 1:412 with 6 pixels around it: nothing to judge a
    landslide by. The view holds at least 64 pixels of the probability raster."""
    layers = load(files)
    coarse = QgsRasterLayer(str(write_raster(tmp_path / "coarse.tif", np.full((1, 40, 100), 0.3, np.float32),
                                             origin=(X, Y), pixel=(10.0, -10.0))), "coarse probability")
    QgsProject.instance().addMapLayer(coarse)
    layers["prob"] = coarse
    dock = open_dock(qgis_iface, layers)
    extent = qgis_iface.mapCanvas().extent()
    assert min(extent.width(), extent.height()) >= 64 * 10 * 0.99  # 3 x the 60 m square would be 180 m
    assert (extent.center().x(), extent.center().y()) == pytest.approx((X + 230, Y - 370))
    dock.stop_button.click()
    # without a probability raster (it is optional): the imagery under the detection, highest in the legend
    layers["prob"] = None
    qgis_iface.mapCanvas().setExtent(QgsRectangle(X, Y - 100, X + 100, Y))
    dock = open_dock(qgis_iface, layers)
    assert dock.probability_combo.currentLayer() is None
    extent = qgis_iface.mapCanvas().extent()
    assert min(extent.width(), extent.height()) >= 64 * 10 * 0.99
    dock.stop_button.click()


def test_an_inventory_without_the_review_fields_is_said_once(qgis_iface, files, tmp_path, monkeypatch):
    """Accepting into a plain shapefile inventory (only an id) dropped the source, model and probability without a
    word; the review says so when it starts, and accepts still work."""
    from ..helpers import write_polygons

    layers = load(files)
    plain = QgsVectorLayer(str(write_polygons(tmp_path / "plain.gpkg", [square(X, Y - 1500, 1500)],
                                              geom_type=ogr.wkbPolygon)), "plain", "ogr")
    QgsProject.instance().addMapLayer(plain)
    layers["inventory"] = plain
    said = []
    bar = qgis_iface.messageBar()

    class Bar:  # QGIS's message bar, which records what the review says
        def pushMessage(self, *args, **kwargs):
            said.append(args)
            return bar.pushMessage(*args, **kwargs)

    monkeypatch.setattr(qgis_iface, "messageBar", Bar)
    dock = open_dock(qgis_iface, layers)
    assert [a[1] for a in said if "accepted detections are added without" in a[1]] == [
        "plain has no field source, model, mean_prob, detection_id, reviewed_on: accepted detections are added "
        "without where they came from. An inventory made by Create landslide inventory has these fields."]
    dock.accept()
    assert plain.featureCount() == 2
    dock.stop_button.click()


def test_a_detection_of_parts_far_apart_is_shown_by_its_largest_part(qgis_iface, files):
    """A detection merged by hand from two parts 5 km apart was shown whole: each part a speck, neither judged."""
    ds = ogr.Open(str(files["detections"]), 1)
    layer = ds.GetLayer("landslides")
    first = next(f for f in layer if f.GetField("id") == 1)
    parts = ogr.Geometry(ogr.wkbMultiPolygon)
    for wkt in (square(X + 200, Y - 400, 60), square(X + 5200, Y - 400, 10)):
        parts.AddGeometry(ogr.CreateGeometryFromWkt(wkt))
    first.SetGeometry(parts)
    layer.SetFeature(first)
    ds = layer = first = None
    dock = open_dock(qgis_iface, load(files))
    extent = qgis_iface.mapCanvas().extent()
    assert (extent.center().x(), extent.center().y()) == pytest.approx((X + 230, Y - 370))
    assert extent.width() < 1000 and "2 parts far apart: the view shows the largest" in dock.current_label.text()
    dock.stop_button.click()
