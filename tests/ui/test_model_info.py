"""The model information dialog: the card as a user reads it (headless), and a scene checked against it."""

from __future__ import annotations

import numpy as np
from qgis.core import QgsProject, QgsRasterLayer
from qgis.PyQt.QtCore import Qt

from lmhld_qgis.core.modelcard import ModelCard, read_onnx_card
from lmhld_qgis.ui.model_info import ModelInfoDialog, card_rows

from ..helpers import write_raster


def test_dialog_shows_the_card_read_only_and_whole(qgis_app, small_onnx_model, tmp_path):
    card = read_onnx_card(small_onnx_model)
    rows = dict(card_rows(card))
    assert rows["input bands"] == "blue, green, red, nir" and rows["tile size"] == "64 px (any multiple of 16)"
    assert rows["training resolution"] == "3 m" and rows["threshold"] == "0.5"
    assert rows["network options"] == "base_width=4"  # not a Python dict
    assert not any("{" in value or "[" in value for value in rows.values())
    assert rows["large training landslides"] == "unknown"  # the fixture's card predates the figure
    card.large_landslide_area_m2 = 1234.4
    assert dict(card_rows(card))["large training landslides"] == "1234 m² (90th percentile)"
    card.large_landslide_area_m2 = None
    assert rows["a polygon's minimum mean probability"] == (
        "midway between the threshold (0.5) and the scene's surest polygon")
    dialog = ModelInfoDialog(card, str(small_onnx_model))
    dialog.show()
    table = dialog.table
    assert table.rowCount() == len(rows) and table.item(2, 1).text() == "blue, green, red, nir"
    assert all(not table.item(r, c).flags() & Qt.ItemIsEditable for r in range(table.rowCount()) for c in (0, 1))
    content = table.horizontalHeader().height() + sum(table.rowHeight(r) for r in range(table.rowCount()))
    screen = dialog.screen().availableGeometry()
    assert dialog.height() <= screen.height()  # the Close button on the screen, whatever the card's length
    assert table.height() >= content or dialog.height() >= 0.85 * screen.height()  # all rows, or as tall as fits
    assert max(table.rowHeight(r) for r in range(table.rowCount())) < 3 * table.rowHeight(0) + 1  # no tall rows
    assert dialog.grab().save(str(tmp_path / "model_info.png"))
    dialog.close()


def test_rows_say_the_size_rule_of_the_card():
    assert dict(card_rows(ModelCard("linknet", 4, patch_size=128, size_multiple=32)))["tile size"] == \
        "128 px (any multiple of 32)"
    assert dict(card_rows(ModelCard("pspnet", 4, patch_size=128, size_multiple=8, dynamic_size=False)))[
        "tile size"] == "128 px (fixed)"
    assert dict(card_rows(ModelCard("unet", 4, threshold=0.42, threshold_source="validation")))["threshold"] == \
        "0.42 (calibrated on validation)"
    assert dict(card_rows(ModelCard("unet", 2)))["input units"] == "the imagery's own values"
    # a probe's model of validation F1 0.005 showed no quality figure: its analyst could not tell it was useless
    assert dict(card_rows(ModelCard("unet", 2, validation_f1=0.005)))["validation F1"].startswith(
        "0.005: low, the model misses or invents most landslides")
    assert dict(card_rows(ModelCard("unet", 2, validation_f1=0.91)))["validation F1"] == "0.910"
    assert dict(card_rows(ModelCard("unet", 2, input_divisor=[1111.81, 824.63])))["input units"] == \
        "each band divided by 1112, 824.6 (a scene in its own units is divided alike)"


def test_a_raster_layer_is_checked_against_the_model(qgis_app, small_onnx_model, tmp_path):
    card = read_onnx_card(small_onnx_model)
    good = write_raster(tmp_path / "good.tif", np.ones((4, 80, 80), np.uint16),
                        descriptions=["nir", "red", "green", "blue"])
    coarse = write_raster(tmp_path / "coarse.tif", np.ones((3, 40, 40), np.uint16), pixel=(10.0, -10.0))
    layers = [QgsRasterLayer(str(good), "good"), QgsRasterLayer(str(coarse), "coarse")]
    QgsProject.instance().addMapLayers(layers)
    probability = write_raster(tmp_path / "p.tif", np.zeros((1, 80, 80), np.float32))
    QgsProject.instance().addMapLayer(QgsRasterLayer(str(probability), "Landslide probability — good (unet)"))
    try:
        dialog = ModelInfoDialog(card, str(small_onnx_model))
        assert dialog.layers.currentLayer().name() == "good"  # proposed: the 4-band scene, not a detection's output
        dialog.layers.setLayer(layers[0])
        checks = {c.what: c for c in dialog.check_layer()}
        assert checks["bands"].ok and "blue ← blue" in checks["bands"].message  # matched by name, not position
        assert checks["resolution"].ok and checks["size"].ok
        dialog.layers.setLayer(layers[1])
        checks = {c.what: c for c in dialog.check_layer()}
        assert checks["bands"].ok is False and "band mismatch" in checks["bands"].message
        assert checks["resolution"].ok is None and "10 m" in checks["resolution"].message
        assert checks["size"].ok is None and "single padded window" in checks["size"].message
        assert "✘ bands" in dialog.verdict.text()
        lines = dialog.verdict.text().splitlines()  # what stops a detection first, then warnings, then what passes
        assert lines[0].startswith("✘ bands") and lines[1].startswith("⚠"), lines
        dialog.resize(680, 700)
        dialog.check_layer()
        spacing = dialog.fontMetrics().lineSpacing()  # the verdict's box grows to its text (it was cut at 4 lines)
        assert dialog.verdict_area.minimumHeight() >= min(dialog.verdict.heightForWidth(
            dialog.verdict_area.viewport().width()), int(dialog.height() * 0.45)) > 4 * spacing
        dialog.verdict.setText("")
        dialog.layers.setLayer(layers[0])
        dialog.check_button.click()  # as a user does: clicked(bool) reaches the slot (a wrapper took the bool)
        assert "✔ bands" in dialog.verdict.text()
        twice = write_raster(tmp_path / "twice.tif", np.ones((4, 80, 80), np.uint16),
                             descriptions=["blue", "green", "red", "blue"])
        layer = QgsRasterLayer(str(twice), "twice")
        QgsProject.instance().addMapLayer(layer)
        dialog.layers.setLayer(layer)
        dialog.check_layer()  # the fix is said in Detect landslides' words (a probe's check said "--bands")
        assert "--" not in dialog.verdict.text() and "(BANDS" in dialog.verdict.text(), dialog.verdict.text()
    finally:
        QgsProject.instance().removeAllMapLayers()


def test_rows_name_the_relative_level_bands():
    card = ModelCard("unet", 4, bands=["blue", "green", "red", "dsm"], relative_bands=[3], relative_scale=[4.0])
    assert dict(card_rows(card))["relative-level bands"] == "dsm (each tile's level removed)"  # a model before planes
    card.relative_surface = "plane"
    assert dict(card_rows(card))["relative-level bands"] == "dsm (each tile's plane removed)"
    card.relative_surface, card.relative_rough = "ground", [0.1]
    assert dict(card_rows(card))["relative-level bands"] == "dsm (each tile's ground plane removed, under any trees)"
    assert dict(card_rows(ModelCard("unet", 4)))["relative-level bands"] == "none (every band absolute)"
