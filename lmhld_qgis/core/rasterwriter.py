"""Detection's output rasters, written while inference runs: the blended probability (float32, nodata -1, tiled,
deflate, with internal average overviews) and the cut mask (uint8) that is polygonized.

Rows arrive top to bottom within each column range (one range per streamed chunk). They are handed to GDAL in
whole rows of 256-pixel blocks and each band is flushed at once, so compression happens here, on the writer's
thread, not in one go when the file is closed; the overviews are reduced from the same rows (exact averages of
the valid pixels) and written the same way, so nothing is read back and decompressed at the end. When a column
range does not start on the coarsest overview's grid, the overviews are built by GDAL after the last row instead.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray
from osgeo import gdal

from .atomic import finish_despite_interrupts
from .grid import Window, window_bounds

gdal.UseExceptions()

BLOCK = 256
SLICE = 1024  # columns handled at a time inside a block row (a multiple of every overview factor)
OVERVIEW_FACTORS = (2, 4, 8, 16, 32)
OVERVIEW_MIN_SIDE = 64  # overviews whose shorter side would fall below this are not built
PROB_NODATA = -1.0
DEFLATE_LEVEL = "1"  # the fastest level: about the same size on probabilities, half the time of the default 6


def overview_factors(width: int, height: int) -> list[int]:
    return [f for f in OVERVIEW_FACTORS if min(width, height) // f >= OVERVIEW_MIN_SIDE]


Part = list[NDArray[Any]]  # arrays that share their rows


@dataclass(frozen=True)
class Grid:
    """A raster grid: its size, GDAL-order geotransform and CRS."""

    width: int
    height: int
    geotransform: tuple[float, float, float, float, float, float]
    crs_wkt: str

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        """(xmin, ymin, xmax, ymax) of the grid."""
        c, a, b, f, d, e = self.geotransform
        return window_bounds((a, b, c, d, e, f), Window(0, 0, self.height, self.width))


@dataclass(frozen=True)
class Stripe:
    """Finished rows: blended values and where they are valid, at grid row `top` and grid column `col`."""

    top: int
    col: int
    values: NDArray[Any]  # (rows, width) float32
    covered: NDArray[Any]  # (rows, width) bool


class AlignedRows:
    """Collects rows that arrive in order and hands them on in whole blocks of `block` rows (the rest at the end
    of the `total` rows). Rows arrive and leave as parts: lists of arrays that share their rows (values and their
    validity); the parts are not joined here, so no copy of a whole block row is made."""

    def __init__(self, total: int, block: int, emit: Callable[[int, list[Part]], None]) -> None:
        self.total, self.block, self.emit = total, block, emit
        self.top = 0  # first row not yet handed on
        self.pending: list[Part] = []
        self.n_pending = 0

    def add(self, part: Part) -> None:
        self.pending.append(part)
        self.n_pending += part[0].shape[0]
        end = self.top + self.n_pending
        cut = end if end >= self.total else end // self.block * self.block
        if cut <= self.top:
            return
        n, taken = cut - self.top, 0
        ready: list[Part] = []
        kept: list[Part] = []
        for p in self.pending:
            rows = p[0].shape[0]
            k = min(max(n - taken, 0), rows)
            if k:
                ready.append(p if k == rows else [a[:k] for a in p])
            if k < rows:
                kept.append([a[k:] for a in p])
            taken += k
        self.emit(self.top, ready)
        self.pending, self.n_pending, self.top = kept, self.n_pending - n, cut

    @property
    def done(self) -> bool:
        return self.top >= self.total and not self.n_pending


def _block_sum(a: NDArray[Any], k: int) -> NDArray[Any]:
    """Sums over k x k blocks (the array padded with zeros to whole blocks)."""
    rows, cols = -(-a.shape[0] // k), -(-a.shape[1] // k)
    if a.shape != (rows * k, cols * k):  # only the last rows and columns of the grid need padding
        padded = np.zeros((rows * k, cols * k), a.dtype)
        padded[:a.shape[0], :a.shape[1]] = a
        a = padded
    summed: NDArray[Any] = a.reshape(rows, k, cols, k).sum(axis=(1, 3), dtype=a.dtype)
    return summed


def _rows(arrays: list[NDArray[Any]]) -> NDArray[Any]:
    """Arrays stacked by rows (the array itself when there is one)."""
    return arrays[0] if len(arrays) == 1 else np.concatenate(arrays)


class _ColumnRange:
    """The rows of one column range: probability and mask written in whole block rows, overviews reduced."""

    def __init__(self, writer: ProbabilityWriter, col: int) -> None:
        self.writer, self.col = writer, col
        self.base = AlignedRows(writer.grid.height, BLOCK, self._write_base)
        self.levels = [AlignedRows(-(-writer.grid.height // f), BLOCK, self._level_writer(band, col // f))
                       for f, band in zip(writer.factors, writer.overview_bands, strict=True)]

    def add(self, stripe: Stripe) -> None:
        self.base.add([stripe.values, stripe.covered])

    @property
    def done(self) -> bool:
        return self.base.done and all(level.done for level in self.levels)

    def _write_base(self, top: int, parts: list[Part]) -> None:
        """Write whole block rows in column slices: the temporaries stay small whatever the chunk's width."""
        w = self.writer
        pieces: list[list[NDArray[Any]]] = [[] for _ in self.levels]
        for c in range(0, parts[0][0].shape[1], SLICE):
            v = _rows([p[0][:, c:c + SLICE] for p in parts])
            ok = _rows([p[1][:, c:c + SLICE] for p in parts])
            w.prob_band.WriteArray(np.where(ok, v, np.float32(PROB_NODATA)), self.col + c, top)
            w.mask_band.WriteArray(((v >= w.mask_threshold) & ok).view(np.uint8), self.col + c, top)
            for level_pieces, piece in zip(pieces, self._reduce(v, ok), strict=True):
                level_pieces.append(piece)
        w.prob_band.FlushCache()
        w.mask_band.FlushCache()
        for level, row_pieces in zip(self.levels, pieces, strict=True):
            level.add([np.concatenate(row_pieces, axis=1)])

    def _reduce(self, values: NDArray[Any], covered: NDArray[Any]) -> list[NDArray[Any]]:
        """Each overview level's rows for these pixels (their columns start on the coarsest level's grid)."""
        total = np.where(covered, values, np.float32(0))  # float32 sums of at most 32 x 32 values in [0, 1]
        count = covered.astype(np.float32)
        previous, out = 1, []
        for factor in self.writer.factors:
            total, count = _block_sum(total, factor // previous), _block_sum(count, factor // previous)
            out.append(np.where(count > 0, total / np.maximum(count, 1), PROB_NODATA).astype(np.float32))
            previous = factor
        return out

    @staticmethod
    def _level_writer(band: gdal.Band, col: int) -> Callable[[int, list[Part]], None]:
        def write(top: int, parts: list[Part]) -> None:
            band.WriteArray(_rows([p[0] for p in parts]), col, top)
            band.FlushCache()

        return write


class ProbabilityWriter:
    """Writes stripes to the probability and mask rasters from a thread of its own (see the module docstring).

    `put` queues a stripe (errors of the writing thread are raised there); `close` waits for the queue, closes the
    files (building the overviews afterwards when they could not be reduced on the way) and raises any error.
    """

    def __init__(self, prob_path: Path, mask_path: Path, grid: Grid, mask_threshold: float,
                 column_starts: Sequence[int]) -> None:
        self.grid, self.mask_threshold = grid, mask_threshold
        self.valid_pixels = self.marked_pixels = 0
        factors = overview_factors(grid.width, grid.height)
        self.incremental = bool(factors) and all(c % max(factors) == 0 for c in column_starts)
        self.factors = factors if self.incremental else []
        self.deferred_factors = [] if self.incremental else factors
        self.prob = create_tiled(prob_path, grid, gdal.GDT_Float32, ["PREDICTOR=3"])
        self.prob_band = self.prob.GetRasterBand(1)
        self.prob_band.SetNoDataValue(PROB_NODATA)
        self.prob_band.SetDescription("landslide probability")
        if self.factors:
            self.prob.BuildOverviews("NONE", self.factors)  # empty levels, filled as the rows arrive
        self.overview_bands = [self.prob_band.GetOverview(i) for i in range(len(self.factors))]
        self.mask = create_tiled(mask_path, grid, gdal.GDT_Byte, [])
        self.mask_band = self.mask.GetRasterBand(1)
        self.ranges: dict[int, _ColumnRange] = {}
        self.queue: queue.Queue[Stripe | None] = queue.Queue(maxsize=4)
        self.error: BaseException | None = None
        self.abandoned = threading.Event()
        # set by the writer as it ends; Thread.is_alive() and join() are not used: in Python 3.11 a Ctrl-C landing
        # in join() marks the thread stopped while it still runs (bpo-45274's fix), and the files were then closed
        # under a write in flight (a segmentation fault)
        self.finished = threading.Event()
        self.thread = threading.Thread(target=self._work, daemon=True, name="lmhld-writer")
        self.thread.start()

    def put(self, stripe: Stripe) -> None:
        if self.error is not None:
            raise self.error
        if stripe.values.size:
            self.valid_pixels += int(stripe.covered.sum())  # how much of the scene the cut marks (detect's doubts)
            self.marked_pixels += int((stripe.covered & (stripe.values >= self.mask_threshold)).sum())
            self._offer(stripe)
        if self.error is not None:
            raise self.error

    # Both sides poll (POLL seconds) rather than wait on the queue alone: a Ctrl-C that lands in the producer's
    # put() between the queue waking the writer and releasing it loses that wake-up, and a writer waiting on it for
    # good (and close() joining it) hung the command, deaf to any further Ctrl-C or SIGTERM.
    POLL = 0.1

    def _offer(self, item: Stripe | None) -> None:
        """Queue `item`; given up when the writer has ended (its error is raised by the caller)."""
        while True:
            try:
                self.queue.put(item, timeout=self.POLL)
                return
            except queue.Full:
                if self.finished.is_set():
                    return

    def _next(self) -> Stripe | None:
        while not self.abandoned.is_set():
            try:
                return self.queue.get(timeout=self.POLL)
            except queue.Empty:
                continue
        return None

    def _work(self) -> None:
        try:
            while (stripe := self._next()) is not None:
                if stripe.col not in self.ranges:
                    self.ranges[stripe.col] = _ColumnRange(self, stripe.col)
                self.ranges[stripe.col].add(stripe)
        except BaseException as exc:  # raised in the producer by put() or close()
            self.error = exc
        finally:
            self.finished.set()

    def _wait_finished(self) -> None:
        """Until the writer has ended, in steps, so that a stop signal is taken meanwhile."""
        while not self.finished.wait(self.POLL):
            pass

    def close(self, complete: bool = True) -> None:
        """Finish the files; `complete` asks that every row was written (False when the run is being abandoned)."""
        try:
            self._offer(None)
            self._wait_finished()
        except BaseException:  # a Ctrl-C meanwhile: the writer ends after its stripe, then the files are closed
            self.abandoned.set()  # (left open, a Python session kept them, deleted, until it ended)
            finish_despite_interrupts([self._wait_finished])
            self.prob_band = self.mask_band = None
            self.overview_bands = []
            self.prob = self.mask = None
            raise
        if self.error is None and complete and not all(r.done for r in self.ranges.values()):
            self.error = RuntimeError("the detection stream ended before every row was written")
        if self.error is None and complete and self.factors:
            self.prob.SetMetadataItem("resampling", "average", "rio_overview")
        self.prob_band = self.mask_band = None
        self.overview_bands = []
        self.prob = self.mask = None  # closes (flushes) the files
        if self.error is not None:
            raise self.error

    def build_deferred_overviews(self, prob_path: Path) -> None:
        """GDAL's average overviews, for the case the rows could not be reduced on the way."""
        if not self.deferred_factors:
            return
        ds = gdal.Open(str(prob_path), gdal.GA_Update)
        for key, value in (("COMPRESS_OVERVIEW", "DEFLATE"), ("PREDICTOR_OVERVIEW", "3"),
                           ("ZLEVEL_OVERVIEW", DEFLATE_LEVEL)):
            gdal.SetThreadLocalConfigOption(key, value)
        try:
            ds.BuildOverviews("AVERAGE", self.deferred_factors)
            ds.SetMetadataItem("resampling", "average", "rio_overview")
        finally:
            for key in ("COMPRESS_OVERVIEW", "PREDICTOR_OVERVIEW", "ZLEVEL_OVERVIEW"):
                gdal.SetThreadLocalConfigOption(key, None)
            ds = None


def create_tiled(path: Path, grid: Grid, kind: int, extra: list[str]) -> gdal.Dataset:
    """A one-band GeoTIFF on `grid`, tiled in BLOCK-pixel blocks and deflate-compressed, as detection writes."""
    options = ["TILED=YES", f"BLOCKXSIZE={BLOCK}", f"BLOCKYSIZE={BLOCK}", "COMPRESS=DEFLATE",
               f"ZLEVEL={DEFLATE_LEVEL}", "BIGTIFF=IF_SAFER", *extra]
    ds = gdal.GetDriverByName("GTiff").Create(str(path), grid.width, grid.height, 1, kind, options)
    ds.SetGeoTransform(grid.geotransform)
    ds.SetProjection(grid.crs_wkt)
    return ds


THRESHOLD_TAG = "LMHLD_THRESHOLD"  # band metadata of a probability raster: the threshold its polygons were cut at


def tag_threshold(prob_path: str | Path, threshold: float) -> None:
    """Record in the probability raster the threshold its polygons were cut at (the review dock reads it)."""
    ds = gdal.Open(str(prob_path), gdal.GA_Update)
    ds.GetRasterBand(1).SetMetadataItem(THRESHOLD_TAG, repr(float(threshold)))
    ds.FlushCache()
    ds = None


def read_threshold(prob_path: str | Path) -> float | None:
    """The threshold a probability raster records (None for another raster, or one written before the tag)."""
    try:
        ds = gdal.OpenEx(str(prob_path), gdal.OF_RASTER | gdal.OF_READONLY)
        value = ds.GetRasterBand(1).GetMetadataItem(THRESHOLD_TAG)
        ds = None
        return float(value) if value is not None else None
    except (RuntimeError, ValueError):  # not a raster GDAL reads, or a tag someone else wrote
        return None
