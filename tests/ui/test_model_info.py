"""The model information dialog renders a real model card (headless)."""

from __future__ import annotations

from lmhld_qgis.core.modelcard import read_onnx_card
from lmhld_qgis.ui.model_info import ModelInfoDialog, card_rows


def test_dialog_shows_the_card(qgis_app, small_onnx_model, tmp_path):
    card = read_onnx_card(small_onnx_model)
    rows = dict(card_rows(card))
    assert rows["input bands"] == "blue, green, red, nir" and rows["tile size"] == "64 px (any multiple of 16)"
    assert rows["training resolution"] == "3 m" and rows["threshold"] == "0.5"
    dialog = ModelInfoDialog(card, str(small_onnx_model))
    assert dialog.table.rowCount() == len(rows)
    assert dialog.table.item(1, 1).text() == "blue, green, red, nir"
    assert dialog.grab().save(str(tmp_path / "model_info.png"))
    assert (tmp_path / "model_info.png").stat().st_size > 2_000


def test_rows_say_the_size_rule_of_the_card():
    from lmhld_qgis.core.modelcard import ModelCard

    assert dict(card_rows(ModelCard("linknet", 4, patch_size=128, size_multiple=32)))["tile size"] == \
        "128 px (any multiple of 32)"
    assert dict(card_rows(ModelCard("pspnet", 4, patch_size=128, size_multiple=8, dynamic_size=False)))[
        "tile size"] == "128 px (fixed)"
