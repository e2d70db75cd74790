"""From probabilities to a clean inventory: the threshold and the polygon cleaning detection applies by default.

Each value comes from the user when given, else from the model card (training calibrates the threshold on
validation and learns the smallest landslide worth reporting from the inventory, or from the training masks of a
released patch folder), else from a default derived from the model's patch size and the pixel size; `sources`
says which, so the log and the JSON summary can tell the analyst.
A value of 0 turns a step off.

Default minimum area: the patch-size rule sizes a patch so that a typical landslide covers about 10% of it; a
detection below 1% of that typical landslide (0.1% of the model's patch), and never below 2 pixels, is a speck
rather than a landslide worth reporting. The model's patch, not detection's tile: a tile chosen for speed must not
change which polygons an analyst gets. Holes below the minimum area are filled: a hole smaller than the smallest
landslide is noise inside one landslide, not two landslides.

Default minimum mean probability: midway between the threshold and the mean probability of the scene's surest
polygon. The threshold (calibrated on validation for pixel F1) draws a polygon's outline; it also lets through
regions the model is lukewarm about. Measured on every benchmark (docs/quality.md, "A floor that follows the
model"): each wrong polygon averaged just above the cut (0.51-0.76 over cuts of 0.4-0.55 under forest), each
landslide near the model's own certainty (0.68-0.99). A fixed floor cannot serve both a sharp model (sure
landslides at 0.96-0.99) and a weak one (every landslide at 0.69-0.78): the floor follows how sure this model is
of this scene, taken from its surest polygon, which is always kept. Off under hysteresis (its seeds decide).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from .errors import LmhldError, given
from .modelcard import ModelCard

if TYPE_CHECKING:
    from .vectorize import VectorizeOptions

DEFAULT_TILE_SHARE = 0.001  # of the model's patch pixels: 1% of the typical landslide (10% of a patch)
DEFAULT_MIN_PIXELS = 2
FLOOR_FROM_SCENE = ("default: midway between the threshold and the surest polygon's mean probability; "
                    "0 keeps every polygon")


# Areas are measured on the ellipsoid, the grid's pixels in the map's projection: in UTM the two differ by up to
# 0.2 %, so 2 pixels of 10 m measure 199.94 m2 and every one was dropped under a minimum of "2 px (200 m2)". A
# polygon within this share of the minimum area is kept (core.vectorize), and the log says so: the kept polygons'
# area_m2 can read just below the minimum.
AREA_TOLERANCE = 0.005


@dataclass(frozen=True)
class PostProcess:
    """The cut and the cleaning detection applies to its probabilities (areas in m2, simplify in CRS units).

    Hysteresis: with `grow_threshold` below `threshold`, the mask is cut at `grow_threshold` and only the regions
    that hold at least one pixel at or above `threshold` are kept (seeds grown into weaker neighbours).
    """

    threshold: float
    min_area_m2: float = 0.0
    fill_holes_m2: float = 0.0
    simplify: float = 0.0
    grow_threshold: float | None = None
    min_mean_prob: float = 0.0
    sources: dict[str, str] = field(default_factory=dict)  # value name -> "user" / "model" / "default: ..."
    floor_from_scene: bool = False  # min_mean_prob is decided on the scene: midway to its surest polygon

    def with_floor(self, surest: float | None) -> PostProcess:
        """The post-processing as applied, once the scene decided the floor (`surest`: its surest polygon's mean,
        None when no polygon was left to decide it)."""
        if not self.floor_from_scene:
            return self
        floor = 0.0 if surest is None else scene_floor(self.threshold, surest)
        why = (f"default: midway between the threshold {self.threshold:g} and the surest polygon's mean "
               f"probability {surest:.3g}; 0 keeps every polygon" if surest is not None else
               "default: midway to the surest polygon; no polygon was left to decide it")
        return replace(self, min_mean_prob=round(floor, 4), floor_from_scene=False,
                       sources={**self.sources, "min_mean_prob": why})

    @property
    def mask_threshold(self) -> float:
        """The cut the mask is polygonized at (the hysteresis' lower threshold when it is on)."""
        return self.threshold if self.grow_threshold is None else min(self.grow_threshold, self.threshold)

    def vectorize_options(self) -> VectorizeOptions:
        from .vectorize import VectorizeOptions

        seed = None if self.grow_threshold is None else self.threshold
        return VectorizeOptions(self.min_area_m2, self.fill_holes_m2, self.simplify, seed, self.min_mean_prob,
                                self.threshold if self.floor_from_scene else None)

    def to_json(self) -> dict[str, object]:
        return {"threshold": self.threshold, "grow_threshold": self.grow_threshold, "min_area_m2": self.min_area_m2,
                "fill_holes_m2": self.fill_holes_m2, "min_mean_prob": self.min_mean_prob, "simplify": self.simplify,
                "sources": dict(self.sources), **({"floor_from_scene": True} if self.floor_from_scene else {})}

    def describe(self) -> str:
        """One line for the log: every value and where it came from."""
        parts = [f"threshold {self.threshold:g} ({self.sources.get('threshold', 'user')})"]
        if self.grow_threshold is not None:
            parts.append(f"grown into {self.grow_threshold:g} ({self.sources.get('grow_threshold', 'user')})")
        for name, value in (("min_area_m2", self.min_area_m2), ("fill_holes_m2", self.fill_holes_m2)):
            label = name.removesuffix("_m2").replace("_", " ")
            within = (f", kept from {AREA_TOLERANCE:.1%} below: a pixel's ground area is not its map area"
                      if name == "min_area_m2" else "")
            parts.append(f"{label} {value:g} m2 ({self.sources.get(name, 'user')}{within})" if value
                         else f"{label} off")
        if self.floor_from_scene:
            parts.append("mean probability >= midway between the threshold and the surest polygon's mean (default, "
                         "decided on the scene)")
        else:
            parts.append(f"mean probability >= {self.min_mean_prob:g} ({self.sources.get('min_mean_prob', 'user')})"
                         if self.min_mean_prob else "mean probability off")
        return "post-processing: " + ", ".join(parts)


def default_min_area_px(patch_size: int) -> int:
    """The default minimum landslide area in pixels for a model's patch size (see the module docstring)."""
    return max(DEFAULT_MIN_PIXELS, round(DEFAULT_TILE_SHARE * patch_size * patch_size))


def check_range(name: str, value: float | None, low: float, high: float | None = None) -> None:
    """Refuse a value outside [low, high] with the parameter's name and the allowed range."""
    if value is None:
        return
    number = isinstance(value, int | float) and not isinstance(value, bool)
    if not number or value != value or value < low or (high is not None and value > high):  # value != value: NaN
        allowed = f"[{low:g}, {high:g}]" if high is not None else f">= {low:g}"
        raise LmhldError(f"{name} must be {'a number ' if not number else ''}{'in ' if high is not None else ''}"
                         f"{allowed}, got {given(value)}")


def resolve_postprocess(card: ModelCard, *, threshold: float | None, min_area_m2: float | None,
                        fill_holes_m2: float | None, simplify: float, grow_threshold: float | None,
                        pixel_area_m2: float, min_mean_prob: float | None = None) -> PostProcess:
    """The values detection applies: the user's, else the model card's, else defaults (sources say which)."""
    check_range("threshold", threshold, 0.0, 1.0)
    check_range("grow threshold", grow_threshold, 0.0, 1.0)
    check_range("minimum area", min_area_m2, 0.0)
    check_range("hole filling area", fill_holes_m2, 0.0)
    check_range("simplification tolerance", simplify, 0.0)
    check_range("minimum mean probability", min_mean_prob, 0.0, 1.0)
    sources: dict[str, str] = {}
    if threshold is None:
        threshold = card.threshold
        sources["threshold"] = ("model, calibrated on validation" if card.threshold_source == "validation" else
                                f"model, {card.threshold_source}")  # said inside parentheses: none nested
    if min_area_m2 is None:
        min_area_m2, sources["min_area_m2"] = default_min_area(card, pixel_area_m2)
    if fill_holes_m2 is None:
        fill_holes_m2, sources["fill_holes_m2"] = _default_fill_holes(card, min_area_m2)
    if grow_threshold is not None and grow_threshold >= threshold:  # was dropped without a word
        said = f" ({sources['threshold']})" if "threshold" in sources else ""
        raise LmhldError(f"grow threshold {grow_threshold:g} must be below the threshold {threshold:g}{said}: "
                         "regions found at the threshold grow into pixels down to it; give a lower "
                         "--grow-threshold, or leave it out")
    from_scene = min_mean_prob is None and grow_threshold is None
    if min_mean_prob is None:
        min_mean_prob, sources["min_mean_prob"] = ((0.0, FLOOR_FROM_SCENE) if from_scene else
                                                   (0.0, "default: off under hysteresis, whose seeds decide"))
    return PostProcess(float(threshold), float(min_area_m2), float(fill_holes_m2), float(simplify),
                       grow_threshold, float(min_mean_prob), sources, from_scene)


def default_min_area(card: ModelCard, pixel_area_m2: float) -> tuple[float, str]:
    """The minimum landslide area a model's detections keep by default, in m2, and where it comes from."""
    if card.min_area_m2 > 0:
        return card.min_area_m2, "model"
    pixels = default_min_area_px(card.patch_size)
    return pixels * pixel_area_m2, (f"default: {pixels} px, 0.1% of the model's {card.patch_size} px patch, as the "
                                    "model card gives none; 0 keeps every polygon")


def scene_floor(threshold: float, surest: float) -> float:
    """The default minimum mean probability: midway between the cut and the scene's surest polygon."""
    return (threshold + surest) / 2


def _default_fill_holes(card: ModelCard, min_area_m2: float) -> tuple[float, str]:
    if card.fill_holes_m2 > 0:
        return card.fill_holes_m2, "model"
    return min_area_m2, "default: the minimum area"
