"""What patch export does, as options, and the named recipes that set their defaults.

- "generalise" (the default): the paper's >= 10% windows plus, for every landslide, the window that holds its
  centre (so small landslides appear too: on Kaikoura, 6 landslides of 1-120 pixels at 10 m, the 10% filter
  alone keeps no patch); background windows (no landslide pixel) at 20% of the dataset, half of them the most
  landslide-like (core/lookalike.py: bare soil, sediment, fields, tracks, which a random sample rarely holds
  and a model trained without them marks on every unseen scene); a split by spatial blocks
  so that validation scores an unseen part of the area; and, while the training split holds fewer than 100 grid
  patches, training windows overlapping by half (never overlapping a validation or test window). Built for what
  the paper's recipe does badly on real scenes: small inventories, models that never saw bare ground without
  landslides (thousands of specks at detection), and validation that neighbouring patches make optimistic. The
  overlap stops at 100 patches because it multiplies training time by about three where data are not scarce.
- "paper": LMHLD sec. 2.3 as published: >= 10% landslide pixels, non-overlapping windows, no background
  patches, the per-patch balanced split.

An option given explicitly (min_fraction, every_landslide, background_share, lookalike_share, stride, split_method)
overrides its recipe's value; an explicit stride applies whatever the dataset's size.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal, cast, get_args

from .bands import check_band_numbers
from .errors import LmhldError, given, whole
from .splits import SPLIT_METHODS, SplitMethod, parse_ratios

if TYPE_CHECKING:  # OGR-bound: the options are parsed on machines that only train, without GDAL
    from .vector import PolygonSet

RecipeName = Literal["generalise", "paper"]
RECIPE_NAMES: tuple[RecipeName, ...] = get_args(RecipeName)
DEFAULT_RECIPE: RecipeName = "generalise"


@dataclass(frozen=True)
class Recipe:
    name: RecipeName
    min_fraction: float  # smallest landslide share of a landslide patch (0: any landslide pixel)
    every_landslide: bool  # also keep the grid window that holds each landslide's centre
    background_share: float  # share of the landslide and background patches without landslide pixels (negatives
    # come on top)
    lookalike_share: float  # share of those background patches chosen as the most landslide-like (core/lookalike)
    train_overlap: float  # share of a patch side that neighbouring training windows share
    overlap_below: int | None  # ... while the training split holds fewer grid patches than this (None: always)
    split_method: SplitMethod
    strict_balance: bool  # fail when the splits' landslide proportions cannot agree within the tolerance
    summary: str


RECIPES: dict[str, Recipe] = {
    "generalise": Recipe("generalise", 0.10, True, 0.2, 0.5, 0.5, 100, "block", False,
                         ">= 10% landslide pixels or a landslide's centre; 20% background patches, half of them "
                         "the most landslide-like (bare soil, sediment, fields, tracks); split by "
                         "spatial blocks (validation and test are areas the model did not train on); training "
                         "windows overlapping by half while fewer than 100 training patches"),
    "paper": Recipe("paper", 0.10, False, 0.0, 0.0, 0.0, None, "balanced", True,
                    "LMHLD sec. 2.3: >= 10% landslide pixels, non-overlapping windows, no background patches, "
                    "per-patch split balanced on landslide proportions"),
}


@dataclass
class ExportOptions:
    patch_size: int
    recipe: str = DEFAULT_RECIPE
    stride: int | None = None  # step between training windows (val/test windows never overlap); None: the recipe's
    bands: Sequence[int] | None = None  # 1-based; None = blue, green, red, nir by name, else the first four
    min_fraction: float | None = None  # None: the recipe's
    every_landslide: bool | None = None  # keep each landslide's centre window too; None: the recipe's
    background_share: float | None = None  # in [0, 1); None: the recipe's
    lookalike_share: float | None = None  # in [0, 1]: of the background, the most landslide-like; None: recipe's
    negatives: str | Path | PolygonSet | None = None  # rejected detections / known false positives
    negatives_layer: str | None = None
    split: Sequence[float] = (0.7, 0.2, 0.1)
    split_method: str | None = None  # "balanced" or "block"; None: the recipe's
    block: int = 4  # block side in patches for the block split (halved while a split does not fit)
    tolerance: float = 0.01
    seed: int = 0
    name: str = ""
    sensor: str = ""
    date: str = ""
    overwrite: bool = False

    FILE_TYPES: ClassVar[dict[str, Any]] = {  # the options an options file (an experiment's) may give, as TOML types
        "recipe": str, "stride": int, "bands": list[int], "min_fraction": float, "every_landslide": bool,
        "background_share": float, "lookalike_share": float, "negatives": str, "negatives_layer": str,
        "split": list[float], "split_method": str, "block": int, "tolerance": float, "seed": int, "sensor": str,
        "date": str}

    def validate(self) -> None:
        """Check every option before any work, naming the option and its allowed range."""
        from .plain import plain_fields

        plain_fields(self)  # numpy numbers from a sweep
        check_band_numbers(self.bands)
        if self.recipe not in RECIPES:
            raise LmhldError(f"recipe must be one of {', '.join(RECIPES)}, got {self.recipe!r}")
        if not whole(self.patch_size) or self.patch_size < 8:
            raise LmhldError(f"patch size must be an integer >= 8 pixels, got {given(self.patch_size)}")
        if self.stride is not None and (not whole(self.stride) or not 1 <= self.stride <= self.patch_size):
            raise LmhldError(f"stride must be an integer from 1 to the patch size ({self.patch_size}), got "
                             f"{given(self.stride)}")
        for name, value in (("minimum landslide fraction", self.min_fraction), ("tolerance", self.tolerance),
                            ("background share", self.background_share), ("look-alike share", self.lookalike_share)):
            if value is not None and (not isinstance(value, int | float) or isinstance(value, bool)):
                raise LmhldError(f"{name} must be a number, got {given(value)}")
        if self.min_fraction is not None and not 0 <= self.min_fraction <= 1:
            raise LmhldError(f"minimum landslide fraction must lie in [0, 1], got {self.min_fraction}")
        if self.background_share is not None and not 0 <= self.background_share < 1:
            raise LmhldError(f"background share must lie in [0, 1), got {self.background_share}")
        if self.lookalike_share is not None and not 0 <= self.lookalike_share <= 1:
            raise LmhldError(f"look-alike share must lie in [0, 1] (of the background patches), got "
                             f"{self.lookalike_share}")
        parse_ratios(list(self.split))
        if self.split_method is not None and self.split_method not in SPLIT_METHODS:
            raise LmhldError(f"split method must be 'balanced' or 'block', got {self.split_method!r}")
        if not whole(self.block) or self.block < 1:
            raise LmhldError(f"block must be a positive integer (patches), got {given(self.block)}")
        if not 0 <= self.tolerance <= 1:
            raise LmhldError(f"tolerance must lie in [0, 1] (a difference of landslide proportions), got "
                             f"{self.tolerance}")

    def settings(self) -> PlanSettings:
        """The options with the recipe's values filled in (validated)."""
        self.validate()
        recipe = RECIPES[self.recipe]
        size = int(self.patch_size)
        method = cast(SplitMethod, self.split_method or recipe.split_method)
        return PlanSettings(
            recipe=recipe.name, patch_size=size,
            stride=int(self.stride) if self.stride else max(1, round(size * (1 - recipe.train_overlap))),
            overlap_below=None if self.stride else recipe.overlap_below,
            min_fraction=recipe.min_fraction if self.min_fraction is None else float(self.min_fraction),
            every_landslide=recipe.every_landslide if self.every_landslide is None else bool(self.every_landslide),
            background_share=(recipe.background_share if self.background_share is None
                              else float(self.background_share)),
            lookalike_share=(recipe.lookalike_share if self.lookalike_share is None
                             else float(self.lookalike_share)),
            split_method=method, strict_balance=recipe.strict_balance, block=int(self.block),
            ratios=parse_ratios(list(self.split)),
            tolerance=float(self.tolerance), seed=int(self.seed))


@dataclass(frozen=True)
class PlanSettings:
    """Everything that decides which windows a dataset holds (recorded in dataset.json)."""

    recipe: RecipeName
    patch_size: int
    stride: int  # training windows' step; stride == patch_size: no overlap
    overlap_below: int | None  # overlap only while the training split holds fewer grid patches (None: always)
    min_fraction: float
    every_landslide: bool
    background_share: float
    lookalike_share: float
    split_method: SplitMethod
    strict_balance: bool
    block: int
    ratios: tuple[float, float, float]
    tolerance: float
    seed: int

    def train_stride(self, train_patches: int) -> int:
        """The training windows' step, once the split knows how many grid patches train holds."""
        small = self.overlap_below is None or train_patches < self.overlap_below
        return self.stride if small else self.patch_size

    @property
    def min_pixels(self) -> int:
        """Landslide pixels a landslide patch needs (at least one)."""
        return max(1, math.ceil(self.min_fraction * self.patch_size * self.patch_size))

    def to_json(self) -> dict[str, Any]:
        return asdict(self) | {"ratios": list(self.ratios), "summary": RECIPES[self.recipe].summary}
