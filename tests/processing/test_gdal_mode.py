"""An lmhld algorithm leaves QGIS's GDAL exception setting as it found it (core.gdal_mode, processing.base)."""

from __future__ import annotations

from ..core.test_gdal_mode import run_fresh


def test_a_qgis_algorithm_leaves_qgis_gdal_setting_as_it_was(kaikoura, tmp_path):
    """Running an lmhld algorithm in QGIS left GDAL/OGR/OSR exceptions on for the whole session: QGIS's DB
    Manager (which opens a GeoPackage read-write and falls back when gdal.OpenEx returns None) and other plugins
    then met exceptions where they test for None."""
    out = run_fresh(f"""
        import os, sys
        os.environ["QT_QPA_PLATFORM"] = "offscreen"
        from qgis.core import QgsApplication
        app = QgsApplication([], False)
        app.initQgis()
        sys.path.insert(0, "/usr/share/qgis/python/plugins")
        from osgeo import gdal, ogr, osr
        from processing.core.Processing import Processing
        Processing.initialize()
        import processing
        from lmhld_qgis.processing.provider import LmhldProvider
        provider = LmhldProvider()
        QgsApplication.processingRegistry().addProvider(provider)
        result = processing.run("lmhld:analyseinventory", {{
            "INVENTORY": "{kaikoura}/label_landslide_69.shp", "RASTER": "{kaikoura}/diff_landslide_69.tif",
            "OUTPUT_JSON": "{tmp_path}/analysis.json"}})
        print(os.path.exists(result["OUTPUT_JSON"]), "".join(str(m.GetUseExceptions()) for m in (gdal, ogr, osr)),
              gdal.OpenEx("{tmp_path}/missing.gpkg") is None)
        QgsApplication.processingRegistry().removeProvider(provider)
    """)
    assert out.splitlines()[-1] == "True 000 True"
