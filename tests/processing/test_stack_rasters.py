"""lmhld:stackrasters through processing.run in real QGIS: QGIS's own layers in, one scene out that QGIS reads."""

from __future__ import annotations

import pytest
from qgis.core import QgsProcessingContext, QgsProcessingException, QgsProcessingFeedback, QgsRasterLayer

from ..core.test_stack import write_dsm, write_ortho


def _run(params: dict) -> dict:
    import processing

    return processing.run("lmhld:stackrasters", params, context=QgsProcessingContext(),
                          feedback=QgsProcessingFeedback())


def test_stack_layers_in_band_order(qgis_processing, lmhld_provider, tmp_path):
    write_ortho(tmp_path / "ortho.tif")
    write_dsm(tmp_path / "survey_dsm.tif")
    ortho = QgsRasterLayer(str(tmp_path / "ortho.tif"), "ortho")
    result = _run({"RASTERS": [ortho, str(tmp_path / "survey_dsm.tif")], "PIXEL_SIZE": 1.0,
                   "OUTPUT": str(tmp_path / "scene.tif")})
    scene = QgsRasterLayer(result["OUTPUT"], "scene")
    assert scene.isValid() and (scene.width(), scene.height(), scene.bandCount()) == (100, 100, 4)
    assert [scene.dataProvider().generateBandName(b) for b in (1, 4)] == ["Band 1: red", "Band 4: dsm"]
    with pytest.raises(QgsProcessingException, match="at least one raster"):
        _run({"RASTERS": [], "OUTPUT": str(tmp_path / "one.tif")})
    with pytest.raises(QgsProcessingException, match="give one name per band"):
        _run({"RASTERS": [ortho, str(tmp_path / "survey_dsm.tif")], "NAMES": "a,b",
              "OUTPUT": str(tmp_path / "two.tif")})
    assert not (tmp_path / "one.tif").exists() and not (tmp_path / "two.tif").exists()
