"""Which windows a dataset holds, decided once for the patch preview and for export (so they agree).

Phases, over every raster:
1. the non-overlapping grid (the paper's windows): image boundary, landslide pixels, minimum fraction (or, when
   asked, the window holding a point of a landslide that no window would keep otherwise), nodata;
2. windows centred on negatives (rejected detections, known false positives), kept unless they hold nodata;
3. background windows (no landslide pixel) sampled from the grid at the chosen share, part of them the most
   landslide-like (core/lookalike.py: a pixel model fitted on the kept landslide windows), the rest at random;
4. the split of the grid windows (spatial blocks, or per patch); windows centred on negatives always go to
   training (they are the user's corrections: a rejected detection is the rarest and most informative example a
   model gets), and a validation or test window that overlaps one is dropped; each negative also gets four
   windows around it, shifted by a quarter patch (one patch among hundreds barely moves a model), kept where
   they overlap no other split;
5. training-only windows between the grid windows (stride < patch size; with the recipe's stride, only while
   the training split is small), kept where they overlap no validation or test window, with background sampled
   at the same share.
A sink (export's writer) receives each kept window's pixels when they are read; the preview passes none.
"""

from __future__ import annotations

import math
import warnings
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from .bands import ELEVATION_NAMES, PAPER_BANDS, band_key
from .errors import LmhldError
from .export_options import PlanSettings
from .grid import Window, grid_windows
from .inventory import large_landslide_area_m2, min_landslide_area_m2
from .lookalike import MIN_LANDSLIDE_PIXELS, LookalikeModel, PixelSampler, pick
from .memory import release_free_memory
from .patch_windows import (
    DROP_REASONS,
    KINDS,
    NONE,
    PLACEMENTS,
    ImageArray,
    MaskArray,
    PlannedWindow,
    PlanSource,
    PointIndex,
    SpatialIndex,
    WindowReader,
    WindowTable,
    describe_dropped,
    describe_kept,
)
from .progress import Progress, check_cancelled
from .raster import pixel_area_m2, raster_srs
from .rasterize import InventoryBurner
from .splits import (
    SPLIT_NAMES,
    SplitResult,
    in_points,
    split_in_blocks,
    split_patches,
    train_neighbour_share,
)
from .vector import PolygonSet, true_areas_m2

TRAIN = 0


class PatchSink(Protocol):
    """Receives the pixels of each kept window as the plan reads them (export writes them)."""

    def add(self, pid: str, source: PlanSource, window: Window, image: ImageArray, mask: MaskArray) -> None: ...

    def discard(self, pid: str) -> None: ...


@dataclass
class PatchPlan:
    """Every window considered, kept or dropped with its reason, and the split of the kept ones."""

    settings: PlanSettings
    sources: list[PlanSource]
    windows: WindowTable
    split: SplitResult  # of the grid and centred windows (training-only windows join train afterwards)
    stride: int  # the training windows' step used (the patch size: no overlapping window)
    train_neighbour_share: float  # of the grid neighbours of validation/test patches, the share in train
    min_landslide_area_m2: float
    min_landslide_area_rule: str
    warnings: list[str] = field(default_factory=list)
    negatives: dict[str, Any] | None = None
    large_landslide_area_m2: float | None = None  # how large the large landslides are (detection's context pass)
    nodata_in: list[dict[str, int]] = field(default_factory=list)  # per source: windows dropped for nodata, by
    # the bands that held it ("dsm", or "red, green, blue, dsm")
    refusal: str | None = None  # why export refuses this plan (too few windows kept: they are not split); a
    # preview still shows its windows and their reasons

    @property
    def stems(self) -> list[str]:
        return [s.stem for s in self.sources]

    def __iter__(self) -> Iterator[PlannedWindow]:
        stems = self.stems
        for i in range(len(self.windows)):
            yield self.windows.record(i, self.settings.patch_size, stems)

    def kept(self) -> list[PlannedWindow]:
        stems = self.stems
        return [self.windows.record(i, self.settings.patch_size, stems) for i in self.windows.indices(kept=True)]

    def counts(self) -> dict[str, int]:
        labels = Counter(p.split for p in self.kept())
        return {name: labels[name] for name in SPLIT_NAMES}

    def counts_by_kind(self) -> dict[str, int]:
        kinds = Counter(p.kind for p in self.kept())
        return {kind: kinds[kind] for kind in KINDS}

    def kinds_by_split(self) -> dict[str, dict[str, int]]:
        pairs = Counter((p.split, p.kind) for p in self.kept())
        return {name: {kind: pairs[name, kind] for kind in KINDS} for name in SPLIT_NAMES}

    def proportions(self) -> dict[str, float]:
        """Landslide pixels / pixels per split, over every kept patch."""
        pos, n = Counter[str | None](), Counter[str | None]()
        for p in self.kept():
            pos[p.split] += p.positives
            n[p.split] += 1
        area = self.settings.patch_size ** 2
        return {name: pos[name] / (n[name] * area) if n[name] else float("nan") for name in SPLIT_NAMES}

    def dropped(self) -> dict[str, int]:
        return dropped_counts(self.windows)

    def kept_in_words(self) -> str:
        """The kept patches by split and kind, with each split's landslide share, as a log line says them."""
        return describe_kept(self.counts(), self.counts_by_kind(), self.proportions())

    def dropped_in_words(self) -> str:
        """The dropped windows by reason, as a log line says them: '63 hold no landslide, 1 holds nodata'."""
        return describe_dropped(self.dropped())

    def bands_in_words(self) -> str:
        """The bands the patches hold and where each raster has them: 'red, green, blue, dsm (bands 1, 2, 3, 5 of
        scene.tif)'."""
        where = "; ".join(f"{'band' if len(s.bands) == 1 else 'bands'} {', '.join(map(str, s.bands))} of "
                          f"{Path(s.info.path).name}" for s in self.sources)
        return f"{', '.join(self.sources[0].band_names)} ({where})"

    def windows_by_placement(self) -> dict[str, int]:
        counts = Counter(PLACEMENTS[code] for code in self.windows.placement)
        return {name: counts[name] for name in PLACEMENTS}


def make_plan(settings: PlanSettings, sources: list[PlanSource], polygons: PolygonSet,
              negatives: PolygonSet | None, progress: Progress, sink: PatchSink | None = None, *,
              refuse_few: bool = True) -> PatchPlan:
    """Decide every window (reading pixels only to find nodata, or for the sink). Too few windows kept to fill the
    splits: refused, or, not `refuse_few` (a preview), the windows unsplit with the refusal (PatchPlan.refusal)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        planner = _Planner(settings, sources, polygons, negatives, progress, sink, refuse_few)
        try:
            return planner.run()
        finally:
            planner.close()


class _Planner:
    def __init__(self, settings: PlanSettings, sources: list[PlanSource], polygons: PolygonSet,
                 negatives: PolygonSet | None, progress: Progress, sink: PatchSink | None,
                 refuse_few: bool = True) -> None:
        self.s, self.sources, self.polygons, self.negatives = settings, sources, polygons, negatives
        self.progress, self.sink, self.refuse_few = progress, sink, refuse_few
        self.table = WindowTable()
        self.rng = np.random.default_rng([settings.seed, 1])  # background sampling; the split has its own
        self._lookalikes: LookalikeModel | bool | None = False  # fitted on first use (False: not yet)
        self.notes: list[str] = []
        self.nodata_in: list[Counter[tuple[str, ...]]] = [Counter() for _ in sources]
        self.beyond_in: list[Counter[tuple[str, ...]]] = [Counter() for _ in sources]  # those bands wholly missing
        self.readers: list[WindowReader] = []
        self.done = self.steps = 0
        self.total = max(1, sum(self._window_count(s.info.height, s.info.width) for s in sources))

    def close(self) -> None:
        for reader in self.readers:
            reader.close()

    def run(self) -> PatchPlan:
        for source in self.sources:  # opened one by one: close() releases those opened before a failure
            self.readers.append(WindowReader(source, self.polygons, self.s.patch_size))
        grid_background = self._scan_grid()
        negatives_info = self._add_negatives() if self.negatives is not None else None
        # background makes its share of the landslide and background windows: the negatives are the user's
        # corrections on top (746 of them asked for 324 more background windows, 87 % of the rest)
        self._sample_background(grid_background, self._count_kept(("landslide",)))
        refusal = self._too_few_kept()
        if refusal is not None:
            if self.refuse_few or self.sink is not None:
                raise LmhldError(refusal)
            return self._unsplit(refusal)
        split, leak, index = self._split()
        self._shift_training_negatives(index)
        # the overlap rule counts the training split's grid windows, as it says: negatives' windows did too, and
        # 746 of them switched the overlap off for an area of 27 landslide windows
        stride = self.s.train_stride(sum(1 for i in self.table.indices(kept=True, placement="grid")
                                         if self.table.split[i] == TRAIN))
        overlap_background = self._add_overlaps(index, stride)
        self._sample_background(overlap_background, self._count_kept(("landslide",), placement="overlap"),
                                split=TRAIN)
        areas = self._inventory_areas()
        area, rule = min_landslide_area_m2(areas, pixel_area_m2(self.sources[0].info))
        self.notes += self._band_holes()
        return PatchPlan(self.s, self.sources, self.table, split, stride, leak, area, rule, self.notes,
                         negatives_info, large_landslide_area_m2(areas),
                         [{", ".join(bands): n for bands, n in c.most_common()} for c in self.nodata_in])

    # -- phase 1: the grid -----------------------------------------------------------------------------------
    def _scan_grid(self) -> list[int]:
        """Classify every grid window; returns the background candidates (no landslide pixel)."""
        size, background = self.s.patch_size, []
        for reader in self.readers:
            info = reader.source.info
            holding = self._landslide_points(reader)
            for window in grid_windows(info.height, info.width, size, size):
                self._tick()
                if not window.inside(info.height, info.width):
                    self.table.add(reader.source.index, window, "grid", "background", 0, "boundary")
                    continue
                i = self._classify(reader, window, "grid", holds_landslide=holding.any_in(window.row, window.col))
                if i is not None:
                    background.append(i)
        return background

    def _landslide_points(self, reader: WindowReader) -> PointIndex:
        """A point of every landslide, when windows holding one are kept whatever their landslide fraction."""
        return PointIndex(self.s.patch_size, reader.landslide_points() if self.s.every_landslide else [])

    def _classify(self, reader: WindowReader, window: Window, placement: str, split: int = NONE,
                  holds_landslide: bool = False) -> int | None:
        """Add a window by its landslide pixels; keep a landslide window (unless nodata) - one below the minimum
        fraction too when it `holds_landslide`. Returns the index of a background candidate, else None."""
        mask = reader.landslide_mask(window)
        positives = int(mask.sum()) if mask is not reader.empty else 0
        k = reader.source.index
        if positives == 0:
            return self.table.add(k, window, placement, "background", 0, "no_landslide")
        if positives < self.s.min_pixels and not holds_landslide:
            self.table.add(k, window, placement, "landslide", positives, "below_min_fraction")
            return None
        self._try_keep(self.table.add(k, window, placement, "landslide", positives, None), reader, mask, split)
        return None

    def _try_keep(self, i: int, reader: WindowReader, mask: MaskArray, split: int = NONE) -> bool:
        """Keep window i unless it holds nodata; the sink gets its pixels."""
        window = self.table.window(i, self.s.patch_size)
        if self.sink is None:
            ok = reader.valid(window)
        else:
            image = reader.read(window)
            ok = image is not None
            if image is not None:
                self.sink.add(self.table.patch_id(i, self._stems), reader.source, window, image, mask)
        if ok:
            self.table.keep(i, split)
        else:
            self.table.drop(i, "nodata")
            bands = tuple(reader.invalid_bands(window))
            self.nodata_in[reader.source.index][bands] += 1
            if 0 < len(bands) < len(reader.source.band_names) and reader.lacks_entirely(window, bands):
                self.beyond_in[reader.source.index][bands] += 1
        return ok

    def _band_holes(self) -> list[str]:
        """Which windows were lost to nodata in some bands only, and what to do: holes in a surface model (small
        gaps cost whole windows) are filled to keep them; where the imagery has no pixels (an orthophoto's collar
        beside a larger DSM, or its gaps), the windows are rightly dropped."""
        notes = []
        for source, counts, beyond in zip(self.sources, self.nodata_in, self.beyond_in, strict=True):
            partial = [(bands, n) for bands, n in counts.most_common() if 0 < len(bands) < len(source.band_names)]
            imagery = [(bands, n) for bands, n in partial if any(band_key(b) in PAPER_BANDS for b in bands)]
            others = [(bands, n) for bands, n in partial if (bands, n) not in imagery]
            outside = [(bands, beyond[bands]) for bands, _ in others if beyond[bands]]
            filled = [(bands, n - beyond[bands]) for bands, n in others if n > beyond[bands]]
            said = f"window(s) of {Path(source.info.path).name} that would be kept hold nodata in some bands only"
            if outside:  # gdal_fillnodata.py would extrapolate a surface model over the rest of the scene
                notes.append(f"{_total(outside)} {said} ({_which(outside)}), wholly: they lie beyond the footprint "
                             "of those bands' raster, where there is nothing to fill; a raster of the whole area "
                             "would keep them")
            if filled:
                holed = [b for b in source.band_names if any(b in bands for bands, _ in filled)]
                model = "the surface model" if all(band_key(b) in ELEVATION_NAMES for b in holed) else "their raster"
                notes.append(f"{_total(filled)} {said} ({_which(filled)}): fill the holes of {', '.join(holed)} "
                             f"(gdal_fillnodata.py on {model}, then stack again) to keep them")
            if imagery:
                notes.append(f"{_total(imagery)} {said} ({_which(imagery)}): the imagery has no pixels there (the "
                             "orthophoto's edge or gaps), so they are dropped, as they should be; nothing to fill")
        return notes

    @property
    def _stems(self) -> list[str]:
        return [s.stem for s in self.sources]

    # -- phase 2: negatives ----------------------------------------------------------------------------------
    def _add_negatives(self) -> dict[str, Any]:
        """A window centred on each negative polygon (per raster holding its centre)."""
        assert self.negatives is not None
        size, placed, inside = self.s.patch_size, set(), set()
        for reader in self.readers:
            info, k = reader.source.info, reader.source.index
            burner = InventoryBurner(self.negatives, raster_srs(info), info.transform)
            try:
                centres = burner.centres()
            finally:
                burner.close()
            a, _, c, _, e, f = info.transform
            for j, (x, y) in enumerate(centres):
                col, row = (x - c) / a, (y - f) / e
                if not (0 <= row < info.height and 0 <= col < info.width):
                    continue
                inside.add(j)
                window = Window(_clamp(round(row - size / 2), info.height - size),
                                _clamp(round(col - size / 2), info.width - size), size, size)
                if (k, window.row, window.col) in placed:
                    continue
                placed.add((k, window.row, window.col))
                self._add_centred(reader, window)
        n = len(self.negatives.geometries)
        return {"n_polygons": n, "n_outside_rasters": n - len(inside), "n_windows": len(placed)}

    def _add_centred(self, reader: WindowReader, window: Window, split: int = NONE) -> None:
        info, k = reader.source.info, reader.source.index
        if not window.inside(info.height, info.width):  # the raster is smaller than a patch
            self.table.add(k, window, "centred", "negative", 0, "boundary")
            return
        mask = reader.landslide_mask(window)
        positives = int(mask.sum()) if mask is not reader.empty else 0
        self._try_keep(self.table.add(k, window, "centred", "negative", positives, None), reader, mask, split)

    def _shift_training_negatives(self, index: SpatialIndex) -> None:
        """Four windows a quarter patch around each kept negative, for training only (see the docstring)."""
        size, t = self.s.patch_size, self.table
        quarter = max(1, size // 4)
        kept = list(t.indices(kept=True, placement="centred"))  # all negatives, all in training (see _split)
        taken = {(t.source[i], t.row[i], t.col[i]) for i in t.indices(placement="centred")}
        for i in kept:
            reader = self.readers[t.source[i]]
            info, k = reader.source.info, reader.source.index
            for dr, dc in ((-quarter, 0), (quarter, 0), (0, -quarter), (0, quarter)):
                window = Window(t.row[i] + dr, t.col[i] + dc, size, size)
                if (k, window.row, window.col) in taken or not window.inside(info.height, info.width) \
                        or index.overlapping(k, window.row, window.col) - {TRAIN}:
                    continue
                taken.add((k, window.row, window.col))
                self._add_centred(reader, window, TRAIN)

    # -- phase 3 and 5: background ---------------------------------------------------------------------------
    def _sample_background(self, candidates: list[int], others: int, split: int = NONE) -> None:
        """Keep background windows, chosen at random among `candidates`, so that they make the chosen share of
        them and the `others` kept windows."""
        share = self.s.background_share
        wanted = round(share / (1 - share) * others) if share > 0 else 0
        order = self._background_order(candidates, wanted) if wanted else []
        kept, start = 0, 0
        while kept < wanted and start < len(order):
            batch = sorted(order[start:start + wanted - kept])  # in scan order: reads stay sequential
            start += len(batch)
            for i in batch:
                self._tick(count=False)
                reader = self.readers[self.table.source[i]]
                kept += self._try_keep(i, reader, reader.empty, split)
        if kept < wanted:
            self.notes.append(f"only {kept} background windows available ({wanted} wanted for a share of "
                              f"{share:.0%})")

    def _background_order(self, candidates: list[int], wanted: int) -> list[int]:
        """Candidates in the order they are tried: the most landslide-like first (their share of `wanted`), then
        at random."""
        model = self._lookalike_model() if self.s.lookalike_share > 0 and wanted < len(candidates) else None
        if model is None:
            return [candidates[j] for j in self.rng.permutation(len(candidates))]
        scores = []
        for i in candidates:
            self._tick(count=False)
            reader = self.readers[self.table.source[i]]
            image = reader.peek(self.table.window(i, self.s.patch_size))
            scores.append(-1.0 if image is None else model.score(image))
        return pick(candidates, scores, wanted, self.s.lookalike_share, self.rng)

    def _lookalike_model(self) -> LookalikeModel | None:
        """The pixel model of core/lookalike.py, fitted on (up to 64 evenly spaced) kept landslide windows; None,
        with a note, when the inventory holds too few landslide pixels to fit it (MIN_LANDSLIDE_PIXELS)."""
        if self._lookalikes is False:
            size, t = self.s.patch_size, self.table
            kept = [i for i in t.indices(kept=True) if t.positives[i] > 0]
            sample = np.unique(np.linspace(0, len(kept) - 1, min(len(kept), 64)).astype(int)) if kept else []
            sampler = PixelSampler(self.s.seed)
            for i in (kept[j] for j in sample):
                reader = self.readers[t.source[i]]
                window = t.window(i, size)
                image = reader.peek(window)
                if image is not None:
                    sampler.add(image, reader.landslide_mask(window), (t.source[i], window.row, window.col))
            # distinct landslide pixels, at least: those of the sample, or of the kept windows that tile the grid
            tiled = sum(t.positives[i] for i in kept if t.row[i] % size == 0 and t.col[i] % size == 0)
            pixels = max(sampler.landslide_pixels, tiled)
            if pixels >= MIN_LANDSLIDE_PIXELS:
                self._lookalikes = sampler.fit(min_landslide_pixels=0)  # counted here, with the tiled windows too
            else:
                self._lookalikes = None
                self.notes.append(
                    f"look-alike background off: {pixels} distinct landslide pixels were found in the landslide "
                    f"windows sampled, fewer than the {MIN_LANDSLIDE_PIXELS} needed to tell what a landslide looks "
                    "like; background windows are drawn at random")
        return self._lookalikes if isinstance(self._lookalikes, LookalikeModel) else None

    def _count_kept(self, kinds: tuple[str, ...], placement: str | None = None) -> int:
        return sum(1 for i in self.table.indices(kept=True, placement=placement)
                   if self.table.kind_of(i) in kinds)

    # -- phase 4: the split ----------------------------------------------------------------------------------
    def _split(self) -> tuple[SplitResult, float, SpatialIndex]:
        """Split the grid windows. The negatives' windows all go to training, and so do the windows that overlap
        one (no pixel in two splits): the split draws validation and test from the other windows, at the sizes the
        ratios give the whole, so that many negatives cannot leave validation empty. Returns the split,
        the train neighbour share and an index of every kept window by split (for the training-only windows)."""
        t, size = self.table, self.s.patch_size
        negatives = [i for i in t.indices(kept=True, placement="centred")]
        near_negative = SpatialIndex(size)
        for i in negatives:  # the user's corrections are training data: never held out
            t.keep(i, TRAIN)
            near_negative.add(t.source[i], t.row[i], t.col[i], TRAIN)
        units = [i for i in t.indices(kept=True) if PLACEMENTS[t.placement[i]] != "centred"]
        rows = np.array([t.row[i] + size // 2 for i in units], np.int64)  # window centres place the blocks
        cols = np.array([t.col[i] + size // 2 for i in units], np.int64)
        keys = np.array([t.source[i] for i in units], np.int64)
        positives = np.array([t.positives[i] for i in units], np.int64)
        totals = np.full(len(units), size * size, np.int64)
        pinned = np.array([bool(near_negative.overlapping(t.source[i], t.row[i], t.col[i])) for i in units], bool)
        free = np.flatnonzero(~pinned)
        s = self.s
        held_out = sum(1 for r in s.ratios[1:] if r > 0)
        if len(free) < held_out:
            raise LmhldError(f"{int(pinned.sum())} of {len(units)} windows overlap a negative's window and train with "
                             f"it; the {len(free)} left cannot fill validation and test. Give fewer negatives (those "
                             "that matter most), a smaller patch size, or more imagery")
        if s.split_method == "block":
            result = split_in_blocks(positives, totals, keys, rows, cols, size, block=s.block, ratios=s.ratios,
                                     seed=s.seed, tolerance=s.tolerance, strict=s.strict_balance, train_only=pinned)
            if result.block is not None and result.block < s.block:
                self.notes.append(f"spatial blocks of {s.block} x {s.block} patches could not fill the splits; "
                                  f"blocks of {result.block} x {result.block} were used")
        else:
            result = split_patches(positives, totals, ratios=s.ratios, seed=s.seed, tolerance=s.tolerance,
                                   method="balanced", strict=s.strict_balance, train_only=pinned)
        if pinned.any():
            self.notes.append(f"{int(pinned.sum())} window(s) overlapping a negative's window went to training "
                              f"with it; validation and test were drawn from the other {len(free)}")
        if result.spread > s.tolerance:
            self.notes.append(f"the splits' landslide proportions differ by {result.spread * 100:.2f} points "
                              f"(--tolerance {s.tolerance:g}; {in_points(s.tolerance)}): too few patches to "
                              "balance them, so "
                              "validation and test scores are noisy")
        for i, label in zip(units, result.labels.tolist(), strict=True):
            t.keep(i, int(label))
        grid = [j for j, i in enumerate(units) if PLACEMENTS[t.placement[i]] == "grid"]
        leak = train_neighbour_share(rows[grid] - size // 2, cols[grid] - size // 2, keys[grid],
                                     result.labels[grid], size)
        if leak > 0 and (s.split_method == "balanced" or result.block == 1):
            self.notes.append(f"{'per-patch' if s.split_method == 'balanced' else 'single-cell block'} split: "
                              f"{leak:.0%} of the patches next to validation and test patches are training patches, "
                              "so validation and test scores will be optimistic (neighbours share landslides and "
                              "context); a block split keeps them apart where the data allow it")
        return result, leak, self._resolve_conflicts(units, negatives)

    def _resolve_conflicts(self, units: list[int], negatives: list[int]) -> SpatialIndex:
        """Drop validation and test windows that overlap a (training) negative's window, so that no pixel is in
        two splits; index what stays by split."""
        t = self.table
        index = SpatialIndex(self.s.patch_size)
        for i in negatives:
            index.add(t.source[i], t.row[i], t.col[i], TRAIN)
        for i in units:
            if t.split[i] != TRAIN and TRAIN in index.overlapping(t.source[i], t.row[i], t.col[i]):
                t.drop(i, "overlaps_other_split")
                if self.sink is not None:
                    self.sink.discard(t.patch_id(i, self._stems))
            else:
                index.add(t.source[i], t.row[i], t.col[i], t.split[i])
        return index

    # -- phase 5: training-only windows ----------------------------------------------------------------------
    def _add_overlaps(self, index: SpatialIndex, stride: int) -> list[int]:
        """Windows between the grid windows (stride < size), for training only; returns background candidates."""
        size = self.s.patch_size
        background: list[int] = []
        if stride >= size:
            return background
        for reader in self.readers:
            info, k = reader.source.info, reader.source.index
            holding = self._landslide_points(reader)
            for row in range(0, info.height - size + 1, stride):
                for col in range(0, info.width - size + 1, stride):
                    if row % size == 0 and col % size == 0:
                        continue  # a grid window
                    self._tick()
                    window = Window(row, col, size, size)
                    if index.overlapping(k, row, col) - {TRAIN}:
                        mask = reader.landslide_mask(window)
                        positives = int(mask.sum()) if mask is not reader.empty else 0
                        self.table.add(k, window, "overlap", "landslide" if positives else "background",
                                       positives, "overlaps_other_split")
                        continue
                    i = self._classify(reader, window, "overlap", TRAIN, holding.any_in(row, col))
                    if i is not None:
                        background.append(i)
        return background

    # -- the rest --------------------------------------------------------------------------------------------
    def _inventory_areas(self) -> npt.NDArray[np.float64]:
        """The true areas (m2) of the inventory's landslides within the rasters."""
        inside: set[int] = set()
        for reader in self.readers:
            info = reader.source.info
            inside.update(reader.burner.indices_in(Window(0, 0, info.height, info.width)))
        chosen = sorted(inside)
        return true_areas_m2([self.polygons.geometries[i] for i in chosen], self.polygons.srs) if chosen \
            else np.zeros(0)

    def _window_count(self, height: int, width: int) -> int:
        size, stride = self.s.patch_size, self.s.stride
        grid = math.ceil(height / size) * math.ceil(width / size)
        if stride >= size or height < size or width < size:
            return grid
        return ((height - size) // stride + 1) * ((width - size) // stride + 1) + grid

    def _tick(self, count: bool = True) -> None:
        """One more window: progress by the windows counted, cancel checks and heap trims by every step."""
        self.done += count
        self.steps += 1
        if self.steps % 64 == 0:
            check_cancelled(self.progress)
            self.progress.set_fraction(min(1.0, self.done / self.total))
        if self.steps % 128 == 0:
            release_free_memory()

    def _unsplit(self, refusal: str) -> PatchPlan:
        """The plan of a preview whose kept windows are too few to split: every window with its reason, none split,
        and why export refuses it."""
        empty = SplitResult(np.zeros(0, np.int64), dict.fromkeys(SPLIT_NAMES, 0), dict.fromkeys(SPLIT_NAMES, 0.0),
                            0.0, self.s.split_method)
        return PatchPlan(self.s, self.sources, self.table, empty, self.s.patch_size, 0.0, 0.0, "", self.notes,
                         refusal=refusal)

    def _too_few_kept(self) -> str | None:
        """Why a plan whose kept windows cannot fill the splits is refused, with the reasons the others were dropped
        and the fix that they point to (the bands whose holes cost windows among them); None when they can."""
        kept = sum(1 for i in self.table.indices(kept=True) if PLACEMENTS[self.table.placement[i]] != "centred")
        need = sum(1 for r in self.s.ratios if r > 0)
        if kept >= need:
            return None
        dropped = dropped_counts(self.table)
        said = (f"only {kept} patch(es) kept, and a {'/'.join(f'{r:.0%}' for r in self.s.ratios)} split needs at "
                f"least {need}" if any(True for _ in self.table.indices(kept=True)) else "no patch kept")
        fixes = self._band_holes()
        whole = sum(n for source, counts in zip(self.sources, self.nodata_in, strict=True)
                    for bands, n in counts.items() if len(bands) in (0, len(source.band_names)))
        if whole:  # windows that would have been kept but for nodata in every band
            which = "the window that would be kept holds" if whole == 1 else f"{whole} windows that would be kept hold"
            fixes.append(f"{which} nodata (or NaN) pixels in every band: check that the rasters have data where the "
                         "inventory lies and that their nodata value is right")
        if dropped["nodata"] == 0 or dropped["below_min_fraction"] or kept:
            fixes.append("check that the inventory overlaps the rasters, or lower the minimum landslide fraction or "
                         "the patch size" + ("" if self.s.every_landslide else
                                             " (the generalise recipe, export's default, also keeps the window of "
                                             "each landslide)") + (", or add imagery" if kept else ""))
        advice = "; ".join(fixes)
        return f"{said}: of {len(self.table)} windows, {describe_dropped(dropped)}. {advice[0].upper()}{advice[1:]}"


def _total(counts: list[tuple[tuple[str, ...], int]]) -> int:
    return sum(n for _, n in counts)


def _which(counts: list[tuple[tuple[str, ...], int]]) -> str:
    """Windows by the bands holding their nodata: '5 in dsm only; 1 in red, green, blue only'."""
    return "; ".join(f"{n} in {', '.join(bands)} only" for bands, n in counts)


def dropped_counts(table: WindowTable) -> dict[str, int]:
    """Dropped windows by reason."""
    counts = Counter(DROP_REASONS[code] for code in table.reason if code != NONE)
    return {reason: counts[reason] for reason in DROP_REASONS}


def _clamp(value: int, high: int) -> int:
    return max(0, min(value, high))
