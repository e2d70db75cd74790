"""Inventory analysis (LMHLD sec. 2.3, exp. 1, sec. 4.1): landslide areas in pixels, quartiles, patch sizes.

Quartiles use the Hyndman & Fan (1996) type 7 definition (linear interpolation between order statistics, numpy's
default), the reference the paper cites. The patch-size rule: the side that makes a quartile area `fraction` of the
patch is sqrt(q / fraction); it snaps to the nearest candidate by absolute difference in pixels, ties going to the
larger candidate (more context around the landslide). Wenchuan: Q1 417, Q2 1191, Q3 4123 px at 10% give
64.6, 109.1, 203.1 -> 64, 128, 224.

Beyond the candidates: when every quartile asks for a side larger than the largest candidate (large landslides
at a fine resolution, e.g. 0.5 m UAV imagery), snapping would silently cap all three at the largest candidate.
By default the rule then goes past the candidates: each side rounded to the nearest multiple of 32 (what the
U-Nets' five poolings need), at most 1024 px. The report says so in its notes, as it does when only some
quartiles are capped or when every quartile asks for less than the smallest candidate. `beyond_candidates=False`
keeps the paper's rule (snap only).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from .errors import LmhldError
from .progress import Progress, reader_progress

if TYPE_CHECKING:  # the functions import OGR-bound vector I/O when they run: the constants need no GDAL
    from .vector import PolygonSet

DEFAULT_CANDIDATES: tuple[int, ...] = (32, 64, 128, 224, 256)
DEFAULT_FRACTION = 0.10
QUANTILE_METHOD = "Hyndman-Fan type 7 (linear interpolation, numpy 'linear')"
TIE_RULE = "nearest candidate by absolute difference in pixels; a tie goes to the larger candidate"
SIZE_MULTIPLE = 32
MAX_PATCH_SIZE = 1024
RULE_CANDIDATES = "candidates"
RULE_BEYOND = "beyond candidates"


def ideal_patch_side(area_px: float, fraction: float) -> float:
    """Side (pixels) of the square window in which a landslide of `area_px` covers `fraction` of the patch."""
    return math.sqrt(area_px / fraction)


def snap_to_candidate(side: float, candidates: Sequence[int]) -> int:
    """Nearest candidate to `side`; ties go to the larger one."""
    return min(sorted(candidates), key=lambda c: (abs(c - side), -c))


@dataclass(frozen=True)
class PatchSizeChoice:
    """Patch sizes for Q1, Q2, Q3, which rule gave them, and what the reader should know about them."""

    sizes: list[int]
    rule: str  # RULE_CANDIDATES or RULE_BEYOND
    notes: list[str]


def recommend_patch_sizes(quartiles: Sequence[float], fraction: float, candidates: Sequence[int], *,
                          beyond_candidates: bool = False) -> list[int]:
    """One patch size per quartile (Q1, Q2, Q3 order); the paper's rule unless `beyond_candidates`."""
    return choose_patch_sizes(quartiles, fraction, candidates, beyond_candidates=beyond_candidates).sizes


def choose_patch_sizes(quartiles: Sequence[float], fraction: float, candidates: Sequence[int], *,
                       beyond_candidates: bool = True) -> PatchSizeChoice:
    """The patch-size rule with its notes (see the module docstring)."""
    validate_rule(fraction, candidates)
    sides = [ideal_patch_side(q, fraction) for q in quartiles]
    snapped = [snap_to_candidate(side, candidates) for side in sides]
    largest, smallest = max(candidates), min(candidates)
    shown = ", ".join(f"{side:.1f}" for side in sides)  # as the report's table gives them (3.5, not 4)
    if all(side > largest for side in sides):
        if not beyond_candidates:
            return PatchSizeChoice(snapped, RULE_CANDIDATES, [
                f"every quartile asks for a patch larger than the largest candidate ({largest} px; ideal sides "
                f"{shown} px): all three are capped at {largest}, where the landslides cover more than "
                f"{fraction:.0%} of a patch; allow sizes beyond the candidates to follow the rule"])
        sizes = [min(MAX_PATCH_SIZE, max(largest, _round_to_multiple(side, SIZE_MULTIPLE))) for side in sides]
        return PatchSizeChoice(sizes, RULE_BEYOND, [
            f"every quartile asks for a patch larger than the largest candidate ({largest} px; ideal sides {shown} "
            f"px): the recommended sizes go past the candidates (multiples of {SIZE_MULTIPLE}, at most "
            f"{MAX_PATCH_SIZE} px) instead of capping all three at {largest}"])
    notes = [f"{name}'s ideal side ({side:.0f} px) exceeds the largest candidate; capped at {largest}"
             for name, side in zip(("Q1", "Q2", "Q3"), sides, strict=False) if side > largest]
    if all(side < smallest for side in sides):
        notes.append(f"every quartile asks for a patch smaller than the smallest candidate ({smallest} px; ideal "
                     f"sides {shown} px): most landslides cover less than {fraction:.0%} of a {smallest} px patch, "
                     "so the paper's 10% filter would drop them; export with the default recipe (it also keeps "
                     "the window holding each landslide) or a lower --min-fraction")
    return PatchSizeChoice(snapped, RULE_CANDIDATES, notes)


def describe_patch_sizes(sizes: Sequence[int]) -> str:
    """The patch sizes recommended for Q1, Q2 and Q3, as a log line says them: 'Q1 32 px, Q2 64 px, Q3 64 px'."""
    return ", ".join(f"{q} {size} px" for q, size in zip(("Q1", "Q2", "Q3"), sizes, strict=True))


def _round_to_multiple(value: float, multiple: int) -> int:
    """Nearest multiple (ties up)."""
    return math.floor(value / multiple + 0.5) * multiple


def validate_rule(fraction: float, candidates: Sequence[int]) -> None:
    if not 0 < fraction < 1:
        raise LmhldError(f"fraction must lie between 0 and 1 (exclusive), got {fraction}; the paper uses 0.1")
    if not candidates or any(int(c) != c or c <= 0 for c in candidates):
        raise LmhldError(f"candidate patch sizes must be positive integers, got {list(candidates)}")


def parse_candidates(text: str | Sequence[int]) -> list[int]:
    """'32,64,128' -> [32, 64, 128], with a clear error for anything else."""
    if not isinstance(text, str):
        return [int(c) for c in text]
    try:
        values = [int(v) for v in text.replace(";", ",").split(",") if v.strip()]
    except ValueError as exc:
        raise LmhldError(f"candidate patch sizes must be comma-separated integers, got {text!r}") from exc
    validate_rule(DEFAULT_FRACTION, values)
    return values


@dataclass
class AreaStats:
    count: int
    min: float
    q1: float
    median: float
    q3: float
    max: float
    mean: float

    @classmethod
    def of(cls, values: npt.NDArray[np.float64]) -> AreaStats:
        q1, med, q3 = np.quantile(values, [0.25, 0.5, 0.75], method="linear")
        return cls(len(values), float(values.min()), float(q1), float(med), float(q3), float(values.max()),
                   float(values.mean()))


@dataclass
class InventoryReport:
    """What `analyse` finds; `to_json` gives the documented JSON keys."""

    source: str
    n_features: int
    n_landslides: int
    n_repaired: int
    skipped: dict[str, int]
    pixel_size_m: float
    pixel_area_m2: float
    fraction: float
    candidates: list[int]
    area_m2: AreaStats
    area_px: AreaStats
    ideal_sides_px: list[float]
    recommended_patch_sizes: list[int]
    patch_size_rule: str
    notes: list[str]
    histogram: dict[str, list[float]]
    exploded: bool
    fids: npt.NDArray[np.int64] = field(repr=False)  # per landslide: source feature id
    areas_m2: npt.NDArray[np.float64] = field(repr=False)  # per landslide: true area in m2
    areas_px: npt.NDArray[np.float64] = field(repr=False)  # per landslide: area in pixels of its raster
    rasters: list[dict[str, Any]] = field(default_factory=list)  # per raster: path, pixel size, landslides on it

    @property
    def n_skipped(self) -> int:
        return sum(self.skipped.values())

    def area_by_fid(self) -> dict[int, float]:
        """Total area (m2) per source feature, summing parts when multipart features were exploded."""
        return _sum_by(self.fids, self.areas_m2)

    def pixels_by_fid(self) -> dict[int, float]:
        """Total area in pixels per source feature (each part in pixels of the raster it lies on)."""
        return _sum_by(self.fids, self.areas_px)

    def to_json(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "n_features": self.n_features,
            "n_landslides": self.n_landslides,
            "n_repaired": self.n_repaired,
            "n_skipped": self.n_skipped,
            "skipped_reasons": self.skipped,
            "exploded_multipart": self.exploded,
            "pixel_size_m": self.pixel_size_m,
            "pixel_area_m2": self.pixel_area_m2,
            "rasters": self.rasters,
            "fraction": self.fraction,
            "candidates": self.candidates,
            "area_m2": asdict(self.area_m2),
            "area_px": asdict(self.area_px),
            "quantile_method": QUANTILE_METHOD,
            "ideal_patch_sides_px": self.ideal_sides_px,
            "tie_rule": TIE_RULE,
            "recommended_patch_sizes": self.recommended_patch_sizes,
            "patch_size_rule": self.patch_size_rule,
            "notes": self.notes,
            "histogram": self.histogram,
        }


def _sum_by(fids: npt.NDArray[np.int64], values: npt.NDArray[np.float64]) -> dict[int, float]:
    totals: dict[int, float] = {}
    for fid, value in zip(fids.tolist(), values.tolist(), strict=True):
        totals[fid] = totals.get(fid, 0.0) + value
    return totals


MIN_AREA_QUANTILE = 0.05
MIN_AREA_FACTOR = 0.5
MIN_AREA_FLOOR_PX = 2.0


def area_text(m2: float) -> str:
    """An area in m2 for a message: one decimal, or two significant digits below 1 m2 (0.02 for two 0.1 m pixels)."""
    return f"{m2:.1f}" if m2 >= 1 else f"{m2:.2g}"


def min_landslide_area_m2(areas_m2: npt.NDArray[np.float64], pixel_area_m2: float) -> tuple[float, str]:
    """The smallest landslide worth reporting, learnt from an inventory's areas, and the rule as a sentence.

    Half the 5th percentile of the areas, never below two pixels. The 5th percentile rather than the minimum:
    one sliver or mis-digitised speck must not set it. Half of it: a detected shape is often smaller than the
    digitised outline (its edges fall below the threshold). Two pixels at least: a single pixel is
    indistinguishable from noise, and single-pixel specks are most of what an unfiltered detection writes.
    """
    floor = MIN_AREA_FLOOR_PX * pixel_area_m2
    if len(areas_m2) == 0:
        return floor, f"no landslide in the rasters: {MIN_AREA_FLOOR_PX:g} pixels"
    low = float(np.quantile(areas_m2, MIN_AREA_QUANTILE, method="linear"))
    value = max(MIN_AREA_FACTOR * low, floor)
    return value, (f"{MIN_AREA_FACTOR:g} x the {MIN_AREA_QUANTILE:.0%} quantile ({area_text(low)} m2) of the areas of "
                   f"the {len(areas_m2)} inventory landslides in the rasters, at least {MIN_AREA_FLOOR_PX:g} pixels "
                   f"({area_text(floor)} m2)")


LARGE_AREA_QUANTILE = 0.9


def large_landslide_area_m2(areas_m2: npt.NDArray[np.float64]) -> float | None:
    """How large an inventory's large landslides are: the 90th percentile of the areas (one giant must not set it);
    None without landslides. Detection's coarse context pass (core.multiscale) compares it with the tile."""
    if len(areas_m2) == 0:
        return None
    return float(np.quantile(areas_m2, LARGE_AREA_QUANTILE, method="linear"))


def log_histogram(values: npt.NDArray[np.float64], bins_per_decade: int = 8) -> dict[str, list[float]]:
    """Histogram with log-spaced bin edges (landslide areas span orders of magnitude)."""
    lo = math.floor(math.log10(max(values.min(), 1e-6)) * bins_per_decade) / bins_per_decade
    hi = math.ceil(math.log10(max(values.max(), 1e-6)) * bins_per_decade) / bins_per_decade
    hi = max(hi, lo + 1 / bins_per_decade)
    edges = np.logspace(lo, hi, round((hi - lo) * bins_per_decade) + 1)
    counts, _ = np.histogram(values, bins=edges)
    return {"edges": edges.tolist(), "counts": counts.tolist()}


def resolve_pixel_area(rasters: Sequence[str | Path], pixel_size_m: float | None) -> tuple[float, float]:
    """(pixel side in m, pixel area in m2) of the first reference raster, or of a side given in metres; checks
    that the rasters can be read and are each given once."""
    if rasters:
        from .preflight import require_distinct
        from .raster import pixel_area_m2, read_raster_info

        require_distinct(list(rasters), "raster")
        areas = [pixel_area_m2(read_raster_info(r)) for r in rasters]
        return math.sqrt(areas[0]), areas[0]
    if pixel_size_m is None:
        raise LmhldError("give the pixel size: a reference raster of the imagery (--raster), or a pixel size in "
                         "metres (--pixel-size)")
    if not pixel_size_m > 0:
        raise LmhldError(f"pixel size must be > 0 metres, got {pixel_size_m}")
    return float(pixel_size_m), float(pixel_size_m) ** 2


@dataclass
class _Pixels:
    """Each landslide's pixel area, and what the report says of the rasters it comes from."""

    areas_m2: npt.NDArray[np.float64]  # per landslide
    side_m: float  # the pixel the report names: that of the raster holding most landslides
    area_m2: float  # and its area
    rasters: list[dict[str, Any]]
    notes: list[str]


def _pixels(polygons: PolygonSet, rasters: Sequence[str | Path], pixel_size_m: float | None) -> _Pixels:
    """The pixel each landslide is measured in: the pixel size given, the one raster's, or, over several rasters
    of different resolutions, that of the raster holding most of the landslide (core.coverage)."""
    n = len(polygons.geometries)
    if not rasters:
        side, area = resolve_pixel_area((), pixel_size_m)
        return _Pixels(np.full(n, area), side, area, [], [])
    from .coverage import Coverage
    from .preflight import require_distinct
    from .raster import read_raster_info

    require_distinct(list(rasters), "raster")  # each raster's info read once, here
    coverage = Coverage([read_raster_info(r) for r in rasters], polygons.srs)
    places = [coverage.place(g) for g in polygons.geometries]
    main = np.array([coverage.measured_on(p) for p in places], np.int64)
    notes: list[str] = []
    nowhere = sum(p.main is None for p in places)
    if n and nowhere == n:  # nothing measured on the imagery: the wrong scene or a wrong CRS, not a few slips
        on = f"the raster {coverage.names[0]}" if len(coverage.infos) == 1 else \
            f"any of the rasters ({', '.join(coverage.names)})"
        raise LmhldError(f"no landslide of the inventory ({n} in all) lies on {on}: they show other places, or "
                         "one of them has a wrong CRS. Give the scene the inventory was drawn on, or no raster and "
                         "the pixel size of the imagery (--pixel-size; in QGIS: Pixel size, m (without imagery))")
    if len(coverage.infos) == 1 and nowhere:  # still measured in its pixels; said, as it is likely a slip
        notes.append(f"{nowhere} of {n} landslide(s) lie wholly off the raster {coverage.names[0]} (still measured "
                     "in its pixels); check that the raster is the scene the inventory was drawn on, or give "
                     "every scene it covers")
    if len(coverage.infos) > 1:
        if not coverage.same_pixels:
            sizes = ", ".join(f"{name} {math.sqrt(a):.3g} m" for name, a in zip(coverage.names,
                                                                                coverage.pixel_areas, strict=True))
            notes.append(f"the rasters' pixels differ ({sizes}): each landslide is measured in pixels of the raster "
                         "holding most of it")
        if nowhere:
            notes.append(f"{nowhere} landslide(s) lie on none of the rasters: measured in pixels of the first, "
                         f"{coverage.names[0]}, and counted with it")
    counts = np.bincount(main, minlength=len(coverage.infos))
    summary = [{"path": str(info.path), "pixel_size_m": math.sqrt(a), "n_landslides": int(c)}
               for info, a, c in zip(coverage.infos, coverage.pixel_areas, counts.tolist(), strict=True)]
    top = coverage.pixel_areas[int(np.argmax(counts))]
    return _Pixels(np.asarray(coverage.pixel_areas, np.float64)[main], math.sqrt(top), top, summary, notes)


def analyse_polygons(
    polygons: PolygonSet, *, pixel_size_m: float | None = None, rasters: Sequence[str | Path] = (),
    fraction: float = DEFAULT_FRACTION, candidates: Sequence[int] = DEFAULT_CANDIDATES, source: str = "",
    exploded: bool = False, beyond_candidates: bool = True, progress: Progress | None = None,
) -> InventoryReport:
    """Statistics and patch sizes for polygons already read (the Processing algorithm feeds its layer here);
    `rasters`: the scenes the inventory lies on (one or several), else `pixel_size_m`."""
    progress = reader_progress(progress)
    candidates = [int(c) for c in candidates]
    validate_rule(fraction, candidates)
    pixels = _pixels(polygons, rasters, pixel_size_m)
    progress.set_fraction(0.3)
    from .vector import skipped_text, true_areas_m2

    areas_m2 = true_areas_m2(polygons.geometries, polygons.srs)
    progress.set_fraction(0.9)
    areas_px = areas_m2 / pixels.areas_m2
    stats_px = AreaStats.of(areas_px)
    quartiles = (stats_px.q1, stats_px.median, stats_px.q3)
    choice = choose_patch_sizes(quartiles, fraction, candidates, beyond_candidates=beyond_candidates)
    notes = pixels.notes + choice.notes
    report = InventoryReport(
        source=source, n_features=polygons.n_features, n_landslides=len(areas_m2), n_repaired=polygons.n_repaired,
        skipped=dict(polygons.skipped), pixel_size_m=pixels.side_m, pixel_area_m2=pixels.area_m2,
        fraction=fraction, candidates=candidates, area_m2=AreaStats.of(areas_m2), area_px=stats_px,
        ideal_sides_px=[ideal_patch_side(q, fraction) for q in quartiles],
        recommended_patch_sizes=choice.sizes, patch_size_rule=choice.rule, notes=notes,
        histogram=log_histogram(areas_px), exploded=exploded, fids=polygons.fids, areas_m2=areas_m2,
        areas_px=areas_px, rasters=pixels.rasters,
    )
    if polygons.n_repaired:
        progress.warn(f"{polygons.n_repaired} invalid geometries were repaired")
    if polygons.skipped:
        progress.warn(f"{polygons.n_skipped} feature(s) skipped: {skipped_text(polygons.skipped)}")
    for note in notes:
        progress.warn(note)
    progress.set_fraction(1.0)
    return report


def analyse_inventory(
    inventory: str | Path, *, layer: str | None = None, pixel_size_m: float | None = None,
    rasters: Sequence[str | Path] | str | Path = (), fraction: float = DEFAULT_FRACTION,
    candidates: Sequence[int] = DEFAULT_CANDIDATES, explode: bool = False, beyond_candidates: bool = True,
    progress: Progress | None = None,
) -> InventoryReport:
    """Analyse a polygon inventory file: areas in pixels (of the raster, or rasters, it lies on), quartiles and
    recommended patch sizes."""
    from .preflight import as_path_list

    rasters = as_path_list(rasters)
    validate_rule(fraction, [int(c) for c in candidates])
    resolve_pixel_area(rasters, pixel_size_m)  # fail on a bad pixel size or raster before reading anything
    from .vector import polygons_from_wkb, read_layer_wkb

    wkbs, fids, wkt = read_layer_wkb(inventory, layer)
    polygons = polygons_from_wkb(wkbs, fids, wkt, explode=explode, what=f"inventory {Path(inventory).name}")
    return analyse_polygons(polygons, pixel_size_m=pixel_size_m, rasters=rasters, fraction=fraction,
                            candidates=candidates, source=str(inventory), exploded=explode,
                            beyond_candidates=beyond_candidates, progress=progress)
