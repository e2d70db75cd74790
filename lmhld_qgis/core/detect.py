"""The streaming detection engine: sliding windows over a scene of any size, blended probabilities, polygons.

Reading (a thread), inference (the caller's thread) and writing (a thread) overlap. The scene is streamed in column
chunks (4096 px by default), each from top to bottom; rows are finished and written as soon as no later window
can reach them, so memory is bounded by a stripe of about two tiles times the chunk width, whatever the scene.
Outputs are written aside and moved into place; a cancelled or failed run leaves none.
"""

from __future__ import annotations

import math
import queue
import threading
import time
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .atomic import atomic_file, gdal_checked, scratch_dir
from .backends import Backend, load_backend
from .blending import StripeAccumulator, weights_for
from .errors import CancelledError, LmhldError
from .grid import Window, covering_windows
from .modelcard import ModelCard
from .outputs import check_outputs
from .preflight import require_memory
from .progress import NullProgress, Progress, SubProgress
from .raster import RasterInfo, pixel_area_m2, read_raster_info
from .vector import PolygonSet, read_polygons, srs_from_wkt

PROB_NODATA = -1.0
LAYER = "landslides"


@dataclass
class DetectOptions:
    tile: int | None = None  # default: the model's patch size
    overlap: float | None = None  # fraction of the tile; default: the model's (0.25)
    batch_size: int = 8
    threshold: float | None = None  # default: the model's
    min_area_m2: float = 0.0
    fill_holes_m2: float = 0.0
    simplify: float = 0.0  # CRS units
    provider: str = "auto"
    bands: Sequence[int] | None = None  # 1-based raster bands in the model's input order
    extent: tuple[float, float, float, float] | None = None  # xmin, ymin, xmax, ymax in the raster's CRS
    aoi: str | Path | PolygonSet | None = None  # polygons; nothing is detected outside them
    resample: bool = False  # resample windows to the model's resolution when the scene's differs
    chunk_width: int = 4096  # stream the scene in column chunks this wide (memory bound); 0: the whole width


@dataclass
class DetectResult:
    polygons: Path
    probability: Path | None
    n_polygons: int
    provider: str
    tile: int
    stride: int
    n_windows: int
    seconds: float
    threshold: float
    bands: list[int]
    warnings: list[str] = field(default_factory=list)

    def to_json(self) -> dict:
        return {k: (str(v) if isinstance(v, Path) else v) for k, v in self.__dict__.items()}


def resolve_bands(card: ModelCard, info: RasterInfo, bands: Sequence[int] | None) -> tuple[list[int], str | None]:
    """Raster bands (1-based) feeding the model's inputs: given, matched by name, or by position; else an error."""
    from .bands import match_model_bands

    need = card.in_channels
    if bands:
        bands = list(bands)
        if len(bands) != need:
            raise LmhldError(f"the model expects {need} bands ({', '.join(card.bands)}), {len(bands)} were given")
        bad = [b for b in bands if not 1 <= b <= info.count]
        if bad:
            raise LmhldError(f"raster {info.path} has {info.count} band(s); band(s) {bad} do not exist")
        return bands, None
    indices, by_position = match_model_bands(card.bands, info.descriptions, f"raster {Path(info.path).name}",
                                             f"pass --bands with {need} band numbers")
    note = (f"raster bands are not named {card.bands}; using bands 1..{need} in order (pass --bands to map them "
            "explicitly)") if by_position else None
    return [i + 1 for i in indices], note


def _region(info: RasterInfo, extent, aoi: PolygonSet | None) -> tuple[int, int, int, int]:
    """(row0, col0, height, width) of the part of the raster to process."""
    a, _, c, _, e, f = info.transform
    r0, c0, r1, c1 = 0, 0, info.height, info.width
    boxes = []
    if extent is not None:
        boxes.append(extent)
    if aoi is not None:
        from .rasterize import InventoryBurner

        burner = InventoryBurner(aoi, srs_from_wkt(info.crs_wkt, "raster"), info.transform)
        boxes.append(burner.extent())
        burner.close()
    for xmin, ymin, xmax, ymax in boxes:
        cols = sorted(((xmin - c) / a, (xmax - c) / a))
        rows = sorted(((ymax - f) / e, (ymin - f) / e))
        r0, r1 = max(r0, math.floor(rows[0])), min(r1, math.ceil(rows[1]))
        c0, c1 = max(c0, math.floor(cols[0])), min(c1, math.ceil(cols[1]))
    if r1 <= r0 or c1 <= c0:
        raise LmhldError("the extent / area of interest does not overlap the raster")
    return r0, c0, r1 - r0, c1 - c0


def detect(raster: str | Path, model: str | Path | Backend, out_gpkg: str | Path, prob_tif: str | Path | None = None,
           options: DetectOptions | None = None, progress: Progress | None = None) -> DetectResult:
    """Detect landslides in `raster`: polygons to `out_gpkg` (GeoPackage, raster CRS), probabilities to `prob_tif`."""
    options = options or DetectOptions()
    progress = progress or NullProgress()
    check_outputs(inputs={"raster": raster, "model": model, "aoi": options.aoi},
                  files={"out_gpkg": out_gpkg, "prob_tif": prob_tif}, styled=("prob_tif",))
    t0 = time.perf_counter()
    notes: list[str] = []
    backend = load_backend(model, options.provider) if isinstance(model, str | Path) else model
    card = backend.card
    info = read_raster_info(raster)
    if info.crs_wkt is None:
        raise LmhldError(f"raster {raster} has no CRS; assign one (gdal_edit.py -a_srs EPSG:XXXX) and retry")
    if info.is_rotated:
        raise LmhldError(f"raster {raster} has a rotated geotransform; warp it north-up first (gdalwarp)")
    bands, note = resolve_bands(card, info, options.bands)
    if note:
        notes.append(note)
    tile = int(options.tile or card.patch_size)
    if card.dynamic_size:
        tile = int(math.ceil(tile / card.size_multiple) * card.size_multiple)
    elif tile != card.patch_size:
        raise LmhldError(f"this model takes only {card.patch_size} x {card.patch_size} tiles, not {tile}")
    overlap = card.tiles_overlap if options.overlap is None else float(options.overlap)
    if not 0 <= overlap < 1:
        raise LmhldError(f"overlap must be in [0, 1), got {overlap}")
    stride = max(1, round(tile * (1 - overlap)))
    threshold = card.threshold if options.threshold is None else float(options.threshold)
    if options.batch_size < 1:
        raise LmhldError("batch size must be >= 1")
    require_memory(4.0 * 4 * options.batch_size * len(bands) * tile * tile, f"batches of {options.batch_size} "
                   f"windows of {tile} x {tile} px", "lower the tile size or the batch size")
    aoi = options.aoi if isinstance(options.aoi, PolygonSet | None) else read_polygons(options.aoi)

    with scratch_dir("detect") as tmpdir:
        source = info
        pixel = math.sqrt(pixel_area_m2(info))
        if card.resolution_m and abs(pixel / card.resolution_m - 1) > 0.10:
            msg = (f"the raster's pixel size ({pixel:.2f} m) differs from the model's training resolution "
                   f"({card.resolution_m:.2f} m) by {abs(pixel / card.resolution_m - 1):.0%}")
            if options.resample:
                source = _resampled(info, card.resolution_m, Path(tmpdir))
                notes.append(msg + "; windows resampled to the model's resolution")
            else:
                notes.append(msg + "; results may suffer: use resample to run at the model's scale")
        for n in notes:
            progress.warn(n)
        region = _region(source, options.extent, aoi)
        prob_final = Path(prob_tif) if prob_tif else Path(tmpdir) / "probability.tif"
        mask_tif = Path(tmpdir) / "mask.tif"
        with atomic_file(out_gpkg) as gpkg_tmp, atomic_file(prob_final) as prob_tmp:
            n_windows = _run_windows(source, backend, bands, region, tile, stride, threshold, options.batch_size,
                                     aoi, prob_tmp, mask_tif, SubProgress(progress, 0.0, 0.85),
                                     chunk_width=options.chunk_width)
            _build_overviews(prob_tmp)
            from .vectorize import VectorizeOptions, polygonize

            n_polygons = polygonize(mask_tif, prob_tmp, gpkg_tmp, LAYER,
                                    VectorizeOptions(options.min_area_m2, options.fill_holes_m2, options.simplify),
                                    source=Path(raster).name, model=card.architecture,
                                    progress=SubProgress(progress, 0.85, 1.0))
        from .styles import write_raster_style, write_vector_style

        write_vector_style(out_gpkg)
        if prob_tif:
            write_raster_style(prob_final)
    progress.set_fraction(1.0)
    return DetectResult(Path(out_gpkg), Path(prob_tif) if prob_tif else None, n_polygons, backend.provider, tile,
                        stride, n_windows, time.perf_counter() - t0, threshold, bands, notes)


def _resampled(info: RasterInfo, resolution_m: float, tmpdir: Path) -> RasterInfo:
    from osgeo import gdal

    srs = srs_from_wkt(info.crs_wkt, "raster")
    if not srs.IsProjected():
        raise LmhldError("resampling needs a projected raster; warp it to a metric CRS first (gdalwarp -t_srs)")
    res = resolution_m / srs.GetLinearUnits()
    vrt = tmpdir / "resampled.vrt"
    gdal.Warp(str(vrt), info.path, format="VRT", xRes=res, yRes=res, resampleAlg="bilinear")
    return read_raster_info(vrt)


def _batches(info: RasterInfo, bands: list[int], region, windows: list[Window], tile: int, card: ModelCard,
             batch_size: int, aoi_burner) -> Iterator[tuple[list[Window], np.ndarray]]:
    """Read windows (normalised, invalid pixels at the band mean) in batches, in row order."""
    import rasterio

    r0, c0, h, w = region
    mean = np.asarray(card.mean, np.float32)[:, None, None]
    std = np.asarray(card.std, np.float32)[:, None, None]
    std = np.where(std > 0, std, 1)
    with warnings.catch_warnings(), rasterio.open(info.path) as src:
        warnings.simplefilter("ignore")
        batch: list[Window] = []
        arrays: list[np.ndarray] = []
        for win in windows:
            hh, ww = min(tile, h - win.row), min(tile, w - win.col)
            rio = Window(r0 + win.row, c0 + win.col, hh, ww).to_rasterio()
            data = src.read(bands, window=rio).astype(np.float32)
            valid = (src.read_masks(bands, window=rio) > 0).all(axis=0)
            if aoi_burner is not None:
                valid &= aoi_burner.burn(Window(r0 + win.row, c0 + win.col, hh, ww)).astype(bool)
            x = np.zeros((len(bands), tile, tile), np.float32)
            x[:, :hh, :ww] = np.where(valid, (data - mean) / std, 0)
            batch.append(win)
            arrays.append(x)
            if len(batch) == batch_size:
                yield batch, np.stack(arrays)
                batch, arrays = [], []
        if batch:
            yield batch, np.stack(arrays)


def _threaded(iterator: Iterator, stop: threading.Event, depth: int = 3) -> Iterator:
    """Run `iterator` in a thread, `depth` items ahead; exceptions re-raised in the consumer."""
    q: queue.Queue = queue.Queue(maxsize=depth)
    done = object()

    def work() -> None:
        try:
            for item in iterator:
                while not stop.is_set():
                    try:
                        q.put(item, timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            q.put(done)
        except BaseException as exc:  # handed to the consumer
            q.put(exc)

    thread = threading.Thread(target=work, daemon=True)
    thread.start()
    try:
        while True:
            item = q.get()
            if item is done:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        thread.join(timeout=5)


class _Writer:
    """Writes finished stripes (probability float32 + thresholded mask uint8) from its own thread."""

    def __init__(self, info: RasterInfo, region, prob_path: Path, mask_path: Path, threshold: float,
                 aoi_burner, bands: list[int]) -> None:
        import rasterio
        from rasterio.transform import Affine

        from .grid import window_transform

        r0, c0, h, w = region
        self.region, self.threshold, self.info, self.aoi, self.bands = region, threshold, info, aoi_burner, bands
        transform = Affine(*window_transform(info.transform, Window(r0, c0, h, w)))
        common = {"driver": "GTiff", "width": w, "height": h, "count": 1, "crs": info.crs_wkt,
                  "transform": transform, "tiled": True, "blockxsize": 256, "blockysize": 256,
                  "compress": "deflate", "BIGTIFF": "IF_SAFER"}
        self.prob = rasterio.open(prob_path, "w", dtype="float32", nodata=PROB_NODATA, predictor=3, **common)
        self.prob.set_band_description(1, "landslide probability")
        self.mask = rasterio.open(mask_path, "w", dtype="uint8", nodata=None, **common)
        self.src = rasterio.open(info.path)
        self.q: queue.Queue = queue.Queue(maxsize=4)
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._work, daemon=True)
        self.thread.start()

    def put(self, top: int, values: np.ndarray, covered: np.ndarray, col: int = 0) -> None:
        """Queue finished rows starting at region row `top` and region column `col`."""
        if self.error is not None:
            raise self.error
        self.q.put((top, values, covered, col))

    def _work(self) -> None:
        try:
            while (item := self.q.get()) is not None:
                self._write(*item)
        except BaseException as exc:
            self.error = exc
            while self.q.get() is not None:  # drain so the producer never blocks
                pass

    @gdal_checked
    def _write(self, top: int, values: np.ndarray, covered: np.ndarray, col: int) -> None:
        if values.size == 0:
            return
        r0, c0, _, _ = self.region
        n, w = values.shape
        win = Window(r0 + top, c0 + col, n, w)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            valid = covered & (self.src.read_masks(self.bands, window=win.to_rasterio()) > 0).all(axis=0)
        if self.aoi is not None:
            valid &= self.aoi.burn(win).astype(bool)
        out = Window(top, col, n, w).to_rasterio()
        self.prob.write(np.where(valid, values, PROB_NODATA)[None], window=out)
        self.mask.write(((values >= self.threshold) & valid).astype(np.uint8)[None], window=out)

    def close(self) -> None:
        self.q.put(None)
        self.thread.join()
        for ds in (self.prob, self.mask, self.src):
            ds.close()
        if self.error is not None:
            raise self.error


def column_chunks(width: int, chunk: int) -> list[tuple[int, int]]:
    """Core column ranges [a, b) of the chunks a scene is streamed in (one chunk when `chunk` is 0)."""
    if chunk <= 0 or chunk >= width:
        return [(0, width)]
    return [(a, min(a + chunk, width)) for a in range(0, width, chunk)]


@gdal_checked
def _run_windows(info, backend, bands, region, tile, stride, threshold, batch_size, aoi, prob_path, mask_path,
                 progress: Progress, chunk_width: int = 0) -> int:
    """Stream the region in column chunks, each from top to bottom. A chunk takes every window that touches its
    core columns and writes only its core; weights depend on the windows' positions in the whole region, so the
    result is the same as without chunks while memory is bounded by the chunk's width, not the scene's."""
    _, _, h, w = region
    windows = covering_windows(h, w, tile, stride)
    aoi_burner = None
    if aoi is not None:
        from .rasterize import InventoryBurner

        aoi_burner = InventoryBurner(aoi, srs_from_wkt(info.crs_wkt, "raster"), info.transform)
    overlap_px = max(tile - stride, 0)
    plan = []
    for a, b in column_chunks(w, chunk_width):
        wins = [win for win in windows if win.col < b and win.col + win.width > a]
        plan.append((a, b, wins))
    total = sum(len(wins) for _, _, wins in plan)
    writer = _Writer(info, region, prob_path, mask_path, threshold, aoi_burner, bands)
    stop = threading.Event()
    done = 0
    try:
        for a, b, wins in plan:
            x0 = min(win.col for win in wins)
            x1 = min(max(win.col + win.width for win in wins), w)
            acc = StripeAccumulator(x1 - x0, h, tile)

            def emit(rows: tuple[int, np.ndarray, np.ndarray], a=a, b=b, x0=x0) -> None:
                top, values, covered = rows
                writer.put(top, values[:, a - x0:b - x0], covered[:, a - x0:b - x0], col=a)

            current_row: int | None = None
            reader = _batches(info, bands, region, wins, tile, backend.card, batch_size,
                              None if aoi is None else _clone_burner(aoi, info))
            for batch, x in _threaded(reader, stop):
                if progress.is_cancelled():
                    raise CancelledError("cancelled by the user")
                probs = backend.predict(x)
                for win, p in zip(batch, probs, strict=True):
                    if current_row is not None and win.row != current_row:
                        emit(acc.flush(win.row))  # no later window of this chunk reaches above this row start
                    current_row = win.row
                    local = Window(win.row, win.col - x0, win.height, win.width)
                    acc.add(local, p, weights_for(win, h, w, overlap_px))
                done += len(batch)
                progress.set_fraction(done / total)
            emit(acc.flush(h))
            stop = threading.Event()
    finally:
        stop.set()
        writer.close()
    return len(windows)


def _clone_burner(aoi: PolygonSet, info: RasterInfo):
    """Each thread burns with its own in-memory layer (OGR layers are not thread-safe)."""
    from .rasterize import InventoryBurner

    return InventoryBurner(aoi, srs_from_wkt(info.crs_wkt, "raster"), info.transform)


@gdal_checked
def _build_overviews(path: Path) -> None:
    import rasterio
    from rasterio.enums import Resampling

    with rasterio.open(path, "r+") as ds:
        factors = [f for f in (2, 4, 8, 16, 32) if min(ds.width, ds.height) // f >= 64]
        if factors:
            ds.build_overviews(factors, Resampling.average)
            ds.update_tags(ns="rio_overview", resampling="average")
