"""Evaluation: on a dataset split (pixel metrics micro-averaged, per area, and object figures) and over a whole
scene (detect, then compare the delivered polygons with the rasterized inventory: pixel metrics, an error map,
object figures, and the raw figures of the probability cut before the post-processing).

Object rule (core.metrics.ObjectCounts): an inventory landslide counts as detected when detections cover at least
`match` (default 50%) of its area; a detection counts as correct when the inventory covers at least `match` of
its area. On a scene the objects are the polygons; on dataset patches they are the 4-connected regions of each
patch's masks (a landslide cut by a patch border counts once per patch it appears in), detected regions below the
model's minimum landslide area left out as detection leaves them out (`object_min_pixels` per area).
"""

from __future__ import annotations

import contextlib
import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from .atomic import gdal_checked, scratch_dir, transactional
from .backends import Backend, Provider, load_backend
from .datasets import PatchDataset, open_dataset
from .datasets.base import check_uniform
from .datasets.detect import has_splits
from .errors import LmhldError
from .grid import Window
from .metrics import Confusion, ObjectCounts
from .modelcard import ModelCard
from .outputs import check_outputs
from .progress import Progress, SubProgress, check_cancelled, reader_progress
from .vector import PolygonSet, polygonal, skipped_text, surface_area, without_fids

if TYPE_CHECKING:
    from osgeo import ogr, osr

    from .detect import DetectOptions, DetectResult

ERROR_CODES = {"tp": 1, "fp": 2, "fn": 3, "tn": 4}  # 0 = nodata / outside
RAW_KEYS = ("precision", "recall", "f1", "iou", "tp", "fp", "fn", "tn")


def model_bands_for(card: ModelCard, names: Sequence[str], source: str,
                    progress: Progress | None = None) -> list[int] | None:
    """0-based dataset bands feeding the model (None: all of them, in order); matched by position when the names
    say nothing of the model's, which `progress` is told (as detection tells it)."""
    from .bands import match_model_bands

    indices, by_position = match_model_bands(card.bands, names, source,  # which names its bands itself
                                             "score data that has the model's bands (patches exported with them, "
                                             "or a release of the sensor the model was trained on)")
    if by_position and progress is not None:
        progress.warn(f"the bands of {source} ({', '.join(names)}) are not named as the model's "
                      f"({', '.join(card.bands)}); using them in order")
    return None if indices == list(range(len(names))) else indices


def _predict_sample(backend: Backend, image: NDArray[Any]) -> NDArray[Any]:
    """Probability for one (C, H, W) normalised image, padded to the model's size multiple if needed."""
    card = backend.card
    m = card.size_multiple if card.dynamic_size else None
    h, w = image.shape[1:]
    if m is None:
        if (h, w) != (card.patch_size, card.patch_size):
            raise LmhldError(f"this model takes {card.patch_size} px tiles; samples are {h} x {w}")
        return np.asarray(backend.predict(image[None])[0])
    ph, pw = (-h) % m, (-w) % m
    if ph or pw:
        image = np.pad(image, ((0, 0), (0, ph), (0, pw)), mode="reflect")
    return np.asarray(backend.predict(image[None])[0][:h, :w])


@dataclass
class _AreaCounts:
    pixels: Confusion = field(default_factory=Confusion)
    objects: ObjectCounts = field(default_factory=ObjectCounts)

    def add(self, pred: NDArray[Any], truth: NDArray[Any], match: float, min_pixels: int = 0,
            valid: NDArray[Any] | None = None) -> None:
        self.pixels = self.pixels + Confusion.of(pred, truth, valid)
        self.objects = self.objects + ObjectCounts.of(pred, truth, match, valid, min_pixels=min_pixels)

    def scores(self) -> dict[str, float | int]:
        return {**self.pixels.scores(), **self.objects.scores()}


def evaluate_dataset(model: str | Path | Backend, data: str | Path | Sequence[str | Path], split: str = "test",
                     *, threshold: float | None = None, provider: Provider = "auto", match: float = 0.5,
                     progress: Progress | None = None, names: Sequence[str] | None = None) -> dict[str, Any]:
    """Pixel metrics (micro-averaged) and object figures of a model on a dataset split; several folders give
    per-area figures and their total. `per_area` is keyed by `names` (one per folder) when given, else by each
    dataset's own name (its folder's where two share one: two Landslide4Sense folders are both 'landslide4sense')."""
    from .detect import Normalisation
    from .postprocess import check_range
    from .preflight import require_distinct

    _check_match(match)
    check_range("threshold", threshold, 0.0, 1.0)
    roots = [data] if isinstance(data, str | Path) else list(data)
    if not roots:  # nothing scored is not a perfect score
        raise LmhldError("no dataset folder given: give one or more folders of patches to score")
    require_distinct(roots, "dataset folder")  # its figures would count twice in the total, once per area
    if names is not None and len(names) != len(roots):
        raise LmhldError(f"{len(names)} name(s) for {len(roots)} dataset folder(s): give one name per folder")
    progress = reader_progress(progress)
    backend = load_backend(model, provider) if isinstance(model, str | Path) else model
    card = backend.card
    thr = card.threshold if threshold is None else threshold
    datasets: list[PatchDataset] = [open_dataset(r, split) for r in roots]
    n_all = sum(len(d) for d in datasets)
    total, per_area, done = _AreaCounts(), {}, 0
    min_pixels: dict[str, int] = {}
    trained_on = [n for n in card.training_dataset.split(" -> ") if n]  # the datasets' names, in stage order
    keys = list(names) if names is not None else _area_keys(datasets, roots)
    for ds, root, key in zip(datasets, roots, keys, strict=True):
        name = ds.name or Path(root).name
        if not has_splits(root) and trained_on and name not in trained_on:
            progress.warn(f"{root} has no splits: all its {len(ds)} patches are scored as {split!r}; the model card "
                          f"names {', '.join(trained_on)} as its training data, not {name}")
        elif not has_splits(root):
            progress.warn(f"{root} has no splits: all its {len(ds)} patches are scored as {split!r}, including any "
                          "the model was trained on (training on such a folder holds out a fifth of it, for "
                          "validation only); score a folder the model never saw, or an exported dataset's test split")
        missing = ds.unlabelled()
        if missing:
            raise LmhldError(f"{root}: {len(missing)} of its {len(ds)} {split!r} samples have no mask (first: "
                             f"{missing[0]}); evaluation needs labelled data: give each image its mask, or score "
                             "another split")
        for note in check_uniform(ds, f"{root} ({split!r} split)", same_size=False):  # each patch runs alone
            progress.warn(note)
        bands = model_bands_for(card, ds.band_names, str(root), progress)
        divisor = units_divisor(card, ds, bands)
        for note in _values_far(card, ds, bands, divisor):
            progress.warn(f"{root} ({split!r} split): {note}")
        norm = Normalisation.of(card, divisor)
        area = _AreaCounts()
        min_pixels[key] = _min_object_pixels(card, ds.resolution_m)
        missing_pixels = missing_patches = 0
        for sample in ds:
            if sample.mask is None:
                raise LmhldError(f"{root} split {split!r} has no masks; evaluation needs labelled data")
            image = sample.image if bands is None else sample.image[bands]
            valid = _valid_pixels(image, ds.nodata)  # as scene evaluation, missing pixels are scored by no one
            if valid is not None:
                missing_pixels += int(valid.size - np.count_nonzero(valid))
                missing_patches += 1
            area.add(_predict_sample(backend, norm.apply(image, valid)) >= thr, sample.mask, match,
                     min_pixels[key], valid)  # missing pixels enter the model at the mean, as in detection
            done += 1
            if done % 16 == 0:
                check_cancelled(progress)
                progress.set_fraction(done / max(n_all, 1))
        if missing_pixels:
            progress.warn(f"{root}: {missing_pixels} pixel(s) of {missing_patches} {split!r} patch(es) are missing "
                          "(NaN, infinite or nodata in a band) and are left out of the scores")
        per_area[key] = {**area.scores(), "patches": len(ds), "object_min_pixels": min_pixels[key],
                          "missing_pixels": missing_pixels}
        total.pixels, total.objects = total.pixels + area.pixels, total.objects + area.objects
    result = {**total.scores(), "split": split, "threshold": thr, "patches": n_all, "model": card.architecture,
              "provider": backend.provider, "averaging": "micro over all pixels", "object_rule": _rule(match),
              "per_area": per_area, "inputs": {"model": _model_file(model), "data": [str(r) for r in roots]}}
    progress.set_fraction(1.0)
    return result


VALUE_SAMPLES = 16  # patches spread over a split whose typical values are compared with the model's training


def _values_far(card: ModelCard, ds: PatchDataset, bands: Sequence[int] | None,
                divisor: list[float] | None) -> list[str]:
    """Detection's warning of a scene scaled otherwise than the training imagery, for a dataset: a model trained
    on 8-bit patches scored on a 16-bit copy of them called nearly every pixel a landslide, and its F1 read as a
    poor model's rather than as wrong input."""
    from .scene_check import patch_values, values_far_from_training

    if not len(ds):
        return []
    picked = list(bands) if bands is not None else list(range(ds.num_bands))
    at = sorted({int(i) for i in np.linspace(0, len(ds) - 1, min(VALUE_SAMPLES, len(ds)))})
    values = patch_values([ds[i].image[picked] for i in at], [b + 1 for b in picked], ds.nodata)
    return values_far_from_training(card, values, divisor, what="patches")


def _area_keys(datasets: Sequence[PatchDataset], roots: Sequence[str | Path]) -> list[str]:
    """Each dataset's name, or its folder's path where two datasets share a name (their figures would overwrite
    each other)."""
    own = [ds.name or Path(r).name for ds, r in zip(datasets, roots, strict=True)]
    return [n if own.count(n) == 1 else str(r) for n, r in zip(own, roots, strict=True)]


def _valid_pixels(image: NDArray[Any], nodata: float | None) -> NDArray[np.bool_] | None:
    """Where every band of a (C, H, W) patch holds a value (not NaN, infinite or the dataset's nodata); None when
    all do."""
    valid = np.isfinite(image).all(axis=0)
    if nodata is not None and not math.isnan(nodata):
        valid &= (image != nodata).all(axis=0)
    return None if valid.all() else valid


def _model_file(model: str | Path | Backend) -> str:
    """The model file a report was made with (what tells reports of a batch apart), or the loaded model's name."""
    return str(model) if isinstance(model, str | Path) else model.card.architecture


def _min_object_pixels(card: ModelCard, resolution_m: float | None) -> int:
    """The minimum landslide area detection applies by default, in pixels of a dataset: detected regions smaller
    than this are specks detection would drop, so object figures leave them out. Pixel figures keep them (the
    paper's metric is the raw cut). Without a resolution, the model's own minimum cannot be converted: the default
    share of its patch then stands in."""
    from .postprocess import default_min_area, default_min_area_px

    if not resolution_m:
        return default_min_area_px(card.patch_size)
    min_area_m2, _ = default_min_area(card, resolution_m ** 2)
    return max(1, math.ceil(min_area_m2 / resolution_m ** 2 - 1e-9))


def _check_match(match: float) -> None:
    if not 0 < match <= 1:
        raise LmhldError(f"match must be in (0, 1], got {match}")


def _rule(match: float) -> str:
    return f"matched when the other side covers >= {match:.0%} of the object's area"


@transactional
def evaluate_scene(model: str | Path | Backend, raster: str | Path, inventory: str | Path, *,
                   layer: str | None = None, error_map: str | Path | None = None, json_out: str | Path | None = None,
                   polygons_out: str | Path | None = None, prob_out: str | Path | None = None, match: float = 0.5,
                   options: DetectOptions | None = None, progress: Progress | None = None,
                   inventory_name: str = "") -> dict[str, Any]:
    """Detect over a scene and compare the delivered polygons with its inventory: pixel metrics, error map,
    object figures; `raw` holds the pixel figures of the probability cut before the polygons were cleaned.
    `layer`: the inventory's layer in a file of several (default: the first). `inventory_name`: how messages name
    the inventory where `inventory` is a copy (QGIS hands its layer over so); by default the file's name."""
    from .detect import detect
    from .preflight import require_overlap
    from .raster import raster_footprint, read_raster_info
    from .report import write_json
    from .vector import read_polygons

    progress = reader_progress(progress)
    name = inventory_name or Path(inventory).name
    _check_match(match)
    check_outputs(inputs={"model": model, "raster": raster, "inventory": inventory},
                  files={"error map": error_map, "report": json_out, "polygons": polygons_out,
                         "probability raster": prob_out}, styled=("error map", "probability raster"))
    truth = read_polygons(inventory, layer, allow_empty=True)  # a scene without landslides is a fair reference
    for note in reference_notes(truth, name):
        progress.warn(note)
    info = read_raster_info(raster)
    require_overlap(truth, info, f"inventory {name}")
    with scratch_dir("evaluate") as tmp:
        polys = Path(polygons_out) if polygons_out else Path(tmp) / "detected.gpkg"
        prob = Path(prob_out) if prob_out else Path(tmp) / "probability.tif"
        det = detect(raster, model, polys, prob, options, progress=SubProgress(progress, 0, 0.7))
        detected = _detected_polygons(polys, truth)
        scores = _compared(detected, truth, prob, det.threshold, raster_footprint(info), error_map, match, name,
                           SubProgress(progress, 0.7, 0.95))
    result = {**scores, **_detection_facts(det),
              "averaging": "micro over all valid pixels of the scene", "object_rule": _rule(match),
              "inputs": {"model": _model_file(model), "scene": str(raster),
                         "inventory": inventory_name or str(inventory)}}
    if json_out:
        write_json(json_out, result)
    progress.set_fraction(1.0)
    return result


def _compared(detected: PolygonSet, truth: PolygonSet, prob: Path, threshold: float, footprint: ogr.Geometry,
              error_map: str | Path | None, match: float, name: str, progress: Progress) -> dict[str, Any]:
    """Pixel and object figures of `detected` polygons against the inventory on the probability raster's grid
    (its valid pixels), with `raw`: the probability cut at `threshold`; said: the landslides not counted."""
    pixels = _compare_pixels(prob, detected, truth, threshold, error_map, progress)
    inside, outside = _within_scene(_to_srs(truth, detected.srs), footprint)
    inside, valid_shares, on_nodata = _on_valid_pixels(inside, prob)
    objects = _compare_objects(detected, inside, match, valid_shares)
    if outside:
        progress.info(f"{outside} inventory polygon(s) lie outside the scene and are not counted; those across its "
                      "edge count by their part inside")
    if on_nodata:
        progress.info(f"{on_nodata} inventory polygon(s) lie wholly on the scene's nodata pixels, where nothing can "
                      "be detected, and are not counted as missed")
    if pixels.inventory_px == 0 and truth.geometries:
        progress.warn(f"no inventory polygon of {name} covers a valid pixel of the scene: recall "
                      "and F1 say nothing; check that the inventory belongs to this raster")
    return {**pixels.delivered.scores(), "raw": {k: pixels.raw.scores()[k] for k in RAW_KEYS}, **objects.scores()}


@transactional
def evaluate_detections(detections: str | Path, probability: str | Path, inventory: str | Path, *,
                        layer: str | None = None, detections_layer: str | None = None,
                        error_map: str | Path | None = None, json_out: str | Path | None = None, match: float = 0.5,
                        progress: Progress | None = None, inventory_name: str = "", detections_name: str = "",
                        rejected_before: int = 0) -> dict[str, Any]:
    """Score polygons already delivered (a detection's, reviewed, edited or digitized over it) against an inventory,
    on the grid and valid pixels of the detection's probability raster, without running a model: the figures of
    evaluate_scene for the polygons as they are now. Detections a review rejected (their `review` field) are left
    out; `raw` is the probability raster cut at the threshold it records. `rejected_before`: rejected detections
    the caller left out already (QGIS reads a layer with its unsaved review decisions)."""
    from .preflight import require_overlap
    from .rank import require_probability_raster
    from .raster import raster_footprint, read_raster_info
    from .rasterwriter import read_threshold
    from .report import write_json
    from .review import REJECTED, REVIEW_FIELD
    from .vector import read_polygons

    progress = reader_progress(progress)
    name, det_name = inventory_name or Path(inventory).name, detections_name or Path(detections).name
    _check_match(match)
    check_outputs(inputs={"detections": detections, "probability raster": probability, "inventory": inventory},
                  files={"error map": error_map, "report": json_out}, styled=("error map",))
    truth = read_polygons(inventory, layer, allow_empty=True)
    for note in reference_notes(truth, name):
        progress.warn(note)
    info = read_raster_info(probability)
    require_probability_raster(probability)
    require_overlap(truth, info, f"inventory {name}")
    found = read_polygons(detections, detections_layer, role="detections", allow_empty=True)
    rejected = _fids_where(detections, detections_layer, REVIEW_FIELD, REJECTED)
    if rejected:
        found = without_fids(found, rejected)
        progress.info(f"{len(rejected)} detection(s) of {det_name} rejected in a review are left out")
    recorded = read_threshold(probability)
    if recorded is None:
        progress.info(f"{Path(probability).name} records no threshold: its raw figures cut it at 0.5")
    threshold = 0.5 if recorded is None else recorded
    scores = _compared(found, truth, Path(probability), threshold, raster_footprint(info), error_map, match, name,
                       SubProgress(progress, 0.0, 0.95))
    result = {**scores, "threshold": threshold, "rejected_left_out": len(rejected) + rejected_before,
              "averaging": "micro over all valid pixels of the probability raster", "object_rule": _rule(match),
              "inputs": {"detections": detections_name or str(detections), "probability": str(probability),
                         "inventory": inventory_name or str(inventory)}}
    if json_out:
        write_json(json_out, result)
    progress.set_fraction(1.0)
    return result


def _fids_where(path: str | Path, layer: str | None, field_name: str, value: str) -> set[int]:
    """The feature ids whose `field_name` is `value` (none where the layer has no such field)."""
    from .vector import open_layer

    ds, lyr = open_layer(path, layer)
    try:
        if lyr.GetLayerDefn().GetFieldIndex(field_name) < 0:
            return set()
        return {f.GetFID() for f in lyr if f.GetField(field_name) == value}
    finally:
        del lyr, ds


def reference_notes(truth: PolygonSet, name: str) -> list[str]:
    """What the scoring changed or lacks in a reference inventory, said once: geometries repaired or skipped (their
    raw GEOS warnings are silenced: core.vector.validity_reason), and a reference without landslides."""
    notes = []
    if truth.n_features == 0:
        notes.append(f"inventory {name} holds no landslide: the scene is scored as landslide-free (every detection "
                     "is a false positive: precision and F1 are 0, recall has nothing to find). If it has "
                     "landslides, digitize them and save the layer first")
    if truth.n_repaired:
        notes.append(f"{truth.n_repaired} invalid geometries of inventory {name} were repaired for scoring "
                     f"(`lmhld validate {name}` names them)")
    if truth.skipped:
        notes.append(f"{truth.n_skipped} feature(s) of inventory {name} were skipped: {skipped_text(truth.skipped)}")
    return notes


def _detection_facts(det: DetectResult) -> dict[str, Any]:
    return {"threshold": det.threshold, "provider": det.provider, "postprocess": det.postprocess,
            "dropped": det.dropped, "holes_filled": det.holes_filled, "tta": det.tta,
            "context": det.context}


def _detected_polygons(path: Path, truth: PolygonSet) -> PolygonSet:
    """The detections as a PolygonSet (an empty one when none was written)."""
    from osgeo import ogr

    from .vector import polygons_from_wkb

    ds = ogr.Open(str(path))
    layer = ds.GetLayer("landslides")
    wkt = layer.GetSpatialRef().ExportToWkt()
    wkbs: list[bytes | None] = [bytes(f.GetGeometryRef().ExportToIsoWkb()) for f in layer]
    del ds
    return polygons_from_wkb(wkbs, range(len(wkbs)), wkt, what="detections", allow_empty=True)


@dataclass
class _PixelComparison:
    delivered: Confusion  # the polygons as written
    raw: Confusion  # the probability at the threshold, before cleaning
    inventory_px: int  # inventory pixels over the valid scene


@gdal_checked
def _compare_pixels(prob_path: Path, detected: PolygonSet, truth: PolygonSet, threshold: float,
                    error_map: str | Path | None, progress: Progress) -> _PixelComparison:
    """Stream the probability raster by row blocks against the rasterized inventory and detections (and write
    the error map of the detections)."""
    import rasterio

    from .rasterize import InventoryBurner
    from .styles import ERRORS_QML, write_raster_style
    from .vector import srs_from_wkt

    delivered, raw = Confusion(), Confusion()
    with rasterio.open(prob_path) as src, warnings.catch_warnings(), contextlib.ExitStack() as stack:
        warnings.simplefilter("ignore")
        t = src.transform
        srs = srs_from_wkt(src.crs.to_wkt(), "raster")
        grid = (t.a, t.b, t.c, t.d, t.e, t.f)
        truth_burner = InventoryBurner(truth, srs, grid)
        det_burner = InventoryBurner(detected, srs, grid)
        stack.callback(truth_burner.close)
        stack.callback(det_burner.close)
        dst = _open_error_map(stack, error_map, src) if error_map else None
        for row in range(0, src.height, 256):
            win = Window(row, 0, min(256, src.height - row), src.width)
            p = src.read(1, window=win.to_rasterio())
            valid, gt = p >= 0, truth_burner.burn(win).astype(bool)
            pred = det_burner.burn(win).astype(bool)
            delivered = delivered + Confusion.of(pred, gt, valid)
            raw = raw + Confusion.of(p >= threshold, gt, valid)
            if dst is not None:
                codes = np.where(pred, np.where(gt, 1, 2), np.where(gt, 3, 4)).astype(np.uint8)
                dst.write(np.where(valid, codes, 0)[None], window=win.to_rasterio())
            progress.set_fraction((row + win.height) / src.height)
        if delivered.total == 0:  # raised before the error map is moved into place
            raise LmhldError("the scene has no valid pixel (all nodata, or outside the area of interest): nothing "
                             "to evaluate")
    if error_map:
        write_raster_style(error_map, ERRORS_QML)
    return _PixelComparison(delivered, raw, delivered.tp + delivered.fn)


def _open_error_map(stack: contextlib.ExitStack, path: str | Path, src: Any) -> Any:
    """The error map on the probability raster's grid, written aside until the evaluation succeeds."""
    from .atomic import atomic_file
    from .raster import written_geotiff

    tmp = stack.enter_context(atomic_file(path))
    dst = stack.enter_context(written_geotiff(tmp, driver="GTiff", width=src.width, height=src.height, count=1,
                                            dtype="uint8", nodata=0, crs=src.crs, transform=src.transform,
                                            tiled=True, compress="deflate"))
    dst.set_band_description(1, "1 TP, 2 FP, 3 FN, 4 TN")
    return dst


def _within_scene(truth: list[ogr.Geometry], footprint: ogr.Geometry) -> tuple[list[ogr.Geometry], int]:
    """The inventory's landslides as the scene holds them (a landslide across its edge by its part inside) and how
    many lie wholly outside: a scene cut from a larger area is scored on its own landslides."""
    parts = [g if footprint.Contains(g) else polygonal(g.Intersection(footprint)) for g in truth
             if g.Intersects(footprint)]
    inside = [g for g in parts if g is not None and surface_area(g) > 0]  # a landslide touching the edge: none
    return inside, len(truth) - len(inside)


def _on_valid_pixels(truth: list[ogr.Geometry], prob_path: Path) -> tuple[list[ogr.Geometry], list[float], int]:
    """The landslides with at least one valid pixel under them (the probability raster's, in its CRS: the
    detections'), the share of each one's pixels that are valid, and how many lie wholly on nodata: counted as
    missed, they would say the model failed where it had no pixel to look at. Each is read in its own window, so a
    large scene costs what its landslides cover."""
    import json

    import rasterio
    from rasterio.features import geometry_mask

    from .grid import clip_window

    kept: list[ogr.Geometry] = []
    shares: list[float] = []
    with rasterio.open(prob_path) as src:
        t = src.transform
        grid, whole = (t.a, t.b, t.c, t.d, t.e, t.f), Window(0, 0, src.height, src.width)
        for g in truth:
            minx, maxx, miny, maxy = g.GetEnvelope()
            win = clip_window(grid, whole, (minx, miny, maxx, maxy)).to_rasterio()
            if not win.width:  # touches the scene only along its edge
                continue
            p = src.read(1, window=win)
            under = ~geometry_mask([json.loads(g.ExportToJson())], p.shape, src.window_transform(win),
                                   all_touched=True)
            valid = int((under & (p >= 0)).sum())
            if valid:
                kept.append(g)
                shares.append(valid / int(under.sum()))
    return kept, shares, len(truth) - len(kept)


def _compare_objects(detected: PolygonSet, truth_geoms: list[ogr.Geometry], match: float,
                     valid_shares: Sequence[float] | None = None) -> ObjectCounts:
    """Inventory polygons detected and detections that match a landslide (areas compared in the detections' CRS).
    A landslide partly on nodata is detected when `match` of its part on valid pixels is covered, as one across
    the scene's edge counts by its part inside."""
    found = _covered_count(truth_geoms, detected.geometries, match, valid_shares)
    correct = _covered_count(detected.geometries, truth_geoms, match)
    return ObjectCounts(len(truth_geoms), found, len(detected.geometries), correct)


def _to_srs(polys: PolygonSet, srs: osr.SpatialReference) -> list[ogr.Geometry]:
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


def _covered_count(subjects: list[ogr.Geometry], others: list[ogr.Geometry], match: float,
                   shares: Sequence[float] | None = None) -> int:
    """How many `subjects` have at least `match` of their area (times their share in `shares`, when given) covered
    by `others` (envelope pre-filter)."""
    env = np.array([o.GetEnvelope() for o in others]) if others else np.zeros((0, 4))
    matched = 0
    for g, share in zip(subjects, shares or [1.0] * len(subjects), strict=True):
        minx, maxx, miny, maxy = g.GetEnvelope()
        near = np.flatnonzero((env[:, 0] <= maxx) & (env[:, 1] >= minx) & (env[:, 2] <= maxy) & (env[:, 3] >= miny))
        covered = sum(surface_area(g.Intersection(others[i])) for i in near)
        if covered >= match * share * g.GetArea():
            matched += 1
    return matched


def units_divisor(card: ModelCard, ds: PatchDataset, bands: Sequence[int] | None) -> list[float] | None:
    """What to divide a dataset's values by (in the model's input order) to bring them into the units of the
    model's training data: a model trained on a Landslide4Sense release scored on a scene's export, or the other
    way round. None when they agree."""
    held = ds.input_divisor or [1.0] * ds.num_bands
    held = [held[i] for i in bands] if bands is not None else held
    wanted = card.input_divisor or [1.0] * card.in_channels
    if len(held) != len(wanted) or held == wanted:
        return None
    return [w / h for w, h in zip(wanted, held, strict=True)]
