"""Polygonize stopped by a signal: the stop is raised as itself once GDAL has stopped, with nothing printed."""

from __future__ import annotations

import numpy as np
import pytest

from lmhld_qgis.core.errors import Terminated, hold_signals, raise_or_hold
from lmhld_qgis.core.progress import NullProgress
from lmhld_qgis.core.vectorize import VectorizeOptions, polygonize

from ..helpers import write_raster


def test_a_signal_on_the_first_line_of_gdals_callback_stops_polygonize_as_itself_with_no_traceback(
        tmp_path, capfd, monkeypatch):
    """A signal landing on the first line of GDAL's progress callback, before its `try`, used to escape it: GDAL's
    binding printed a traceback, the stop was lost and the command failed with "RuntimeError: User terminated"
    (exit 1) instead of stopping (exit 130)."""
    from lmhld_qgis.core.atomic import GdalStop

    calls = []
    original = GdalStop.__call__

    def signal_first(self, complete, message, data):
        calls.append(complete)
        if len(calls) == 1:
            raise_or_hold(Terminated("SIGTERM"))  # what the command line's handler does, here outside any try
        return original(self, complete, message, data)

    monkeypatch.setattr(GdalStop, "__call__", signal_first)
    mask = np.zeros((400, 400), np.uint8)
    mask[::4, ::4] = 1  # many regions: Polygonize reports its progress several times
    mask_tif = write_raster(tmp_path / "mask.tif", mask)
    prob_tif = write_raster(tmp_path / "prob.tif", mask.astype(np.float32))
    with pytest.raises(Terminated, match="SIGTERM"):
        polygonize(mask_tif, prob_tif, tmp_path / "out.gpkg", "landslides", VectorizeOptions(), source="s",
                   model="m", progress=NullProgress())
    assert len(calls) == 1  # GDAL stopped at the callback the signal landed in
    assert "Traceback" not in capfd.readouterr().err
    assert not (tmp_path / "out.gpkg").exists()


def test_python_s_own_ctrl_c_in_gdals_callback_stops_polygonize_as_a_keyboard_interrupt(tmp_path, monkeypatch):
    """From Python (no command's handler), Ctrl-C raises on the callback's first line, outside its `try`: GDAL
    made "RuntimeError: User terminated" of it, which a notebook's `except KeyboardInterrupt` did not catch."""
    from lmhld_qgis.core.atomic import GdalStop

    def interrupted(self, complete, message, data):
        raise KeyboardInterrupt

    monkeypatch.setattr(GdalStop, "__call__", interrupted)
    mask = np.zeros((400, 400), np.uint8)
    mask[::4, ::4] = 1
    mask_tif = write_raster(tmp_path / "mask.tif", mask)
    prob_tif = write_raster(tmp_path / "prob.tif", mask.astype(np.float32))
    with pytest.raises(KeyboardInterrupt):
        polygonize(mask_tif, prob_tif, tmp_path / "out.gpkg", "landslides", VectorizeOptions(), source="s",
                   model="m", progress=NullProgress())
    assert not (tmp_path / "out.gpkg").exists()


def test_signals_are_raised_at_once_outside_a_hold_and_at_its_end_inside_one():
    with pytest.raises(KeyboardInterrupt):
        raise_or_hold(KeyboardInterrupt())
    reached_the_end_of_the_block = False
    with pytest.raises(Terminated), hold_signals():
        raise_or_hold(Terminated("SIGHUP"))
        reached_the_end_of_the_block = True
    assert reached_the_end_of_the_block
    with hold_signals():
        pass  # nothing held: nothing raised


def test_a_minimum_of_n_pixels_keeps_a_region_of_n_pixels(tmp_path):
    """Areas are true (equal-area) areas: 2 pixels of 10 m near Kaikoura measure 199.94 m2, and every 2-pixel
    polygon was dropped under the model's minimum of '2 px (200 m2)'."""
    from osgeo import ogr

    mask = np.zeros((20, 20), np.uint8)
    mask[5, 5:7] = 1  # 2 pixels
    mask[12, 12] = 1  # 1 pixel
    where = {"epsg": 32759, "origin": (704970.0, 5315360.0), "pixel": (10.0, -10.0)}
    mask_tif = write_raster(tmp_path / "mask.tif", mask, **where)
    prob_tif = write_raster(tmp_path / "prob.tif", mask.astype(np.float32), **where)
    polygonize(mask_tif, prob_tif, tmp_path / "out.gpkg", "landslides", VectorizeOptions(min_area_m2=200.0),
               source="s", model="m")
    ds = ogr.Open(str(tmp_path / "out.gpkg"))
    areas = [f["area_m2"] for f in ds.GetLayer("landslides")]
    assert areas == [pytest.approx(200.0, rel=0.005)]  # the 2-pixel region, not the single pixel


@pytest.mark.parametrize("shape", ["square", "l_shape"])
def test_a_south_up_raster_s_polygons_carry_their_probabilities(tmp_path, shape):
    """A south-up GeoTIFF (positive pixel height): every polygon's mean and max probability was NULL, so the
    default minimum mean probability dropped them all ('0 polygons kept') without a word."""
    from osgeo import ogr

    mask = np.zeros((20, 20), np.uint8)
    mask[4:8, 4:8] = 1
    if shape == "l_shape":
        mask[4:6, 6:8] = 0  # not its bounding box: the polygon is rasterized to find its pixels
    prob = np.where(mask > 0, np.linspace(0.6, 0.9, 20, dtype=np.float32)[:, None], np.float32(0.1))
    stats = {}
    for name, rows, pixel, origin in (("north", slice(None), -10.0, 5315360.0),
                                      ("south", slice(None, None, -1), 10.0, 5315360.0 - 200.0)):
        where = {"epsg": 32759, "origin": (704970.0, origin), "pixel": (10.0, pixel)}
        mask_tif = write_raster(tmp_path / f"mask_{name}.tif", mask[rows], **where)
        prob_tif = write_raster(tmp_path / f"prob_{name}.tif", prob[rows], **where)
        out = tmp_path / f"{name}.gpkg"
        report = polygonize(mask_tif, prob_tif, out, "landslides", VectorizeOptions(min_mean_prob=0.5),
                            source="s", model="m")
        assert report.kept == 1, report.dropped
        ds = ogr.Open(str(out))
        feature = next(iter(ds.GetLayer("landslides")))
        stats[name] = (feature["mean_prob"], feature["max_prob"], *feature.GetGeometryRef().GetEnvelope())
        ds = feature = None
    assert stats["south"] == pytest.approx(stats["north"])
    assert stats["north"][1] == pytest.approx(prob[mask > 0].max())


def test_specks_are_dropped_unmeasured_with_the_same_result_and_polygonize_reports_progress(tmp_path, monkeypatch):
    """A noisy model's one-pixel specks were each repaired, filled and measured before being dropped (most of 9
    minutes on a 38 Mpx scene, with the bar standing still at 85 %): they are dropped by their grid area first,
    with the same polygons and the same counts, and GDAL's polygonize moves the progress."""
    from osgeo import ogr

    from lmhld_qgis.core import vectorize

    rng = np.random.default_rng(3)
    mask = (rng.random((120, 120)) > 0.7).astype(np.uint8)  # specks of every size
    mask[40:60, 40:70] = 1
    where = {"epsg": 32759, "origin": (704970.0, 5315360.0), "pixel": (10.0, -10.0)}
    mask_tif = write_raster(tmp_path / "mask.tif", mask, **where)
    prob_tif = write_raster(tmp_path / "prob.tif", np.where(mask > 0, 0.8, 0.1).astype(np.float32), **where)
    options = VectorizeOptions(min_area_m2=400.0, fill_holes_m2=400.0)
    measured = []
    clean = vectorize.Cleaner.clean

    def counted(self, geometry):
        measured.append(1)
        return clean(self, geometry)

    monkeypatch.setattr(vectorize.Cleaner, "clean", counted)
    fractions: list[float] = []

    class Fractions(NullProgress):
        def set_fraction(self, f):
            fractions.append(f)

    runs = {}
    for name, margin in (("measured", 0.0), ("prefiltered", vectorize.SPECK_MARGIN)):
        monkeypatch.setattr(vectorize, "SPECK_MARGIN", margin)
        measured.clear()
        report = polygonize(mask_tif, prob_tif, tmp_path / f"{name}.gpkg", "landslides", options, source="s",
                            model="m", progress=Fractions())
        ds = ogr.Open(str(tmp_path / f"{name}.gpkg"))
        runs[name] = (report.kept, report.dropped, report.holes_filled, len(measured),
                      sorted(f.GetGeometryRef().ExportToWkt() for f in ds.GetLayer("landslides")))
        ds = None
    assert runs["prefiltered"][:3] == runs["measured"][:3] and runs["prefiltered"][4] == runs["measured"][4]
    assert runs["measured"][1]["below the minimum area"] > 100
    assert runs["prefiltered"][3] < runs["measured"][3] / 3  # most specks never reach the Cleaner
    assert any(0 < f < 0.4 for f in fractions)  # GDAL's own fraction of the polygonize step
