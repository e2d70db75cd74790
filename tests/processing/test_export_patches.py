"""lmhld:exportpatches through processing.run; its footprints layer loads in QGIS."""

from __future__ import annotations

import json

import pytest
from qgis.core import QgsProcessingException, QgsRasterLayer, QgsVectorLayer

from lmhld_qgis.core.synthetic import make_scene

from .feedback import WarningsFeedback


@pytest.fixture(scope="module")
def scene(tmp_path_factory):
    return make_scene(tmp_path_factory.mktemp("scene"), width=640, height=640, n_landslides=90, seed=5)


def test_processing_run_exports_and_footprints_load(qgis_processing, lmhld_provider, scene, tmp_path):
    import processing

    raster = QgsRasterLayer(str(scene.raster), "scene")
    result = processing.run("lmhld:exportpatches", {
        "RASTERS": [raster], "INVENTORY": str(scene.inventory), "PATCH_SIZE": 64, "MIN_FRACTION": 0.1,
        "SPLIT": "0.7,0.2,0.1", "SPLIT_METHOD": 0, "SEED": 1, "NAME": "synthetic",
        "OUTPUT_FOLDER": str(tmp_path / "ds")})
    card = json.loads((tmp_path / "ds" / "dataset.json").read_text())
    assert card["name"] == "synthetic" and card["patch_size"] == 64 and sum(card["counts"].values()) > 10
    assert [result[f"N_{s}"] for s in ("TRAIN", "VAL", "TEST")] == [card["counts"][s] for s in ("train", "val", "test")]
    layer = QgsVectorLayer(result["OUTPUT_FOOTPRINTS"], "patches", "ogr")
    assert layer.isValid() and layer.featureCount() == sum(card["counts"].values())
    assert layer.crs().authid() == "EPSG:32618"
    assert {f["split"] for f in layer.getFeatures()} == {"train", "val", "test"}
    # the next dialog proposes the outlines just loaded as its inventory: refused, not trained as landslides
    for alg, extra in (("lmhld:exportpatches", {"PATCH_SIZE": 64, "OUTPUT_FOLDER": str(tmp_path / "again")}),
                       ("lmhld:analyseinventory", {"PIXEL_SIZE": 3.0, "OUTPUT_JSON": str(tmp_path / "a.json")})):
        with pytest.raises(QgsProcessingException, match="inventory patches holds the patch outlines"):
            processing.run(alg, {"RASTERS": [raster], "INVENTORY": layer, **extra})
    assert not (tmp_path / "again").exists()


def test_the_outlines_are_loaded_only_where_qgis_is_asked_to_load_outputs(qgis_processing, lmhld_provider, scene,
                                                                          tmp_path):
    """The outlines were added to the project whatever was asked: in batch mode with "Load layers on completion"
    unticked, and for an export inside a graphical model whose outlines are not one of the model's outputs."""
    import processing
    from qgis.core import QgsProcessingContext, QgsProcessingOutputLayerDefinition, QgsProject

    base = {"RASTERS": [str(scene.raster)], "INVENTORY": str(scene.inventory), "PATCH_SIZE": 64}

    def loaded(outlines, folder: str) -> tuple[dict, list[str]]:
        context = QgsProcessingContext()
        context.setProject(QgsProject.instance())
        result = processing.run("lmhld:exportpatches", {**base, "OUTPUT_FOLDER": str(tmp_path / folder),
                                                        "OUTPUT_FOOTPRINTS": outlines}, context=context)
        return result, [d.name for d in context.layersToLoadOnCompletion().values()]

    shown, names = loaded(QgsProcessingOutputLayerDefinition("TEMPORARY_OUTPUT", QgsProject.instance()), "shown")
    assert names == ["Patches — shown"] and shown["OUTPUT_FOOTPRINTS"].startswith(str(tmp_path / "shown" /
                                                                                      "patches.gpkg"))
    unasked, names = loaded("TEMPORARY_OUTPUT", "unasked")  # batch mode unticked; a model's intermediate step
    assert names == [] and QgsVectorLayer(unasked["OUTPUT_FOOTPRINTS"]).featureCount() > 0
    chosen, names = loaded(str(tmp_path / "outlines.gpkg"), "chosen")  # a file of the user's: a copy
    assert chosen["OUTPUT_FOOTPRINTS"] == str(tmp_path / "outlines.gpkg") and names == []
    assert QgsVectorLayer(chosen["OUTPUT_FOOTPRINTS"]).featureCount() == \
        QgsVectorLayer(str(tmp_path / "chosen" / "patches.gpkg")).featureCount() > 0


def test_bad_band_is_a_processing_error(qgis_processing, lmhld_provider, scene, tmp_path):
    import processing

    with pytest.raises(QgsProcessingException, match="do not exist"):
        processing.run("lmhld:exportpatches", {"RASTERS": [str(scene.raster)], "INVENTORY": str(scene.inventory),
                                               "PATCH_SIZE": 64, "BANDS": "1,9",
                                               "OUTPUT_FOLDER": str(tmp_path / "ds")})
    assert not (tmp_path / "ds").exists() or not any((tmp_path / "ds").iterdir())


def test_a_project_geopackage_opened_at_its_points_names_its_polygon_layer(qgis_processing, lmhld_provider, scene,
                                                                         tmp_path):
    """In QGIS a GeoPackage given by its path opens at its first layer: a UAV project's ground control points. The
    export and the validation name the file's polygon layer and how to choose it (no dict, no wrong advice)."""
    import processing
    from osgeo import ogr

    from ..helpers import write_polygons

    project = write_polygons(tmp_path / "project.gpkg", ["POINT (500010 3999990)"], layer="gcp_points",
                             geom_type=ogr.wkbPoint)
    write_polygons(project, ["POLYGON ((500000 3999900, 500030 3999900, 500030 3999870, 500000 3999900))"],
                   layer="landslides", geom_type=ogr.wkbPolygon, append=True)
    hint = "project.gpkg holds the polygon layer 'landslides': read it (--layer landslides; in QGIS, choose that layer)"
    with pytest.raises(QgsProcessingException) as refused:
        processing.run("lmhld:exportpatches", {"RASTERS": [str(scene.raster)], "INVENTORY": str(project),
                                               "PATCH_SIZE": 64, "OUTPUT_FOLDER": str(tmp_path / "ds")})
    assert "holds no usable polygon (1 not a polygon); " + hint in str(refused.value)
    assert "{" not in str(refused.value) and not (tmp_path / "ds").exists()

    feedback = WarningsFeedback()
    processing.run("lmhld:validateinventory", {"INVENTORY": str(project), "OUTPUT": "TEMPORARY_OUTPUT"},
                   feedback=feedback)
    assert "The layer holds no polygon export can use; " + hint in feedback.said, feedback.said


@pytest.mark.parametrize("check", ["GeometryAbortOnInvalid", "GeometrySkipInvalid", "GeometryNoCheck"])
def test_invalid_polygons_are_refused_by_feature_whatever_qgis_invalid_feature_setting(qgis_processing, lmhld_provider,
                                                                                       tmp_path, check):
    """QGIS's own invalid-feature filter (Settings > Processing) never decides for the inventory: 'stop' would end
    the run with QGIS's message, 'skip' would drop a landslide whose pixels then train as background. Export refuses
    the layer naming the feature and the fix, and writes nothing; analysis repairs and counts them."""
    import processing
    from qgis.core import QgsFeatureRequest, QgsProcessingContext, QgsProcessingFeedback

    from ..inventories import crafted_inventory

    inv, raster = crafted_inventory(tmp_path)
    context = QgsProcessingContext()
    context.setInvalidGeometryCheck(getattr(QgsFeatureRequest, check))
    with pytest.raises(QgsProcessingException, match=r"the inventory layer crafted has 2 blocking problem\(s\): 1 "
                                                     r"self intersection, 1 invalid geometry \(first: feature 6, "
                                                     r"Self-intersection.*'Repaired copy' output\)"):
        processing.run("lmhld:exportpatches", {"RASTERS": [str(raster)], "INVENTORY": str(inv), "PATCH_SIZE": 32,
                                               "OUTPUT_FOLDER": str(tmp_path / "ds")}, context=context,
                       feedback=QgsProcessingFeedback())
    assert not (tmp_path / "ds").exists()
    report = processing.run("lmhld:analyseinventory", {"INVENTORY": str(inv), "RASTER": [str(raster)],
                                                        "OUTPUT_JSON": str(tmp_path / "a.json")}, context=context)
    assert json.loads((tmp_path / "a.json").read_text())["n_repaired"] == 2, report


def test_core_messages_name_the_dialogs_parameters_not_the_command_lines_options(qgis_processing, lmhld_provider,
                                                                                 scene, tmp_path):
    """Was: "... not empty; choose another folder or pass overwrite (--overwrite)", an option QGIS does not have."""
    import processing

    from lmhld_qgis.processing.common import in_dialog_terms
    from lmhld_qgis.processing.provider import algorithm_classes

    params = {"RASTERS": [str(scene.raster)], "INVENTORY": str(scene.inventory), "PATCH_SIZE": 64,
              "OUTPUT_FOLDER": str(tmp_path / "ds")}
    processing.run("lmhld:exportpatches", params)
    with pytest.raises(QgsProcessingException) as refused:
        processing.run("lmhld:exportpatches", params)
    assert str(refused.value).endswith('is not empty; choose another folder, or allow replacing it ("Replace a '
                                       'non-empty dataset folder" (OVERWRITE))')
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("mine")
    for overwrite in (False, True):  # a fix that cannot work is not offered: overwrite never replaces such a folder
        with pytest.raises(QgsProcessingException, match=r"holds files lmhld did not write \(notes\.txt\), which it "
                                                         "never replaces: choose another folder, or move those"):
            processing.run("lmhld:exportpatches", {**params, "OUTPUT_FOLDER": str(tmp_path / "mine"),
                                                   "OVERWRITE": overwrite})
    train = next(cls for cls in algorithm_classes() if cls.ALG_ID == "trainmodel")()
    train.initAlgorithm()
    said = in_dialog_terms("pass --resume, --init-from and --out; or run `lmhld train --out RUN --resume` in a "
                           "terminal; --no-such-option stays", train)
    resume, init, out = (train.parameterDefinition(n).description() for n in ("RESUME", "INIT_FROM", "OUTPUT_FOLDER"))
    assert said == (f'pass "{resume}" (RESUME), "{init}" (INIT_FROM) and "{out}" (OUTPUT_FOLDER); or run `lmhld '
                    'train --out RUN --resume` in a terminal; --no-such-option stays')
    analyse = next(cls for cls in algorithm_classes() if cls.ALG_ID == "analyseinventory")()
    analyse.initAlgorithm()  # its note points at export's option, which analyse does not have: named as export's
    share = next(cls for cls in algorithm_classes() if cls.ALG_ID == "exportpatches")()
    share.initAlgorithm()
    bands = share.parameterDefinition("BANDS").description()  # a value goes with its parameter; the core's own
    # "in QGIS:" aside goes (it read: "Bands in order, e.g. 3,2,1,4" (BANDS) 1,2,3,5 (in QGIS: Bands in order))
    assert in_dialog_terms("Choose the bands: e.g. --bands 1,2,3,5 (in QGIS: Bands in order), or --bands 1,2,3 to "
                           "leave the elevation out", share) == (
        f'Choose the bands: e.g. "{bands}" (BANDS=1,2,3,5), or "{bands}" (BANDS=1,2,3) to leave the elevation out')
    pixel = analyse.parameterDefinition("PIXEL_SIZE").description()
    assert in_dialog_terms("or no raster and the pixel size of the imagery (--pixel-size; in QGIS: Pixel size, m "
                           "(without imagery))", analyse) == (
        f'or no raster and the pixel size of the imagery ("{pixel}" (PIXEL_SIZE))')
    assert in_dialog_terms("name it as one (--names red,green,dsm; in QGIS: Band names) so", None) == (
        "name it as one (--names red,green,dsm; in QGIS: Band names) so")  # no algorithm: the command line's words
    assert in_dialog_terms("export with a lower --min-fraction; see --json", analyse) == (
        f'export with a lower "{share.parameterDefinition("MIN_FRACTION").description()}" (MIN_FRACTION); see '
        f'"{analyse.parameterDefinition("OUTPUT_JSON").description()}" (OUTPUT_JSON)')
    # a choice of the command line's is the option the dialog shows, and the number qgis_process takes (it read:
    # use "Device" (DEVICE) auto or "Device" (DEVICE=cpu), and DEVICE=cpu was refused)
    assert in_dialog_terms("torch sees no GPU; use --device auto or --device cpu", train) == (
        'torch sees no GPU; use "Device" set to "Automatic: a GPU when there is one" (DEVICE=0) or "Device" set to '
        '"CPU" (DEVICE=1)')
    assert in_dialog_terms("use --overwrite instead.", share) == (
        f'use "{share.parameterDefinition("OVERWRITE").description()}" (OVERWRITE) instead.')
