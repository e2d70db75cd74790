"""Export beyond the paper's filter: the default recipe (background patches, training-only overlapping windows,
spatial blocks), hard negatives, the learnt minimum landslide area, and the preview that equals the export."""

from __future__ import annotations

import json
import re
import warnings
from collections import Counter

import numpy as np
import pytest
import rasterio
from osgeo import gdal, ogr

from lmhld_qgis.core.errors import LmhldError
from lmhld_qgis.core.export import ExportOptions, export_patches, plan_patches
from lmhld_qgis.core.patch_layer import write_preview
from lmhld_qgis.core.synthetic import make_scene

SIZE = 32


@pytest.fixture(scope="module")
def scene(tmp_path_factory):
    return make_scene(tmp_path_factory.mktemp("scene"), width=448, height=416, n_landslides=45, seed=8,
                      preset="hard", nodata_box=(0, 0, 40, 70))


@pytest.fixture(scope="module")
def negatives(scene, tmp_path_factory):
    """The scene's bright bare soil: known false positives, as a reviewer would reject them."""
    path = tmp_path_factory.mktemp("neg") / "rejected.gpkg"
    gdal.VectorTranslate(str(path), str(scene.distractors), where="kind = 'bare soil'", layerName="rejected")
    return path


@pytest.fixture(scope="module")
def exported(scene, negatives, tmp_path_factory):
    out = tmp_path_factory.mktemp("ds") / "area"
    return export_patches([scene.raster], scene.inventory, out,
                          ExportOptions(patch_size=SIZE, negatives=negatives, tolerance=0.02))


def patches(report) -> list[dict]:
    """Every written patch: id, split, kind and window, from the splits files and the footprints."""
    splits = {pid: name for name in ("train", "val", "test")
              for pid in (report.out_dir / "splits" / f"{name}.txt").read_text().split()}
    ds = ogr.Open(str(report.out_dir / "patches.gpkg"))
    rows = [{"id": f["id"], "split": f["split"], "kind": f["kind"], "row": f["row"], "col": f["col"]}
            for f in ds.GetLayer("patches")]
    assert {r["id"]: r["split"] for r in rows} == splits
    return rows


def overlap(a: dict, b: dict) -> bool:
    return abs(a["row"] - b["row"]) < SIZE and abs(a["col"] - b["col"]) < SIZE


def test_default_recipe_keeps_landslides_background_and_negatives(exported):
    card, rows = exported.card, patches(exported)
    assert card["recipe"]["recipe"] == "generalise" and card["recipe"]["every_landslide"]
    assert card["min_fraction"] == 0.1
    assert card["stride"] == SIZE // 2  # a small dataset: training windows overlap
    kinds = Counter(r["kind"] for r in rows)
    assert card["counts_by_kind"] == {k: kinds[k] for k in ("landslide", "background", "negative")}
    assert min(kinds.values()) > 0 and sum(card["counts"].values()) == len(rows)
    # background windows make about the chosen share of the grid and of the training-only windows
    assert 0.15 <= kinds["background"] / len(rows) <= 0.25
    for r in rows:  # masks agree with the kind: background patches hold no landslide pixel, landslide ones some
        with rasterio.open(exported.out_dir / "mask" / f"{r['id']}.tif") as m:
            positives = int(m.read(1).sum())
        assert (positives == 0) if r["kind"] == "background" else (positives > 0 or r["kind"] == "negative")


def test_every_landslide_is_in_a_patch_even_below_the_minimum_fraction(scene, exported):
    rows = {r["id"]: r for r in patches(exported)}
    fractions = {}
    for pid in rows:
        with rasterio.open(exported.out_dir / "mask" / f"{pid}.tif") as m:
            fractions[pid] = m.read(1).mean()
    assert any(0 < f < 0.1 for pid, f in fractions.items() if rows[pid]["kind"] == "landslide")
    with rasterio.open(scene.raster) as src:
        inverse, nodata = ~src.transform, src.read_masks(1) == 0
    ds = ogr.Open(str(scene.inventory))
    for feat in ds.GetLayer(0):
        point = feat.GetGeometryRef().PointOnSurface()
        col, row = (int(v) for v in inverse * (point.GetX(), point.GetY()))
        grid_row, grid_col = row // SIZE * SIZE, col // SIZE * SIZE
        if nodata[grid_row:grid_row + SIZE, grid_col:grid_col + SIZE].any():
            continue  # its window holds nodata
        assert any(r["row"] <= row < r["row"] + SIZE and r["col"] <= col < r["col"] + SIZE
                   for r in rows.values()), feat.GetFID()


def test_a_large_dataset_gets_no_overlapping_windows_unless_asked(tmp_path):
    scene = make_scene(tmp_path / "s", width=640, height=640, n_landslides=120, seed=3)
    plan = plan_patches([scene.raster], scene.inventory, ExportOptions(patch_size=SIZE, tolerance=0.02))
    assert plan.split.counts["train"] >= 100 and plan.stride == SIZE and plan.windows_by_placement()["overlap"] == 0
    asked = plan_patches([scene.raster], scene.inventory, ExportOptions(patch_size=SIZE, stride=24, tolerance=0.02))
    assert asked.stride == 24 and asked.counts()["train"] > plan.counts()["train"]


def test_training_windows_overlap_but_never_a_validation_or_test_window(exported):
    rows = patches(exported)
    held = [r for r in rows if r["split"] != "train"]
    train = [r for r in rows if r["split"] == "train"]
    assert held and any(r["row"] % SIZE or r["col"] % SIZE for r in train)  # off-grid training windows exist
    assert all(r["kind"] == "negative" or (r["row"] % SIZE == 0 and r["col"] % SIZE == 0) for r in held)
    assert not [(t["id"], h["id"]) for t in train for h in held if overlap(t, h)]
    val, test = [r for r in held if r["split"] == "val"], [r for r in held if r["split"] == "test"]
    assert not [(v["id"], t["id"]) for v in val for t in test if overlap(v, t)]
    assert exported.card["dropped"]["overlaps_other_split"] > 0


def test_split_is_spatial_and_balanced(exported):
    split = exported.card["split"]
    assert split["method"] == "block" and split["block_used"] >= 2
    assert split["assigned"]["max_proportion_difference"] <= 0.02
    assert all(split["kinds"][name]["landslide"] > 0 for name in ("train", "val", "test"))
    assert set(split["kinds"]["train"]) == {"landslide", "background", "negative"}


def test_negatives_are_centred_on_rejected_detections(scene, exported, negatives):
    ds = ogr.Open(str(negatives))
    centres = []
    for feat in ds.GetLayer(0):
        xmin, xmax, ymin, ymax = feat.GetGeometryRef().GetEnvelope()
        centres.append(((xmin + xmax) / 2, (ymin + ymax) / 2))
    info = exported.card["negatives"]
    assert info["n_polygons"] == len(centres) and info["n_outside_rasters"] == 0
    negative = [r for r in patches(exported) if r["kind"] == "negative"]
    assert negative and all(r["id"].endswith("_n") for r in negative)
    assert {r["split"] for r in negative} == {"train"}  # the user's corrections are never held out
    patch_centres = []
    for r in negative:
        with rasterio.open(exported.out_dir / "img" / f"{r['id']}.tif") as p:
            patch_centres.append(p.transform * (SIZE / 2, SIZE / 2))
    quarter_m = SIZE / 4 * 3.0  # 3 m pixels
    with rasterio.open(scene.raster) as scene_ds:
        to_pixel = ~scene_ds.transform
    for x, y in centres:  # each negative has its centred window (edge ones shifted inside) ...
        col, row = to_pixel * (x, y)
        inside = SIZE / 2 < row < 416 - SIZE / 2 and SIZE / 2 < col < 448 - SIZE / 2
        assert not inside or min(np.hypot(cx - x, cy - y) for cx, cy in patch_centres) <= 3.0
    for k, (cx, cy) in enumerate(patch_centres):  # ... and the others lie a quarter patch around a centred one
        near_centre = min(np.hypot(cx - x, cy - y) for x, y in centres) <= 3.0
        near_patch = min(np.hypot(cx - x, cy - y) for j, (x, y) in enumerate(patch_centres) if j != k)
        assert near_centre or abs(near_patch - quarter_m) < 1.0
    assert len(negative) > len(centres)  # shifted copies: a rejected detection weighs more than one patch


def test_the_inventory_given_as_its_own_negatives_is_refused(scene, negatives, tmp_path):
    """A probe gave --negatives the --inventory file: 288 "negative" patches centred on landslides, and only a
    generic split warning."""
    from lmhld_qgis.core.errors import LmhldError

    with pytest.raises(LmhldError, match=r"45 of the 45 negatives are landslides of the inventory \(the same "
                                         r"polygons\).*give the negatives' own file or layer"):
        export_patches([scene.raster], scene.inventory, tmp_path / "same", ExportOptions(
            patch_size=SIZE, negatives=scene.inventory))
    assert not (tmp_path / "same").exists()
    mixed = tmp_path / "mixed.gpkg"  # the rejected detections, and one landslide copied among them by mistake
    gdal.VectorTranslate(str(mixed), str(negatives), layerName="rejected")
    gdal.VectorTranslate(str(mixed), str(scene.inventory), accessMode="append", layerName="rejected", limit=1)
    with pytest.warns(UserWarning, match=r"1 of the \d+ negatives are landslides of the inventory"):
        export_patches([scene.raster], scene.inventory, tmp_path / "mixed", ExportOptions(
            patch_size=SIZE, negatives=mixed, tolerance=0.05))


def test_preview_equals_export(scene, negatives, exported):
    plan = plan_patches([scene.raster], scene.inventory, ExportOptions(patch_size=SIZE, negatives=negatives,
                                                                        tolerance=0.02))
    kept = {p.id: (p.split, p.kind) for p in plan.kept()}
    assert kept == {r["id"]: (r["split"], r["kind"]) for r in patches(exported)}
    assert plan.dropped() == exported.card["dropped"]
    assert sorted(kept) == sorted(p.stem for p in (exported.out_dir / "img").iterdir())


def test_preview_layer_lists_every_window_styled(scene, tmp_path):
    plan = plan_patches([scene.raster], scene.inventory, ExportOptions(patch_size=SIZE))
    out = tmp_path / "preview.gpkg"
    assert write_preview(out, plan) == ["windows"]
    ds = ogr.Open(str(out))
    layer = ds.GetLayer("windows")
    assert layer.GetFeatureCount() == len(plan.windows) == sum(plan.windows_by_placement().values())
    features = [(f["status"], f["reason"], f["split"], f["category"], f["placement"]) for f in layer]
    assert Counter(s for s, *_ in features)["kept"] == sum(plan.counts().values())
    assert {r for s, r, *_ in features if s == "dropped"} == {r for r, n in plan.dropped().items() if n}
    assert {c for *_, c, _ in features} == {"train", "val", "test", "dropped", "dropped overlap"}
    style = ds.GetLayer("layer_styles").GetNextFeature()
    assert style["f_table_name"] == "windows" and 'attr="category"' in style["styleQML"]
    assert style["useAsDefault"] == 1


def test_paper_recipe_has_no_background_or_overlap_and_says_how_optimistic_its_split_is(scene, tmp_path):
    with pytest.warns(UserWarning, match=r"per-patch split: \d+% of the patches next to validation and test "
                                         r"patches are training patches"):
        report = export_patches([scene.raster], scene.inventory, tmp_path / "ds",
                                ExportOptions(patch_size=SIZE, recipe="paper", min_fraction=0.05, tolerance=0.02))
    card = report.card
    assert card["counts_by_kind"]["background"] == 0 and card["windows"]["overlap"] == 0
    assert card["split"]["method"] == "balanced" and card["stride"] == SIZE
    assert card["split"]["val_test_neighbours_in_train"] > 0.4  # about the train ratio (see test_splits)


def test_min_landslide_area_is_learnt_from_the_inventory(exported, scene):
    ds = ogr.Open(str(scene.inventory))
    areas = np.array([f.GetGeometryRef().GetArea() for f in ds.GetLayer(0)])  # UTM: planar areas are true areas
    expected = max(0.5 * np.quantile(areas, 0.05), 2 * 9.0)
    assert exported.card["min_landslide_area_m2"] == pytest.approx(expected, rel=2e-3)
    assert "5% quantile" in exported.card["min_landslide_area_rule"]
    assert exported.card["large_landslide_area_m2"] == pytest.approx(np.quantile(areas, 0.9), rel=2e-3)


def test_options_are_checked_before_any_work(scene, tmp_path):
    for options, message in ((ExportOptions(patch_size=32, stride=40), "stride must be an integer from 1 to the "
                                                                       "patch size"),
                             (ExportOptions(patch_size=32, background_share=1.0), r"background share must lie in "
                                                                                  r"\[0, 1\)"),
                             (ExportOptions(patch_size=32, recipe="magic"), "recipe must be one of generalise, paper")):
        with pytest.raises(LmhldError, match=message):
            export_patches([scene.raster], scene.inventory, tmp_path / "ds", options)
        assert not (tmp_path / "ds").exists()


def test_kaikoura_small_real_scene_gives_a_usable_dataset(shared_data, tmp_path):
    # 514 x 515 px at 10 m, 6 landslides of 1 to 118 pixels: the paper's 10% filter keeps no patch
    k = shared_data / "kaikoura"
    raster, inventory = k / "diff_landslide_69.tif", k / "label_landslide_69.shp"
    with pytest.raises(LmhldError, match="no patch kept"):
        export_patches([raster], inventory, tmp_path / "paper", ExportOptions(patch_size=32, recipe="paper"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the split says its blocks had to shrink
        report = export_patches([raster], inventory, tmp_path / "ds", ExportOptions(patch_size=32))
    card = json.loads((report.out_dir / "dataset.json").read_text())
    kinds = card["split"]["kinds"]
    assert all(kinds[name]["landslide"] >= 1 for name in ("train", "val", "test"))
    assert card["counts_by_kind"]["background"] >= 1 and card["counts"]["train"] >= 10
    assert card["bands"] == ["rg", "ndvi_change", "brightness_change"]
    assert card["min_landslide_area_m2"] == pytest.approx(200.0)  # two 10 m pixels: half the 5% quantile is less


def test_nan_pixels_count_as_nodata_in_a_float_raster_without_one(scene, tmp_path):
    """A float raster that declares no nodata but holds NaN (Kaikoura's change scenes do, outside their footprint):
    no exported window, landslide or background, may hold one, or training's statistics become NaN. And each patch
    holds its own window's pixels, though many nodata windows are read while patches wait to be written."""
    raster = tmp_path / "float_no_nodata.tif"
    gdal.Translate(str(raster), str(scene.raster), outputType=gdal.GDT_Float32, noData="none")
    with rasterio.open(raster, "r+") as dst:
        image = dst.read()
        image[:, 200:300, 300:] = np.nan  # a NaN block where landslides and background windows lie
        image[0, 100, 100] = np.inf
        dst.write(image)
        assert dst.nodata is None
    report = export_patches([raster], scene.inventory, tmp_path / "ds", ExportOptions(patch_size=SIZE, tolerance=0.5))
    assert report.card["dropped"]["nodata"] > 0
    images = sorted((report.out_dir / "img").glob("*.tif"))
    assert images and all(np.isfinite(rasterio.open(p).read()).all() for p in images)
    for row in patches(report):
        with rasterio.open(report.out_dir / "img" / f"{row['id']}.tif") as written:
            expected = image[:, row["row"]:row["row"] + SIZE, row["col"]:row["col"] + SIZE]
            assert np.array_equal(written.read(), expected), row["id"]
    assert all(np.isfinite(report.card["mean"])) and all(np.isfinite(report.card["std"]))


def test_a_raster_of_nodata_is_named_as_the_reason_no_patch_is_kept(scene, tmp_path):
    """Every pixel NaN (a failed mosaic, a wrong nodata value): the error says, in words, how many windows were
    dropped for what, and that the raster's data or its nodata value is what to check (not the fraction)."""
    raster = tmp_path / "all_nan.tif"
    gdal.Translate(str(raster), str(scene.raster), outputType=gdal.GDT_Float32, noData="none")
    with rasterio.open(raster, "r+") as dst:
        dst.write(np.full((dst.count, dst.height, dst.width), np.nan, np.float32))
    with pytest.raises(LmhldError) as caught:
        export_patches([raster], scene.inventory, tmp_path / "ds", ExportOptions(patch_size=SIZE))
    message = str(caught.value)
    assert re.search(r"of \d+ windows, \d+ hold no landslide, .*\d+ hold nodata", message), message
    assert "nodata value is right" in message and "{" not in message
    assert not (tmp_path / "ds").exists()


def test_many_negatives_still_leave_validation_and_test(scene, tmp_path):
    """A reviewer's rejections all over a small area: the windows that overlap a negative's window train with it,
    and validation and test are drawn from the others at the sizes the ratios give the whole (they were split first
    and dropped afterwards: 6 % validation here, none at all with denser negatives, without a word)."""
    from ..helpers import square, write_polygons

    with rasterio.open(scene.raster) as src:
        left, top = src.transform.c, src.transform.f
    side = SIZE * 3.0  # 3 m pixels

    def rejected(step: float) -> str:
        squares = [square(left + side * (0.5 + step * i), top - side * (0.8 + step * j), 6.0)
                   for i in range(int(14 / step) + 1) for j in range(int(13 / step) + 1)]
        return str(write_polygons(tmp_path / f"rejected_{step}.gpkg", squares))

    report = export_patches([scene.raster], scene.inventory, tmp_path / "ds",
                            ExportOptions(patch_size=SIZE, negatives=rejected(2.5), tolerance=0.05))
    plain = export_patches([scene.raster], scene.inventory, tmp_path / "plain",
                           ExportOptions(patch_size=SIZE, tolerance=0.05))
    rows = patches(report)
    held_out = Counter(r["split"] for r in rows)
    without = Counter(r["split"] for r in patches(plain))
    for split in ("val", "test"):  # about the sizes an export without negatives holds out
        assert held_out[split] >= 0.75 * without[split] > 0
    negative = [r for r in rows if r["kind"] == "negative"]
    held = [r for r in rows if r["split"] != "train"]
    assert negative and not any(overlap(n, h) for n in negative for h in held)  # no pixel in two splits
    assert any("overlapping a negative's window went to training" in w for w in report.card["warnings"])
    # the negatives come on top: background keeps its share of the landslide and background patches, and the
    # overlap rule counts the training split's grid windows (a probe's 746 negatives asked for 324 background
    # windows and switched the overlap off, leaving 11 landslide patches of 27)
    for card in (report.card, plain.card):
        kinds = card["counts_by_kind"]
        assert kinds["background"] / (kinds["background"] + kinds["landslide"]) == pytest.approx(0.2, abs=0.03)
    assert report.card["stride"] == plain.card["stride"] == SIZE // 2
    with pytest.raises(LmhldError, match=r"the 1 left cannot fill validation and test\. Give fewer negatives"):
        export_patches([scene.raster], scene.inventory, tmp_path / "dense",
                       ExportOptions(patch_size=SIZE, negatives=rejected(2.0), tolerance=0.05))
    assert not (tmp_path / "dense").exists()


def test_kept_patches_are_said_in_words():
    from lmhld_qgis.core.patch_windows import describe_kept

    said = describe_kept({"train": 56, "val": 16, "test": 0}, {"landslide": 60, "background": 12, "negative": 0},
                         {"train": 0.2134, "val": 0.208, "test": float("nan")})
    assert said == ("72 patches: 56 train, 16 val; 60 landslide, 12 background; "
                    "landslide pixels 21.3% of train, 20.8% of val")
    assert describe_kept({"train": 1, "val": 0, "test": 0}, {"landslide": 1}) == "1 patch: 1 train; 1 landslide"
    assert describe_kept({"train": 0, "val": 0, "test": 0}, {"landslide": 0}, {"train": float("nan")}) == "0 patches"


def test_a_split_outside_its_tolerance_names_the_option_in_its_own_units(tmp_path):
    """The note said "(tolerance 1)" in points beside a dialog field reading 0.01 (a share): it now names the option
    as given and the points it means."""
    from lmhld_qgis.core.terms import speak

    scene = make_scene(tmp_path / "s", width=256, height=256, n_landslides=20, seed=3)
    speak("python")
    try:
        with pytest.warns(UserWarning) as said:
            export_patches([scene.raster], scene.inventory, tmp_path / "ds", ExportOptions(patch_size=32,
                                                                                           tolerance=0.0001))
    finally:
        speak("flags")
    notes = [str(w.message) for w in said if "proportions differ" in str(w.message)]
    assert notes and "points (tolerance=0.0001; 0.01 points): too few patches to balance them" in notes[0], notes
