"""Evaluation: on a dataset split (pixel metrics, micro-averaged, per area) and over a whole scene (detect, then
compare with the rasterized inventory: metrics, an error map, and object-level figures).

Object-level rule: an inventory polygon counts as detected when detected polygons cover at least `match` (default
50%) of its area; a detected polygon counts as correct when inventory polygons cover at least `match` of its area.
"""

from __future__ import annotations

import contextlib
import math
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .atomic import gdal_checked
from .backends import Backend, load_backend
from .datasets import PatchDataset, open_dataset
from .errors import LmhldError
from .grid import Window
from .metrics import Confusion
from .modelcard import ModelCard
from .outputs import check_outputs
from .progress import NullProgress, Progress, SubProgress, check_cancelled

ERROR_CODES = {"tp": 1, "fp": 2, "fn": 3, "tn": 4}  # 0 = nodata / outside


def model_bands_for(card: ModelCard, names: Sequence[str], source: str) -> list[int] | None:
    """0-based dataset bands feeding the model (None: all of them, in order)."""
    from .bands import match_model_bands

    indices, _ = match_model_bands(card.bands, names, f"{source} ({', '.join(names)})",
                                   "evaluate on data exported with the model's bands")
    return None if indices == list(range(len(names))) else indices


def _predict_sample(backend: Backend, image: np.ndarray) -> np.ndarray:
    """Probability for one (C, H, W) normalised image, padded to the model's size multiple if needed."""
    card = backend.card
    m = card.size_multiple if card.dynamic_size else None
    h, w = image.shape[1:]
    if m is None:
        if (h, w) != (card.patch_size, card.patch_size):
            raise LmhldError(f"this model takes {card.patch_size} px tiles; samples are {h} x {w}")
        return backend.predict(image[None])[0]
    ph, pw = (-h) % m, (-w) % m
    if ph or pw:
        image = np.pad(image, ((0, 0), (0, ph), (0, pw)), mode="reflect")
    return backend.predict(image[None])[0][:h, :w]


def evaluate_dataset(model: str | Path | Backend, data: str | Path | Sequence[str | Path], split: str = "test",
                     *, threshold: float | None = None, provider: str = "auto",
                     progress: Progress | None = None) -> dict[str, Any]:
    """Pixel metrics of a model on a dataset split; several folders give per-area figures and their total."""
    progress = progress or NullProgress()
    backend = load_backend(model, provider) if isinstance(model, str | Path) else model
    card = backend.card
    thr = card.threshold if threshold is None else threshold
    roots = [data] if isinstance(data, str | Path) else list(data)
    datasets: list[PatchDataset] = [open_dataset(r, split) for r in roots]
    mean = np.asarray(card.mean, np.float32)[:, None, None]
    std = np.asarray(card.std, np.float32)[:, None, None]
    std = np.where(std > 0, std, 1)
    total, per_area = Confusion(), {}
    n_all = sum(len(d) for d in datasets)
    done = 0
    for ds, root in zip(datasets, roots, strict=True):
        bands = model_bands_for(card, ds.band_names, str(root))
        conf = Confusion()
        for sample in ds:
            if sample.mask is None:
                raise LmhldError(f"{root} split {split!r} has no masks; evaluation needs labelled data")
            image = sample.image if bands is None else sample.image[bands]
            prob = _predict_sample(backend, (image - mean) / std)
            conf = conf + Confusion.of(prob >= thr, sample.mask)
            done += 1
            if done % 16 == 0:
                check_cancelled(progress)
                progress.set_fraction(done / max(n_all, 1))
        per_area[ds.name or Path(root).name] = {**conf.scores(), "patches": len(ds)}
        total = total + conf
    result = {**total.scores(), "split": split, "threshold": thr, "patches": n_all, "model": card.architecture,
              "provider": backend.provider, "averaging": "micro over all pixels", "per_area": per_area}
    progress.set_fraction(1.0)
    return result


def evaluate_scene(model: str | Path | Backend, raster: str | Path, inventory: str | Path, *,
                   error_map: str | Path | None = None, json_out: str | Path | None = None,
                   polygons_out: str | Path | None = None, prob_out: str | Path | None = None, match: float = 0.5,
                   options=None, progress: Progress | None = None) -> dict[str, Any]:
    """Detect over a scene and compare with its inventory: pixel metrics, error map, object-level figures."""
    from .atomic import scratch_dir
    from .detect import DetectOptions, detect
    from .preflight import require_overlap
    from .raster import read_raster_info
    from .report import write_json
    from .vector import read_polygons

    progress = progress or NullProgress()
    if not 0 < match <= 1:
        raise LmhldError(f"match must be in (0, 1], got {match}")
    check_outputs(inputs={"model": model, "raster": raster, "inventory": inventory},
                  files={"error_map": error_map, "json_out": json_out, "polygons_out": polygons_out,
                         "prob_out": prob_out}, styled=("error_map", "prob_out"))
    truth = read_polygons(inventory)
    require_overlap(truth, read_raster_info(raster), f"inventory {Path(inventory).name}")
    with scratch_dir("evaluate") as tmp:
        polys = Path(polygons_out) if polygons_out else Path(tmp) / "detected.gpkg"
        prob = Path(prob_out) if prob_out else Path(tmp) / "probability.tif"
        det = detect(raster, model, polys, prob, options or DetectOptions(), progress=SubProgress(progress, 0, 0.7))
        conf = _compare_pixels(prob, truth, det.threshold, error_map, SubProgress(progress, 0.7, 0.9))
        objects = _compare_objects(polys, truth, match)
    result = {**conf.scores(), **objects, "threshold": det.threshold, "provider": det.provider,
              "averaging": "micro over all valid pixels of the scene",
              "object_rule": f"matched when the other side covers >= {match:.0%} of the polygon's area"}
    if json_out:
        write_json(json_out, result)
    progress.set_fraction(1.0)
    return result


@gdal_checked
def _compare_pixels(prob_path: Path, truth, threshold: float, error_map: str | Path | None,
                    progress: Progress) -> Confusion:
    """Stream the probability raster by row blocks against the rasterized inventory (and write the error map)."""
    import rasterio

    from .atomic import atomic_file
    from .rasterize import InventoryBurner
    from .styles import ERRORS_QML, write_raster_style
    from .vector import srs_from_wkt

    total = Confusion()
    with rasterio.open(prob_path) as src, warnings.catch_warnings(), contextlib.ExitStack() as stack:
        warnings.simplefilter("ignore")
        t = src.transform
        burner = InventoryBurner(truth, srs_from_wkt(src.crs.to_wkt(), "raster"), (t.a, t.b, t.c, t.d, t.e, t.f))
        dst = None
        if error_map:
            tmp = stack.enter_context(atomic_file(error_map))
            dst = stack.enter_context(rasterio.open(tmp, "w", driver="GTiff", width=src.width, height=src.height,
                                                    count=1, dtype="uint8", nodata=0, crs=src.crs, transform=t,
                                                    tiled=True, compress="deflate"))
            dst.set_band_description(1, "1 TP, 2 FP, 3 FN, 4 TN")
        for row in range(0, src.height, 256):
            h = min(256, src.height - row)
            win = Window(row, 0, h, src.width)
            p = src.read(1, window=win.to_rasterio())
            valid = p >= 0
            pred, gt = p >= threshold, burner.burn(win).astype(bool)
            total = total + Confusion.of(pred, gt, valid)
            if dst is not None:
                codes = np.where(pred, np.where(gt, 1, 2), np.where(gt, 3, 4)).astype(np.uint8)
                dst.write(np.where(valid, codes, 0)[None], window=win.to_rasterio())
            progress.set_fraction((row + h) / src.height)
        burner.close()
        if total.total == 0:  # every pixel nodata: no score means anything (1.0 by the empty-case convention)
            raise LmhldError("the raster has no valid pixel where it was evaluated (all nodata); nothing to score")
    if error_map:
        write_raster_style(error_map, ERRORS_QML)
    return total


def _compare_objects(detected_gpkg: Path, truth, match: float) -> dict[str, Any]:
    """Share of inventory polygons detected and of detected polygons that match a landslide."""
    from osgeo import ogr

    from .vector import PolygonSet, polygons_from_wkb

    ds = ogr.Open(str(detected_gpkg))
    lyr = ds.GetLayer("landslides")
    srs = lyr.GetSpatialRef()
    wkbs = [bytes(f.GetGeometryRef().ExportToIsoWkb()) for f in lyr]
    if not wkbs:
        return {"n_inventory": len(truth.geometries), "n_detected": 0, "inventory_detected": 0.0,
                "detected_correct": math.nan}
    detected: PolygonSet = polygons_from_wkb(wkbs, range(len(wkbs)), srs.ExportToWkt(), what="detections")
    truth_geoms = _to_srs(truth, srs)
    hit = _covered_share(truth_geoms, detected.geometries, match)
    correct = _covered_share(detected.geometries, truth_geoms, match)
    return {"n_inventory": len(truth_geoms), "n_detected": len(detected.geometries),
            "inventory_detected": hit, "detected_correct": correct}


def _to_srs(polys, srs) -> list:
    from osgeo import osr

    if polys.srs.IsSame(srs):
        return polys.geometries
    ct = osr.CoordinateTransformation(polys.srs, srs)
    out = []
    for g in polys.geometries:
        g = g.Clone()
        g.Transform(ct)
        out.append(g)
    return out


def _covered_share(subjects: list, others: list, match: float) -> float:
    """Share of `subjects` whose area is covered by `others` at least `match` (envelope pre-filter)."""
    if not subjects:
        return math.nan
    env = np.array([o.GetEnvelope() for o in others]) if others else np.zeros((0, 4))
    matched = 0
    for g in subjects:
        minx, maxx, miny, maxy = g.GetEnvelope()
        near = np.flatnonzero((env[:, 0] <= maxx) & (env[:, 1] >= minx) & (env[:, 2] <= maxy) & (env[:, 3] >= miny))
        covered = sum(g.Intersection(others[i]).GetArea() for i in near)
        if covered >= match * g.GetArea():
            matched += 1
    return matched / len(subjects)
