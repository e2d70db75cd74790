"""The annotator's whole loop: train on one generated scene, detect on a second one that also holds lookalikes
(bright bare ground the first model has never seen, so it calls them landslides), review the detections in the
dock (scripted: accept those on true landslides, reject the others), export the second scene with the rejected
detections as hard negatives, train again, detect again: the rejected places are no longer detected and the
accepted ones still are."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
from osgeo import ogr

from lmhld_qgis.core.export import ExportOptions

pytestmark = pytest.mark.slow

SIDE, PATCH, EPOCHS = 320, 32, 6
LOOKALIKE = np.array([1900.0, 1750.0, 1700.0, 2400.0])  # bare and bright: a quarry, a gravel bar


def paint_lookalikes(scene, n: int, seed: int) -> list[ogr.Geometry]:
    """Paint `n` rectangles of LOOKALIKE ground away from the scene's landslides; their footprints."""
    import rasterio

    from lmhld_qgis.core.grid import Window
    from lmhld_qgis.core.rasterize import InventoryBurner
    from lmhld_qgis.core.vector import read_polygons

    rng = np.random.default_rng(seed)
    polygons = read_polygons(scene.inventory)
    with rasterio.open(scene.raster, "r+") as ds:
        burner = InventoryBurner(polygons, polygons.srs, tuple(ds.transform)[:6])
        truth = burner.burn(Window(0, 0, ds.height, ds.width)).astype(bool)
        data = ds.read()
        rects: list[tuple[int, int, int, int]] = []
        while len(rects) < n:
            h, w = int(rng.integers(10, 18)), int(rng.integers(14, 26))
            r, c = int(rng.integers(4, ds.height - h - 4)), int(rng.integers(4, ds.width - w - 4))
            if truth[r - 4:r + h + 4, c - 4:c + w + 4].any() or any(abs(r - a) < 30 and abs(c - b) < 30
                                                                     for a, b, _, _ in rects):
                continue
            rects.append((r, c, h, w))
            for b in range(4):
                data[b, r:r + h, c:c + w] = np.clip(LOOKALIKE[b] + rng.normal(0, 180, (h, w)), 1, 65535)
        ds.write(data)
        t = ds.transform
    out = []
    for r, c, h, w in rects:
        (x0, y0), (x1, y1) = t * (c, r), t * (c + w, r + h)
        out.append(ogr.CreateGeometryFromWkt(f"POLYGON(({x0} {y0},{x1} {y0},{x1} {y1},{x0} {y1},{x0} {y0}))"))
    return out


def train_model(data: list[Path], out: Path) -> Path:
    from lmhld_qgis.training.config import TrainConfig
    from lmhld_qgis.training.trainer import train

    cfg = TrainConfig(model="unet", model_options={"base_width": 8}, data=[str(d) for d in data],
                      mode="mix" if len(data) > 1 else "single", epochs=EPOCHS, batch_size=16, optimizer="adam",
                      lr=3e-3, seed=0)
    return train(cfg, out).onnx


def geometries(path: Path, layer: str | None = None) -> list[ogr.Geometry]:
    ds = ogr.Open(str(path))
    lyr = ds.GetLayerByName(layer) if layer else ds.GetLayer(0)
    out = [f.GetGeometryRef().Clone() for f in lyr]
    ds = None
    return out


def review_in_dock(qgis_iface, detections: Path, inventory: Path, truth: list[ogr.Geometry]) -> None:
    """Accept the detections lying mostly on true landslides, reject the others, with the dock's keys."""
    from qgis.core import QgsProject, QgsVectorLayer
    from qgis.PyQt.QtCore import Qt
    from qgis.PyQt.QtTest import QTest

    from lmhld_qgis.ui.review_dock import ReviewDock

    det_layer = QgsVectorLayer(f"{detections}|layername=landslides", "detections", "ogr")
    inv_layer = QgsVectorLayer(f"{inventory}|layername=landslides", "inventory", "ogr")
    QgsProject.instance().addMapLayers([det_layer, inv_layer])
    dock = ReviewDock(qgis_iface)
    dock.detections_combo.setLayer(det_layer)
    dock.inventory_combo.setLayer(inv_layer)
    dock.start_button.click()
    assert dock.session is not None, dock.last_error
    while dock.session.current is not None:
        geom = ogr.CreateGeometryFromWkb(bytes(dock.layers.feature(dock.session.current).geometry().asWkb()))
        on_truth = sum(geom.Intersection(t).GetArea() for t in truth if geom.Intersects(t)) / geom.GetArea()
        QTest.keyClick(dock, Qt.Key_A if on_truth >= 0.5 else Qt.Key_R)
    dock.stop_button.click()
    QgsProject.instance().clear()


def test_rejected_detections_stop_being_detected(qgis_iface, tmp_path):
    from lmhld_qgis.core.detect import DetectOptions, detect
    from lmhld_qgis.core.export import export_patches
    from lmhld_qgis.core.inventory_schema import create_inventory
    from lmhld_qgis.core.synthetic import make_scene

    # The export of the second round, agreed between the engineers (ExportOptions.negatives, background_share).
    base = ExportOptions(patch_size=PATCH, min_fraction=0.05, tolerance=0.1, seed=2)
    round_two = ExportOptions(**{**{f.name: getattr(base, f.name) for f in dataclasses.fields(base)},
                                 "negatives": tmp_path / "det1.gpkg", "negatives_layer": "negatives",
                                 "background_share": 0.2})

    first = make_scene(tmp_path / "a", width=SIDE, height=SIDE, n_landslides=SIDE * SIDE // 2000, seed=1, name="a")
    event = make_scene(tmp_path / "b", width=SIDE, height=SIDE, n_landslides=SIDE * SIDE // 3000, seed=2, name="b")
    lookalikes = paint_lookalikes(event, 6, seed=5)
    data_a = export_patches([first.raster], first.inventory, tmp_path / "dsA",
                            ExportOptions(patch_size=PATCH, min_fraction=0.05, tolerance=0.05, seed=1)).out_dir
    model_1 = train_model([data_a], tmp_path / "run1")
    detect(event.raster, model_1, tmp_path / "det1.gpkg", tmp_path / "prob1.tif", DetectOptions(min_area_m2=50.0))
    fooled = [g for g in geometries(tmp_path / "det1.gpkg") if any(g.Intersects(look) for look in lookalikes)]
    assert len(fooled) >= 4, "the first model should take most lookalikes for landslides"

    inventory = create_inventory(tmp_path / "inventory.gpkg", raster=event.raster)
    from lmhld_qgis.core.vector import read_polygons

    review_in_dock(qgis_iface, tmp_path / "det1.gpkg", inventory, read_polygons(event.inventory).geometries)
    accepted, rejected = geometries(inventory, "landslides"), geometries(tmp_path / "det1.gpkg", "negatives")
    assert len(accepted) >= 20 and len(rejected) == len(fooled)

    data_b = export_patches([event.raster], inventory, tmp_path / "dsB", round_two).out_dir
    model_2 = train_model([data_a, data_b], tmp_path / "run2")
    detect(event.raster, model_2, tmp_path / "det2.gpkg", None, DetectOptions(min_area_m2=50.0))
    found = geometries(tmp_path / "det2.gpkg")
    still_rejected = [g for g in rejected if any(d.Intersects(g) for d in found)]
    still_accepted = [g for g in accepted if any(d.Intersects(g) for d in found)]
    assert still_rejected == [], f"{len(still_rejected)} of {len(rejected)} rejected places still detected"
    assert len(still_accepted) >= 0.9 * len(accepted), f"{len(still_accepted)} of {len(accepted)} accepted"

