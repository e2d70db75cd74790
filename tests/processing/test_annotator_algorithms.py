"""lmhld:createinventory, lmhld:validateinventory and lmhld:ranktiles through processing.run in real QGIS; the new
inventory's form as QGIS itself reads it back from the GeoPackage."""

from __future__ import annotations

import json

import numpy as np
import pytest
from qgis.core import (
    QgsCoordinateReferenceSystem,
    QgsFeatureRequest,
    QgsProcessingContext,
    QgsProcessingException,
    QgsProcessingFeedback,
    QgsProject,
    QgsRasterLayer,
    QgsVectorLayer,
)

from ..helpers import write_raster
from ..inventories import clean_inventory, crafted_inventory, expected_counts


def _run(alg: str, params: dict, context: QgsProcessingContext | None = None) -> dict:
    import processing

    return processing.run(alg, params, context=context or QgsProcessingContext(), feedback=QgsProcessingFeedback())


def test_create_inventory_opens_with_its_form(qgis_processing, lmhld_provider, tmp_path):
    raster = write_raster(tmp_path / "scene.tif", np.ones((1, 16, 16), np.uint16), epsg=32618)
    context = QgsProcessingContext()
    context.setProject(QgsProject.instance())
    result = _run("lmhld:createinventory", {"OUTPUT": str(tmp_path / "inv.gpkg"),
                                            "RASTER": QgsRasterLayer(str(raster), "scene"),
                                            "EVENT_DATE": "2019-12-24", "AUTHOR": "Ana"}, context)
    uri = result["OUTPUT_LAYER"]
    assert uri in context.layersToLoadOnCompletion()
    layer = QgsVectorLayer(uri, "fresh", "ogr")  # as a fresh QGIS opens it: the stored default style applies
    assert layer.isValid() and layer.crs().authid() == "EPSG:32618"
    fields = layer.fields()

    def widget(name: str):
        setup = layer.editorWidgetSetup(fields.indexOf(name))
        return setup.type(), setup.config()

    kind, config = widget("type")
    assert kind == "ValueMap"
    assert [next(iter(m.values())) for m in config["map"]] == ["slide", "flow", "fall", "complex", "unknown"]
    assert [next(iter(m.values())) for m in widget("certainty")[1]["map"]] == ["high", "medium", "low"]
    assert [next(iter(m.values())) for m in widget("source")[1]["map"]] == ["manual", "model", "reviewed"]
    assert widget("event_date")[0] == "DateTime" and widget("notes")[1]["IsMultiline"] is True
    assert layer.defaultValueDefinition(fields.indexOf("source")).expression() == "'manual'"
    area = fields.indexOf("area_m2")
    assert fields.fieldOrigin(area) == fields.OriginExpression and layer.editFormConfig().readOnly(area)
    assert fields.field("type").alias() == "Type"
    with pytest.raises(QgsProcessingException, match="exists"):
        _run("lmhld:createinventory", {"OUTPUT": str(tmp_path / "inv.gpkg"), "CRS": "EPSG:4326"})
    # replacing the inventory a layer of the project reads (being digitized) left that layer on a file that was gone:
    # its next save said "1 feature(s) added" and the file held none
    QgsProject.instance().addMapLayer(layer)
    with pytest.raises(QgsProcessingException, match=r'inv\.gpkg is open in this project as the layer "fresh": '
                                                     r"replacing it would leave that layer on a file that is gone"):
        _run("lmhld:createinventory", {"OUTPUT": str(tmp_path / "inv.gpkg"), "CRS": "EPSG:4326", "OVERWRITE": True})
    QgsProject.instance().removeMapLayer(layer.id())
    _run("lmhld:createinventory", {"OUTPUT": str(tmp_path / "inv.gpkg"), "CRS": "EPSG:4326", "OVERWRITE": True})
    with pytest.raises(QgsProcessingException, match=r"or the imagery it is for \(it is then saved beside it\): a "
                                                     r"temporary file is deleted"):
        _run("lmhld:createinventory", {"OUTPUT": "TEMPORARY_OUTPUT", "CRS": "EPSG:4326"})
    # the dialog's default, "temporary", with the imagery: saved beside it (Run failed at once, said a probe)
    scene = write_raster(tmp_path / "ortho.tif", np.zeros((1, 8, 8), np.float32))
    for n, expected in ((1, "ortho_inventory.gpkg"), (2, "ortho_inventory_2.gpkg")):  # the first left alone
        made = _run("lmhld:createinventory", {"OUTPUT": "TEMPORARY_OUTPUT", "RASTER": str(scene)})
        assert made["OUTPUT"] == str(tmp_path / expected) and (tmp_path / expected).exists(), (n, made)


def test_the_new_inventory_is_loaded_with_its_form(qgis_processing, lmhld_provider, tmp_path):
    """Processing loads a result without the style its GeoPackage stores: the new inventory came up with plain text
    boxes (no drop-downs, no defaults, no next id), and polygons digitized in it were saved with empty attributes."""
    import processing

    project = QgsProject.instance()
    project.removeAllMapLayers()
    processing.runAndLoadResults("lmhld:createinventory", {"OUTPUT": str(tmp_path / "inv.gpkg"), "CRS": "EPSG:32618",
                                                           "EVENT_DATE": "2019-12-24", "AUTHOR": "Ana"})
    (layer,) = project.mapLayers().values()
    fields = layer.fields()
    assert layer.name() == "landslides"
    assert layer.editorWidgetSetup(fields.indexOf("type")).type() == "ValueMap"
    assert layer.defaultValueDefinition(fields.indexOf("event_date")).expression() == "to_date('2019-12-24')"
    assert layer.defaultValueDefinition(fields.indexOf("id")).expression()  # the next id
    project.removeAllMapLayers()


def test_create_inventory_needs_a_crs(qgis_processing, lmhld_provider, tmp_path):
    project = QgsProject.instance()
    before = project.crs()
    project.setCrs(QgsCoordinateReferenceSystem())  # no CRS anywhere: neither given, nor imagery, nor project
    try:
        context = QgsProcessingContext()
        context.setProject(project)
        with pytest.raises(QgsProcessingException, match="choose a CRS"):
            _run("lmhld:createinventory", {"OUTPUT": str(tmp_path / "inv.gpkg")}, context)
    finally:
        project.setCrs(before)
    assert not (tmp_path / "inv.gpkg").exists()


def test_validate_finds_every_kind_and_repairs_a_copy(qgis_processing, lmhld_provider, tmp_path):
    inv, raster = crafted_inventory(tmp_path)
    context = QgsProcessingContext()
    context.setInvalidGeometryCheck(QgsFeatureRequest.GeometryAbortOnInvalid)  # QGIS desktop's default setting
    result = _run("lmhld:validateinventory", {
        "INVENTORY": str(inv), "RASTER": str(raster), "OUTPUT": "memory:problems",
        "OUTPUT_JSON": str(tmp_path / "v.json"), "REPAIRED": "memory:fixed"}, context)
    problems = result["OUTPUT"]
    kinds: dict[str, int] = {}
    for f in problems.getFeatures():
        kinds[f["kind"]] = kinds.get(f["kind"], 0) + 1
    assert kinds == expected_counts()
    assert result["N_BLOCKING"] == 2 and result["N_PROBLEMS"] == sum(kinds.values())
    assert json.loads((tmp_path / "v.json").read_text())["by_kind"]["duplicate"] == 1
    fixed = result["REPAIRED"]
    assert fixed.featureCount() == 12 and all(f.geometry().isGeosValid() for f in fixed.getFeatures())


def test_core_messages_name_the_validation_by_its_title():
    from lmhld_qgis.core.validate import VALIDATE_TITLE
    from lmhld_qgis.processing.validate_inventory import ValidateInventory

    assert ValidateInventory.TITLE == VALIDATE_TITLE


def test_the_repaired_copy_keeps_the_inventorys_form(qgis_processing, lmhld_provider, tmp_path):
    """The repaired copy Processing loaded had lost the inventory's edit form (its fields as plain text boxes)."""
    import processing
    from osgeo import ogr

    from lmhld_qgis.core.inventory_schema import create_inventory

    create_inventory(tmp_path / "inv.gpkg", crs="EPSG:32618", layer="landslides", event_date="2019-12-24")
    ds = ogr.Open(str(tmp_path / "inv.gpkg"), 1)
    lyr = ds.GetLayerByName("landslides")
    feat = ogr.Feature(lyr.GetLayerDefn())
    feat.SetGeometry(ogr.CreateGeometryFromWkt("MULTIPOLYGON(((0 0,10 10,10 0,0 10,0 0)))"))  # a bow tie
    lyr.CreateFeature(feat)
    ds = None
    project = QgsProject.instance()
    project.removeAllMapLayers()
    inventory = QgsVectorLayer(f"{tmp_path / 'inv.gpkg'}|layername=landslides", "inventory", "ogr")
    project.addMapLayer(inventory)
    processing.runAndLoadResults("lmhld:validateinventory", {
        "INVENTORY": inventory, "OUTPUT": str(tmp_path / "problems.gpkg"),
        "REPAIRED": str(tmp_path / "repaired.gpkg")})
    (repaired,) = [lyr for lyr in project.mapLayers().values() if lyr.name() == "Repaired copy — inventory"]
    assert repaired.featureCount() == 1
    assert repaired.editorWidgetSetup(repaired.fields().indexOf("type")).type() == "ValueMap"
    # the problems on top, then the copy, then the inventory (the copy, in the inventory's style, hid the problems)
    order = [node.layer().name() for node in project.layerTreeRoot().findLayers()]
    assert order == ["Problems — inventory", "Repaired copy — inventory", "inventory"], order  # named after it
    project.removeAllMapLayers()
    # the file itself: its layer named as the inventory's and its form stored in it, for the annotator who goes on
    # digitizing in the copy (a probe reopened it: layer "repaired", default purple fill, plain text boxes)
    reopened = QgsVectorLayer(str(tmp_path / "repaired.gpkg"), "again", "ogr")
    assert reopened.dataProvider().subLayers()[0].split("!!::!!")[1] == "landslides"
    assert reopened.editorWidgetSetup(reopened.fields().indexOf("type")).type() == "ValueMap"
    processing.run("lmhld:validateinventory", {  # again into the same file, the inventory given by its path (the
        # desktop check's copy was named after the file, "inv"): replaced, still one layer, named as the inventory's
        "INVENTORY": str(tmp_path / "inv.gpkg"), "OUTPUT": "memory:problems",
        "REPAIRED": str(tmp_path / "repaired.gpkg")})
    ds = ogr.Open(str(tmp_path / "repaired.gpkg"))
    assert [ds.GetLayer(i).GetName() for i in range(ds.GetLayerCount())] == ["landslides", "layer_styles"]
    assert ds.GetLayerByName("landslides").GetFeatureCount() == 1 and ds.GetLayerByName("layer_styles") \
        .GetFeatureCount() == 1


def test_the_repaired_copy_of_an_inventory_with_unsaved_polygons_holds_them_all(qgis_processing, lmhld_provider,
                                                                                   tmp_path):
    """A desktop probe's: 6 saved polygons and one being digitized (not saved) gave a copy of 0 features, said to be
    "ready for export": the new one's fid, "Autogenerate", failed every row of the GeoPackage."""
    import processing
    from osgeo import ogr
    from qgis.core import QgsGeometry, QgsVectorLayerUtils

    from lmhld_qgis.core.inventory_schema import create_inventory

    create_inventory(tmp_path / "inv.gpkg", crs="EPSG:32618", layer="landslides")
    ds = ogr.Open(str(tmp_path / "inv.gpkg"), 1)
    lyr = ds.GetLayerByName("landslides")
    for x in (0, 20, 40):
        feat = ogr.Feature(lyr.GetLayerDefn())
        feat.SetGeometry(ogr.CreateGeometryFromWkt(f"MULTIPOLYGON((({x} 0,{x + 10} 0,{x + 10} 10,{x} 10,{x} 0)))"))
        lyr.CreateFeature(feat)
    ds = None
    inventory = QgsVectorLayer(f"{tmp_path / 'inv.gpkg'}|layername=landslides", "inventory", "ogr")
    assert inventory.startEditing()
    for wkt in ("MULTIPOLYGON(((60 0,70 0,70 10,60 10,60 0)))", "MULTIPOLYGON(((80 0,90 10,90 0,80 10,80 0)))"):
        new = QgsVectorLayerUtils.createFeature(inventory, QgsGeometry.fromWkt(wkt), {},
                                                inventory.createExpressionContext())
        assert inventory.addFeature(new)  # the second a bow tie: repaired, not dropped
    processing.run("lmhld:validateinventory", {"INVENTORY": inventory, "OUTPUT": "memory:problems",
                                               "REPAIRED": str(tmp_path / "repaired.gpkg")})
    ds = ogr.Open(str(tmp_path / "repaired.gpkg"))
    copy = ds.GetLayerByName("landslides")
    assert copy.GetFeatureCount() == 5
    assert sorted(f.GetFID() for f in copy)[:3] == [1, 2, 3]  # the saved ones keep their ids
    ds = None
    assert inventory.isEditable() and inventory.featureCount() == 5  # the annotator's edits are left as they were
    inventory.rollBack()


def test_an_output_over_the_inventory_s_own_table_is_refused_before_anything_is_written(qgis_processing,
                                                                                        lmhld_provider, tmp_path):
    """A desktop probe's "Save to GeoPackage..." into the inventory's own GeoPackage and table: the run said OK and
    the inventory on disk held 0 polygons (the layer, cached, still showed 6). Another table there is fine."""
    import processing
    from osgeo import ogr

    from ..helpers import square, write_polygons

    gpkg = write_polygons(tmp_path / "inv.gpkg", [square(500_000 + 50 * i, 4_000_000, 20) for i in range(6)],
                          layer="labels")
    inventory = QgsVectorLayer(f"{gpkg}|layername=labels", "inventory", "ogr")
    over = f"ogr:dbname='{gpkg}' table=\"labels\" (geom)"
    for alg, output, extra in (("lmhld:validateinventory", "REPAIRED", {"OUTPUT": "memory:problems"}),
                               ("lmhld:validateinventory", "OUTPUT", {}),
                               ("lmhld:analyseinventory", "OUTPUT", {"PIXEL_SIZE": 2.0,
                                                                     "OUTPUT_JSON": str(tmp_path / "r.json")})):
        with pytest.raises(QgsProcessingException, match=r"would be written over inventory \(inv\.gpkg, table "
                                                         r"labels\), which this algorithm reads"):
            processing.run(alg, {"INVENTORY": inventory, output: over, **extra})
        with pytest.raises(QgsProcessingException, match=r"would be written over inventory \(inv\.gpkg\)"):
            processing.run(alg, {"INVENTORY": inventory, output: str(gpkg), **extra})  # the file itself
    ds = ogr.Open(str(gpkg))
    assert ds.GetLayerByName("labels").GetFeatureCount() == 6
    ds = None
    processing.run("lmhld:analyseinventory", {"INVENTORY": inventory, "PIXEL_SIZE": 2.0,
                                              "OUTPUT_JSON": str(tmp_path / "r.json"),
                                              "OUTPUT": f"ogr:dbname='{gpkg}' table=\"areas\" (geom)"})
    ds = ogr.Open(str(gpkg))
    assert ds.GetLayerByName("labels").GetFeatureCount() == 6 and ds.GetLayerByName("areas").GetFeatureCount() == 6


def test_validate_a_clean_inventory(qgis_processing, lmhld_provider, tmp_path):
    inv, raster = clean_inventory(tmp_path)
    result = _run("lmhld:validateinventory", {"INVENTORY": str(inv), "RASTER": str(raster),
                                              "OUTPUT": "memory:problems"})
    assert result["N_PROBLEMS"] == 0 and result["OUTPUT"].featureCount() == 0


def test_validate_and_analyse_take_every_scene(qgis_processing, lmhld_provider, kaikoura, tmp_path):
    """Both real Kaikoura scenes as the imagery (a multiple-layer parameter; one path, as before, still works)."""
    from ..inventories import two_scene_inventory

    inv = two_scene_inventory(kaikoura, tmp_path)
    a, b = str(kaikoura / "diff_landslide_69.tif"), str(kaikoura / "diff_landslide_70.tif")
    both = _run("lmhld:validateinventory", {"INVENTORY": str(inv), "RASTER": [a, QgsRasterLayer(b, "70")],
                                            "OUTPUT": "memory:problems", "OUTPUT_JSON": str(tmp_path / "v.json")})
    assert [f["kind"] for f in both["OUTPUT"].getFeatures()].count("outside_raster") == 0
    assert json.loads((tmp_path / "v.json").read_text())["rasters"] == [a, b]
    one = _run("lmhld:validateinventory", {"INVENTORY": str(inv), "RASTER": a, "OUTPUT": "memory:problems"})
    assert [f["kind"] for f in one["OUTPUT"].getFeatures()].count("outside_raster") == 9
    analysed = _run("lmhld:analyseinventory", {"INVENTORY": str(inv), "RASTER": [a, b],
                                               "OUTPUT_JSON": str(tmp_path / "a.json"), "OUTPUT": "memory:areas"})
    assert [r["n_landslides"] for r in json.loads((tmp_path / "a.json").read_text())["rasters"]] == [6, 9]
    for f in analysed["OUTPUT"].getFeatures():
        assert f["area_px"] == pytest.approx(f["area_m2"] / 100, abs=0.1)


def test_rank_tiles(qgis_processing, lmhld_provider, tmp_path):
    p = np.full((1, 256, 256), 0.05, np.float32)
    p[0, 128:, 0:128] = 0.5
    prob = write_raster(tmp_path / "prob.tif", p)
    result = _run("lmhld:ranktiles", {"PROBABILITY": str(prob), "WINDOW": 64, "TOP": 3,
                                      "OUTPUT": str(tmp_path / "tiles.gpkg")})
    assert result["N_WINDOWS"] == 16
    layer = QgsVectorLayer(result["OUTPUT"], "tiles", "ogr")
    assert layer.labelsEnabled() and layer.labeling().settings().fieldName == "rank"  # its stored style
    ranked = sorted(layer.getFeatures(), key=lambda f: f["rank"])
    assert [f["rank"] for f in ranked] == [1, 2, 3] and ranked[0]["score"] == pytest.approx(1.0)
    assert ranked[0]["row"] >= 128 and ranked[0]["col"] < 128
    # left at temporary, the windows went to QGIS's temporary folder, deleted when QGIS closes: now beside the raster
    for name in ("prob_to_label.gpkg", "prob_to_label_2.gpkg"):
        kept = _run("lmhld:ranktiles", {"PROBABILITY": str(prob), "WINDOW": 64, "TOP": 3,
                                        "OUTPUT": "TEMPORARY_OUTPUT"})
        assert kept["OUTPUT"] == str(tmp_path / name) and QgsVectorLayer(kept["OUTPUT"]).featureCount() == 3
