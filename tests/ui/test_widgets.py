"""The plugin's own widgets, headless: the dataset folder list, true colour for new imagery, the dependencies
dialog."""

from __future__ import annotations

import numpy as np
from qgis.core import QgsProject, QgsRasterLayer

from lmhld_qgis import deps
from lmhld_qgis.processing.parameters import folder_list_parameter

from ..helpers import write_raster


def test_folder_list_keeps_order_and_gives_text(qgis_app):
    from lmhld_qgis.ui.folder_list import FolderListWidgetWrapper

    wrapper = FolderListWidgetWrapper(folder_list_parameter("DATA", "Dataset folders"), None)
    wrapper.setValue("/data/a;/data/b\n/data/c")
    assert wrapper.widget.folders() == ["/data/a", "/data/b", "/data/c"]
    wrapper.widget.list.setCurrentRow(2)
    wrapper.widget.move(-1)
    assert wrapper.value() == "/data/a\n/data/c\n/data/b"  # part mode trains in this order
    wrapper.widget.list.clearSelection()
    wrapper.widget.list.item(0).setSelected(True)
    wrapper.widget.remove_selected()
    assert wrapper.widget.folders() == ["/data/c", "/data/b"]
    wrapper.setValue(None)
    assert wrapper.value() is None


def test_a_batch_rows_folders_are_picked_not_only_typed(qgis_app, tmp_path, monkeypatch):
    """Batch mode's Dataset folders cell was a bare text box: every folder of every row typed by hand."""
    from qgis.PyQt.QtWidgets import QFileDialog

    from lmhld_qgis.ui.folder_list import FolderListWidgetWrapper

    class BatchAlgorithmDialog:  # what Processing's wrappers tell batch mode by
        pass

    wrapper = FolderListWidgetWrapper(folder_list_parameter("DATA", "Dataset folders"), BatchAlgorithmDialog())
    wrapper.setValue("/data/a")
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", lambda *args: str(tmp_path / "b"))
    wrapper.widget.add_folder()  # the cell's button
    assert wrapper.value() == f"/data/a\n{tmp_path / 'b'}"
    wrapper.setValue(None)
    assert wrapper.value() is None


def test_new_bgr_imagery_shows_in_true_colour(qgis_app, tmp_path):
    from lmhld_qgis.core.styles import tag_band_colours
    from lmhld_qgis.ui.true_colour import apply_true_colour

    data = np.random.default_rng(0).integers(1, 3000, (4, 32, 32)).astype(np.uint16)
    named = write_raster(tmp_path / "named.tif", data, descriptions=["blue", "green", "red", "nir"])
    tagged = write_raster(tmp_path / "tagged.tif", data, descriptions=["B2", "B3", "B4", "B8"])
    from osgeo import gdal

    ds = gdal.Open(str(tagged), gdal.GA_Update)
    for band, code in ((1, gdal.GCI_BlueBand), (2, gdal.GCI_GreenBand), (3, gdal.GCI_RedBand)):
        ds.GetRasterBand(band).SetColorInterpretation(code)
    ds = None
    plain = write_raster(tmp_path / "plain.tif", data)
    styled = write_raster(tmp_path / "styled.tif", data, descriptions=["blue", "green", "red", "nir"])
    tag_band_colours(styled)
    (tmp_path / "styled.qml").write_text("<qgis/>")  # the file's own style wins
    layers = [QgsRasterLayer(str(p), p.stem) for p in (named, tagged, plain, styled)]
    assert apply_true_colour(layers) == 2
    bands = [(r.redBand(), r.greenBand(), r.blueBand()) for r in (lyr.renderer() for lyr in layers)]
    assert bands[:3] == [(3, 2, 1), (3, 2, 1), (1, 2, 3)]
    assert layers[0].renderer().redContrastEnhancement().maximumValue() < 3000  # stretched, not raw range


def test_dependencies_dialog_says_what_is_missing(qgis_app, tmp_path):
    from lmhld_qgis.ui.dependencies import DependenciesDialog

    report = deps.probe("/usr/bin/python3", env={k: v for k, v in __import__("os").environ.items()
                                                 if k != "PYTHONPATH"})
    dialog = DependenciesDialog(tmp_path / "pkgs", python="/usr/bin/python3")
    dialog.show_report(report)
    assert dialog.table.rowCount() == len(deps.PACKAGES)
    assert dialog.table.item(0, 0).text() == "onnxruntime" and dialog.table.item(0, 2).text() == "missing"
    summary = dialog.summary.text()
    assert "Detection needs onnxruntime." in summary and "Training and experiments need torch" in summary
    assert dialog.install_button.isEnabled()
    assert dialog.grab().save(str(tmp_path / "dependencies.png"))


def test_true_colour_is_applied_when_layers_are_added(qgis_iface, tmp_path):
    """The plugin's hook: a layer added to the project is given true colour."""
    from lmhld_qgis.plugin import LmhldPlugin

    plugin = LmhldPlugin(qgis_iface)
    plugin.initGui()
    try:
        path = write_raster(tmp_path / "scene.tif", np.ones((4, 16, 16), np.uint16) * 7,
                            descriptions=["blue", "green", "red", "nir"])
        layer = QgsRasterLayer(str(path), "scene")
        QgsProject.instance().addMapLayer(layer)
        assert layer.renderer().redBand() == 3
    finally:
        plugin.unload()
        QgsProject.instance().removeAllMapLayers()
